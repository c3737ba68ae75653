"""Data commands: ``unmask mix``, ``unmask bias``, ``unmask convert``."""

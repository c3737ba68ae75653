"""``unmask demo`` and ``unmask world``."""

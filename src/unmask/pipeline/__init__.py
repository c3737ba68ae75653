"""The experiment runner: one YAML from data to report (``unmask run``)."""

from .config import Experiment, load_experiment
from .run import run_experiment

__all__ = ["Experiment", "load_experiment", "run_experiment"]

"""The marketplace simulator: the embedded default data source and the test bed."""

from .config import SimulationConfig
from .world import SimulatedWorld, simulate

__all__ = ["SimulationConfig", "SimulatedWorld", "simulate"]

"""minicompress: a from-scratch NumPy engine for learning and checking model compression."""

from minicompress.rng import initial_seed, manual_seed

__version__ = "0.1.0"

__all__ = ["initial_seed", "manual_seed"]

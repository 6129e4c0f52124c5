"""minicompress: a from-scratch NumPy engine for learning and checking model compression."""

__version__ = "0.1.0"

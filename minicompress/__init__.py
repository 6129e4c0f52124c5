"""minicompress: a from-scratch NumPy engine for learning and checking model compression.

``minicompress.manual_seed(s)`` seeds the package generator that every ``seed=None``
draws from (see :mod:`minicompress.rng`), as ``torch.manual_seed`` does.
"""

__version__ = "0.1.0"

__all__ = ["initial_seed", "manual_seed"]


def __getattr__(name):
    # Resolved on first use, not at import: importing the package must not load NumPy, so that
    # the command line can set its BLAS thread count first (minicompress/cli/main.py).
    if name in __all__:
        from minicompress import rng

        return getattr(rng, name)
    raise AttributeError(f"module 'minicompress' has no attribute {name!r}")

"""minicompress: a from-scratch NumPy engine for learning and checking model compression.

``minicompress.manual_seed(s)`` seeds the package generator that every ``seed=None``
draws from (see :mod:`minicompress.rng`), as ``torch.manual_seed`` does.
``minicompress.set_num_threads(n)`` / ``get_num_threads()`` set and read the threads the fast
convolutions split a batch over (see :mod:`minicompress.kernels.threads`), as PyTorch's do.
"""

__version__ = "0.1.0"

__all__ = ["get_num_threads", "initial_seed", "manual_seed", "set_num_threads"]


def __getattr__(name):
    # Resolved on first use, not at import: importing the package must not load NumPy, so that
    # the command line can set its BLAS thread count first (minicompress/cli/main.py).
    if name in ("initial_seed", "manual_seed"):
        from minicompress import rng

        return getattr(rng, name)
    if name in ("get_num_threads", "set_num_threads"):
        from minicompress.kernels import threads

        return getattr(threads, name)
    raise AttributeError(f"module 'minicompress' has no attribute {name!r}")

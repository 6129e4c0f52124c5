"""Numba's on-disk cache, keyed on every file of this package, so that no edit goes unseen.

``@njit(cache=True)`` saves compiled kernels next to the source (``__pycache__/*.nbi``,
``*.nbc``) and, by default, reuses them while the *defining* file is unchanged. A kernel
compiled from code in another file (the VNNI micro-kernel of ``_vnni.py`` inside ``gemm_tiles.py``'s
loops, the gather of ``_gather.py`` inside ``sparse.py``'s, the GEMM tiles inside
``integer_network.py``) would then keep running its old machine code after that other file is
edited. Dropping ``cache=True`` instead would make every process compile before its first integer
product: the first ``qlinear`` calls took 10 s in a fresh process with ``NUMBA_CACHE_DIR`` set to an
empty folder, 0.2 s with the cache (the shared 2-core machine, loaded).

So the kernels' cache entries carry the SHA-256 of *every* ``.py`` file in this folder: editing
any of them makes every cached kernel of the package stale, and Numba recompiles it. The
locators below are Numba's own (``numba.core.caching``), with only the source stamp replaced;
:func:`install` puts them first in Numba's list when this module is imported, which
``kernels/__init__.py`` does before any kernel is defined. Functions outside this folder keep Numba's default behaviour.
"""

import os

from numba.core import caching

_DIR = os.path.dirname(os.path.abspath(__file__))


def package_stamp():
    """``((file name, sha256), ...)`` over this folder's ``.py`` files, in name order."""
    stamps = []
    for name in sorted(os.listdir(_DIR)):
        if name.endswith(".py"):
            path = os.path.join(_DIR, name)
            st = os.stat(path)
            stamps.append((name, caching._hash_source_file(path, st.st_mtime, st.st_size)))
    return tuple(stamps)


class _PackageStamp:
    """Mixin: applies to functions defined in this folder; their stamp covers the whole folder."""

    def get_source_stamp(self):
        return package_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _DIR:
            return None
        return super().from_function(py_func, py_file)


class UserProvidedLocator(_PackageStamp, caching.UserProvidedCacheLocator):
    """``NUMBA_CACHE_DIR`` set: cache there."""


class InTreeLocator(_PackageStamp, caching.InTreeCacheLocator):
    """Otherwise: the package's ``__pycache__`` (when writable; else Numba's default locators)."""


def install():
    """Put the package-stamped locators first in Numba's list (idempotent)."""
    classes = caching.CacheImpl._locator_classes
    if UserProvidedLocator not in classes:
        classes[:0] = [UserProvidedLocator, InTreeLocator]


install()

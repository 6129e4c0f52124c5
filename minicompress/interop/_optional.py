"""The optional packages of ``minicompress[onnx]``, imported only when a function needs them.

The core install (NumPy, Numba, ...) never imports onnx, onnxruntime or safetensors; each
function of :mod:`minicompress.interop` calls :func:`require` inside its body, so a missing
package is reported when it is needed, with the command that installs it.
"""

from __future__ import annotations

import importlib

INSTALL = "pip install 'minicompress[onnx]'"


class MissingDependencyError(ModuleNotFoundError):
    """An optional package of the ``onnx`` extra is not installed (the message says how to install it)."""


def require(module: str):
    """Import ``module`` (e.g. ``"onnx"``, ``"onnxruntime"``, ``"safetensors.numpy"``) or explain how to get it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        if err.name is not None and err.name.split(".")[0] != top:
            raise  # the package is there but one of its own dependencies is broken: show the real error
        raise MissingDependencyError(f"this needs the optional package {top!r}: {INSTALL}", name=top) from None

"""The autograd engine: ``Tensor``, ``Function``, the ops, and gradient checking."""

from minicompress.engine import functional, methods  # noqa: F401  (methods gives Tensor its operators)
from minicompress.engine.gradcheck import gradcheck, numerical_grad
from minicompress.engine.tensor import Context, Function, Tensor, is_grad_enabled, no_grad

__all__ = [
    "Context", "Function", "Tensor", "functional", "gradcheck", "is_grad_enabled", "no_grad",
    "numerical_grad",
]

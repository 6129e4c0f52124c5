"""Pruning masks: a boolean array beside a parameter, and the bookkeeping that keeps it true.

A parameter ``weight`` of a module is pruned by a buffer ``weight_mask`` of the same shape
(``True`` = kept). The layers' forward passes use ``module.effective("weight")`` =
``weight * weight_mask``, so a masked weight contributes nothing and its gradient is zero.

Three further things keep a pruned weight *exactly* zero through training:

* applying a mask also zeroes the stored weight at the masked positions, so
  ``module.weight.data`` itself is sparse (what ``remove`` bakes in and ``save_model`` writes);
* it zeroes the optimizer's running arrays there (SGD ``momentum``; Adam ``m`` and ``v``),
  given the ``optimizer``: with zero gradient, zero weight and zero state, SGD's
  ``v = mu v + g + wd w`` stays 0 and Adam's ``m / (sqrt(v) + eps)`` stays 0;
* masks compose: pruning a parameter that already has a mask ANDs the two, so a weight
  once pruned stays pruned.

Without the optimizer the *effective* weight is still exactly zero (the forward pass
multiplies by the mask), but stale momentum may move the stored weight; pass the optimizer,
or call :func:`sync_optimizer` afterwards.
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module


def _check_module(module):
    if not isinstance(module, Module):
        raise InputTypeError(f"module must be a minicompress Module, got {type(module).__name__}")


def check_parameter(module: Module, name: str):
    """The parameter ``name`` of ``module`` (its own, not a submodule's); clear error otherwise."""
    _check_module(module)
    if not isinstance(name, str):
        raise InputTypeError(f"parameter name must be a string, got {type(name).__name__}")
    params = module._parameters
    if name not in params or params[name] is None:
        have = [n for n, p in params.items() if p is not None]
        raise InputError(f"{type(module).__name__} has no parameter {name!r}; "
                         f"its parameters are {have}")
    return params[name]


def get_mask(module: Module, name: str) -> np.ndarray:
    """The current mask of ``module.<name>`` (all True if it is not pruned); a copy."""
    p = check_parameter(module, name)
    mask = module._buffers.get(f"{name}_mask")
    return np.ones(p.shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)


def check_mask(mask, shape, what="mask") -> np.ndarray:
    """``mask`` as a bool array of ``shape``; ``TypeError``/``ValueError`` otherwise."""
    if not isinstance(mask, np.ndarray):
        raise InputTypeError(f"{what} must be a numpy.ndarray of bool, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise InputTypeError(f"{what} must have dtype bool (True = keep), got {mask.dtype}; "
                        "convert with mask.astype(bool) if 0/1 is what you mean")
    if mask.shape != tuple(shape):
        raise InputError(f"{what} has shape {mask.shape}, the parameter has shape {tuple(shape)}")
    return mask


def zero_optimizer_state(optimizer, param, mask: np.ndarray) -> None:
    """Zero every running array of ``param`` in ``optimizer.state`` where ``mask`` is False.

    Covers SGD ``momentum`` and Adam ``m``/``v`` (any state array shaped like the parameter);
    scalars such as Adam's ``step`` are left alone.
    """
    if optimizer is None:
        return
    if not hasattr(optimizer, "state"):
        raise InputTypeError(f"optimizer must be a minicompress Optimizer, got {type(optimizer).__name__}")
    for value in optimizer.state.get(param, {}).values():
        if isinstance(value, np.ndarray) and value.shape == param.shape:
            value[~mask] = 0


def apply_mask(module: Module, name: str, mask: np.ndarray, optimizer=None) -> np.ndarray:
    """AND ``mask`` into the mask of ``module.<name>``; zero the weight and optimizer state there.

    Parameters
    ----------
    module : Module
    name : str
        One of ``module``'s own parameters, e.g. ``"weight"``.
    mask : ndarray of bool, the parameter's shape
        ``True`` keeps a weight. It is combined with any existing mask by logical AND.
    optimizer : Optimizer, optional
        Its ``state[param]`` arrays are zeroed at the pruned positions.

    Returns
    -------
    ndarray of bool
        The combined mask now stored as the buffer ``<name>_mask``.
    """
    p = check_parameter(module, name)
    check_mask(mask, p.shape)
    combined = get_mask(module, name) & mask
    module.register_buffer(f"{name}_mask", combined)
    p.data[~combined] = 0
    if p.grad is not None:
        p.grad[~combined] = 0
    zero_optimizer_state(optimizer, p, combined)
    return combined


def custom_from_mask(module: Module, name: str, mask: np.ndarray, optimizer=None) -> Module:
    """Prune ``module.<name>`` with a mask you supply (``True`` = keep), ANDed with any existing one.

    ``mask`` must be a bool array of the parameter's shape (a 0/1 float array is refused,
    so that a float mask is never mistaken for weights). Returns ``module``.
    """
    apply_mask(module, name, mask, optimizer)
    return module


def is_pruned(module: Module) -> bool:
    """True if ``module`` or any submodule holds a ``<param>_mask`` buffer."""
    _check_module(module)
    for _, mod in module.named_modules():
        for buf in mod._buffers:
            if buf.endswith("_mask") and buf[: -len("_mask")] in mod._parameters:
                return True
    return False


def remove(module: Module, name: str) -> Module:
    """Make pruning permanent: ``weight <- weight * mask`` and drop the mask buffer.

    After ``remove`` the zeros are ordinary weights again: training may revive them. Raises
    ``ValueError`` if ``module.<name>`` is not pruned. Returns ``module``.
    """
    p = check_parameter(module, name)
    mask = module._buffers.get(f"{name}_mask")
    if mask is None:
        raise InputError(f"parameter {name!r} of {type(module).__name__} is not pruned "
                         "(it has no mask to remove)")
    p.data = (p.data * mask).astype(p.dtype, copy=False)
    module.register_buffer(f"{name}_mask", None)
    return module


def pruned_parameters(model: Module):
    """``(module_name, module, param_name)`` for every parameter of ``model`` that has a mask."""
    _check_module(model)
    for mod_name, mod in model.named_modules():
        for pname in mod._parameters:
            if f"{pname}_mask" in mod._buffers:
                yield mod_name, mod, pname


def sync_optimizer(optimizer, model: Module) -> None:
    """Zero ``optimizer``'s state and the stored weights wherever ``model``'s masks are False.

    Use it when masks were applied without passing the optimizer, or after loading a
    pruned checkpoint and creating a fresh optimizer that has since taken steps.
    """
    for _, mod, pname in pruned_parameters(model):
        p = mod._parameters[pname]
        mask = np.asarray(mod._buffers[f"{pname}_mask"], dtype=bool)
        p.data[~mask] = 0
        zero_optimizer_state(optimizer, p, mask)


class KeepPruned:
    """``fit`` callback: after every optimizer step, re-zero masked weights and optimizer state.

    Not needed when masks were applied with the optimizer (the update is then exactly zero
    at pruned positions, see the module docstring); it is the safety net when masks come
    from elsewhere, e.g. a loaded checkpoint with a fresh optimizer.
    """

    def on_step(self, state):
        sync_optimizer(state.optimizer, state.model)

"""``Module`` and ``Parameter``: how a model holds, names and saves its weights.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it, so
``named_parameters()`` finds every weight under a dotted name such as
``"0.weight"``. Plain arrays that belong with a model but are not trained (a
pruning mask, a quantization scale) are *buffers*: ``register_buffer`` keeps
them in ``state_dict()`` so they are saved and loaded with the weights.

A buffer named ``<param>_mask`` is a pruning mask: ``effective(<param>)`` returns
``param * mask``, which is what every layer's forward pass uses, so masked
weights contribute nothing and receive zero gradient.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from minicompress.engine import Tensor
from minicompress.errors import InputError, InputTypeError


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` did not load: PyTorch's ``(missing_keys, unexpected_keys)``."""

    missing_keys: list
    unexpected_keys: list


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad`` is on by default."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class of layers and models."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # -------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ first")
        for store in (self._parameters, self._modules, self._buffers):
            store.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_modules", "_buffers"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._modules, self._buffers):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """Keep a plain array with the module (saved in ``state_dict``); ``None`` removes it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"a buffer's name must be a Python identifier, got {name!r}")
        if value is None:
            self._buffers.pop(name, None)
            return
        if isinstance(value, Tensor):
            raise InputTypeError(f"buffer {name!r} must be a NumPy array, not a Tensor")
        try:
            value = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise InputTypeError(f"buffer {name!r} must be an array of real numbers: {err}") from None
        if value.dtype.kind not in "biuf":
            raise InputTypeError(f"buffer {name!r} must hold real numbers (bool, int or float), got {value.dtype}")
        self._buffers[name] = value

    # -------------------------------------------------------------- walking
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self):
        return list(self._modules.values())

    def named_parameters(self):
        for mod_name, mod in self.named_modules():
            for name, p in mod._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for mod_name, mod in self.named_modules():
            for name, b in mod._buffers.items():
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def get_submodule(self, name: str) -> Module:
        mod = self
        for part in filter(None, name.split(".")):
            if part not in mod._modules:
                raise InputError(
                    f"no submodule {name!r}; submodules are {[n for n, _ in self.named_modules() if n]}"
                )
            mod = mod._modules[part]
        return mod

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        for _, mod in self.named_modules():
            object.__setattr__(mod, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def freeze(self) -> Module:
        """Stop training every parameter of this module (``requires_grad = False``)."""
        for p in self.parameters():
            p.requires_grad = False
            p.grad = None
        return self

    def unfreeze(self) -> Module:
        for p in self.parameters():
            p.requires_grad = True
        return self

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------- forward
    def effective(self, name: str) -> Tensor:
        """The parameter ``name`` as the forward pass sees it: times its mask, if it has one.

        Returns ``None`` for an optional parameter set to ``None`` (a layer built with ``bias=False``).
        """
        p = self._parameters.get(name)
        if p is None:
            if getattr(self, name, None) is None:
                return None  # an optional parameter that is switched off (``bias=False``)
            raise InputError(f"{type(self).__name__} has no parameter {name!r}")
        mask = self._buffers.get(f"{name}_mask")
        if mask is None:
            return p
        return p * mask.astype(p.dtype, copy=False)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------- state dict
    def state_dict(self) -> OrderedDict:
        """Every parameter and buffer by dotted name, as copies of the arrays."""
        state = OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())
        state.update((n, np.array(b, copy=True)) for n, b in self.named_buffers())
        return state

    def load_state_dict(self, state, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into this module's parameters and buffers (PyTorch's semantics).

        Parameters
        ----------
        state : mapping of dotted name -> array
        strict : bool
            ``True``: every parameter and buffer of the module must be in ``state`` and
            nothing else may be. ``False``: load the keys that match, skip the rest.

        Returns
        -------
        IncompatibleKeys
            The named tuple ``(missing_keys, unexpected_keys)``, as lists of names.

        Raises
        ------
        InputError
            Naming every shape mismatch (whatever ``strict``), and with ``strict=True``
            every missing and unexpected key; nothing is loaded then. A ``<param>_mask``
            key for a parameter that exists is accepted even if this module has no such
            mask yet (a pruned checkpoint).
        """
        if not hasattr(state, "items"):
            raise InputTypeError(f"state must be a mapping of names to arrays, got {type(state).__name__}")
        params = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        missing = [k for k in list(params) + list(buffers) if k not in state]
        unexpected, problems, load = [], [], []
        for key, value in state.items():
            try:
                value = np.asarray(value)
            except Exception as err:  # ragged lists, objects NumPy cannot hold as one array
                raise InputTypeError(f"state[{key!r}] is not an array: {err}") from None
            if key in params:
                target, what = params[key].shape, ""
            elif key in buffers:
                target, what = buffers[key].shape, "buffer "
            elif isinstance(key, str) and key.endswith("_mask") and key[: -len("_mask")] in params:
                target, what = params[key[: -len("_mask")]].shape, "mask "
            else:
                unexpected.append(key)
                continue
            if value.shape != target:
                problems.append(f"{what}{key!r} has shape {value.shape}, the model expects {target}")
            elif value.dtype.kind not in "biuf":
                problems.append(f"{what}{key!r} has dtype {value.dtype}; only real numbers are allowed")
            load.append((key, value))
        if strict:
            problems += [f"missing key {k!r}" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        if problems:
            raise InputError("cannot load state dict: " + "; ".join(problems))
        for key, value in load:
            if key in params:
                params[key].data = value.astype(params[key].dtype, copy=True)
            else:
                mod_name, _, buf = key.rpartition(".")
                self.get_submodule(mod_name).register_buffer(buf, value.copy())
        return IncompatibleKeys(missing, unexpected)

    # -------------------------------------------------------------- spec
    def spec(self) -> dict:
        """The constructor arguments that rebuild this layer (used by ``minicompress.io``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved: it defines no spec()")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + ("\n)" if self._modules else ")")

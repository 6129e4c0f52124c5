"""Optimizers: SGD (momentum, Nesterov, weight decay) and Adam.

Parameters come as a list, or as groups ``[{"params": [...], "lr": 1e-4}, ...]``
so that different layers can learn at different rates (fine-tuning). Each
parameter's running arrays live in ``optimizer.state[param]`` (a dict of NumPy
arrays: ``"momentum"`` for SGD, ``"m"``, ``"v"`` and ``"step"`` for Adam) where
other code, such as pruning, can reach them and keep them consistent.

Every hyper-parameter is checked where it enters (the constructor, for every group):
a NaN or infinite learning rate is refused there, with the allowed range.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine._checks import check_number
from minicompress.errors import InputError, InputTypeError
from minicompress.kernels.adam import adam_update
from minicompress.nn.module import Parameter


class Optimizer:
    def __init__(self, params, defaults: dict):
        try:
            if isinstance(params, (Parameter, dict, str, np.ndarray)):
                raise TypeError
            params = list(params)
        except TypeError:
            raise InputTypeError(
                f"params must be a list of Parameters or of parameter groups (dicts), got {type(params).__name__}"
            ) from None
        if not params:
            raise InputError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        seen: set[int] = set()  # by identity: a Tensor's == is elementwise
        for i, group in enumerate(groups):
            if not isinstance(group, dict) or "params" not in group:
                raise InputTypeError(f"parameter group {i} must be a dict with a 'params' list")
            unknown = set(group) - set(defaults) - {"params"}
            if unknown:
                raise InputError(f"parameter group {i} has unknown options {sorted(unknown)}; "
                                 f"allowed: {sorted(defaults)}")
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise InputTypeError(f"optimizers take Parameters, got {type(p).__name__}")
                if id(p) in seen:
                    raise InputError("a parameter appears twice in the optimizer's parameter list")
                seen.add(id(p))
            self._check_group(group)
            self.param_groups.append(group)
        self.state: dict[Parameter, dict] = {}

    def _check_group(self, group: dict) -> None:
        group["lr"] = check_number(group["lr"], "lr", low=0.0)
        group["weight_decay"] = check_number(group["weight_decay"], "weight_decay", low=0.0)

    def parameters(self):
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                try:
                    grad = np.asarray(p.grad)
                except (ValueError, TypeError):  # a ragged list
                    grad = np.asarray(None, dtype=object)
                if grad.shape != p.shape or grad.dtype.kind not in "biuf":
                    # a (1,)-shaped gradient would broadcast onto every weight without a word
                    raise InputError(f"a parameter of shape {p.shape} has a gradient of shape {grad.shape} and "
                                     f"dtype {grad.dtype}; it must be real numbers of the parameter's shape")
                self._update(p, grad, group, self.state.setdefault(p, {}))

    def _update(self, p, grad, group, state):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """v = mu*v + (g + wd*w);  w -= lr * (g + mu*v if nesterov else v).

    Parameters
    ----------
    lr : float in [0, inf)
    momentum : float in [0, 1)
    nesterov : bool (needs momentum > 0)
    weight_decay : float in [0, inf), added to the gradient (L2)
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                                  "weight_decay": weight_decay})

    def _check_group(self, group):
        super()._check_group(group)
        group["momentum"] = check_number(group["momentum"], "momentum", low=0.0, high=1.0, high_open=True)
        if group["nesterov"] and group["momentum"] == 0:
            raise InputError("nesterov momentum needs momentum > 0")

    def _update(self, p, grad, group, state):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        mu = group["momentum"]
        if mu:
            buf = state.get("momentum")
            buf = grad.copy() if buf is None else buf * mu + grad
            state["momentum"] = buf
            grad = grad + mu * buf if group["nesterov"] else buf
        p.data -= (group["lr"] * grad).astype(p.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; weight decay is added to the gradient (L2).

    ::

        g' = g + weight_decay * w
        m  = b1 * m + (1 - b1) * g'          m_hat = m / (1 - b1**t)
        v  = b2 * v + (1 - b2) * g'**2       v_hat = v / (1 - b2**t)
        w -= lr * m_hat / (sqrt(v_hat) + eps)

    Parameters
    ----------
    lr : float in [0, inf)
    betas : (b1, b2), each in [0, 1)
    eps : float in (0, inf) (0 would divide 0 by 0 where a gradient stays zero)
    weight_decay : float in [0, inf)
    fused : bool
        ``False`` (default): the NumPy lines above, readable. ``True``: the same update as
        one Numba loop over memory (``minicompress.kernels.adam``), the fast path (PyTorch's
        name for it); float32 and float64 parameters only.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, fused=False):
        if not isinstance(fused, (bool, np.bool_)):
            raise InputTypeError(f"fused must be True or False, got {fused!r}")
        self.fused = bool(fused)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _check_group(self, group):
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise InputTypeError(f"betas must be a pair (b1, b2), got {betas!r}")
        group["betas"] = tuple(check_number(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True)
                               for i, b in enumerate(betas))
        group["eps"] = check_number(group["eps"], "eps", low=0.0, low_open=True)
        if self.fused:
            for p in group["params"]:
                if p.dtype not in (np.float32, np.float64):
                    raise InputTypeError(f"Adam(fused=True) takes float32 or float64 parameters, got {p.dtype}")

    def _update(self, p, grad, group, state):
        if self.fused and not p.data.flags.c_contiguous:
            p.data = np.ascontiguousarray(p.data)  # the kernel walks the memory in one flat pass
        if "m" not in state:
            state["m"] = np.zeros_like(p.data)
            state["v"] = np.zeros_like(p.data)
            state["step"] = 0
        state["step"] += 1
        b1, b2 = group["betas"]
        lr, eps, wd, t = group["lr"], group["eps"], group["weight_decay"], state["step"]
        if self.fused:
            adam_update(p.data, np.ascontiguousarray(grad, dtype=p.dtype), state["m"], state["v"],
                        b1=b1, b2=b2, lr=lr, eps=eps, weight_decay=wd, step=t)
            return
        m, v = state["m"], state["v"]
        if wd:
            grad = grad + wd * p.data
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p.data -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(p.dtype, copy=False)

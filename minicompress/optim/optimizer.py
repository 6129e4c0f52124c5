"""Optimizers: SGD (momentum, Nesterov, weight decay) and Adam.

Parameters come as a list, or as groups ``[{"params": [...], "lr": 1e-4}, ...]``
so that different layers can learn at different rates (fine-tuning). Each
parameter's running arrays live in ``optimizer.state[param]`` (a dict of NumPy
arrays: ``"momentum"`` for SGD, ``"m"``, ``"v"`` and ``"step"`` for Adam) where
other code, such as pruning, can reach them and keep them consistent.
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.kernels.adam import adam_update
from minicompress.nn.module import Parameter


class Optimizer:
    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise InputError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Parameter):
                    raise InputTypeError(f"optimizers take Parameters, got {type(p).__name__}")
            if group["lr"] < 0:
                raise InputError(f"learning rate must be >= 0, got {group['lr']}")
            self.param_groups.append(group)
        self.state: dict[Parameter, dict] = {}

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
                self._update(p, p.grad, group, self.state.setdefault(p, {}))

    def _update(self, p, grad, group, state):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """v = mu*v + (g + wd*w);  w -= lr * (g + mu*v if nesterov else v)."""

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        if momentum < 0 or weight_decay < 0:
            raise InputError("momentum and weight_decay must be >= 0")
        if nesterov and momentum == 0:
            raise InputError("nesterov momentum needs momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                                  "weight_decay": weight_decay})

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
    """Adam (Kingma & Ba 2015) with bias correction; weight decay is added to the gradient (L2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise InputError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _update(self, p, grad, group, state):
        if "m" not in state:
            state["m"] = np.zeros_like(p.data)
            state["v"] = np.zeros_like(p.data)
            state["step"] = 0
        state["step"] += 1
        b1, b2 = group["betas"]
        if not p.data.flags.c_contiguous:
            p.data = np.ascontiguousarray(p.data)
        # w -= lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), fused in
        # one pass over memory (minicompress/kernels/adam.py): the NumPy form sweeps every weight
        # eleven times and was the largest single cost of an MLP's training step.
        adam_update(p.data, np.ascontiguousarray(grad, dtype=p.dtype), state["m"], state["v"], b1=b1, b2=b2,
                    lr=group["lr"], eps=group["eps"], weight_decay=group["weight_decay"], step=state["step"])

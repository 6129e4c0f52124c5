"""Learning-rate schedules, stepped once per epoch: ``scheduler.step()``."""

from __future__ import annotations

import math

from minicompress.engine._checks import check_int, check_number
from minicompress.errors import InputTypeError
from minicompress.optim.optimizer import Optimizer


class _Schedule:
    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise InputTypeError(f"optimizer must be a minicompress Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.epoch = 0

    def step(self) -> None:
        self.epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.epoch)

    def lr_at(self, base: float, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class StepLR(_Schedule):
    """lr = base * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        step_size = check_int(step_size, "step_size", low=1)
        gamma = check_number(gamma, "gamma", low=0.0)
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, base, epoch):
        return base * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_Schedule):
    """lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, flat after T_max."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        T_max = check_int(T_max, "T_max", low=1)
        eta_min = check_number(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, base, epoch):
        e = min(epoch, self.T_max)
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * e / self.T_max)) / 2

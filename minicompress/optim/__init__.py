"""Optimizers and learning-rate schedules."""

from minicompress.optim.optimizer import SGD, Adam, Optimizer
from minicompress.optim.schedules import CosineAnnealingLR, StepLR

__all__ = ["SGD", "Adam", "CosineAnnealingLR", "Optimizer", "StepLR"]

"""Training and evaluation loops: ``fit``, ``evaluate``, ``predict``.

``fit`` calls back into the caller at two points that compression needs:
``on_step(state)`` after every optimizer step (pruning re-applies masks and
follows its schedule there) and ``on_epoch_end(state)`` (evaluation, logging,
rewinding). A callback is any object with either method.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from minicompress.data import DataLoader
from minicompress.engine import Tensor, no_grad
from minicompress.engine._checks import check_int
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module
from minicompress.nn.losses import cross_entropy
from minicompress.optim import Optimizer


@dataclass
class TrainState:
    """What a callback sees: the model, the optimizer and where training is."""

    model: Module
    optimizer: Optimizer
    epoch: int = 0
    step: int = 0
    loss: float = float("nan")
    logs: dict = field(default_factory=dict)
    stop: bool = False  # a callback may set this to end training after the current epoch


def _progress(total, desc, enabled):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


def fit(model: Module, optimizer: Optimizer, x: np.ndarray, y: np.ndarray, *, epochs: int = 1,
        batch_size: int = 64, seed=0, loss_fn=cross_entropy, callbacks=(), scheduler=None,
        transform=None, x_val=None, y_val=None, progress: bool | None = None) -> list[dict]:
    """Train ``model`` on ``(x, y)`` with mini-batches; return one dict of logs per epoch.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,) integer labels (or whatever ``loss_fn`` takes as its target)
    loss_fn : callable(logits Tensor, y batch) -> scalar Tensor
    callbacks : objects with ``on_step(state)`` and/or ``on_epoch_end(state)``
    scheduler : stepped once at every epoch end
    progress : show a progress bar; ``None`` shows it only when stderr is a terminal

    Returns
    -------
    list of dict
        ``{"epoch", "loss", "accuracy", "seconds", "samples_per_second"}`` plus
        ``"val_accuracy"`` when validation data is given.
    """
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a minicompress Module, got {type(model).__name__}")
    if not all(callable(getattr(optimizer, m, None)) for m in ("zero_grad", "step")):
        raise InputTypeError(f"optimizer must have zero_grad() and step(), got {type(optimizer).__name__}")
    epochs = check_int(epochs, "epochs", low=0)
    x, y = _check_xy(x, y)
    if not callable(loss_fn):
        raise InputTypeError(f"loss_fn must be callable(logits, targets), got {type(loss_fn).__name__}")
    if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise InputTypeError(f"callbacks must be a list of objects, got {type(callbacks).__name__}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not (hasattr(cb, "on_step") or hasattr(cb, "on_epoch_end")):
            raise InputTypeError(f"each callback needs on_step(state) or on_epoch_end(state), got {cb!r:.60}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise InputTypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
    if (x_val is None) != (y_val is None):
        raise InputError("x_val and y_val go together: give both or neither")
    loader = DataLoader(x, y, batch_size, shuffle=True, seed=seed, transform=transform)
    state = TrainState(model, optimizer)
    history = []
    for epoch in range(1, epochs + 1):
        state.epoch = epoch
        model.train()
        bar = _progress(len(loader), f"epoch {epoch}/{epochs}", progress)
        start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        for batch, (xb, yb) in enumerate(loader):
            optimizer.zero_grad()
            logits = model(Tensor(xb))
            loss = loss_fn(logits, yb)
            if not isinstance(loss, Tensor) or loss.size != 1:
                raise InputError(f"loss_fn must return a 1-element Tensor, got {loss!r:.80}")
            state.step += 1
            state.loss = float(loss.data.reshape(-1)[0])
            if not np.isfinite(state.loss):
                # Stop before the step: one NaN would spread to every weight and the run would go on
                # reporting garbage. A NaN pixel, a huge learning rate or a bad target does this.
                raise InputError(
                    f"the loss is {state.loss} at epoch {epoch}, step {state.step} (batch {batch + 1} of "
                    f"{len(loader)}): training stopped; check the data for NaN/inf values and lower the "
                    "learning rate"
                )
            loss.backward()
            optimizer.step()
            n = len(xb)
            seen += n
            loss_sum += state.loss * n
            if np.ndim(yb) == 1 and logits.ndim == 2:
                correct += int((logits.data.argmax(axis=1) == yb).sum())
            for cb in callbacks:
                if hasattr(cb, "on_step"):
                    cb.on_step(state)
            if bar is not None:
                rate = seen / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                samples_s=f"{rate:.0f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        logs = {"epoch": epoch, "loss": loss_sum / max(seen, 1), "accuracy": correct / max(seen, 1),
                "seconds": seconds, "samples_per_second": seen / seconds if seconds else 0.0}
        if x_val is not None:
            logs["val_accuracy"] = evaluate(model, x_val, y_val)["accuracy"]
        if scheduler is not None:
            scheduler.step()
        state.logs = logs
        for cb in callbacks:
            if hasattr(cb, "on_epoch_end"):
                cb.on_epoch_end(state)
        history.append(logs)
        if state.stop:
            break
    return history


def _check_array(a, name: str) -> np.ndarray:
    try:
        a = np.asarray(a)
    except Exception as err:  # ragged nested lists
        raise InputTypeError(f"{name} must be an array of numbers: {err}") from None
    if a.dtype.kind not in "biuf":
        raise InputTypeError(f"{name} must hold real numbers (bool, int or float), got dtype {a.dtype}")
    if a.ndim == 0:
        raise InputError(f"{name} must have a sample axis (ndim >= 1), got a 0-d array")
    return a


def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _check_array(x, "x"), _check_array(y, "y")
    if len(x) != len(y):
        raise InputError(f"x has {len(x)} samples but y has {len(y)}")
    return x, y


def predict(model: Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's outputs (logits) for ``x``, in eval mode, without building a graph."""
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a minicompress Module, got {type(model).__name__}")
    x = _check_array(x, "x")
    batch_size = check_int(batch_size, "batch_size", low=1)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [model(Tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not outs:
        raise InputError("predict() got no samples")
    return np.concatenate(outs)


def evaluate(model: Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
             loss_fn=cross_entropy) -> dict:
    """``{"accuracy": fraction correct, "loss": mean loss}`` on ``(x, y)``."""
    x, y = _check_xy(x, y)
    logits = predict(model, x, batch_size)
    loss = float(loss_fn(Tensor(logits), y).data)
    return {"accuracy": float((logits.argmax(axis=1) == y).mean()), "loss": loss}

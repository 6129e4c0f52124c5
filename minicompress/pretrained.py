"""Trained models on mnist10k, trained once and cached on disk.

Benchmarks, tutorials and the demo all start from a trained model. Training
LeNet-300-100 takes a few seconds, so ``trained_model`` trains it once with the
default recipe (Adam, lr 1e-3, batch 64) and caches the result in
``$MINICOMPRESS_CACHE`` (default ``~/.cache/minicompress``). A cached file is
used only when the SHA-256 checksum stored beside its weights matches the
weights themselves and the fingerprint of the training split matches today's
(so a model that may have seen test images is never reused); otherwise it is
retrained and rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from minicompress.data import load_mnist10k
from minicompress.errors import InputError
from minicompress.io import load_model, model_checksum, save_model
from minicompress.models import INPUT_SHAPES, build
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

DEFAULT_EPOCHS = {"lenet-300-100": 15, "lenet5": 15, "doc001-mlp": 10}
RECIPE_VERSION = 2  # bump when the recipe changes, so stale caches are not reused


def data_fingerprint() -> str:
    """SHA-256 of the mnist10k training split (indices and labels).

    Stored with every cached model: a model trained on another split (which may have
    seen today's test images) is never reused.
    """
    import hashlib

    from minicompress.data import mnist10k_split

    train_idx, _ = mnist10k_split()
    _, y_train, _, _ = load_mnist10k()
    return hashlib.sha256(train_idx.tobytes() + y_train.tobytes()).hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("MINICOMPRESS_CACHE", Path.home() / ".cache" / "minicompress"))


def train_model(name: str, epochs: int | None = None, seed: int = 0, lr: float = 1e-3,
                batch_size: int = 64, progress=None):
    """Train ``name`` on mnist10k with Adam; return ``(model, info)``."""
    if INPUT_SHAPES.get(name) != (1, 28, 28):
        raise InputError(f"{name!r} does not take 28x28 MNIST digits; "
                         f"mnist10k models: {[n for n, s in INPUT_SHAPES.items() if s == (1, 28, 28)]}")
    epochs = DEFAULT_EPOCHS.get(name, 10) if epochs is None else epochs
    x_train, y_train, x_test, y_test = load_mnist10k()
    model = build(name, seed=seed)
    history = fit(model, Adam(model.parameters(), lr=lr), x_train, y_train, epochs=epochs,
                  batch_size=batch_size, seed=seed, progress=progress)
    info = {"model": name, "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size,
            "test_accuracy": evaluate(model, x_test, y_test)["accuracy"],
            "train_seconds": sum(h["seconds"] for h in history)}
    return model, info


def trained_model(name: str = "lenet-300-100", epochs: int | None = None, seed: int = 0,
                  use_cache: bool = True, progress=None):
    """A trained model and its info dict (``"cached": True`` when it came from disk)."""
    epochs = DEFAULT_EPOCHS.get(name, 10) if epochs is None else epochs
    path = cache_dir() / f"{name}-e{epochs}-s{seed}-r{RECIPE_VERSION}.npz"
    if use_cache and path.exists():
        try:
            model = load_model(path)
            meta = model.metadata
            if meta.get("checksum") == model_checksum(model) and meta.get("data") == data_fingerprint():
                return model, {**model.metadata["info"], "cached": True}
        except ValueError:
            pass  # a corrupt cache entry is simply retrained
    model, info = train_model(name, epochs, seed, progress=progress)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_model(model, path, {"info": info, "checksum": model_checksum(model), "data": data_fingerprint()})
        except OSError:
            pass  # an unwritable cache only costs time
    return model, {**info, "cached": False}

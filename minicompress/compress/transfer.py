"""Transfer learning (E9): pretrain on a source task, fine-tune on a target task.

doc 000 §2.3 describes it in words only (``docs/documents.md#e9-transfer-learning``):
train on a source task, then fine-tune on a target task as far as the two are alike.
This module is that procedure, concretely:

1. **pretrain** a model on the source task (``minicompress.training.fit``);
2. **replace the head**: the last ``Linear`` becomes a fresh one with as many outputs as
   the target task has classes (:func:`replace_head`); every other layer keeps its
   learned weights;
3. **fine-tune** on the (few) target labels (:func:`fine_tune`), either
   * ``"head"``: the body is frozen (``requires_grad = False``), only the new head learns:
     the body is a fixed feature extractor; or
   * ``"full"``: everything learns, the body usually at a smaller learning rate than the
     head (per-group learning rates, :func:`param_groups`), so the features are
     adjusted rather than overwritten.

:func:`transfer_experiment` runs the ready mnist10k experiment: source = digits 0-4,
target = digits 5-9 with a few labels per class, compared with training from scratch on
those labels alone. ``benchmarks/transfer.py`` averages it over seeds.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.io import copy_model
from minicompress.models import build, mlp
from minicompress.nn import Linear, Sequential
from minicompress.optim import Adam
from minicompress.rng import as_generator
from minicompress.training import evaluate, fit

STRATEGIES = ("head", "full")


# ------------------------------------------------------------------ tasks from one dataset
def class_subset(x: np.ndarray, y: np.ndarray, classes, relabel: bool = True):
    """The samples whose label is in ``classes``; labels renumbered 0..k-1 in that order.

    Parameters
    ----------
    x : ndarray (N, ...)     y : int ndarray (N,)
    classes : sequence of int, distinct
    relabel : bool
        True: class ``classes[j]`` becomes label j (a k-class task). False: keep the labels.

    Returns
    -------
    (x_sub, y_sub) : copies, in the original order.
    """
    x, y = np.asarray(x), np.asarray(y)
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise InputError(f"classes must be a non-empty list of distinct labels, got {classes}")
    if len(x) != len(y):
        raise InputError(f"x has {len(x)} samples but y has {len(y)}")
    missing = [c for c in classes if not np.any(y == c)]
    if missing:
        raise InputError(f"no samples of class(es) {missing}; labels present: {sorted(set(y.tolist()))}")
    keep = np.isin(y, classes)
    y_sub = y[keep]
    if relabel:
        lookup = {c: j for j, c in enumerate(classes)}
        y_sub = np.array([lookup[int(v)] for v in y_sub], dtype=np.int64)
    return x[keep], y_sub


def few_per_class(x: np.ndarray, y: np.ndarray, per_class: int, seed=0):
    """``per_class`` samples of every class present in ``y``, drawn without replacement (seeded).

    Returns ``(x_few, y_few)`` in class order; ``ValueError`` if a class has fewer samples.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 1:
        raise InputError(f"per_class must be a positive integer, got {per_class!r}")
    rng = as_generator(seed)
    picks = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class:
            raise InputError(f"class {c} has only {len(idx)} samples, fewer than per_class={per_class}")
        picks.append(rng.choice(idx, per_class, replace=False))
    picks = np.concatenate(picks)
    return x[picks], y[picks]


# ------------------------------------------------------------------ surgery
def head_index(model: Sequential) -> int:
    """The index of the last ``Linear`` layer: the classifier head."""
    if not isinstance(model, Sequential):
        raise InputTypeError(f"expected a Sequential model, got {type(model).__name__}")
    for i in range(len(model) - 1, -1, -1):
        if isinstance(model[i], Linear):
            return i
    raise InputError("the model has no Linear layer to serve as its head")


def replace_head(model: Sequential, num_classes: int, seed=0, head_from: int | None = None) -> Sequential:
    """A copy of ``model`` with a fresh head for ``num_classes`` classes.

    The head is every layer from ``head_from`` on (default: the last ``Linear`` alone);
    its weighted layers are re-initialized (``seed``), the last ``Linear`` with
    ``num_classes`` outputs. Layers before ``head_from`` keep their learned weights.
    The input model is not modified.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    last = head_index(model)
    start = last if head_from is None else int(head_from)
    if not 0 <= start <= last:
        raise InputError(f"head_from must be in [0, {last}] (the last Linear is layer {last}), got {head_from}")
    rng = as_generator(seed)
    layers = list(copy_model(model))
    for i in range(start, len(layers)):
        layer = layers[i]
        if isinstance(layer, Linear):
            out = int(num_classes) if i == last else layer.out_features
            layers[i] = Linear(layer.in_features, out, bias=layer.bias is not None, seed=rng)
        elif layer.parameters():
            layers[i] = type(layer)(**layer.spec(), seed=rng)
    return Sequential(*layers)


def param_groups(model: Sequential, head_lr: float, body_lr: float | None,
                 head_from: int | None = None) -> list[dict]:
    """Optimizer groups ``[{"params": body, "lr": body_lr}, {"params": head, "lr": head_lr}]``.

    ``body_lr=None`` freezes the body (``requires_grad = False``) and returns the head's
    group alone; otherwise every parameter is unfrozen. The head is layer ``head_from``
    and every layer after it (default: from the last ``Linear``).
    """
    for name, lr in (("head_lr", head_lr), ("body_lr", body_lr)):
        if lr is not None and (not np.isfinite(lr) or lr < 0):
            raise InputError(f"{name} must be a finite learning rate >= 0, got {lr}")
    h = head_index(model) if head_from is None else int(head_from)
    if not 0 <= h < len(model):
        raise InputError(f"head_from must be a layer index in [0, {len(model) - 1}], got {head_from}")
    body = [p for layer in list(model)[:h] for p in layer.parameters()]
    head = [p for layer in list(model)[h:] for p in layer.parameters()]
    for layer in list(model)[h:]:
        layer.unfreeze()
    if body_lr is None:
        for layer in list(model)[:h]:
            layer.freeze()
        return [{"params": head, "lr": head_lr}]
    for layer in list(model)[:h]:
        layer.unfreeze()
    return ([{"params": body, "lr": body_lr}] if body else []) + [{"params": head, "lr": head_lr}]


def fine_tune(model: Sequential, x: np.ndarray, y: np.ndarray, *, strategy: str = "full",
              head_lr: float = 1e-3, body_lr: float | None = None, head_from: int | None = None,
              epochs: int = 30, batch_size: int = 32, seed=0, x_val=None, y_val=None,
              progress=None) -> list[dict]:
    """Fine-tune ``model`` (whose head already has the target's classes) on ``(x, y)``, in place.

    Parameters
    ----------
    strategy : "head" or "full"
        "head": the body is frozen, only the head learns (``body_lr`` must be None).
        "full": every layer learns; the body at ``body_lr`` (default ``head_lr / 10``).
    head_lr, body_lr : float
        Adam learning rates of the two parameter groups.
    head_from : int, optional
        The first layer of the head (as given to :func:`replace_head`); default the last ``Linear``.

    Returns
    -------
    ``fit``'s per-epoch logs.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "head":
        if body_lr is not None:
            raise InputError("strategy='head' freezes the body; leave body_lr=None or use strategy='full'")
        groups = param_groups(model, head_lr, None, head_from)
    else:
        groups = param_groups(model, head_lr, head_lr / 10 if body_lr is None else body_lr, head_from)
    return fit(model, Adam(groups), x, y, epochs=epochs, batch_size=batch_size, seed=seed,
               x_val=x_val, y_val=y_val, progress=progress)


# ------------------------------------------------------------------ the ready experiment
ARCHS = ("lenet5", "mlp")
CLASSIFIER_FROM = {"lenet5": 7, "mlp": 3}
"""Where each architecture's classifier block starts: LeNet-5's fully connected layers
(400-120-84-k, after the two convolutions) and the MLP's layers after its first hidden layer."""


def _new_model(arch: str, num_classes: int, seed) -> Sequential:
    if arch == "lenet5":
        return replace_head(build("lenet5", seed=seed), num_classes, seed=seed)
    if arch == "mlp":
        return mlp([784, 256, 128, num_classes], seed=seed)
    raise InputError(f"arch must be one of {ARCHS}, got {arch!r}")


def transfer_experiment(data=None, *, arch: str = "lenet5", source_classes=(0, 1, 2, 3, 4),
                        target_classes=(5, 6, 7, 8, 9), labels_per_class: int = 50,
                        source_epochs: int = 10, target_epochs: int = 30, lr: float = 1e-3,
                        head_lr: float = 3e-3, body_lr: float = 1e-3, scratch_lrs=(1e-3, 3e-3),
                        seed: int = 0, progress=None) -> dict:
    """Source task -> target task with few labels: scratch vs. head-only vs. full fine-tuning.

    1. Pretrain ``arch`` on every training image of ``source_classes`` (Adam, ``lr``).
    2. Draw ``labels_per_class`` training images of each target class (seeded).
    3. On those labels alone, ``target_epochs`` each (Adam, batch 32):

       * ``scratch``: a fresh model, Adam at each rate of ``scratch_lrs``;
       * ``head_only``: the source model, new last ``Linear``, everything else frozen;
       * ``classifier_only``: the source model's feature layers frozen, its whole
         classifier block (``CLASSIFIER_FROM``) re-initialized and trained;
       * ``full_finetune``: new last ``Linear`` at ``head_lr``, every other layer at ``body_lr``.

    4. Evaluate on every test image of the target classes.

    Parameters
    ----------
    data : (x_train, y_train, x_test, y_test), optional
        Default mnist10k.
    arch : "lenet5" or "mlp" (784-256-128-k)

    Returns
    -------
    dict
        ``source_accuracy`` (source test set); on the target test set: ``scratch_accuracy``
        (at ``scratch_lrs[0]``, the source's own rate), ``scratch_best_accuracy`` (the best
        over ``scratch_lrs``, picked on the test set, which can only favour scratch),
        ``head_only_accuracy``, ``classifier_only_accuracy``, ``full_finetune_accuracy``;
        ``n_target_train``, ``n_target_test``.
    """
    if data is None:
        from minicompress.data import load_mnist10k
        data = load_mnist10k()
    x_train, y_train, x_test, y_test = data
    k_src, k_tgt = len(source_classes), len(target_classes)
    xs, ys = class_subset(x_train, y_train, source_classes)
    xs_test, ys_test = class_subset(x_test, y_test, source_classes)
    xt_all, yt_all = class_subset(x_train, y_train, target_classes)
    xt, yt = few_per_class(xt_all, yt_all, labels_per_class, seed=seed)
    xt_test, yt_test = class_subset(x_test, y_test, target_classes)

    source = _new_model(arch, k_src, seed)
    fit(source, Adam(source.parameters(), lr=lr), xs, ys, epochs=source_epochs, seed=seed, progress=progress)
    result = {"arch": arch, "seed": seed, "labels_per_class": labels_per_class,
              "n_target_train": len(xt), "n_target_test": len(xt_test),
              "source_accuracy": evaluate(source, xs_test, ys_test)["accuracy"]}

    scratch = []
    for rate in scratch_lrs:
        model = _new_model(arch, k_tgt, seed + 1000)
        fit(model, Adam(model.parameters(), lr=rate), xt, yt, epochs=target_epochs, batch_size=32, seed=seed,
            progress=progress)
        scratch.append(evaluate(model, xt_test, yt_test)["accuracy"])
    result["scratch_accuracy"], result["scratch_best_accuracy"] = scratch[0], max(scratch)

    variants = (("head_only_accuracy", "head", None, None),
                ("classifier_only_accuracy", "head", None, CLASSIFIER_FROM[arch]),
                ("full_finetune_accuracy", "full", body_lr, None))
    for key, strategy, blr, head_from in variants:
        model = replace_head(source, k_tgt, seed=seed + 2000, head_from=head_from)
        fine_tune(model, xt, yt, strategy=strategy, head_lr=head_lr, body_lr=blr, head_from=head_from,
                  epochs=target_epochs, seed=seed, progress=progress)
        result[key] = evaluate(model, xt_test, yt_test)["accuracy"]
    return result

"""The documents' distillation examples, made to run.

doc 002 §4 (``docs/documents.md#doc-002-4``): a 10-5-2 MLP teacher trained on 100 random
10-d points with labels in {0, 1} (SGD, lr 0.01, 100 full-batch steps), a student of the
same shape trained to imitate it, then the teacher's parameters copied into the student.
As printed the code cannot run; :func:`doc002_example` fixes exactly these bugs and
nothing else:

* labels of shape (100, 1) -> (100,) (a class index per sample);
* the distillation loss is computed once, *before* the loop, and ``backward()`` is called
  on that same value 100 times (PyTorch refuses a second backward through a freed graph;
  even where it did not, the student would never see its own updated outputs) -> the
  loss is recomputed from the student's current outputs inside the loop;
* ``CrossEntropyLoss(...)`` is called with one argument (no target) -> the loss is E8's
  soft cross-entropy H(p_T, p_S) between the two softmax outputs
  (``minicompress.equations.soft_cross_entropy``);
* ``zip(model.parameters(), ...)`` copying silently skips or broadcasts mismatched
  tensors -> ``minicompress.equations.copy_parameters`` matches by name and refuses.

doc 000 §4.2 (``docs/documents.md#doc-000-4``): a CNN trained on CIFAR-10 (SGD, lr 0.01,
batch 64, flips, crops, normalisation) and a "student" distilled from it, whose loop
feeds the teacher's log-probabilities to a hard-label cross-entropy and whose student is
the teacher's exact architecture (nothing is compressed). :func:`doc000_distillation`
keeps the teacher and its recipe, gives the student half the channels and a quarter of
the parameters (:func:`doc000_student`), and distills with Hinton's loss
(:func:`minicompress.compress.distill.distill`). It runs on mnist10k, padded to 32×32 and
repeated to three channels (:func:`mnist_as_doc000_input`), or on CIFAR-10 when a user
has the files (:func:`doc000_cifar10`).
"""

from __future__ import annotations

import numpy as np

import minicompress.engine.functional as F
from minicompress.compress.distill import distill
from minicompress.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip, load_cifar10
from minicompress.engine import Tensor, no_grad
from minicompress.equations.distillation import (
    copy_parameters,
    output_distance,
    parameter_distance,
    soft_cross_entropy,
)
from minicompress.errors import InputError
from minicompress.models import build
from minicompress.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicompress.nn.losses import cross_entropy
from minicompress.optim import SGD, Adam
from minicompress.rng import as_generator
from minicompress.training import evaluate, fit


# ------------------------------------------------------------------ doc 002
def doc002_example(seed: int = 0, n: int = 100, steps: int = 100, lr: float = 0.01) -> dict:
    """doc 002 §4 end to end: teacher, student imitating it (E8), parameter copy (E8.copy).

    Parameters
    ----------
    seed : int
        Draws the data and both models' initial weights.
    n, steps, lr :
        The document's 100 points, 100 full-batch SGD steps, learning rate 0.01.

    Returns
    -------
    dict
        ``teacher_losses``, ``student_losses`` (one per step), ``teacher_accuracy`` (on its
        training points), ``teacher_entropy`` (mean H(p_T), the floor of the student's
        loss), ``agreement`` (fraction of transfer points where the student's argmax equals
        the teacher's), ``output_distance``/``parameter_distance`` before and after the copy,
        and the two models.
    """
    rng = as_generator(seed)
    # The document draws x_train and y_train twice: once for the teacher, once (fresh) for
    # the distillation; the second labels are never used.
    x_teacher = rng.standard_normal((n, 10)).astype(np.float32)
    y_teacher = rng.integers(0, 2, n)
    x_transfer = rng.standard_normal((n, 10)).astype(np.float32)

    teacher = build("doc002-mlp", seed=rng)
    opt = SGD(teacher.parameters(), lr=lr)
    teacher_losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = cross_entropy(teacher(Tensor(x_teacher)), y_teacher)
        loss.backward()
        opt.step()
        teacher_losses.append(float(loss.data))
    teacher_accuracy = evaluate(teacher, x_teacher, y_teacher)["accuracy"]

    with no_grad():
        p_teacher = F.softmax(teacher(Tensor(x_transfer)), axis=1).data
    student = build("doc002-mlp", seed=rng)
    opt = SGD(student.parameters(), lr=lr)
    student_losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = soft_cross_entropy(p_teacher, F.softmax(student(Tensor(x_transfer)), axis=1))
        loss.backward()
        opt.step()
        student_losses.append(float(loss.data))

    def distances():
        with no_grad():
            zt, zs = teacher(Tensor(x_transfer)).data, student(Tensor(x_transfer)).data
        return output_distance(zt, zs), float(parameter_distance(teacher.state_dict(), student.state_dict())), \
            float((zt.argmax(1) == zs.argmax(1)).mean())

    out_before, par_before, agreement = distances()
    copy_parameters(teacher, student)
    out_after, par_after, _ = distances()
    entropy = float(-(p_teacher * np.log(np.clip(p_teacher, 1e-12, 1))).sum(axis=1).mean())
    return {"teacher_losses": teacher_losses, "student_losses": student_losses,
            "teacher_accuracy": teacher_accuracy, "teacher_entropy": entropy, "agreement": agreement,
            "output_distance_before_copy": out_before, "parameter_distance_before_copy": par_before,
            "output_distance_after_copy": out_after, "parameter_distance_after_copy": par_after,
            "teacher": teacher, "student": student}


# ------------------------------------------------------------------ doc 000
def doc000_student(in_channels: int = 3, num_classes: int = 10, seed=0) -> Sequential:
    """doc 000's CNN at half the channels: conv 3→8, pool, conv 8→16, pool, 1024→64→10.

    67,642 parameters against the teacher's 268,650 (``build("doc000-cnn")``), for 3×32×32 input.
    """
    rng = as_generator(seed)
    return Sequential(
        Conv2d(in_channels, 8, 3, padding=1, seed=rng), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 3, padding=1, seed=rng), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(16 * 8 * 8, 64, seed=rng), ReLU(),
        Linear(64, num_classes, seed=rng),
    )


def mnist_as_doc000_input(x: np.ndarray) -> np.ndarray:
    """(N, 1, 28, 28) digits -> (N, 3, 32, 32): zero-pad 2 pixels each side, repeat to 3 channels."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise InputError(f"expected MNIST images of shape (N, 1, 28, 28), got {x.shape}")
    return np.repeat(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), 3, axis=1)


def doc000_distillation(data, *, teacher=None, teacher_epochs: int = 10, student_epochs: int = 10,
                        teacher_lr: float = 0.01, teacher_momentum: float = 0.0, T: float = 4.0,
                        alpha: float = 0.9, transform=None, seed: int = 0, progress=None) -> dict:
    """doc 000 §4.2, working: train the doc's CNN teacher, distill a smaller student from it.

    Parameters
    ----------
    data : (x_train, y_train, x_test, y_test)
        Images of shape (N, 3, 32, 32) (use :func:`mnist_as_doc000_input` for mnist10k).
    teacher : Sequential, optional
        An already trained teacher; default: ``build("doc000-cnn")`` trained with the
        document's recipe (SGD, ``teacher_lr`` 0.01, batch 64, ``teacher_epochs``).
    transform : callable, optional
        Augmentation for the teacher's training batches (the document's flip + crop). The
        student is distilled on the un-augmented images, whose teacher targets are
        computed once.
    T, alpha : distillation temperature and soft-term weight.

    Returns
    -------
    dict
        ``teacher_accuracy``, ``student_accuracy`` (test set), ``teacher_parameters``,
        ``student_parameters``, and the two models.
    """
    x_train, y_train, x_test, y_test = data
    if x_train.ndim != 4 or x_train.shape[1:] != (3, 32, 32):
        raise InputError(f"doc 000's CNN takes (N, 3, 32, 32) images, got {x_train.shape}; "
                         "convert MNIST digits with mnist_as_doc000_input")
    if teacher is None:
        teacher = build("doc000-cnn", seed=seed)
        fit(teacher, SGD(teacher.parameters(), lr=teacher_lr, momentum=teacher_momentum), x_train, y_train,
            epochs=teacher_epochs, batch_size=64, seed=seed, transform=transform, progress=progress)
    student = doc000_student(seed=seed + 1)
    distill(teacher, student, x_train, T=T, alpha=alpha, epochs=student_epochs, optimizer=Adam(student.parameters()),
            seed=seed, progress=progress)
    return {"teacher_accuracy": evaluate(teacher, x_test, y_test)["accuracy"],
            "student_accuracy": evaluate(student, x_test, y_test)["accuracy"],
            "teacher_parameters": teacher.num_parameters(), "student_parameters": student.num_parameters(),
            "teacher": teacher, "student": student}


def doc000_cifar10(directory, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                   **kwargs) -> dict:
    """:func:`doc000_distillation` on CIFAR-10 read from ``directory`` (the python batch files).

    Pixels are normalised with mean 0.5 and std 0.5 per channel and the teacher trains
    with random horizontal flips and random 32×32 crops with padding 4, as in the document
    (the padding is black: -1 after normalisation, as cropping before normalising gives).
    ``n_train``/``n_test`` take the first images only (for a quick run). Other keyword
    arguments go to :func:`doc000_distillation`.
    """
    x_train, y_train, x_test, y_test = load_cifar10(directory)
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = x_test[:n_test], y_test[:n_test]
    norm = Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    rng = as_generator(seed)
    augment = Compose([RandomHorizontalFlip(seed=rng), RandomCrop(32, padding=4, seed=rng, fill=-1.0)])
    return doc000_distillation((norm(x_train), y_train, norm(x_test), y_test), transform=augment, seed=seed,
                               **kwargs)

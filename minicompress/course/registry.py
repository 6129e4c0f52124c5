"""Every checkable task, by id, in chapter order: ``TASKS``, ``CHAPTERS``, ``register``.

Chapter names are the pytest markers, so ``pytest -m pruning --candidate PATH`` and
``minicompress check PATH --chapter pruning`` select the same tasks.
"""

from __future__ import annotations

from minicompress.errors import InputError

CHAPTERS: tuple[str, ...] = (
    "engine", "optim", "equations", "quantization", "pruning", "distillation", "deep_compression", "kernels",
)

TASKS: dict = {}


def register(task):
    """Add ``task`` to ``TASKS`` and return it; refuse a duplicate id, an unknown chapter,
    an id that is not ``<chapter>.<name>``, or a task without an example or a variant."""
    if task.id in TASKS:
        raise ValueError(f"task {task.id!r} is registered twice")
    if task.chapter not in CHAPTERS:
        raise ValueError(f"task {task.id!r}: unknown chapter {task.chapter!r}; chapters: {', '.join(CHAPTERS)}")
    if task.id != f"{task.chapter}.{task.name}":
        raise ValueError(f"task id {task.id!r} must be '{task.chapter}.{task.name}'")
    if not task.examples:
        raise ValueError(f"task {task.id!r} has no hand-worked example")
    if not task.variants:
        raise ValueError(f"task {task.id!r} has no known variant")
    TASKS[task.id] = task
    return task


def _load():
    import minicompress.course.tasks  # noqa: F401  (registers every chapter's tasks)


def get_task(task_id: str):
    """The task with this id (``"engine.relu_forward"``); InputError naming the known ids."""
    _load()
    try:
        return TASKS[task_id]
    except KeyError:
        raise InputError(f"unknown task {task_id!r}; known tasks: {', '.join(TASKS)}") from None


def tasks_in(chapter: str | None = None) -> list:
    """The tasks of ``chapter`` in registration order (every task when ``chapter`` is None)."""
    _load()
    if chapter is None:
        return [t for c in CHAPTERS for t in TASKS.values() if t.chapter == c]
    if chapter not in CHAPTERS:
        raise InputError(f"unknown chapter {chapter!r}; chapters: {', '.join(CHAPTERS)}")
    return [t for t in TASKS.values() if t.chapter == chapter]

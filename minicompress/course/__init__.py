"""The course companion: exercises and reference checks for every chapter.

One :class:`Task` per function a learner writes (``TASKS``, by id, grouped by
``CHAPTERS``, the tutorials' chapters and pytest markers). :func:`check_function` checks
one function in this process; ``minicompress check PATH`` runs a learner's files in a
child process with time limits (``minicompress.course.sandbox``), and
``minicompress exercises --out DIR`` writes the stubs (``minicompress.course.stubs``).

The names below are imported on first use, so that pytest can load this package's
``pytest_plugin`` at startup without importing NumPy before ``tests/conftest.py`` has
set the BLAS thread count.
"""

import importlib

_EXPORTS = {
    "Task": "task", "Example": "task", "Variant": "task", "default_compare": "task", "compare_with": "task",
    "TASKS": "registry", "CHAPTERS": "registry", "register": "registry", "get_task": "registry",
    "tasks_in": "registry", "check_function": "checking", "TaskResult": "checking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        if name == "TASKS":
            importlib.import_module("minicompress.course.tasks")  # every chapter registers its tasks
        value = getattr(importlib.import_module(f"minicompress.course.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minicompress.course' has no attribute {name!r}")

"""The course companion: exercises and reference checks for every chapter.

One :class:`Task` per function a learner writes (``TASKS``, by id, grouped by
``CHAPTERS``, the tutorials' chapters and pytest markers). :func:`check_function` checks
one function in this process; ``minicompress check PATH`` runs a learner's files in a
child process with time limits (``minicompress.course.sandbox``), and
``minicompress exercises --out DIR`` writes the stubs (``minicompress.course.stubs``).
"""

from minicompress.course.checking import TaskResult, check_function
from minicompress.course.registry import CHAPTERS, TASKS, get_task, register, tasks_in
from minicompress.course.task import Example, Task, Variant, compare_with, default_compare

__all__ = [
    "CHAPTERS", "TASKS", "Example", "Task", "TaskResult", "Variant", "check_function", "compare_with",
    "default_compare", "get_task", "register", "tasks_in",
]

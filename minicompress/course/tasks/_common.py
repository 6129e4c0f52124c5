"""What the compression chapters' task modules share: registering a task, rounding half away from zero."""

from __future__ import annotations

from inspect import cleandoc

import numpy as np

from minicompress.course.registry import register
from minicompress.course.task import Task


def task_registrar(chapter: str):
    """``_task(name, signature, doc, reference, inputs, examples, variants, aliases=(), **kw)`` for ``chapter``.

    The docstring is cleaned (``inspect.cleandoc``) so the exercise stubs indent it evenly.
    """

    def _task(name, signature, doc, reference, inputs, examples, variants, aliases=(), **kw):
        return register(Task(id=f"{chapter}.{name}", chapter=chapter, name=name, signature=signature,
                             doc=cleandoc(doc), reference=reference, inputs=inputs, examples=tuple(examples),
                             variants=tuple(variants), aliases=tuple(aliases), **kw))

    return _task


def round_half_away(v):
    """Round half away from zero (C's ``round``): the rounding several variants use by mistake."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)

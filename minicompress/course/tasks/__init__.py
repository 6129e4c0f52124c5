"""Importing this package registers every chapter's tasks, in ``CHAPTERS`` order."""

import importlib

for _chapter in ("engine", "optim", "equations", "quantization", "pruning", "distillation",
                 "deep_compression", "kernels"):
    importlib.import_module(f"minicompress.course.tasks.{_chapter}")

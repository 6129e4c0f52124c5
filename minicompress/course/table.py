"""The README's chapter × task table, generated from the registry.

``python -m minicompress.course.table`` prints it; ``tests/test_course.py`` checks that the
README holds exactly this text between ``<!-- tasks:start -->`` and ``<!-- tasks:end -->``.
"""

from __future__ import annotations

from minicompress.course.registry import CHAPTERS, tasks_in


def markdown_table() -> str:
    lines = [
        "| chapter | tasks | the function to write | also accepted as (where the name comes from) |",
        "|---|---|---|---|",
    ]
    for chapter in CHAPTERS:
        tasks = tasks_in(chapter)
        for i, task in enumerate(tasks):
            also = "; ".join(f"`{name}` ({source})" for name, source in task.aliases)
            first = f"`{chapter}` | {len(tasks)}" if i == 0 else " | "
            lines.append(f"| {first} | `{task.signature}` | {also} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")

"""The README's chapter × task table, generated from the registry.

``python -m minicompress.course.table`` prints it, ``python -m minicompress.course.table README.md``
rewrites it in place; ``tests/test_course.py`` checks that the README holds exactly this text
between ``<!-- tasks:start -->`` and ``<!-- tasks:end -->``.
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


START, END = "<!-- tasks:start -->\n", "<!-- tasks:end -->"


def update(path) -> None:
    """Replace the table between the markers of the file at ``path``."""
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    a, b = text.index(START) + len(START), text.index(END)
    Path(path).write_text(text[:a] + markdown_table() + text[b:], encoding="utf-8")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        update(sys.argv[1])
    else:
        print(markdown_table(), end="")

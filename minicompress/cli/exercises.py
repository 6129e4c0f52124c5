"""``minicompress exercises --out DIR``: write the course's exercise files, one per chapter.

Each file holds every task of its chapter as a stub: the signature, a docstring with the
exact convention the check expects and the other names it accepts, and
``raise NotImplementedError``. Fill them in, then run ``minicompress check DIR``.
An existing file with other content (your work) is not overwritten without --force.
"""

from __future__ import annotations

import argparse

from minicompress.cli.errors import UsageError
from minicompress.course.registry import CHAPTERS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "exercises",
        help="write the course's exercise files (one per chapter) to fill in and check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write <chapter>.py files into")
    parser.add_argument("--chapter", choices=CHAPTERS, metavar="C",
                        help=f"only this chapter: {', '.join(CHAPTERS)}")
    parser.add_argument("--force", action="store_true", help="overwrite exercise files that differ")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from minicompress.course.registry import tasks_in
    from minicompress.course.stubs import write_exercises

    try:
        written = write_exercises(args.out, args.chapter, force=args.force)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for path in written:
        print(f"{path}  ({len(tasks_in(path.stem))} tasks)")
    print(f"next: minicompress check {args.out}")
    return 0

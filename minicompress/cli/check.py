"""``minicompress check PATH``: check your own implementation of the course's tasks.

PATH is a .py file or a folder (every .py file directly in it); a function is found by
its name or one of its accepted names (the MIT 6.5940 / TinyTorch / PyTorch names and the
documents' E-ids, see `minicompress exercises`) in any of the files. Your code runs in a
separate process, one task after another, with a time limit per task. One line per task:

    pass | fail (counterexample, expected, got, diagnosis) | not started | error (traceback)
    | timeout | changed input | crashed | uses reference

then a summary per chapter. Exit code 0 only when at least one task was implemented and
every implemented task passed; 1 otherwise; 2 for a usage error (missing path, ...).
More hypothesis examples: --max-examples 500 (the time limits grow with it).
"""

from __future__ import annotations

import argparse
import sys
import time

from minicompress.cli.common import add_json_option, write_json
from minicompress.cli.errors import UsageError
from minicompress.course.registry import CHAPTERS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "check",
        help="check your own implementation of the course's tasks (file or folder)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="your .py file, or a folder of .py files")
    parser.add_argument("--chapter", action="append", choices=CHAPTERS, metavar="C",
                        help=f"check only this chapter (repeatable): {', '.join(CHAPTERS)}")
    parser.add_argument("--task", action="append", metavar="ID",
                        help="check only this task (repeatable): an id like pruning.fine_grained_prune, "
                        "or a function name like E2")
    parser.add_argument("--max-examples", type=int, default=50, metavar="N",
                        help="generated examples per task after the hand-worked ones (default 50)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="time limit per task (default: the task's own, 10-20 s, longer with --max-examples)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the generated examples (default 0: the same every run)")
    add_json_option(parser)
    parser.set_defaults(run=run)
    return parser


def select_tasks(chapters=None, task_ids=None) -> list:
    """The tasks named by ``--chapter`` and ``--task`` (every task when neither is given)."""
    from minicompress.course.registry import tasks_in

    every = tasks_in()
    if not task_ids:
        chosen = [t for t in every if not chapters or t.chapter in chapters]
    else:
        chosen = []
        for tid in task_ids:
            found = [t for t in every if tid == t.id or tid in t.names]
            if not found:
                raise UsageError(f"unknown task {tid!r}; see 'minicompress exercises' for the task ids")
            chosen.extend(t for t in found if t not in chosen and (not chapters or t.chapter in chapters))
    if not chosen:
        raise UsageError("no task matches the given --chapter and --task")
    return chosen


def format_result(result, width: int) -> list[str]:
    """The task's line, then its detail (counterexample, traceback, diagnosis) indented below."""
    head = f"{result.task_id:<{width}}  {result.status}"
    lines = result.detail.splitlines() if result.detail else []
    if result.status == "pass":
        return [f"{head}  ({result.detail})" if result.detail else head]
    if result.status == "not started":
        return [head]
    if lines:
        head += f"  {lines[0]}"
    return [head] + ["    " + line for line in lines[1:]]


def summarize(results) -> dict:
    """Counts per chapter and overall, and the exit code (0 only if something ran and all of it passed)."""
    chapters: dict = {}
    for r in results:
        chapter = r.task_id.split(".")[0]
        counts = chapters.setdefault(chapter, {})
        counts[r.status] = counts.get(r.status, 0) + 1
    implemented = [r for r in results if r.status != "not started"]
    ok = bool(implemented) and all(r.status == "pass" for r in implemented) \
        and sum(r.examples_run for r in implemented) > 0
    return {"chapters": chapters, "implemented": len(implemented), "passed": sum(r.status == "pass" for r in results),
            "tasks": len(results), "exit_code": 0 if ok else 1}


def run(args) -> int:
    # hypothesis and the tasks are imported only when a check actually runs
    from minicompress.course.sandbox import learner_files, run_checks

    if args.max_examples < 0:
        raise UsageError(f"--max-examples must be >= 0, got {args.max_examples}")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    try:
        paths = learner_files(args.path)
    except ValueError as err:
        raise UsageError(str(err)) from None
    tasks = select_tasks(args.chapter, args.task)
    width = max(len(t.id) for t in tasks)
    start = time.monotonic()

    def show(result):
        for line in format_result(result, width):
            print(line)
        sys.stdout.flush()

    results, problems = run_checks(paths, tasks, max_examples=args.max_examples, seed=args.seed,
                                   timeout=args.timeout, on_result=show)
    elapsed = time.monotonic() - start
    summary = summarize(results)
    for path, problem in problems:
        first, *rest = problem.splitlines()
        print(f"{path}: could not be imported: {first}")
        for line in rest:
            print("    " + line)
    print()
    for chapter, counts in summary["chapters"].items():
        print(f"{chapter + ':':<18} " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    print(f"{summary['passed']} of {summary['tasks']} tasks pass ({summary['implemented']} implemented) "
          f"in {elapsed:.1f} s")
    code = summary["exit_code"]
    if problems:
        code = 1
    if summary["implemented"] == 0:
        print("nothing implemented yet: every function is missing or raises NotImplementedError")
    write_json(args.json, {"path": str(args.path), "files": [str(p) for p in paths],
                           "results": [r.to_dict() for r in results],
                           "import_problems": [{"file": f, "problem": p} for f, p in problems],
                           "summary": summary, "seconds": round(elapsed, 2), "exit_code": code})
    return code

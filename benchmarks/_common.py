"""Shared by the benchmark scripts: argument parsing, JSON output, tables, timing."""

from __future__ import annotations

import argparse
import os
import platform
import sys


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    p.add_argument("--quick", action="store_true", help="fewer repetitions/epochs, for a smoke test")
    return p


def machine() -> dict:
    import numpy as np

    return {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "machine": platform.machine()}


def write_json(path, payload: dict) -> None:
    """The library's atomic JSON writer (minicompress.io.write_json), then say where it went."""
    from minicompress.io import write_json as write

    if path:
        write(path, payload)
        print(f"wrote {path}")


def table(rows: list[dict], columns: list[str]) -> None:
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    sys.stdout.flush()


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch

"""Shared by the benchmark scripts: an honest BLAS, argument parsing, JSON output, tables.

Importing this module makes the benchmark's own process run NumPy's BLAS at its best:
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (set on some machines, where they hold OpenBLAS
to older, slower kernels: NumPy sgemm ran at 238 GOP/s with them and 420 without at
256x784x300 on this project's machine) are removed from the environment. OpenBLAS reads them
when NumPy loads, so if NumPy is already loaded the script re-executes itself with the cleaned
environment. Only the benchmark's process (and the processes it starts) is affected; the tests
and CI never import this module. :func:`blas` reports what then ran (threadpoolctl).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

#: environment variables that pin OpenBLAS to a slower kernel; removed for benchmarks
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_NOTE = "MINICOMPRESS_BENCH_UNSET"  # what the parent process removed, for the report


def _clean_blas_environment() -> None:
    found = {name: os.environ[name] for name in BLAS_OVERRIDES if name in os.environ}
    if not found:
        return
    note = ", ".join(f"{k}={v}" for k, v in found.items())
    for name in found:
        del os.environ[name]  # unsetenv: OpenBLAS, loaded later, will not see it
    os.environ[_UNSET_NOTE] = note
    if "numpy" in sys.modules:  # too late for this process: start again, cleaned
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


_clean_blas_environment()


def blas() -> dict:
    """The BLAS NumPy runs on: library, version, threads and kernel ('architecture'), plus the
    overriding variables this process removed (``unset``)."""
    libs = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        libs = None
    else:
        import numpy  # noqa: F401  (so that its BLAS is loaded and listed)

        libs = [{"library": d.get("internal_api"), "version": d.get("version"),
                 "threads": d.get("num_threads"), "kernel": d.get("architecture"),
                 "api": d.get("user_api")} for d in threadpool_info()]
    return {"libraries": libs, "unset": os.environ.get(_UNSET_NOTE),
            "still_set": {k: os.environ[k] for k in BLAS_OVERRIDES if k in os.environ} or None}


def blas_line() -> str:
    """One line for the top of a benchmark's output."""
    info = blas()
    if info["libraries"] is None:
        libs = "threadpoolctl not installed: BLAS kernel unknown (pip install threadpoolctl)"
    else:
        libs = "; ".join(f"{d['library']} {d['version']} kernel={d['kernel']} threads={d['threads']}"
                         for d in info["libraries"] if d["api"] == "blas") or "no BLAS found"
    unset = f" (unset for this run: {info['unset']})" if info["unset"] else ""
    return f"BLAS: {libs}{unset}"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    p.add_argument("--quick", action="store_true", help="fewer repetitions/epochs, for a smoke test")
    add_seed(p)
    return p


def add_seed(p: argparse.ArgumentParser) -> None:
    """``--seed``: every random choice of the benchmark derives from it (default 0)."""
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")


def machine() -> dict:
    import numpy as np

    return {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
            "machine": platform.machine(), "cpu": _cpu_name(), "blas": blas()}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path, payload: dict) -> None:
    """The library's atomic JSON writer (minicompress.io.write_json), then say where it went."""
    from minicompress.io import write_json as write

    if path:
        write(path, payload)
        print(f"wrote {path}")


def status(value, target) -> str:
    """'met' / 'MISSED' for a ratio against an upper-bound target ('-' when not measured)."""
    if value is None or target is None:
        return "-"
    return "met" if value <= target else "MISSED"


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

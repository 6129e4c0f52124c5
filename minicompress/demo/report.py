"""The demo's report: the table on screen and ``report.json``.

``report.json`` holds everything the table and the plots show, so
``minicompress report report.json`` can print it again and re-draw the PNGs without
running anything. Its schema (``format`` ``"minicompress-demo-report"``, ``version`` 1)::

    {
      "format", "version", "created" (UTC, ISO 8601), "command", "seed", "quick",
      "dataset":  {"name": "mnist10k", "train": 8000, "test": 2000, "credit": ...},
      "model":    {"name", "parameters", "float32_bytes", "epochs", "cached", "train_seconds"},
      "ratio":    what "ratio" means (float32 bytes of the trained model / the stage's bytes),
      "stages":   [{"name", "kind" ("baseline" | "as written" | "practice"), "equation" (E-id or null),
                    "test_accuracy" (fraction of the 2,000 test digits), "bytes", "bytes_what",
                    "ratio", "seconds", "details": {...}}, ...],
      "sweeps":   {"sparsity": {label: [[sparsity, accuracy], ...]}, "bits": {label: [[bits, accuracy], ...]}},
      "histograms": {"layer", "edges", "series": {label: counts}, "distinct_values": {label: n}},
      "plots":    [PNG file names], "settings", "versions", "machine", "sweep_seconds", "total_seconds"
    }
"""

from __future__ import annotations

import json
import math
import os

from minicompress.errors import InputError

REPORT_FORMAT = "minicompress-demo-report"
REPORT_VERSION = 1
KINDS = ("baseline", "as written", "practice")
STAGE_KEYS = ("name", "kind", "test_accuracy", "bytes", "ratio", "seconds")
RATIO_MEANING = "float32 bytes of the trained model divided by the stage's bytes (how many times smaller)"
DATASET_CREDIT = ("MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0; "
                  "mnist10k is its 10,000-image test set split 8,000 train / 2,000 test")


def _number(value, name, low=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise InputError(f"{name} must be >= {low}, got {value!r}")


def check_report(report) -> dict:
    """Check ``report`` against the schema above; return it, or raise ``ValueError`` saying what is wrong."""
    if not isinstance(report, dict):
        raise InputError(f"a demo report is a JSON object, got {type(report).__name__}")
    if report.get("format") != REPORT_FORMAT:
        raise InputError(f"not a demo report: format is {report.get('format')!r}, expected {REPORT_FORMAT!r}")
    if report.get("version") != REPORT_VERSION:
        raise InputError(f"demo report version {report.get('version')!r}; this minicompress reads {REPORT_VERSION}")
    stages = report.get("stages")
    if not isinstance(stages, list) or not stages:
        raise InputError("a demo report needs a non-empty list 'stages'")
    for i, st in enumerate(stages):
        if not isinstance(st, dict):
            raise InputError(f"stages[{i}] must be an object, got {type(st).__name__}")
        missing = [k for k in STAGE_KEYS if k not in st]
        if missing:
            raise InputError(f"stages[{i}] lacks {missing}; every stage has {list(STAGE_KEYS)}")
        if not isinstance(st["name"], str) or st["kind"] not in KINDS:
            raise InputError(f"stages[{i}]: name must be a string and kind one of {KINDS}, got {st['kind']!r}")
        _number(st["test_accuracy"], f"stages[{i}].test_accuracy", 0)
        if st["test_accuracy"] > 1:
            raise InputError(f"stages[{i}].test_accuracy is a fraction in [0, 1], got {st['test_accuracy']}")
        if isinstance(st["bytes"], bool) or not isinstance(st["bytes"], int) or st["bytes"] <= 0:
            raise InputError(f"stages[{i}].bytes must be a positive integer, got {st['bytes']!r}")
        _number(st["ratio"], f"stages[{i}].ratio", 0)
        _number(st["seconds"], f"stages[{i}].seconds", 0)
    return report


def write_report(report: dict, path) -> None:
    """Check ``report`` and write it to ``path`` atomically."""
    from minicompress.io import atomic_write

    check_report(report)
    text = json.dumps(report, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def read_report(path) -> dict:
    """Read and check a ``report.json``; ``ValueError`` with a one-line reason otherwise."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"report file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path!r} is not a JSON file: {err}") from None
    try:
        return check_report(report)
    except ValueError as err:
        raise InputError(f"{path!r}: {err}") from None


def _bytes(n: int) -> str:
    return f"{n:,}"


def format_table(report: dict) -> str:
    """The stages as a fixed-width text table (the one ``minicompress demo`` prints)."""
    rows = [("technique", "kind", "test acc", "bytes", "ratio", "seconds")]
    for st in report["stages"]:
        rows.append((st["name"], st["kind"], f"{100 * st['test_accuracy']:.2f} %", _bytes(st["bytes"]),
                     f"{st['ratio']:.1f}x", f"{st['seconds']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    left = (True, True, False, False, False, False)

    def line(r):
        return "  ".join(c.ljust(w) if lj else c.rjust(w) for c, w, lj in zip(r, widths, left)).rstrip()

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows[1:]]
    model = report.get("model", {})
    out.append("")
    out.append(f"ratio = {RATIO_MEANING}; float32 {model.get('name', 'model')} = "
               f"{_bytes(model.get('float32_bytes', report['stages'][0]['bytes']))} bytes.")
    out.append(f"test acc on the {report.get('dataset', {}).get('test', 2000):,} mnist10k test digits; "
               f"total {report.get('total_seconds', sum(s['seconds'] for s in report['stages'])):.1f} s.")
    return "\n".join(out)


def format_details(report: dict) -> str:
    """One line per stage with what its bytes count and its measured details."""
    lines = []
    for st in report["stages"]:
        details = ", ".join(f"{k}={_short(v)}" for k, v in st.get("details", {}).items())
        lines.append(f"- {st['name']}: bytes = {st.get('bytes_what', '?')}" + (f"; {details}" if details else ""))
    return "\n".join(lines)


def _short(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    return str(v)

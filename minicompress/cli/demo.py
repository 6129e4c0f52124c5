"""``minicompress demo``: every technique, as written and as practised, on mnist10k, in one table.

Trains LeNet-300-100 on the built-in mnist10k digits (or reuses the cached model whose
checksum matches), then runs the documents' equations as written (E1 threshold
clipping, E2 weight and E4 activation quantization, E3 retention scaling, E5 random
candidate pruning, E6 ratio quantization) and the practice (magnitude pruning with
fine-tuning, int8 post-training quantization on the integer kernels, 4-bit
quantization-aware training, Deep Compression = pruning + k-means weight sharing +
Huffman coding, a distilled student). For each: test accuracy on the 2,000 test digits,
the bytes the result needs, how many times smaller than float32, and seconds.

Writes into --out: report.json (every number, the sweeps and histograms behind the
plots), lenet-300-100.mcz (the Deep Compression file whose size is in the table) and four
PNGs: accuracy_vs_sparsity, weight_histograms, accuracy_vs_bits, bytes_per_stage.
``minicompress report DIR/report.json`` prints the table again.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone

from minicompress.cli.common import probe_writable
from minicompress.cli.errors import UsageError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="run every technique on mnist10k and print one table (under a minute; --quick: seconds)",
        description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  minicompress demo --quick --out /tmp/demo\n"
               "  minicompress report /tmp/demo/report.json --details",
    )
    p.add_argument("--quick", action="store_true",
                   help="fewer fine-tuning epochs and sweep points (finishes in well under 30 s)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for report.json, the PNGs and the packed model (created if missing; "
                        "default: demo/ in the model cache, $MINICOMPRESS_CACHE or ~/.cache/minicompress; "
                        "the path is printed)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the trained model and of every random choice (default 0; a new seed "
                        "trains and caches a new model first)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs (report.json is still written)")
    p.set_defaults(run=run)


def default_out_dir() -> str:
    """Where the demo writes without --out: ``demo`` in the model cache, never the working tree."""
    from minicompress.pretrained import cache_dir

    return os.fspath(cache_dir() / "demo")


def prepare_out_dir(path, option: str = "--out") -> str:
    """Create ``path`` if needed and prove it writable, or raise a one-line ``UsageError``."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{option} {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe_writable(path)
    except OSError as err:
        raise UsageError(f"cannot write to {option} {path!r}: {err.strerror or err}") from None
    return path


def _versions() -> dict:
    import matplotlib
    import numba
    import numpy

    from minicompress import __version__

    return {"minicompress": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "matplotlib": matplotlib.__version__}


def run(args) -> int:
    from minicompress.demo.plots import draw_plots
    from minicompress.demo.report import (
        DATASET_CREDIT,
        RATIO_MEANING,
        REPORT_FORMAT,
        REPORT_VERSION,
        format_table,
        write_report,
    )
    from minicompress.demo.run import DemoSettings, run_demo

    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    out = prepare_out_dir(default_out_dir() if args.out is None else args.out)
    settings = DemoSettings.quick_settings(args.seed) if args.quick else DemoSettings(seed=args.seed)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    result = run_demo(settings, out)
    report = {
        "format": REPORT_FORMAT, "version": REPORT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "minicompress " + " ".join(sys.argv[1:]) if sys.argv[1:] else "minicompress demo",
        "seed": args.seed, "quick": bool(args.quick),
        "dataset": {"name": "mnist10k", "train": 8000, "test": 2000, "credit": DATASET_CREDIT},
        "ratio": RATIO_MEANING,
        **result,
        "versions": _versions(),
        # timings mean little without the machine's load; the demo records it rather than hide it
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": list(load) if load else None},
    }
    report["plots"] = [] if args.no_plots else draw_plots(report, out)
    report["total_seconds"] = time.perf_counter() - start
    write_report(report, os.path.join(out, "report.json"))  # every file before the first line of output
    print(format_table(report))
    files = ["report.json", *report["plots"], *(s["details"]["file"] for s in report["stages"]
                                                 if "file" in s.get("details", {}))]
    print(f"wrote {', '.join(files)} to {os.path.join(out, '')}")
    print(f"what each row's bytes count: minicompress report {os.path.join(out, 'report.json')} --details")
    return 0

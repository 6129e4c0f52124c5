"""Shared by the tutorials: fast mode and where figures go."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tutorials save figures; they never need a screen

FAST = os.environ.get("MINICOMPRESS_FAST") == "1"
"""Set MINICOMPRESS_FAST=1 to shrink epochs and sweeps (the test suite does)."""

FIGURES = Path(os.environ.get("MINICOMPRESS_FIGURES", Path(__file__).parent / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)


def savefig(fig, name: str) -> Path:
    path = FIGURES / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"saved {path}")
    return path

"""The fuzz tests' tally: with MINICOMPRESS_FUZZ_COUNTS=path.json set, each fuzz module adds its counts there."""

from __future__ import annotations

import json
import os


def write_counts(key: str, counts) -> None:
    path = os.environ.get("MINICOMPRESS_FUZZ_COUNTS")
    if not path:
        return
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
    old[key] = dict(counts)
    with open(path, "w") as f:
        json.dump(old, f, indent=2)

"""Every tutorial runs end to end (in fast mode), so none can rot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tutorials, pytest.mark.slow]

TUTORIALS = sorted(p for p in (Path(__file__).parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_is_a_tutorial_for_every_chapter():
    chapters = {p.name[:2] for p in TUTORIALS}
    assert chapters >= {f"{i:02d}" for i in range(1, 10)}, f"missing chapters: {sorted({f'{i:02d}' for i in range(1, 10)} - chapters)}"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    env = {**os.environ, "MINICOMPRESS_FAST": "1", "MINICOMPRESS_FIGURES": str(tmp_path), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, path.name], cwd=path.parent, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    figures = list(tmp_path.glob("*.png"))
    assert figures, f"{path.name} saved no figure"

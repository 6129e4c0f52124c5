"""`minicompress demo --quick`, run once as a user runs it: its table, report.json, PNGs and packed file.

The run takes about 10 s on an idle 2-core machine (it reuses the cached trained
LeNet-300-100, or trains it first); every test below reads the same run.
"""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from minicompress.demo.plots import PLOTS
from minicompress.demo.report import check_report, format_table

pytestmark = [pytest.mark.cli, pytest.mark.slow]

AS_WRITTEN = {"E1", "E2", "E3", "E4", "E5", "E6"}


def minicompress(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "minicompress.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"  # does not exist yet: the demo creates it
    proc = minicompress("demo", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "report.json") as f:
        report = json.load(f)
    return proc, out, report


def stage(report, prefix, contains=""):
    rows = [s for s in report["stages"] if s["name"].startswith(prefix) and contains in s["name"]]
    assert len(rows) == 1, f"expected one stage named {prefix}...{contains}, got {[s['name'] for s in report['stages']]}"
    return rows[0]


def test_report_follows_the_schema(demo):
    _, _, report = demo
    check_report(report)
    assert report["format"] == "minicompress-demo-report" and report["version"] == 1
    assert report["quick"] is True and report["seed"] == 0
    assert report["dataset"]["name"] == "mnist10k" and "LeCun" in report["dataset"]["credit"]
    for s in report["stages"]:
        assert {"name", "kind", "test_accuracy", "bytes", "ratio", "seconds", "bytes_what"} <= set(s)
        assert s["kind"] in ("baseline", "as written", "practice")
    assert {"numpy", "numba", "matplotlib", "python"} <= set(report["versions"])


def test_every_technique_has_a_row(demo):
    _, _, report = demo
    kinds = [s["kind"] for s in report["stages"]]
    assert kinds[0] == "baseline" and kinds.count("baseline") == 1
    assert {s["equation"] for s in report["stages"] if s["kind"] == "as written"} == AS_WRITTEN
    for prefix in ("magnitude pruning", "int8 static PTQ", "4-bit QAT", "Deep Compression", "distilled student"):
        assert stage(report, prefix)["kind"] == "practice"


def test_bytes_and_ratios_are_honest(demo):
    _, out, report = demo
    base = report["stages"][0]
    assert base["bytes"] == 4 * 266_610 == report["model"]["float32_bytes"]  # LeNet-300-100's parameters
    for s in report["stages"]:
        assert s["ratio"] == pytest.approx(base["bytes"] / s["bytes"], rel=1e-12)
    # float stages store float32; nothing in them is smaller
    for prefix, contains in (("E1", "doc 001"), ("E1", "top 1 %"), ("E3", ""), ("E4", "")):
        assert stage(report, prefix, contains)["bytes"] == base["bytes"]
    # E2 and E6 store int8 integers + float32 biases (+ Q for E6): 266,200 weights, 410 biases
    assert stage(report, "E2")["bytes"] == 266_200 + 4 * 410
    assert stage(report, "E6")["bytes"] == 266_200 + 4 * 410 + 4
    # int8: 1 byte per weight plus int32 biases and (at most one per output) float32 scales
    int8 = stage(report, "int8 static PTQ")
    assert 266_200 + 4 * 410 < int8["bytes"] <= 266_200 + 4 * 410 + 4 * 410 + 100
    # 4-bit: half a byte per weight plus scales and float32 biases
    qat = stage(report, "4-bit QAT")
    assert 266_200 // 2 + 4 * 410 < qat["bytes"] < 266_200 // 2 + 4 * 410 + 4 * 410 + 100
    # Deep Compression: exactly the packed file's size, and far below the pruned CSR model
    dc = stage(report, "Deep Compression")
    assert dc["bytes"] == os.path.getsize(out / dc["details"]["file"])
    assert dc["bytes"] == dc["details"]["stage_bytes"]["huffman"]
    assert dc["bytes"] < dc["details"]["stage_bytes"]["clustered"] < dc["details"]["stage_bytes"]["pruned_csr"]
    assert dc["ratio"] > 20
    pruned = stage(report, "magnitude pruning")
    assert pruned["details"]["sparsity"] == pytest.approx(0.92, abs=1e-3)
    assert dc["bytes"] < pruned["bytes"] < base["bytes"] / 5


def test_accuracies_show_what_the_documents_get_wrong(demo):
    _, _, report = demo
    base = report["stages"][0]["test_accuracy"]
    assert base > 0.93
    # doc 001's threshold 0.5 is above every weight: nothing changes
    e1 = stage(report, "E1", "doc 001")
    assert e1["details"]["weights_replaced"] == 0 and e1["test_accuracy"] == base
    # ...at the top 1 % of |w| it replaces 1 % of the weights and hurts
    e1p = stage(report, "E1", "top 1 % of |w|")
    assert e1p["details"]["weights_replaced"] == pytest.approx(0.01 * 266_200, rel=0.01)
    assert e1p["test_accuracy"] < base - 0.05
    # E2 at 8 bits has step 128: every weight becomes 0, the model guesses one class
    e2 = stage(report, "E2")
    assert e2["details"]["zero_weight_fraction"] == 1.0 and e2["test_accuracy"] < 0.2
    assert stage(report, "E4")["test_accuracy"] < 0.2
    assert stage(report, "E3")["details"]["sparsity"] == 0.0  # scaling removes nothing
    # the practice keeps accuracy within a few points while compressing
    for prefix in ("magnitude pruning", "int8 static PTQ", "4-bit QAT", "Deep Compression"):
        assert stage(report, prefix)["test_accuracy"] > base - 0.03, prefix
    assert stage(report, "distilled student")["test_accuracy"] > 0.85


def test_the_packed_file_holds_the_reported_model(demo):
    from minicompress.compress.packing import unpack
    from minicompress.data import load_mnist10k
    from minicompress.training import evaluate

    _, out, report = demo
    dc = stage(report, "Deep Compression")
    _, _, x_test, y_test = load_mnist10k()
    assert evaluate(unpack(out / dc["details"]["file"]), x_test, y_test)["accuracy"] == dc["test_accuracy"]


def test_sweeps_and_timings(demo):
    _, _, report = demo
    sparsity, bits = report["sweeps"]["sparsity"], report["sweeps"]["bits"]
    magnitude = sparsity["magnitude (global |w|), no fine-tune"]
    random = sparsity["random, no fine-tune"]
    assert [round(s, 3) for s, _ in magnitude] == list(report["settings"]["sparsities"])
    # magnitude pruning beats random pruning at every sparsity from 50 % on
    assert all(m[1] > r[1] for m, r in zip(magnitude, random) if m[0] >= 0.5)
    assert all(acc < 0.2 for _, acc in bits["E2 as written"])
    assert dict(bits["weight-only PTQ, per channel"])[8] > 0.93
    assert all(s["seconds"] >= 0 for s in report["stages"])
    assert sum(s["seconds"] for s in report["stages"]) <= report["total_seconds"]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plots_are_real_images(demo):
    import matplotlib.image

    _, out, report = demo
    assert report["plots"] == list(PLOTS)
    for name in PLOTS:
        path = out / name
        assert path.stat().st_size > 10_000, name
        w, h = png_size(path)
        assert w > 300 and h > 200
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[:2] == (h, w)
        assert np.std(pixels[..., :3]) > 0.05, f"{name} is blank"


def test_the_table_is_printed_and_report_prints_it_again(demo, tmp_path):
    proc, out, report = demo
    assert format_table(report) in proc.stdout
    for s in report["stages"]:
        assert s["name"] in proc.stdout
    again = minicompress("report", str(out / "report.json"), "--plots", str(tmp_path / "plots"))
    assert again.returncode == 0, again.stderr
    assert format_table(report) in again.stdout
    for name in PLOTS:
        assert png_size(tmp_path / "plots" / name) == png_size(out / name)
    from_folder = minicompress("report", str(out))  # the demo's folder stands for its report.json
    assert from_folder.returncode == 0 and format_table(report) in from_folder.stdout

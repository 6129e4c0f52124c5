"""Fuzz of the command line: every subcommand, random option values, random and corrupted files.

The contract each run must keep, whatever the arguments and files:

* it exits 0 or 2 (2 = the user's mistake), never 1 (a bug) or anything else;
* no traceback; on exit 2, exactly one line on stderr, ``minicompress...: error: ...``;
* no half-written output: after exit 2 no output file the run was asked to write exists (unless it
  existed before, unchanged); after exit 0 each output reads back (model, packed file, JSON);
* no temporary file left behind (``.tmp-*``, ``.write-test-*``).

Most runs are in-process through ``minicompress.cli.main.main(argv)`` (fast); a few are real
subprocesses, for the exit code and stderr a shell sees. The models are tiny (784-16-10) and
training reads at most 512 of the mnist10k digits (``small_mnist``), so each run takes
milliseconds. ``check`` is fuzzed by its own tests (tests/test_check_cli.py); the demo's full run
by tests/test_demo.py: here the demo only meets bad options and folders.

Set ``MINICOMPRESS_FUZZ_COUNTS=path.json`` to get the counts of what was tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicompress.cli.main import main
from tests.fuzz_counts import write_counts

pytestmark = pytest.mark.cli

COUNTS: Counter = Counter()
FUZZ = settings(max_examples=int(os.environ.get("MINICOMPRESS_FUZZ_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TEMPORARY = (".tmp-", ".write-test-")


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    root = sorted(os.listdir(os.getcwd()))
    yield
    write_counts("cli", COUNTS)
    assert sorted(os.listdir(os.getcwd())) == root, "a fuzz run wrote into the working folder"


@pytest.fixture(scope="module")
def small_mnist():
    from minicompress.data import load_mnist10k

    x_train, y_train, x_test, y_test = load_mnist10k()
    return x_train[:512], y_train[:512], x_test[:200], y_test[:200]


@pytest.fixture
def fast_data(monkeypatch, small_mnist):
    import minicompress.data
    import minicompress.pretrained

    loader = lambda: small_mnist  # noqa: E731
    monkeypatch.setattr(minicompress.data, "load_mnist10k", loader)
    monkeypatch.setattr(minicompress.pretrained, "load_mnist10k", loader)


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    """Valid inputs of every kind a command reads, as bytes."""
    from minicompress.compress.kmeans import share_weights
    from minicompress.compress.packing import pack_bytes
    from minicompress.compress.pruning import l1_unstructured
    from minicompress.io import save_model
    from minicompress.nn import Flatten, Linear, ReLU, Sequential

    folder = tmp_path_factory.mktemp("good")
    model = Sequential(Flatten(), Linear(784, 16, seed=1), ReLU(), Linear(16, 10, seed=2))
    save_model(model, folder / "m.npz", {"info": {"model": "tiny"}})
    l1_unstructured(model[1], "weight", 0.8)
    share_weights(model, bits=3)
    save_model(model, folder / "p.npz")
    report = {"format": "minicompress-demo-report", "version": 1, "stages": [
        {"name": "float32", "kind": "baseline", "test_accuracy": 0.95, "bytes": 1000, "ratio": 1.0, "seconds": 1.0}]}
    idx = np.array([0, 0, 8, 1, 0, 0, 0, 3], dtype=np.uint8).tobytes() + bytes([1, 2, 3])  # IDX1, 3 labels
    return {"npz": (folder / "m.npz").read_bytes(), "pruned.npz": (folder / "p.npz").read_bytes(),
            "mcz": pack_bytes(model), "json": (json.dumps(report) + "\n").encode(), "idx": idx}


def corrupted(data: bytes):
    """A strategy of files made from ``data``: itself, truncated, bytes flipped, or noise."""
    n = len(data)
    return st.one_of(
        st.just(data), st.just(data), st.just(data), st.just(data),  # half the time, the file is fine
        st.integers(0, max(n - 1, 0)).map(lambda k: data[:k]),
        st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, 255)), min_size=1, max_size=8).map(
            lambda flips: bytes(b ^ x if i in dict(flips) and (x := dict(flips)[i]) else b for i, b in enumerate(data))),
        st.binary(max_size=64).map(lambda noise: data[:4] + noise),  # the right magic, then noise
        st.binary(max_size=64),
    )


def input_file(good):
    kinds = ["npz", "pruned.npz", "mcz", "json", "idx"]
    return st.one_of(
        st.sampled_from(kinds).flatmap(lambda k: st.tuples(st.just(k), corrupted(good[k]))),
        st.sampled_from(["<missing>", "<folder>"]).map(lambda k: (k, b"")),
    )


NUMBER_TEXT = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(["0", "-1", "1e309", "nan", "inf", "-inf", "2147483648", "1e-320", "abc", "", "0x10", "1.5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
OUT_KIND = st.one_of(st.sampled_from(["new", "existing 0600", "symlink", None]),
                    st.sampled_from(["new", "existing 0600", "symlink", None]),
                    st.sampled_from(["folder", "missing folder", "same as input"]))


def _place(work, name: str, kind, content: bytes):
    """Put an input file of ``kind`` at ``work/name``; return the path to pass."""
    path = work / name
    if kind == "<missing>":
        return str(path)
    if kind == "<folder>":
        path.mkdir()
        return str(path)
    path.write_bytes(content)
    return str(path)


def _output(work, name: str, kind, input_path):
    """An output path of ``kind``; returns (path, what to expect of it afterwards)."""
    path = work / name
    if kind == "existing 0600":
        path.write_bytes(b"old contents")
        path.chmod(0o600)
    elif kind == "folder":
        path.mkdir()
    elif kind == "missing folder":
        path = work / "no-such-folder" / name
    elif kind == "symlink":
        (work / "target").mkdir(exist_ok=True)
        path.symlink_to(work / "target" / name)
    elif kind == "same as input":
        return input_path
    return str(path)


def _snapshot(work):
    out = {}
    for root, dirs, files in os.walk(work):
        for name in files + dirs:
            p = os.path.join(root, name)
            out[p] = None if os.path.isdir(p) else open(p, "rb").read() if os.path.exists(p) else "dangling"
    return out


def run_and_check(argv, work, capsys, outputs=()):
    """Run ``argv`` in-process and assert the contract; return the exit code."""
    capsys.readouterr()
    before = _snapshot(work)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage mistake (2)
        code = exc.code
    out, err = capsys.readouterr()
    COUNTS["runs"] += 1
    COUNTS[f"exit {code}"] += 1
    assert code in (0, 2), f"{argv} exited {code}:\n{err}"
    assert "Traceback" not in err, f"{argv}:\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("minicompress") and "error:" in lines[0], f"{argv}:\n{err}"
        COUNTS["clean errors"] += 1
    after = _snapshot(work)
    leftovers = [p for p in after if os.path.basename(p).startswith(TEMPORARY)]
    assert not leftovers, f"{argv} left {leftovers}"
    for path in outputs:
        if path is None:
            continue
        real = os.path.realpath(path)
        if code == 2:  # nothing half-written: every output is as it was
            assert after.get(real, "absent") == before.get(real, "absent"), f"{argv} changed {path} and failed"
        elif os.path.isfile(real):
            _reads_back(real)
    return code


def _reads_back(path):
    from minicompress.compress.packing import unpack
    from minicompress.io import load_model

    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"MCPK":
        unpack(path)
    elif head == b"PK\x03\x04":
        load_model(path)
    else:
        json.loads(open(path).read())


def demo_module():
    """The module the demo command takes run_demo from."""
    import importlib.util

    name = "minicompress.demo.run" if importlib.util.find_spec("minicompress.demo.run") else "minicompress.demo.stages"
    return importlib.import_module(name)


def _work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _opt(draw, name, valid, anything=NUMBER_TEXT):
    """Maybe the option: usually a valid value (the paths that run to the end), sometimes anything."""
    if not draw(st.booleans()):
        return []
    return [name, draw(st.one_of(*[valid] * 7, anything))]


def _texts(*values):
    return st.sampled_from([str(v) for v in values])


@st.composite
def model_command(draw, good):
    """evaluate / prune / quantize / pack / report / distill on a (maybe corrupt) model file."""
    command = draw(st.sampled_from(["evaluate", "prune", "quantize", "pack", "report", "distill"]))
    unpack = command == "pack" and draw(st.booleans())
    kind, content = draw(input_file(good))
    if draw(st.integers(0, 3)) > 0:  # mostly the kind of file the command reads (maybe corrupted)
        kind = "mcz" if unpack or (command == "report" and draw(st.booleans())) else "pruned.npz"
        content = draw(corrupted(good[kind]))
    args, out_kind, json_kind = [], draw(OUT_KIND), draw(OUT_KIND)
    if command == "prune":
        args += _opt(draw, "--method", _texts("l1", "random", "ln-structured", "global", "e3", "e5"), _texts("x"))
        how = draw(st.sampled_from(["--sparsity", "--amount", "--r", "--p"]))
        args += _opt(draw, how, st.floats(0, 1).map(repr)) + _opt(draw, "--k", st.floats(0, 5).map(repr))
        args += _opt(draw, "--seed", st.integers(0, 2**32).map(str)) + _opt(draw, "--index-bits", _texts(1, 5, 32))
        args += ["--shrink"] if draw(st.integers(0, 3)) == 0 else []
    elif command == "quantize":
        args += _opt(draw, "--method", _texts("e2", "e4", "e6", "fixed-point", "ptq", "int8-ptq", "static-ptq"),
                     _texts("e9", "PTQ"))
        args += _opt(draw, "--bits", st.integers(1, 16).map(str)) + _opt(draw, "--ratio", st.floats(1e-3, 1e3).map(repr))
        args += _opt(draw, "--calibration-batches", _texts(1, 2, 32), _texts(0, 33, -1, "x"))
        args += ["--per-channel"] if draw(st.booleans()) else []
    elif command == "pack":
        args += ["--unpack"] if unpack else []
        args += _opt(draw, "--cluster-bits", st.integers(1, 8).map(str)) + _opt(draw, "--gap-bits", _texts(1, 3, 5, 16))
    elif command == "report":
        args += ["--details"] if draw(st.booleans()) else []
        args += ["--evaluate"] if draw(st.booleans()) else []
        args += _opt(draw, "--index-bits", st.integers(1, 32).map(str))
        args += ["--plots", "PLOTS"] if draw(st.integers(0, 3)) == 0 else []
    elif command == "distill":
        args += ["--student-arch", draw(st.one_of(_texts("784-8-10", "784-4-4-10", "784-1-10"), _texts(
            "10-5", "784-0-10", "abc", "doc002-mlp", "784", "784-8-x", "-784", "784-8-10-", "784-100000000000-10")))]
        args += ["--epochs", draw(st.one_of(_texts(1, 1, 2), _texts(0, -2, "x")))]
        args += _opt(draw, "-T", st.floats(0.1, 50).map(repr)) + _opt(draw, "--alpha", st.floats(0, 1).map(repr))
        args += _opt(draw, "--lr", _texts("1e-3", "0.1", "1e-8"), _texts("nan", "inf", "-1", "0", "x", "1e300"))
        args += _opt(draw, "--batch-size", _texts(64, 1, 512, 100000), _texts(0, -5))
        args += _opt(draw, "--transfer", _texts(64, 1, 8000), _texts(0, 8001, 99999))
        args += _opt(draw, "--labeled", _texts(0, 10, 512), _texts(-1, 8001))
        args += _opt(draw, "--seed", st.integers(0, 2**32).map(str))
    if command in ("evaluate", "report"):
        out_kind = None
    elif command in ("prune", "pack") and "--unpack" not in args and out_kind is None:
        out_kind = "new" if draw(st.booleans()) else None
    ext = {"pack": ".npz" if "--unpack" in args else ".mcz"}.get(command, ".npz")
    if draw(st.booleans()):
        ext = draw(st.sampled_from([".npz", ".mcz", ".json", ""]))
    return command, kind, content, args, out_kind, json_kind, ext


@given(data=st.data())
@settings(FUZZ, max_examples=6 * FUZZ.max_examples)
def test_fuzz_commands_that_read_a_model(data, good_files, fast_data, tmp_path_factory, capsys, monkeypatch):
    command, kind, content, args, out_kind, json_kind, ext = data.draw(model_command(good_files))
    COUNTS[f"{command} runs"] += 1
    work = _work(tmp_path_factory)
    monkeypatch.chdir(work)  # a default output (distill's student.npz) lands here, and is checked
    suffix = {"npz": ".npz", "pruned.npz": ".npz", "mcz": ".mcz", "json": ".json", "idx": ""}.get(kind, ".npz")
    model = _place(work, f"input{suffix}", kind, content)
    out = None if out_kind is None else _output(work, f"o{ext}", out_kind, model)
    js = None if json_kind is None else _output(work, "r.json", json_kind, model)
    args = [str(work / "plots") if a == "PLOTS" else a for a in args]
    argv = [command, *(["--teacher", model] if command == "distill" else [model]), *args]
    argv += [] if out is None else ["--out", out]
    argv += [] if js is None else ["--json", js]
    outputs = [p for p, k in ((out, out_kind), (js, json_kind)) if k not in (None, "same as input")]
    if command == "distill" and out is None:
        outputs.append(str(work / "student.npz"))  # its default
    run_and_check(argv, work, capsys, outputs=outputs)


@given(model=st.sampled_from(["lenet-300-100", "doc001-mlp", "doc002-mlp", "resnet"]),
       epochs=st.sampled_from(["1", "0", "-1", "x"]), lr=st.sampled_from(["1e-3", "nan", "inf", "-1", "0", "1e309", "1e300"]),
       batch=st.sampled_from(["64", "0", "-1", "100000"]), seed=NUMBER_TEXT,
       out_kind=OUT_KIND.filter(lambda k: k != "same as input"), json_kind=OUT_KIND)
@FUZZ
def test_fuzz_train(model, epochs, lr, batch, seed, out_kind, json_kind, fast_data, tmp_path_factory, capsys):
    work = _work(tmp_path_factory)
    out = _output(work, "m.npz", out_kind or "new", None)
    js = None if json_kind in (None, "same as input") else _output(work, "t.json", json_kind, None)
    argv = ["train", "--model", model, "--epochs", epochs, "--lr", lr, "--batch-size", batch, "--seed", seed,
            "--out", out, *([] if js is None else ["--json", js])]
    run_and_check(argv, work, capsys, outputs=[out, js])


@given(seed=NUMBER_TEXT, out_kind=st.sampled_from(["existing file", "missing folder under a file", "folder"]),
       extra=st.sampled_from([[], ["--quick"], ["--no-plots"], ["--bogus"]]))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_demo_refuses_bad_options_before_any_work(seed, out_kind, extra, tmp_path_factory, capsys,
                                                       monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the demo started work although an option is bad")

    monkeypatch.setattr(demo_module(), "run_demo", no_work)
    work = _work(tmp_path_factory)
    (work / "f").write_text("x")
    out = {"existing file": work / "f", "missing folder under a file": work / "f" / "sub",
           "folder": work / "d"}[out_kind]
    if out_kind == "folder":
        seed = "-1"  # the folder is fine: make the seed the mistake
    assert run_and_check(["demo", "--seed", seed, "--out", str(out), *extra], work, capsys) == 2


@given(words=st.lists(st.sampled_from(["--help", "-h", "--out", "--json", "x", "--seed", "1", "--model",
                                       "lenet5", "--bits", "--unpack", "-T", "", "--", "é", "\x00"]), max_size=4),
       command=st.sampled_from(["demo", "train", "evaluate", "prune", "quantize", "distill", "pack", "report",
                                "frobnicate", ""]))
@FUZZ
def test_fuzz_argument_lists(command, words, tmp_path_factory, capsys, monkeypatch):
    """Random words after a subcommand: argparse's mistakes are one line too, and no work starts."""
    import minicompress.pretrained

    def accepted(*args, **kwargs):
        raise SystemExit(0)  # the arguments were accepted and the work would start: stop here

    monkeypatch.setattr(demo_module(), "run_demo", accepted)
    monkeypatch.setattr(minicompress.pretrained, "train_model", accepted)
    work = _work(tmp_path_factory)
    monkeypatch.chdir(work)
    run_and_check([command, *words] if command else words, work, capsys)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2, 10**13) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                    max_leaves=6)


@given(data=st.data())
@FUZZ
def test_fuzz_the_architecture_in_a_model_file(data, good_files, fast_data, tmp_path_factory, capsys):
    """A model file whose __meta__ (architecture, metadata) was edited: refused in one line, or it runs."""
    work = _work(tmp_path_factory)
    (work / "good.npz").write_bytes(good_files["npz"])
    with np.load(work / "good.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["__meta__"]))
    where = data.draw(st.sampled_from(["layer key", "layer", "architecture", "metadata", "format", "version"]))
    if where == "layer key":
        layer = data.draw(st.integers(0, len(meta["architecture"]) - 1))
        key = data.draw(st.sampled_from([*meta["architecture"][layer], "bogus"]))
        meta["architecture"][layer][key] = data.draw(JSON)
    elif where == "layer":
        meta["architecture"][data.draw(st.integers(0, len(meta["architecture"]) - 1))] = data.draw(JSON)
    elif where in ("architecture", "metadata", "format", "version"):
        meta[where] = data.draw(JSON)
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(work / "m.npz", **arrays)
    command = data.draw(st.sampled_from([["evaluate"], ["report"], ["prune"], ["quantize", "--method", "ptq"]]))
    out = [] if command[0] in ("evaluate", "report") else ["--out", str(work / "o.npz")]
    run_and_check([*command, str(work / "m.npz"), *out], work, capsys, outputs=[str(work / "o.npz")])


# ------------------------------------------------------------------ real processes: what a shell sees
def _subprocess(argv, cwd):
    env = {**os.environ, "MINICOMPRESS_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "minicompress.cli.main", *argv], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


@pytest.mark.parametrize("case", ["truncated npz", "random mcz", "flipped json", "nan lr", "huge lr",
                                  "complex weights", "unwritable json"])
def test_a_real_process_exits_2_with_one_line(case, good_files, tmp_path):
    files = {"truncated npz": ("m.npz", good_files["npz"][:300]), "random mcz": ("m.mcz", b"MCPK" + bytes(99)),
             "flipped json": ("r.json", good_files["json"].replace(b"{", b"[", 1))}
    if case in files:
        name, content = files[case]
        (tmp_path / name).write_bytes(content)
        argv = ["report", name]
    elif case == "nan lr":
        argv = ["train", "--model", "doc001-mlp", "--lr", "nan"]
    elif case == "huge lr":  # training diverges: one line, NumPy's overflow warnings held back, no model
        argv = ["train", "--model", "doc001-mlp", "--epochs", "1", "--lr", "1e300", "--out", "d.npz"]
    elif case == "complex weights":
        (tmp_path / "m.npz").write_bytes(good_files["npz"])
        with np.load(tmp_path / "m.npz") as data:
            arrays = {k: data[k] for k in data.files}
        arrays["1.weight"] = arrays["1.weight"].astype(np.complex128)
        np.savez(tmp_path / "c.npz", **arrays)
        argv = ["evaluate", "c.npz"]
    else:
        (tmp_path / "m.npz").write_bytes(good_files["npz"])
        argv = ["evaluate", "m.npz", "--json", "no/such/folder/r.json"]
    proc = _subprocess(argv, tmp_path)
    COUNTS["subprocess runs"] += 1
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == ""
    assert not [p for p in os.listdir(tmp_path) if p.startswith(TEMPORARY) or p == "d.npz"]
    COUNTS["clean errors"] += 1


def test_a_real_process_succeeds_and_a_bug_is_exit_1(good_files, tmp_path):
    (tmp_path / "m.npz").write_bytes(good_files["pruned.npz"])
    proc = _subprocess(["pack", "m.npz", "--out", "m.mcz", "--json", "m.json"], tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text())["packed_bytes"] == (tmp_path / "m.mcz").stat().st_size
    # A bug (here: an exception planted where no user input can reach) keeps its traceback and exit 1.
    code = ("import sys, minicompress.cli.evaluate as e, minicompress.cli.main as m\n"
            "def boom(args): raise KeyError('planted')\n"
            "e.run = boom\nsys.exit(m.main(['evaluate', 'm.npz']))\n")
    bug = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "KeyError: 'planted'" in bug.stderr
    assert bug.stderr.strip().splitlines()[-1].startswith("minicompress: this is a bug")
    COUNTS["subprocess runs"] += 2

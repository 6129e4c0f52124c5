"""Files: one atomic writer for the whole package (minicompress.io.atomic_write), as a careful tool writes.

Decisions tested here: a symlink is written through (the link stays, its target gets the new
bytes); an existing file keeps its permission bits; the data and then the folder are fsynced
around the rename; an error names the user's path, never the temporary file, and leaves nothing
behind; a folder, a device or a pipe is never replaced; the demo's default folder is in the
model cache, not in the working tree.
"""

import errno
import json
import os
import stat

import pytest

from minicompress.io import atomic_write, write_json

pytestmark = pytest.mark.training


def _write(data: bytes):
    return lambda f: f.write(data)


def test_new_file_gets_the_mode_open_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new", _write(b"x"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["new"]


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "secret.npz"
    path.write_bytes(b"old")
    path.chmod(0o600)
    atomic_write(path, _write(b"new"))
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real" / "model.npz"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    atomic_write(link, _write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real"]
    assert os.listdir(target.parent) == ["model.npz"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "target.npz")
    atomic_write(link, _write(b"data"))
    assert link.is_symlink() and (tmp_path / "target.npz").read_bytes() == b"data"


def test_data_and_folder_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(tmp_path / "f", _write(b"x"))
    assert events == ["fsync file", "rename", "fsync folder"]


def test_an_error_names_the_users_path_and_leaves_nothing(tmp_path):
    path = tmp_path / "out.npz"
    path.write_bytes(b"keep me")

    def disk_full(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as exc:
        atomic_write(path, disk_full)
    assert exc.value.filename == str(path) and ".tmp" not in str(exc.value)
    assert path.read_bytes() == b"keep me"
    assert os.listdir(tmp_path) == ["out.npz"]


def test_a_folder_is_refused_by_its_name(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError) as exc:
        atomic_write(tmp_path / "adir", _write(b"x"))
    assert exc.value.filename == str(tmp_path / "adir") and ".tmp" not in str(exc.value)
    assert os.listdir(tmp_path) == ["adir"]


def test_a_pipe_or_device_is_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        atomic_write(fifo, _write(b"x"))
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and os.listdir(tmp_path) == ["fifo"]


def test_write_json_round_trips_with_a_final_newline(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"a": [1, 2.5], "b": "x"})
    text = path.read_text()
    assert text.endswith("}\n") and json.loads(text) == {"a": [1, 2.5], "b": "x"}


def test_one_json_writer_for_the_cli_and_the_benchmarks():
    import sys
    from pathlib import Path

    import minicompress.cli.common as common
    import minicompress.io as io

    bench = Path(__file__).parent.parent / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import _common
    finally:
        sys.path.remove(str(bench))
    for module in (common, _common):
        source = Path(module.__file__).read_text()
        assert "from minicompress.io import write_json" in source and "os.replace" not in source
    assert io.write_json.__module__ == "minicompress.io"


def test_the_demo_writes_into_the_cache_by_default(tmp_path, monkeypatch):
    from minicompress.cli.demo import default_out_dir
    from minicompress.cli.main import build_parser

    monkeypatch.setenv("MINICOMPRESS_CACHE", str(tmp_path / "cache"))
    assert build_parser().parse_args(["demo"]).out is None
    assert default_out_dir() == str(tmp_path / "cache" / "demo")
    monkeypatch.delenv("MINICOMPRESS_CACHE")
    assert default_out_dir() == os.path.join(os.path.expanduser("~"), ".cache", "minicompress", "demo")


def test_the_old_demo_folder_is_ignored_by_git():
    from pathlib import Path

    lines = (Path(__file__).parent.parent / ".gitignore").read_text().split()
    assert "/minicompress-demo/" in lines


def test_one_place_sets_the_blas_threads():
    from pathlib import Path

    root = Path(__file__).parent.parent
    setters = [p.relative_to(root).as_posix() for p in [*root.glob("minicompress/**/*.py"), *root.glob("tests/*.py")]
               if "setdefault(" + '"OPENBLAS_NUM_THREADS"' in p.read_text()]
    assert setters == ["minicompress/cli/blas.py"]
    assert os.environ["OPENBLAS_NUM_THREADS"]  # conftest called it before NumPy loaded

"""Tests for minicompress.data: mnist10k, IDX and CIFAR-10 readers, DataLoader, transforms.

Run: pytest -m data tests/test_data.py
"""

import gzip
import hashlib
import os
import pickle
import re
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicompress.data import (
    MNIST10K_CREDIT,
    Compose,
    DataLoader,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    builtin,
    load_cifar10,
    load_mnist,
    load_mnist10k,
    read_idx,
)

pytestmark = pytest.mark.data

MNIST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- mnist10k


def test_shipped_files_match_readme_sha256():
    readme = (builtin.MNIST10K_DIR / "README.md").read_text()
    listed = dict((name, digest) for digest, name in re.findall(r"([0-9a-f]{64})\s+(\S+\.gz)", readme))
    assert set(listed) == set(builtin.MNIST10K_FILES)
    for name, digest in listed.items():
        actual = hashlib.sha256((builtin.MNIST10K_DIR / name).read_bytes()).hexdigest()
        assert actual == digest == builtin.MNIST10K_FILES[name]
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme


def test_credit_names_authors_and_licence():
    for s in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0"):
        assert s in MNIST10K_CREDIT


def test_mnist10k_shapes_dtypes_range():
    x_tr, y_tr, x_te, y_te = load_mnist10k()
    assert x_tr.shape == (8000, 1, 28, 28) and x_te.shape == (2000, 1, 28, 28)
    assert y_tr.shape == (8000,) and y_te.shape == (2000,)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0
    full = np.concatenate([y_tr, y_te])
    assert np.bincount(full, minlength=10).tolist() == MNIST_COUNTS


def test_mnist10k_split_follows_permutation_rule():
    directory = builtin.MNIST10K_DIR
    images = read_idx(directory / "t10k-images-idx3-ubyte.gz")  # independent of the cache
    labels = read_idx(directory / "t10k-labels-idx1-ubyte.gz")
    perm = np.random.default_rng(0).permutation(10000)
    train, test = perm[:8000], perm[8000:]
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(10000))
    x_tr, y_tr, x_te, y_te = load_mnist10k()
    assert np.array_equal(y_tr, labels[train]) and np.array_equal(y_te, labels[test])
    assert np.array_equal(x_tr[:, 0], images[train] / np.float32(255))
    assert np.array_equal(x_te[:, 0], images[test] / np.float32(255))
    # Not a split by position: the test set draws from both halves of the file.
    assert (test < 5000).any() and (test >= 5000).any()
    tr_i, te_i = builtin.mnist10k_split()
    assert np.array_equal(tr_i, train) and np.array_equal(te_i, test)


def test_mnist10k_cache_is_read_only_and_flatten_matches():
    x_tr, y_tr, x_te, y_te = load_mnist10k()
    for a in (x_tr, y_tr, x_te, y_te):
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 0
    assert load_mnist10k()[0] is x_tr  # cached, not re-read
    xf_tr, yf_tr, xf_te, _ = load_mnist10k(flatten=True)
    assert xf_tr.shape == (8000, 784) and not xf_tr.flags.writeable
    assert np.array_equal(xf_tr, x_tr.reshape(8000, 784))
    assert np.array_equal(yf_tr, y_tr) and np.array_equal(xf_te, x_te.reshape(2000, 784))
    with pytest.raises(TypeError, match="flatten"):
        load_mnist10k(flatten="yes")


def test_corrupt_shipped_file_is_named(tmp_path):
    for name in builtin.MNIST10K_FILES:
        (tmp_path / name).write_bytes((builtin.MNIST10K_DIR / name).read_bytes())
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: sha256"):
        builtin._read_all(tmp_path)


# --------------------------------------------------------------------------- IDX files

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr, magic=None):
    """An IDX file written from the format description (independent of the reader)."""
    arr = np.asarray(arr)
    if magic is None:
        magic = (IDX_CODES[arr.dtype.type] << 8) | arr.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, compress):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    arr = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    back = read_idx(write(tmp_path / "f.idx", idx_bytes(arr), compress))
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert np.array_equal(back, arr) and back.flags.writeable


@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4),
       compress=st.booleans(), seed=st.integers(0, 2**16))
def test_idx_uint8_round_trip_any_shape(tmp_path_factory, shape, compress, seed):
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / "a"
    back = read_idx(write(path, idx_bytes(arr), compress))
    assert back.shape == tuple(shape) and np.array_equal(back, arr)


def test_idx_gzip_detected_by_magic_not_name(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz_no_suffix = write(tmp_path / "images-idx3-ubyte", idx_bytes(arr), True)
    raw_with_suffix = write(tmp_path / "images-idx3-ubyte.gz", idx_bytes(arr), False)
    assert np.array_equal(read_idx(gz_no_suffix), arr)
    assert np.array_equal(read_idx(raw_with_suffix), arr)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_truncated_names_path_and_byte_counts(tmp_path, compress):
    arr = np.zeros((10, 28, 28), dtype=np.uint8)
    data = idx_bytes(arr)[:-7]
    path = write(tmp_path / "cut-idx3-ubyte", data, compress)
    expected, actual = 16 + 7840, 16 + 7840 - 7
    with pytest.raises(ValueError, match=rf"cut-idx3-ubyte.*truncated.*{expected}.*{actual}"):
        read_idx(path)


def test_idx_truncated_header_and_trailing_bytes(tmp_path):
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(write(tmp_path / "h", struct.pack(">I", 0x803) + b"\0\0\0\1", False))
    with pytest.raises(ValueError, match="too short"):
        read_idx(write(tmp_path / "s", b"\0\0", False))
    arr = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(write(tmp_path / "t", idx_bytes(arr) + b"\0", False))


def test_truncated_gzip_stream(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip.*truncated or corrupt"):
        read_idx(path)


@pytest.mark.parametrize("magic", [0x01000803, 0x00000F03, 0x00000800])
def test_idx_bad_magic(tmp_path, magic):
    arr = np.zeros((2, 2, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match=f"0x{magic:08X} is not an IDX magic"):
        read_idx(write(tmp_path / "m", idx_bytes(arr, magic), False))


def test_idx_expected_magic(tmp_path):
    labels = write(tmp_path / "l", idx_bytes(np.zeros(3, dtype=np.uint8)), False)
    with pytest.raises(ValueError, match="0x00000801, expected 0x00000803"):
        read_idx(labels, expected_magic=0x803)


def make_mnist_dir(directory, kind, n_img, n_lbl, compress, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n_img, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_lbl, dtype=np.uint8)
    ext = ".gz" if compress else ""
    write(directory / f"{kind}-images-idx3-ubyte{ext}", idx_bytes(images), compress)
    write(directory / f"{kind}-labels-idx1-ubyte{ext}", idx_bytes(labels), compress)
    return images, labels


@pytest.mark.parametrize("kind", ["train", "t10k"])
@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist(tmp_path, kind, compress):
    images, labels = make_mnist_dir(tmp_path, kind, 7, 7, compress)
    x, y = load_mnist(tmp_path, kind=kind)
    assert x.shape == (7, 1, 28, 28) and x.dtype == np.float32
    assert np.array_equal(x[:, 0], images / np.float32(255))
    assert y.dtype == np.int64 and np.array_equal(y, labels)
    xf, _ = load_mnist(tmp_path, kind=kind, flatten=True)
    assert np.array_equal(xf, x.reshape(7, 784))


def test_load_mnist_errors(tmp_path):
    make_mnist_dir(tmp_path, "train", 5, 4, True)
    with pytest.raises(ValueError, match="count mismatch.*5 images.*4 labels"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be"):
        load_mnist(tmp_path, kind="test")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, kind="t10k")
    # images and labels swapped: the magic check catches it
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        (tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(ValueError, match="magic number is 0x00000803, expected 0x00000801"):
        load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz",
          idx_bytes(np.array([1, 2, 3, 4, 12], dtype=np.uint8)), True)
    with pytest.raises(ValueError, match="labels must be 0-9"):
        load_mnist(tmp_path)


# --------------------------------------------------------------------------- CIFAR-10


def py2_cifar_pickle(data, labels):
    """Bytes of a CIFAR-10 batch as Python 2 cPickle (protocol 2) + NumPy 1.x wrote them."""
    def sbin(b):  # SHORT_BINSTRING (a Python 2 str)
        return b"U" + bytes([len(b)]) + b
    n = data.shape[0]
    dtype = (b"cnumpy\ndtype\n" + sbin(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + sbin(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nK\x00\x85"
             + sbin(b"b") + b"\x87R"
             + b"(K\x01J" + struct.pack("<i", n) + b"M\x00\x0c\x86" + dtype + b"\x89"
             + b"T" + struct.pack("<I", data.nbytes) + data.tobytes() + b"tb")
    lbls = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + sbin(b"batch_label") + sbin(b"test batch")
            + sbin(b"data") + array + sbin(b"labels") + lbls + b"u.")


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            rng.integers(0, 10, size=n).tolist())


def make_cifar_dir(directory, writer, n=3):
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = cifar_batch(n, seed=i)
        (directory / name).write_bytes(writer(data, labels))
        batches[name] = (data, labels)
    return batches


WRITERS = {
    "py2": py2_cifar_pickle,
    "py3-protocol2": lambda d, l: pickle.dumps({b"data": d, b"labels": l}, protocol=2),
    "py3-protocol4": lambda d, l: pickle.dumps({"data": d, "labels": l}, protocol=4),
    "py3-protocol5": lambda d, l: pickle.dumps({b"data": d, b"labels": l}, protocol=5),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_load_cifar10(tmp_path, writer):
    batches = make_cifar_dir(tmp_path, WRITERS[writer])
    x_tr, y_tr, x_te, y_te = load_cifar10(tmp_path, dtype=np.uint8)
    assert x_tr.shape == (15, 3, 32, 32) and x_te.shape == (3, 3, 32, 32)
    data, labels = batches["data_batch_2"]
    assert np.array_equal(x_tr[3:6].reshape(3, 3072), data)
    # row layout: 1024 red, then 1024 green, then 1024 blue bytes, each 32x32 row-major
    assert np.array_equal(x_tr[4, 1], data[1, 1024:2048].reshape(32, 32))
    assert y_tr.dtype == np.int64 and y_tr[3:6].tolist() == labels
    assert y_te.tolist() == batches["test_batch"][1]
    xf, *_ = load_cifar10(tmp_path)
    assert xf.dtype == np.float32 and np.array_equal(xf, x_tr / np.float32(255))


def test_py2_pickle_helper_is_a_real_pickle():
    # The hand-written Python 2 bytes are what real pickle (trusted here: we made them) reads.
    data, labels = cifar_batch(2, seed=0)
    d = pickle.loads(py2_cifar_pickle(data, labels), encoding="bytes")
    assert np.array_equal(d[b"data"], data) and d[b"labels"] == labels


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_refuses_other_globals(tmp_path, protocol):
    make_cifar_dir(tmp_path, WRITERS["py3-protocol2"])
    marker = tmp_path / "pwned"
    payload = {b"data": _Evil(os.system, f"touch {marker}"), b"labels": [0]}
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(ValueError, match=r"data_batch_3.*refusing global (posix|os|nt)\.system"):
        load_cifar10(tmp_path)
    assert not marker.exists()
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({"x": _Evil(eval, "1+1")}))
    with pytest.raises(ValueError, match=r"refusing global builtins\.eval"):
        load_cifar10(tmp_path)


def test_cifar_refuses_object_arrays(tmp_path):
    make_cifar_dir(tmp_path, WRITERS["py3-protocol2"])
    bad = {b"data": np.array([1, "a"], dtype=object), b"labels": [0]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(ValueError, match="test_batch.*dtype"):
        load_cifar10(tmp_path)


def test_cifar_malformed_files(tmp_path):
    make_cifar_dir(tmp_path, py2_cifar_pickle)
    good = (tmp_path / "data_batch_1").read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "wrong byte count": good.replace(b"M\x00\x0c\x86", b"M\x01\x0c\x86"),
        "not a pickle": b"hello world",
        "wrong shape": pickle.dumps({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 0]}),
        "count mismatch": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
        "no labels": pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}),
        "label 10": pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}),
        "a list": pickle.dumps([1, 2]),
    }
    for what, data in cases.items():
        (tmp_path / "data_batch_1").write_bytes(data)
        with pytest.raises(ValueError, match="data_batch_1") as info:
            load_cifar10(tmp_path)
        assert "data_batch_1" in str(info.value), what
    (tmp_path / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(tmp_path)
    with pytest.raises(ValueError, match="dtype must be"):
        load_cifar10(tmp_path, dtype=np.int32)


# --------------------------------------------------------------------------- DataLoader


def collect(loader):
    return [(xb.copy(), yb.copy()) for xb, yb in loader]


@given(n=st.integers(0, 50), batch_size=st.integers(1, 20), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 1000))
def test_dataloader_covers_every_sample_once(n, batch_size, shuffle, drop_last, seed):
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    loader = DataLoader(x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    batches = collect(loader)
    assert len(batches) == len(loader)
    assert len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    for xb, yb in batches:
        assert np.array_equal(xb, x[yb])  # x and y stay paired
        assert len(yb) == batch_size or (not drop_last and len(yb) < batch_size)
    assert len(np.unique(seen)) == len(seen)  # no repeats
    expected = n - n % batch_size if drop_last else n
    assert len(seen) == expected
    if not shuffle:
        assert np.array_equal(seen, np.arange(expected))
    elif not drop_last:
        assert np.array_equal(np.sort(seen), np.arange(n))


def test_dataloader_seeded_shuffle_reproducible_and_new_each_epoch():
    x = np.arange(100)
    a = DataLoader(x, x, 10, shuffle=True, seed=7)
    b = DataLoader(x, x, 10, shuffle=True, seed=7)
    e1, e2 = [np.concatenate([yb for _, yb in a]) for _ in range(2)]
    f1, f2 = [np.concatenate([yb for _, yb in b]) for _ in range(2)]
    assert np.array_equal(e1, f1) and np.array_equal(e2, f2)
    assert not np.array_equal(e1, e2)
    assert not np.array_equal(e1, np.arange(100))
    c = DataLoader(x, x, 10, shuffle=True, seed=8)
    assert not np.array_equal(e1, np.concatenate([yb for _, yb in c]))
    # a Generator is shared: the loader continues its stream
    rng = np.random.default_rng(7)
    g = DataLoader(x, x, 10, shuffle=True, seed=rng)
    assert np.array_equal(np.concatenate([yb for _, yb in g]), e1)
    assert np.array_equal(rng.permutation(100), e2)


def test_dataloader_transform_and_validation():
    x = np.ones((5, 1, 2, 2), dtype=np.float32)
    y = np.zeros(5, dtype=np.int64)
    loader = DataLoader(x, y, 2, transform=Normalize(0.5, 0.5))
    assert all(np.all(xb == 1.0) for xb, _ in loader)
    with pytest.raises(ValueError, match="same length"):
        DataLoader(x, y[:4], 2)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(x, y, 0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(x, y, 2.0)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        DataLoader(x.tolist(), y, 2)
    with pytest.raises(TypeError, match="seed"):
        DataLoader(x, y, 2, shuffle=True, seed="abc")
    with pytest.raises(TypeError, match="transform"):
        DataLoader(x, y, 2, transform=3)


def test_dataloader_on_read_only_mnist10k():
    x_tr, y_tr, _, _ = load_mnist10k()
    xb, yb = next(iter(DataLoader(x_tr, y_tr, 64, shuffle=True, seed=0)))
    assert xb.shape == (64, 1, 28, 28) and yb.shape == (64,) and xb.flags.writeable


# --------------------------------------------------------------------------- transforms


def batch(n=6, c=3, h=5, w=7, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_flip_really_flips():
    x = batch()
    x.flags.writeable = False  # transforms never write into their input
    assert np.array_equal(RandomHorizontalFlip(1.0, seed=0)(x), x[:, :, :, ::-1])
    assert np.array_equal(RandomHorizontalFlip(0.0, seed=0)(x), x)
    out = RandomHorizontalFlip(0.5, seed=3)(batch(n=200))
    ref = batch(n=200)
    flipped = np.array([np.array_equal(o, r[:, :, ::-1]) for o, r in zip(out, ref)])
    kept = np.array([np.array_equal(o, r) for o, r in zip(out, ref)])
    assert np.all(flipped ^ kept)
    assert 60 < flipped.sum() < 140  # Binomial(200, 0.5): 6+ sigma from the mean to fail


def test_flip_reproducible():
    x = batch(n=50)
    a, b = RandomHorizontalFlip(seed=1), RandomHorizontalFlip(seed=1)
    a1, a2 = a(x), a(x)
    assert np.array_equal(a1, b(x)) and np.array_equal(a2, b(x))
    assert not np.array_equal(a1, a2)


def test_crop_identity_and_reference():
    x = batch()
    assert np.array_equal(RandomCrop((5, 7), padding=0, seed=0)(x), x)
    crop = RandomCrop(4, padding=2, seed=5)
    out = crop(x)
    assert out.shape == (6, 3, 4, 4) and out.dtype == x.dtype
    # reference: the documented equation with the documented draws, one image at a time
    rng = np.random.default_rng(5)
    top, left = rng.integers(0, 5 + 4 - 4 + 1, size=6), rng.integers(0, 7 + 4 - 4 + 1, size=6)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(6):
        assert np.array_equal(out[n], padded[n, :, top[n]:top[n] + 4, left[n]:left[n] + 4])
    again = RandomCrop(4, padding=2, seed=5)(x)
    assert np.array_equal(out, again)


def test_crop_offsets_cover_every_position():
    # A 1x1 crop of a 3x3 image (padding 1 -> 5x5) tells us the offset it used.
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) + 1
    crop = RandomCrop(1, padding=1, seed=0, fill=-1)
    values = {float(crop(x)[0, 0, 0, 0]) for _ in range(400)}
    assert values == set(np.arange(1, 10, dtype=float)) | {-1.0}


def test_crop_errors():
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(8, padding=1, seed=0)(batch(h=5, w=5))
    with pytest.raises(ValueError, match="size must be"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="padding must be"):
        RandomCrop(3, padding=-1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomCrop(3, seed=0)(np.zeros((4, 784)))


def test_normalize_math():
    x = batch()
    out = Normalize([0.1, 0.2, 0.3], [0.5, 2.0, 4.0])(x)
    ref = np.stack([(x[:, 0] - 0.1) / 0.5, (x[:, 1] - 0.2) / 2.0, (x[:, 2] - 0.3) / 4.0], axis=1)
    assert out.dtype == np.float32 and np.allclose(out, ref, rtol=1e-6, atol=1e-7)
    half = Normalize(0.5, 0.5)(np.array([0.0, 0.5, 1.0], dtype=np.float32).reshape(1, 1, 1, 3))
    assert half.ravel().tolist() == [-1.0, 0.0, 1.0]
    assert Normalize(0, 1)(x.astype(np.float64)).dtype == np.float64
    assert Normalize(0, 255)(np.full((1, 1, 1, 1), 255, np.uint8)).dtype == np.float32
    with pytest.raises(ValueError, match="2 values but the batch has 3 channels"):
        Normalize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalize(0, [1, 0, 1])


def test_compose_order_and_doc000_pipeline():
    x = batch(n=4, c=3, h=32, w=32)
    pipeline = Compose([RandomHorizontalFlip(1.0, seed=0), Normalize(0.5, 0.5)])
    assert np.array_equal(pipeline(x), Normalize(0.5, 0.5)(x[:, :, :, ::-1]))

    def doc000(seed):
        rng = np.random.default_rng(seed)  # one shared stream drives both random transforms
        return Compose([RandomHorizontalFlip(0.5, seed=rng), RandomCrop(32, padding=4, seed=rng),
                        Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    a, b = doc000(0)(x), doc000(0)(x)
    assert a.shape == x.shape and np.array_equal(a, b)
    assert a.min() >= -1.0 and a.max() <= 1.0
    with pytest.raises(TypeError, match="callables"):
        Compose([1])

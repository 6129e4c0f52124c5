"""Read CIFAR-10 in its "python version" batch format without trusting pickle.

Each batch file (``data_batch_1`` ... ``data_batch_5``, ``test_batch``) is a pickled dict::

    {b"data": uint8 array (10000, 3072), b"labels": [int, ...],
     b"batch_label": bytes, b"filenames": [bytes, ...]}

Unpickling runs code: a pickle may name any importable function (``os.system``) and call it.
So we never hand a user's file to ``pickle.load``. :class:`SafeUnpickler` refuses every global
except the few names a pickled NumPy array uses, and even for those it does not return NumPy's
functions: it returns stand-ins of ours that only *record* their arguments. After unpickling we
rebuild each array with ``numpy.frombuffer`` from a checked plain dtype (integer, unsigned,
float or bool; never object or structured) and an exact byte count.

Why this is safe: during ``Unpickler.load`` the only code a pickle can reach is what
``find_class`` returns (``GLOBAL``, ``STACK_GLOBAL``, ``INST``, ``OBJ`` and extension codes all
go through it; ``REDUCE``/``NEWOBJ`` can only call objects taken from the stack, i.e. from
``find_class`` or built from literals; ``BUILD`` calls ``__setstate__`` of such objects).
Ours are inert, so the worst a hostile file can do is be rejected.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from minicompress.errors import InputError

# dtype strings a CIFAR array may use: plain numbers only (no object "O", no structured dtypes).
_ALLOWED_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}


class _NDArrayMarker:
    """Stands for ``numpy.ndarray`` (only used as the ``subtype`` argument of ``_reconstruct``)."""


class _DTypeRecord:
    """Records ``numpy.dtype(spec, align, copy)`` and its ``__setstate__`` byte order."""

    def __init__(self, spec, align=False, copy=False):
        if isinstance(spec, bytes):
            spec = spec.decode("ascii", "replace")
        if not isinstance(spec, str) or spec not in _ALLOWED_DTYPES:
            raise pickle.UnpicklingError(
                f"array dtype {spec!r} not allowed (allowed: {sorted(_ALLOWED_DTYPES)})"
            )
        self.spec = spec
        self.byteorder = "|"

    def __setstate__(self, state):
        # numpy dtype state: (version, byteorder, subarray, names, fields,
        #                     elsize, alignment, flags[, metadata])
        if not isinstance(state, tuple) or len(state) < 5 or state[0] not in (3, 4):
            raise pickle.UnpicklingError(f"unexpected dtype state {state!r}")
        if any(s is not None for s in state[2:5]):
            raise pickle.UnpicklingError("structured or sub-array dtypes are not allowed")
        order = state[1].decode() if isinstance(state[1], bytes) else state[1]
        if order not in ("|", "<", ">", "="):
            raise pickle.UnpicklingError(f"unexpected dtype byte order {order!r}")
        self.byteorder = order

    def dtype(self) -> np.dtype:
        dt = np.dtype(self.spec)
        return dt.newbyteorder(self.byteorder) if self.byteorder in "<>" else dt


class _ArrayRecord:
    """Records an ndarray's pickled state; :meth:`array` rebuilds it with ``numpy.frombuffer``."""

    def __init__(self, shape=None, dtype=None, raw=None, fortran=False):
        self.shape, self.dtype_record, self.raw, self.fortran = shape, dtype, raw, fortran

    def __setstate__(self, state):
        # ndarray state: (version, shape, dtype, is_fortran, rawdata); version 0 omits version.
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise pickle.UnpicklingError("unexpected ndarray state")
        self.shape, self.dtype_record, self.fortran, self.raw = state

    def array(self) -> np.ndarray:
        shape, dt, raw = self.shape, self.dtype_record, self.raw
        if not isinstance(dt, _DTypeRecord):
            raise InputError("array without a recorded dtype")
        if not (isinstance(shape, tuple) and all(isinstance(s, int) and s >= 0 for s in shape)):
            raise InputError(f"bad array shape {shape!r}")
        if isinstance(raw, str):  # a Python 2 str decoded as text: latin-1 maps bytes 1:1
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray, pickle.PickleBuffer)):
            raise InputError(f"array data must be bytes, got {type(raw).__name__}")
        dtype = dt.dtype()
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        have = memoryview(raw).nbytes
        if have != need:
            raise InputError(f"array data has {have} bytes, shape {shape} of {dtype} needs {need}")
        flat = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
        return flat.reshape(shape, order="F" if self.fortran else "C")


def _reconstruct(subtype, shape, typecode):
    # numpy's ndarray.__reduce__ -> _reconstruct(ndarray, (0,), b"b"), then BUILD with the state.
    if subtype is not _NDArrayMarker:
        raise pickle.UnpicklingError("_reconstruct: only plain numpy.ndarray is allowed")
    return _ArrayRecord()


def _frombuffer(buf, dtype, shape, order):
    # numpy's ndarray.__reduce_ex__ for pickle protocol 5.
    if not isinstance(dtype, _DTypeRecord) or order not in ("C", "F"):
        raise pickle.UnpicklingError("_frombuffer: unexpected arguments")
    return _ArrayRecord(tuple(shape), dtype, buf, order == "F")


def _latin1_encode(text, encoding):
    # Python 3 writes bytes under pickle protocol <= 2 as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode: only (str, 'latin1') is allowed")
    return text.encode("latin1")


# (module, name) -> our inert stand-in. NumPy 1.x pickles say numpy.core, NumPy 2.x numpy._core.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDArrayMarker,
    ("numpy", "dtype"): _DTypeRecord,
    ("_codecs", "encode"): _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only the globals of a pickled NumPy array.

    Every other global (``os.system``, ``builtins.eval``, ...) raises ``pickle.UnpicklingError``.
    Arrays come back as :class:`_ArrayRecord`; :func:`safe_load` converts them.
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name}: a CIFAR-10 batch needs only NumPy's array "
                "reconstruction, so any other global means this is not a CIFAR-10 file"
            ) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _finish(obj):
    """Replace every _ArrayRecord inside dicts/lists/tuples by a real numpy array."""
    if isinstance(obj, _ArrayRecord):
        return obj.array()
    if isinstance(obj, dict):
        return {k: _finish(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_finish(v) for v in obj)
    if isinstance(obj, (_DTypeRecord, _NDArrayMarker)) or obj is _NDArrayMarker:
        # Allowed only as parts of an array; anywhere else the file is not a CIFAR batch.
        raise InputError("a dtype or ndarray type outside an array")
    return obj


def safe_load(path: str | os.PathLike):
    """Unpickle ``path`` with :class:`SafeUnpickler` (``encoding="bytes"`` for Python 2 files).

    Raises ``ValueError`` naming the file for anything that is not plain data + NumPy arrays.
    """
    data = Path(path).read_bytes()
    try:
        obj = SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
        return _finish(obj)
    except (pickle.UnpicklingError, ValueError, EOFError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeError, OverflowError) as exc:
        raise InputError(f"{os.fspath(path)}: not a readable CIFAR-10 batch: {exc}") from exc


def _get(d: dict, key: str):
    # Python 2 files have bytes keys (b"data"); a file re-pickled by Python 3 may have str keys.
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise KeyError(key)


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file.

    Returns
    -------
    images : numpy.ndarray, uint8, (N, 3, 32, 32)
        Channels R, G, B (the file stores each row as 1024 red, 1024 green, 1024 blue bytes).
    labels : numpy.ndarray, int64, (N,), 0-9
    """
    name = os.fspath(path)
    d = safe_load(path)
    if not isinstance(d, dict):
        raise InputError(f"{name}: a CIFAR-10 batch is a dict, got {type(d).__name__}")
    try:
        data, labels = _get(d, "data"), _get(d, "labels")
    except KeyError as exc:
        raise InputError(f"{name}: CIFAR-10 batch has no {exc.args[0]!r} entry") from None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        raise InputError(
            f"{name}: 'data' must be a uint8 array of shape (N, 3072), got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if not (isinstance(labels, (list, np.ndarray))
            and all(isinstance(v, (int, np.integer)) for v in labels)):
        raise InputError(f"{name}: 'labels' must be a list of ints")
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if y.shape[0] != data.shape[0]:
        raise InputError(
            f"{name}: image/label count mismatch: {data.shape[0]} images, {y.shape[0]} labels"
        )
    if y.size and (y.min() < 0 or y.max() > 9):
        raise InputError(f"{name}: labels must be 0-9, found {y.min()}..{y.max()}")
    return data.reshape(-1, 3, 32, 32), y


def load_cifar10(
    directory: str | os.PathLike, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load CIFAR-10 from the python batch files in ``directory`` (``cifar-10-batches-py``).

    Parameters
    ----------
    directory : str or os.PathLike
        Holds ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``.
    dtype : numpy dtype, default float32
        float32/float64: pixels scaled to [0, 1] (x = uint8 / 255).
        uint8: the raw bytes (a quarter of the memory: 150 MB instead of 600 MB for 50,000).

    Returns
    -------
    x_train : (50000, 3, 32, 32)   y_train : int64 (50000,)
    x_test : (10000, 3, 32, 32)    y_test : int64 (10000,)

    Raises
    ------
    FileNotFoundError
        A batch file is missing.
    ValueError
        A file is not a CIFAR-10 batch, is truncated, or asks the unpickler for any global other
        than NumPy's array reconstruction (see :class:`SafeUnpickler`).
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype must be uint8, float32 or float64, got {dtype}")
    directory = Path(directory)
    missing = [n for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
               if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batch files {missing} not found in {directory}")
    parts = [read_cifar10_batch(directory / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = read_cifar10_batch(directory / "test_batch")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])

    def convert(x):
        return x if dtype == np.uint8 else x.astype(dtype) / dtype.type(255)

    return convert(x_train), y_train, convert(x_test), y_test

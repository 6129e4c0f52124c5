"""Saving and loading models as ``.npz`` files: no pickle, no lost files.

A file holds every array of ``model.state_dict()`` (parameters and buffers,
such as pruning masks) under its dotted name, plus ``__meta__``: a JSON text
with the format name, version and the architecture (each layer's type and
constructor arguments), so ``load_model`` rebuilds the model without any code
from the file. Loading uses ``allow_pickle=False``; saving writes a temporary
file in the same folder and renames it, so an interrupted save never destroys
an existing model.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.nn import LAYER_TYPES, Module, Sequential

FORMAT = "minicompress-model"
VERSION = 1


def architecture(model: Module) -> list[dict]:
    """The layer list that rebuilds ``model`` (a ``Sequential`` of known layers)."""
    if not isinstance(model, Sequential):
        raise InputTypeError(f"only Sequential models can be saved, got {type(model).__name__}")
    layers = []
    for i, layer in enumerate(model):
        kind = type(layer).__name__
        if LAYER_TYPES.get(kind) is not type(layer):
            raise InputTypeError(f"layer {i} ({kind}) is not a built-in layer and cannot be saved")
        layers.append({"type": kind, **layer.spec()})
    return layers


def from_architecture(layers: list[dict]) -> Sequential:
    built = []
    for i, entry in enumerate(layers):
        entry = dict(entry)
        kind = entry.pop("type", None)
        if kind not in LAYER_TYPES:
            raise InputError(f"layer {i}: unknown type {kind!r}; known: {sorted(LAYER_TYPES)}")
        built.append(LAYER_TYPES[kind](**entry))
    return Sequential(*built)


def copy_model(model: Sequential) -> Sequential:
    """A deep copy: the same architecture with copied parameters and buffers."""
    clone = from_architecture(architecture(model))
    clone.load_state_dict(model.state_dict())
    return clone


def as_path(path, name: str = "path") -> str:
    """``path`` as a ``str`` for the file system; ``InputTypeError`` naming ``name`` otherwise."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InputTypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The one way minicompress writes a file, so that no file of the user's is ever half-written
    or lost: the data goes to a temporary file in the same folder, is flushed to disk
    (``fsync``), and replaces ``path`` in one ``rename``; the folder is then synced so the
    rename survives a crash. A ``path`` that is a symbolic link is written *through*: the link
    stays and its target is replaced (as ``cp``, editors and shell redirections do). An
    existing file keeps its permission bits; a new one gets those an ``open()`` would give
    (``0o666`` minus the umask). On any error, the temporary file is removed and the
    ``OSError`` names ``path``, never the temporary file.
    """
    user_path = as_path(path)
    target = os.path.realpath(user_path)  # through symlinks, so the link itself survives
    folder = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as err:
        raise OSError(err.errno, err.strerror, user_path) from None
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", user_path)
    if os.path.exists(target) and not os.path.isfile(target):
        # a device or a pipe: renaming over it would replace it (/dev/null!), not write into it
        raise OSError(errno.EINVAL, "is not a regular file", user_path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(target), dir=folder)
    except OSError as err:
        raise OSError(err.errno, err.strerror, user_path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file private (0600)
        os.replace(tmp, target)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno is not None and err.filename in (tmp, target, None):
            raise OSError(err.errno, err.strerror, user_path) from None
        raise
    _fsync_folder(folder)


def _fsync_folder(folder) -> None:
    # The rename is durable only once the folder's entry is on disk; not every system can sync
    # a folder (Windows), and failing there would lose nothing that was not already written.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path, payload) -> None:
    """Write ``payload`` as indented JSON (and a final newline) to ``path``, atomically."""
    text = json.dumps(payload, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def save_model(model: Module, path, metadata: dict | None = None) -> None:
    """Write ``model`` (architecture, parameters, buffers) and optional JSON ``metadata`` to ``path``."""
    path = as_path(path)
    if metadata is not None and not isinstance(metadata, dict):
        raise InputTypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    meta = {"format": FORMAT, "version": VERSION, "architecture": architecture(model),
            "metadata": metadata or {}}
    try:
        meta_text = json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise InputError(f"metadata must be JSON-serializable (str, numbers, lists, dicts): {err}") from None
    arrays = dict(model.state_dict())
    if "__meta__" in arrays:
        raise InputError("a parameter may not be called __meta__")
    for name, arr in arrays.items():
        # what load_model would refuse is never written (a diverged training, for one)
        _checked_array(f"not saved to {path!r}", name, np.asarray(arr))
    arrays["__meta__"] = np.array(meta_text)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_model_file(path) -> tuple[dict, dict]:
    """The ``(meta, arrays)`` of a model file, checked; ``ValueError`` for anything else."""
    path = as_path(path)
    if not os.path.exists(path):
        raise InputError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise InputError(f"{path!r} is not an .npz file (no zip header): not a minicompress model file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # noqa: BLE001 - only reading the file happens here: any failure is a corrupt file
        # (NumPy's parser lets SyntaxError, zlib.error, MemoryError... through, besides the BadZipFile
        # and ValueError one expects.) allow_pickle=False refuses object arrays: say so plainly.
        reason = ("it holds pickled objects, which are never loaded" if "pickle" in str(err)
                  else f"{type(err).__name__}: {err}")
        raise InputError(f"{path!r} is not a readable minicompress model file: {reason}") from None
    if "__meta__" not in arrays:
        raise InputError(f"{path!r} has no __meta__ entry: not a minicompress model file")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as err:
        raise InputError(f"{path!r}: corrupt __meta__ ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path!r}: corrupt __meta__ (a JSON {type(meta).__name__}, expected an object)")
    if meta.get("format") != FORMAT:
        raise InputError(f"{path!r}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise InputError(f"{path!r}: version {meta.get('version')!r}; this minicompress reads {VERSION}")
    if not isinstance(meta.get("architecture"), list) or not isinstance(meta.get("metadata", {}), dict):
        raise InputError(f"{path!r}: corrupt __meta__ (no architecture list or a metadata that is not an object)")
    return meta, {name: _checked_array(repr(path), name, arr) for name, arr in arrays.items()}


def _checked_array(where: str, name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` if a model may hold it: real numbers, all finite; a pruning mask as bool.

    ``where`` starts the error message (the file, or what was being done).
    """
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{where}: parameter {name!r} has dtype {arr.dtype}; only real numbers (float, int "
                         "or bool) are allowed in a model, never complex, text or objects")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{where}: parameter {name!r} holds {bad} NaN or infinite value(s); "
                         "a model's weights must be finite")
    if name.endswith("_mask"):
        if not np.isin(arr, (0, 1)).all():
            raise InputError(f"{where}: pruning mask {name!r} holds values other than 0 and 1")
        arr = arr.astype(bool)
    return arr


def load_model(path) -> Sequential:
    """Rebuild the model saved at ``path``; its metadata is on ``model.metadata``."""
    meta, arrays = read_model_file(path)
    try:
        model = from_architecture(meta["architecture"])
    except InputError as err:
        raise InputError(f"{os.fspath(path)!r}: its architecture cannot be built: {err}") from None
    except (TypeError, ValueError, AttributeError, MemoryError) as err:
        # the layer list comes from the file: a wrong entry (or a layer of a trillion weights)
        # is a corrupt file, not a bug of ours
        raise InputError(f"{os.fspath(path)!r}: its architecture cannot be built "
                         f"({type(err).__name__}: {err})") from None
    try:
        model.load_state_dict(arrays)
    except InputError as err:
        raise InputError(f"{os.fspath(path)!r}: {err}") from None
    model.metadata = meta.get("metadata", {})
    return model


def model_checksum(model: Module) -> str:
    """SHA-256 over the architecture and every array, in name order."""
    h = hashlib.sha256(json.dumps(architecture(model), sort_keys=True).encode())
    for name, arr in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()

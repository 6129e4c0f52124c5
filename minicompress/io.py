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

import hashlib
import json
import os
import tempfile
import zipfile

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


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        # mkstemp makes the file private (0600); give it the permissions an ordinary open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: Module, path, metadata: dict | None = None) -> None:
    """Write ``model`` (architecture, parameters, buffers) and optional JSON ``metadata`` to ``path``."""
    meta = {"format": FORMAT, "version": VERSION, "architecture": architecture(model),
            "metadata": metadata or {}}
    arrays = dict(model.state_dict())
    if "__meta__" in arrays:
        raise InputError("a parameter may not be called __meta__")
    arrays["__meta__"] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_model_file(path) -> tuple[dict, dict]:
    """The ``(meta, arrays)`` of a model file, checked; ``ValueError`` for anything else."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise InputError(f"{path!r} is not an .npz file (no zip header): not a minicompress model file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        # allow_pickle=False refuses object arrays; say so plainly rather than suggest unpickling.
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(err) else str(err)
        raise InputError(f"{path!r} is not a readable minicompress model file: {reason}") from None
    if "__meta__" not in arrays:
        raise InputError(f"{path!r} has no __meta__ entry: not a minicompress model file")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as err:
        raise InputError(f"{path!r}: corrupt __meta__ ({err})") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"{path!r}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise InputError(f"{path!r}: version {meta.get('version')!r}; this minicompress reads {VERSION}")
    return meta, arrays


def load_model(path) -> Sequential:
    """Rebuild the model saved at ``path``; its metadata is on ``model.metadata``."""
    meta, arrays = read_model_file(path)
    model = from_architecture(meta["architecture"])
    model.load_state_dict(arrays)
    model.metadata = meta.get("metadata", {})
    return model


def model_checksum(model: Module) -> str:
    """SHA-256 over the architecture and every array, in name order."""
    h = hashlib.sha256(json.dumps(architecture(model), sort_keys=True).encode())
    for name, arr in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()

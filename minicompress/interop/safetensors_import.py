"""Weights trained in PyTorch, brought in through safetensors: ``import_safetensors(path, "lenet5")``.

safetensors stores named tensors as a JSON header and raw little-endian bytes: nothing in a
file can run code when it is loaded, unlike a pickled ``torch.save`` checkpoint, which is
why it is the only PyTorch format minicompress reads. PyTorch's ``Linear`` and ``Conv2d``
store weights exactly as minicompress does ((out, in) and (C_out, C_in, k, k)), so a state
dict needs only its names translated:

* **nn.Sequential** (as the zoo's PyTorch twins in ``benchmarks/training.py`` are built):
  the names are already ours, ``0.weight``, ``3.bias``, ...;
* **named layers**, as in PyTorch's LeNet tutorial (``conv1``, ``conv2``, ``fc1``, ...):
  the k-th ``Conv2d`` of the model is ``conv{k}``, the k-th ``Linear`` is ``fc{k}``;
* a ``module.`` prefix (``nn.DataParallel``) is dropped;
* anything else: a ``name_map`` {name in the file: our name} (a dict or a JSON file);
  mapping a name to ``None`` skips that tensor.

A missing, extra or wrongly shaped tensor gets the messages ``load_model`` gives
(``Module.load_state_dict``), which name every problem at once.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.interop._optional import require
from minicompress.models import build
from minicompress.nn import Conv2d, Linear, Module, Sequential

_NAMED = re.compile(r"^(conv|fc)(\d+)\.(weight|bias)$")


def read_safetensors(path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a NumPy array (no pickle, no torch)."""
    st = require("safetensors.numpy")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"weights file {path!r} does not exist")
    try:
        return dict(st.load_file(path))
    except Exception as err:  # safetensors raises its own SafetensorError (and TypeError for bfloat16)
        raise InputError(f"{path!r} is not a readable safetensors file: {err}") from None


def read_name_map(name_map) -> dict:
    """A name map given as a dict or as the path of a JSON file holding one."""
    if name_map is None:
        return {}
    if isinstance(name_map, (str, os.PathLike)):
        try:
            with open(name_map, encoding="utf-8") as f:
                name_map = json.load(f)
        except json.JSONDecodeError as err:
            raise InputError(f"name map {os.fspath(name_map)!r} is not valid JSON: {err}") from None
    if not isinstance(name_map, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in name_map.items()):
        raise InputTypeError('a name map is a dict {"name in the file": "our name" or null}')
    return dict(name_map)


def named_layer_map(model: Module) -> dict[str, str]:
    """{``conv1``: ``0``, ``fc1``: ``7``, ...}: PyTorch-tutorial names of ``model``'s weighted layers."""
    out, counts = {}, {"conv": 0, "fc": 0}
    for name, layer in model.named_modules():
        kind = "conv" if isinstance(layer, Conv2d) else "fc" if isinstance(layer, Linear) else None
        if kind:
            counts[kind] += 1
            out[f"{kind}{counts[kind]}"] = name
    return out


def to_our_names(tensors: dict, model: Module, name_map=None) -> dict[str, np.ndarray]:
    """Rename a PyTorch state dict to ``model``'s parameter names (see the module docstring)."""
    name_map = read_name_map(name_map)
    ours = set(model.state_dict())
    layers = named_layer_map(model)
    out = {}
    for key, value in tensors.items():
        if key in name_map:
            if name_map[key] is None:
                continue
            key = name_map[key]
        elif key not in ours:
            key = key.removeprefix("module.")
            m = _NAMED.match(key)
            if m and f"{m[1]}{m[2]}" in layers:
                key = f"{layers[m[1] + m[2]]}.{m[3]}"
        if key in out:
            raise InputError(f"two tensors in the file map to {key!r}; fix the name map")
        out[key] = np.asarray(value)
    return out


def import_safetensors(path, model="lenet5", *, name_map=None) -> Sequential:
    """A model holding the weights of a PyTorch state dict saved as safetensors.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file, e.g. from ``safetensors.torch.save_file(net.state_dict(), path)``.
    model : str or Sequential
        A zoo name (``"lenet5"``, ``"lenet-300-100"``, ...) or a model whose architecture
        matches the file; a Sequential passed in is filled in place and returned.
    name_map : dict or path of a JSON file, optional
        {name in the file: our name (or None to skip)}, for names the rules above miss.

    Returns
    -------
    Sequential

    Raises
    ------
    InputError
        The file is missing or unreadable; a tensor is missing, extra or has the wrong shape
        (every problem named, as ``load_model`` does).
    """
    if isinstance(model, str):
        model = build(model, seed=0)
    elif not isinstance(model, Sequential):
        raise InputTypeError(f"model must be a zoo name or a Sequential, got {type(model).__name__}")
    state = to_our_names(read_safetensors(path), model, name_map)
    try:
        model.load_state_dict(state)
    except InputError as err:  # the file's name first, as load_model says it
        raise InputError(f"{os.fspath(path)!r}: {err}") from None
    return model

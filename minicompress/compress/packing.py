"""The packed model file (``.mcz``): every byte of a compressed model, counted.

``pack(model, path)`` writes a pruned, weight-shared model as Deep Compression stores it
(Han et al. 2016): per Linear/Conv2d layer, the nonzero weights in relative-index sparse
form (:class:`minicompress.compress.relative_csr.RelativeCSR` over the flattened weight, gaps
in ``gap_bits`` bits with filler zeros), each value as an index into a small float32
codebook, and indices and gaps Huffman-coded (:mod:`.huffman`). ``unpack(path)`` rebuilds
a working model with exactly the same weights, so the same predictions.

Layout (little-endian)::

    offset  size  field
    0       4     magic b"MCPK"
    4       1     format version (2)
    5       4     u32 header length H
    9       H     header: compact UTF-8 JSON (architecture, and per layer: shape, counts,
                  coding, and the byte length of every section below)
    9+H     P     payload: the layers' sections, in header order
    9+H+P   4     u32 CRC-32 of everything before it

Per weighted layer the sections are, in order:

* ``codebook``  k × float32, entry 0 is 0.0 (the value of filler zeros);
* ``index``     Huffman: k × u8 code lengths, then the bit stream; fixed: ``index_bits``
                bits per stored entry; float32 values instead when ``values="float32"``;
* ``gaps``      Huffman: 2^gap_bits × u8 code lengths, then the bit stream; fixed:
                ``gap_bits`` bits per stored entry;
* ``bias``      out × float32 (biases are few; they stay float as in the paper).

Every fixed-width section and every Huffman bit stream is packed least significant bit
first (:mod:`.bitpack`, the one bit order of minicompress). Format version 1 packed the
Huffman streams most significant bit first; such a file is refused with a message saying so.

Nothing is pickled; the file is written to a temporary file and renamed. A file that is
too short, has the wrong magic, an unknown version or a bad checksum raises ``ValueError``.

The three encodings of the same layout give the byte count of each Deep Compression stage
(:func:`stage_bytes`): ``values="float32"`` (pruned, relative-index CSR), fixed-width
indices (clustered), Huffman (the final file).
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib

import numpy as np

from minicompress.compress.bitpack import pack_bits as pack_fixed
from minicompress.compress.bitpack import unpack_bits as unpack_fixed
from minicompress.compress.huffman import HuffmanCode
from minicompress.compress.relative_csr import RelativeCSR
from minicompress.compress.weights import float32_bytes
from minicompress.errors import InputError
from minicompress.io import architecture, as_path, atomic_write, from_architecture
from minicompress.nn import Conv2d, Linear, Module

MAGIC = b"MCPK"
VERSION = 2
OLD_VERSIONS = {1: "its Huffman streams are packed most significant bit first"}
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length
MAX_CODEBOOK = 256
DEFAULT_GAP_BITS = {"Linear": 5, "Conv2d": 8}  # the paper's choice for fc and conv layers


def _weighted(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (Linear, Conv2d))]


def _gap_bits_for(name, layer, gap_bits):
    if gap_bits is None:
        return DEFAULT_GAP_BITS[type(layer).__name__]
    if isinstance(gap_bits, dict):
        return gap_bits.get(name, DEFAULT_GAP_BITS[type(layer).__name__])
    return int(gap_bits)


def _huffman_section(symbols, alphabet):
    """Code lengths (u8 each) + bit stream; returns (bytes, n_bits)."""
    code = HuffmanCode.fit(symbols, alphabet)
    if code.lengths.max(initial=0) > 255:  # HuffmanCode caps lengths at 32: a bug if ever reached
        raise RuntimeError("a Huffman code length does not fit one byte")
    data, n_bits = code.encode(symbols)
    return code.lengths.astype(np.uint8).tobytes() + data.tobytes(), n_bits


def _encode_layer(name, layer, gap_bits, values, huffman):
    w = layer.effective("weight").data.astype(np.float32)
    csr = RelativeCSR.from_dense(w.reshape(1, -1), index_bits=gap_bits)
    entry = {"name": name, "shape": list(w.shape), "n": int(csr.n_stored), "gap_bits": gap_bits,
             "values": values, "huffman": bool(huffman)}
    sections = []
    if values == "float32":
        sections.append(csr.values.astype("<f4").tobytes())
    else:
        nonzero = np.unique(w[w != 0])
        if nonzero.size + 1 > MAX_CODEBOOK:
            raise InputError(f"layer {name!r} has {nonzero.size} distinct weights; a codebook holds at most "
                             f"{MAX_CODEBOOK - 1} (+ zero). Cluster the weights first "
                             "(minicompress.compress.kmeans.share_weights) or pack with values='float32'")
        codebook = np.concatenate([[0.0], nonzero]).astype("<f4")
        idx = np.searchsorted(codebook[1:], csr.values.astype(np.float32)) + 1
        idx[csr.values == 0] = 0
        k = codebook.size
        entry["k"] = int(k)
        entry["index_bits"] = max(1, math.ceil(math.log2(k)))
        sections.append(codebook.tobytes())
        if huffman:
            blob, entry["index_nbits"] = _huffman_section(idx, k)
        else:
            blob = pack_fixed(idx, entry["index_bits"]).tobytes()
        sections.append(blob)
    if huffman:
        blob, entry["gap_nbits"] = _huffman_section(csr.gaps, 2**gap_bits)
    else:
        blob = pack_fixed(csr.gaps, gap_bits).tobytes()
    sections.append(blob)
    if layer.bias is not None:
        sections.append(layer.bias.data.astype("<f4").tobytes())
    entry["sections"] = [len(s) for s in sections]
    return entry, b"".join(sections)


def pack_bytes(model: Module, *, gap_bits=None, values: str = "codebook", huffman: bool = True) -> bytes:
    """The packed file's bytes (what :func:`pack` writes).

    Parameters
    ----------
    model : Sequential of built-in layers
        Pruned (zeros or ``weight_mask``) and weight-shared (at most 255 distinct nonzero
        weights per layer) for ``values="codebook"``.
    gap_bits : int or dict, optional
        Bits per relative index; default 5 for Linear and 8 for Conv2d layers.
    values : {"codebook", "float32"}
    huffman : bool
        Huffman-code indices and gaps (else fixed width).
    """
    if values not in ("codebook", "float32"):
        raise InputError(f"values must be 'codebook' or 'float32'; got {values!r}")
    layers = _weighted(model)
    if not layers:
        raise InputError("the model has no Linear or Conv2d layer to pack")
    entries, payload = [], []
    for name, layer in layers:
        entry, blob = _encode_layer(name, layer, _gap_bits_for(name, layer, gap_bits), values, huffman)
        entries.append(entry)
        payload.append(blob)
    payload = b"".join(payload)
    header = json.dumps({"architecture": architecture(model), "layers": entries, "payload": len(payload)},
                        separators=(",", ":")).encode()
    body = _PREFIX.pack(MAGIC, VERSION, len(header)) + header + payload
    return body + struct.pack("<I", zlib.crc32(body))


def pack(model: Module, path, **options) -> int:
    """Write ``model`` to ``path`` atomically (options as :func:`pack_bytes`); return the file size in bytes."""
    data = pack_bytes(model, **options)
    atomic_write(path, lambda f: f.write(data))
    return len(data)


def _read_huffman(buf, alphabet, n, n_bits):
    code = HuffmanCode(np.frombuffer(buf[:alphabet], dtype=np.uint8).astype(np.int64))
    return code.decode(np.frombuffer(buf[alphabet:], dtype=np.uint8), n, n_bits)


def unpack_bytes(data: bytes) -> Module:
    """Rebuild the model from packed bytes; ``ValueError`` for anything that is not a valid file."""
    data = bytes(data)
    if len(data) < _PREFIX.size + 4:
        raise InputError(f"not a packed model: {len(data)} bytes is shorter than the {_PREFIX.size + 4}-byte "
                         "prefix and checksum (truncated?)")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise InputError(f"not a packed minicompress model: magic {magic!r}, expected {MAGIC!r}")
    if version in OLD_VERSIONS:
        raise InputError(f"packed model format version {version} is no longer read ({OLD_VERSIONS[version]}); "
                         f"this minicompress reads version {VERSION}: pack the model again from its .npz "
                         "with `minicompress pack`")
    if version != VERSION:
        raise InputError(f"packed model format version {version} is unknown; this minicompress reads {VERSION}")
    start = _PREFIX.size + header_len
    if start + 4 > len(data):
        raise InputError(f"packed model is truncated: header needs {header_len} bytes, file has {len(data)}")
    try:
        header = json.loads(data[_PREFIX.size:start].decode())
        payload_len = int(header["payload"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(f"packed model has a corrupt header ({err})") from None
    if start + payload_len + 4 != len(data):
        raise InputError(f"packed model is truncated or has trailing bytes: expected "
                         f"{start + payload_len + 4} bytes, got {len(data)}")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if crc != zlib.crc32(data[:-4]):
        raise InputError("packed model checksum does not match: the file is corrupt")
    try:
        return _rebuild(header, data, start)
    except (KeyError, TypeError, IndexError, StopIteration) as err:
        raise InputError(f"packed model header does not describe its payload ({type(err).__name__}: {err})") \
            from None


def _rebuild(header, data, start):
    model = from_architecture(header["architecture"])
    layers = dict(_weighted(model))
    pos = start
    for entry in header["layers"]:
        layer = layers[entry["name"]]
        sections = []
        for size in entry["sections"]:
            sections.append(data[pos:pos + size])
            pos += size
        sections = iter(sections)
        n, gap_bits = entry["n"], entry["gap_bits"]
        if entry["values"] == "float32":
            vals = np.frombuffer(next(sections), dtype="<f4").astype(np.float32)
        else:
            codebook = np.frombuffer(next(sections), dtype="<f4")
            blob = next(sections)
            idx = (_read_huffman(blob, entry["k"], n, entry["index_nbits"]) if entry["huffman"]
                   else unpack_fixed(np.frombuffer(blob, np.uint8), entry["index_bits"], n))
            vals = codebook[idx].astype(np.float32)
        blob = next(sections)
        gaps = (_read_huffman(blob, 2**gap_bits, n, entry["gap_nbits"]) if entry["huffman"]
                else unpack_fixed(np.frombuffer(blob, np.uint8), gap_bits, n))
        size = int(np.prod(entry["shape"]))
        csr = RelativeCSR(shape=(1, size), index_bits=gap_bits, indptr=np.array([0, n], dtype=np.int64),
                          gaps=gaps.astype(np.int64), values=vals)
        w = csr.to_dense().reshape(entry["shape"]).astype(np.float32)
        layer.weight.data = w
        layer.register_buffer("weight_mask", w != 0)  # bool, as every pruning mask
        if layer.bias is not None:
            layer.bias.data = np.frombuffer(next(sections), dtype="<f4").astype(np.float32)
    return model


def unpack(path) -> Module:
    """Read a packed model file written by :func:`pack`."""
    path = as_path(path)
    if not os.path.exists(path):
        raise InputError(f"packed model file {path!r} does not exist")
    with open(path, "rb") as f:
        return unpack_bytes(f.read())


def stage_bytes(model: Module, gap_bits=None) -> dict:
    """Bytes of ``model`` at each Deep Compression stage, each a complete file in this format.

    Returns
    -------
    dict
        ``dense_float32`` (4 bytes per parameter), ``pruned_csr`` (relative-index CSR with
        float32 values), ``clustered`` (codebook + fixed-width indices and gaps) and
        ``huffman`` (the final file); for a pruned, clustered model.
    """
    return {
        "dense_float32": float32_bytes(model),
        "pruned_csr": len(pack_bytes(model, gap_bits=gap_bits, values="float32", huffman=False)),
        "clustered": len(pack_bytes(model, gap_bits=gap_bits, values="codebook", huffman=False)),
        "huffman": len(pack_bytes(model, gap_bits=gap_bits, values="codebook", huffman=True)),
    }


def read_header(path) -> dict:
    """The JSON header of a packed file (for inspection); the file is fully validated first."""
    unpack(path)
    with open(path, "rb") as f:
        data = f.read()
    _, _, header_len = _PREFIX.unpack_from(data)
    return json.loads(data[_PREFIX.size:_PREFIX.size + header_len].decode())

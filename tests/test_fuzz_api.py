"""Fuzz of the public Python API of compress/, data/, io, kernels and equations with bad input.

For each function a valid call is generated (hypothesis draws the shapes and values), then one
argument is spoiled: NaN, inf, empty, complex, object, text or wrong-shape arrays, or an
out-of-range / wrong-type scalar. The call must then either

* raise ``minicompress.errors.InputError`` (a ``ValueError``; ``InputTypeError`` is also a
  ``TypeError``) whose message names the spoiled argument: never an error from deep inside NumPy
  or Numba, which is not an ``InputError``; or
* return, only where the spoiled value is legitimate input for that function (an elementwise
  function on an empty array returns an empty array; ``round_half_away`` keeps NaN and inf
  where they were), and the result is then checked.

Anything else (a result from a complex, object or wrong-shape array, a NaN quantized to an
integer) is a silent wrong result and fails. (engine/, nn/, optim/, training, models are fuzzed
by their own tests.) ``MINICOMPRESS_FUZZ_COUNTS=path.json`` writes the counts of what was tried.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicompress.errors import InputError
from tests.fuzz_counts import write_counts

pytestmark = pytest.mark.equations

COUNTS: Counter = Counter()
FUZZ = settings(max_examples=int(os.environ.get("MINICOMPRESS_FUZZ_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    write_counts("api", COUNTS)


# ------------------------------------------------------------------ spoiling an argument
def spoil_array(kind: str, good: np.ndarray, rng: np.random.Generator):
    good = np.asarray(good)
    if kind in ("nan", "inf"):
        bad = good.astype(np.float64 if good.dtype.kind != "f" else good.dtype, copy=True)
        if bad.size == 0:
            return None
        bad.flat[rng.integers(bad.size)] = np.nan if kind == "nan" else -np.inf
        return bad
    if kind == "empty":
        return np.zeros((0,) + good.shape[1:], dtype=good.dtype)
    if kind == "complex":
        return good.astype(np.complex128) + 1j
    if kind == "object":
        return good.astype(object)
    if kind == "text":
        return np.full(good.shape, "1")
    if kind == "wrong ndim":
        return good[..., None, None]
    if kind == "scalar":
        return good.flat[0] if good.size else None
    raise AssertionError(kind)


ARRAY_KINDS = ["nan", "inf", "empty", "complex", "object", "text", "wrong ndim", "scalar"]
BAD_INTS = [0, -1, 65, 2**40, 1.5, True, float("nan"), "8", None]
BAD_REALS = [float("nan"), float("inf"), -float("inf"), None, 1j]


@dataclass
class Target:
    """One public function: how to call it validly, and how each spoiled argument may behave."""

    name: str
    call: Callable
    valid: Callable  # (data) -> dict of keyword arguments
    arrays: dict  # argument -> list of the spoil kinds to try
    scalars: dict = field(default_factory=dict)  # argument -> list of bad values
    accepts: dict = field(default_factory=dict)  # (argument, kind) -> check(result, kwargs) or None
    names: dict = field(default_factory=dict)  # argument -> words that may stand for it in a message


def floats(shape_min=1, shape_max=3, side=6, lo=-4.0, hi=4.0):
    shape = st.lists(st.integers(1, side), min_size=shape_min, max_size=shape_max).map(tuple)
    return shape.flatmap(lambda s: st.builds(
        lambda seed: np.random.default_rng(seed).uniform(lo, hi, s).astype(np.float32), st.integers(0, 2**16)))


def probs(data, rows=None, cols=None):
    n = rows or data.draw(st.integers(1, 5))
    c = cols or data.draw(st.integers(2, 6))
    p = np.random.default_rng(data.draw(st.integers(0, 999))).random((n, c)) + 0.05
    return p / p.sum(axis=1, keepdims=True)


def same_nonfinite(result, kwargs, arg):
    x = np.asarray(kwargs[arg], dtype=np.float64)
    out = np.asarray(result, dtype=np.float64)
    assert out.shape == x.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(x))


def saturates(result, kwargs):
    x = np.asarray(kwargs["x"])
    out = np.asarray(result)
    assert out.shape == x.shape and (out[np.isneginf(x)] == 0).all() and (out[np.isposinf(x)] == 255).all()


def empty_like_input(arg):
    def check(result, kwargs):
        assert np.asarray(result).shape == np.asarray(kwargs[arg]).shape
    return check


def scalar_like_input(arg, fn):
    """A 0-d input gives what the 1-element array gives, as a 0-d result."""
    def check(result, kwargs):
        out = np.asarray(result)
        assert out.shape == ()
        one = fn({**kwargs, arg: np.atleast_1d(kwargs[arg])})
        np.testing.assert_array_equal(np.atleast_1d(out), np.asarray(one).reshape(-1)[:1])
    return check


def _targets():
    from minicompress import equations as E
    from minicompress import kernels as K
    from minicompress.compress import huffman as H
    from minicompress.compress import kmeans as KM
    from minicompress.compress.bitpack import pack_bits, unpack_bits
    from minicompress.compress.kd_loss import soften
    from minicompress.compress.quantization import (
        MinMaxObserver,
        choose_qparams,
        dequantize,
        fake_quantize_array,
        qparams_from_range,
        quantize,
        quantize_tensor,
    )
    from minicompress.data import DataLoader, Normalize

    def elementwise(name, fn, arg, scalars=None, extra=lambda d: {}, nan_ok=False):
        accepts = {(arg, "empty"): empty_like_input(arg), (arg, "wrong ndim"): empty_like_input(arg),
                   (arg, "scalar"): scalar_like_input(arg, lambda kw: fn(**kw))}
        if nan_ok:
            accepts[(arg, "nan")] = accepts[(arg, "inf")] = lambda r, kw: same_nonfinite(r, kw, arg)
        return Target(name, lambda **kw: fn(**kw), lambda d: {arg: d.draw(floats()), **extra(d)},
                      {arg: ARRAY_KINDS}, scalars or {}, accepts)

    bits = {"bits": BAD_INTS}
    qp_of = lambda x, b=8: choose_qparams(x, b)  # noqa: E731
    targets = [
        elementwise("E1 threshold_clip", E.threshold_clip, "w",
                    {"T": [-1.0, *BAD_REALS], "t": BAD_REALS}, lambda d: {"T": 0.5, "t": 0.1}),
        elementwise("E2 quantize_pow2_step", E.quantize_pow2_step, "w", bits, lambda d: {"bits": 8}),
        elementwise("E4 quantize_activations_pow2_step", E.quantize_activations_pow2_step, "a", bits,
                    lambda d: {"bits": 4}),
        elementwise("quantize_fixed_point_reading", E.quantize_fixed_point_reading, "w", bits, lambda d: {"bits": 4}),
        elementwise("E6 quantize_by_ratio", E.quantize_by_ratio, "w", {"Q": [0, -1.0, *BAD_REALS]},
                    lambda d: {"Q": 8}),
        elementwise("E6 dequantize_by_ratio", E.dequantize_by_ratio, "w_quantized", {"Q": [0, -1.0, *BAD_REALS]},
                    lambda d: {"Q": 8}),
        elementwise("E3 scale_by_retention", E.scale_by_retention, "params", {"r": [-0.1, 1.1, *BAD_REALS]},
                    lambda d: {"r": 0.5}),
        elementwise("round_half_away", E.round_half_away, "x", nan_ok=True),
        Target("E5 random_candidate_pruning", E.random_candidate_pruning,
               lambda d: {"w": d.draw(floats()), "p": 0.5, "seed": 0, "k": 1.0},
               {"w": ["nan", "inf", "complex", "object", "text", "scalar"]},
               {"p": [-0.1, 1.1, *BAD_REALS], "k": [-1.0, *BAD_REALS], "seed": [-1, 1.5, "a"]},
               accepts={("w", "scalar"): lambda r, kw: None}),  # one weight is a weight tensor too
        Target("E7 distillation_bce_as_written", E.distillation_bce_as_written,
               lambda d: (lambda p: {"y_hat": p, "y": (p > 0.5).astype(np.float64)})(probs(d)[:, 0]),
               {"y_hat": ["nan", "inf", "complex", "object", "text"]}),
        Target("E8 soft_cross_entropy", E.soft_cross_entropy,
               lambda d: dict(zip(("p_teacher", "p_student"), (lambda p: (p, p[::-1].copy()))(probs(d)))),
               {"p_teacher": ["nan", "inf", "empty", "complex", "object", "text", "wrong ndim"],
                "p_student": ["nan", "inf", "empty", "complex", "object", "text", "wrong ndim"]}),
        Target("E8 output_distance", E.output_distance,
               lambda d: (lambda a: {"out_a": a, "out_b": a[::-1].copy()})(d.draw(floats(2, 2))),
               {"out_a": ["nan", "inf", "complex", "object", "text", "wrong ndim"],
                "out_b": ["nan", "inf", "complex", "object", "text", "wrong ndim"]}),
        # quantization
        Target("choose_qparams", choose_qparams, lambda d: {"x": d.draw(floats()), "bits": 8},
               {"x": ["nan", "inf", "empty", "complex", "object", "text"]},
               {"bits": BAD_INTS, "scheme": ["x", None, 3]}),
        Target("quantize_tensor", quantize_tensor, lambda d: {"x": d.draw(floats()), "bits": 4},
               {"x": ["nan", "inf", "empty", "complex", "object", "text"]}, {"bits": BAD_INTS}),
        Target("quantize", quantize, lambda d: (lambda x: {"x": x, "qp": qp_of(x)})(d.draw(floats())),
               {"x": ["nan", "inf", "complex", "object", "text"]},
               accepts={("x", "empty"): empty_like_input("x")}),
        Target("fake_quantize_array", fake_quantize_array,
               lambda d: (lambda x: {"x": x, "qp": qp_of(x)})(d.draw(floats())),
               {"x": ["nan", "inf", "complex", "object", "text"]},
               accepts={("x", "empty"): empty_like_input("x")}),
        Target("dequantize", dequantize,
               lambda d: (lambda x: (lambda qp: {"q": quantize(x, qp), "qp": qp})(qp_of(x)))(d.draw(floats())),
               {"q": ["nan", "inf", "complex", "object", "text"]},
               accepts={("q", "empty"): empty_like_input("q")}),
        Target("qparams_from_range", qparams_from_range, lambda d: {"x_min": -1.0, "x_max": 2.0, "bits": 8},
               {}, {"x_min": BAD_REALS, "x_max": BAD_REALS, "bits": BAD_INTS}),
        Target("bitpack.pack_bits", pack_bits,
               lambda d: {"values": np.random.default_rng(d.draw(st.integers(0, 99))).integers(0, 16, d.draw(
                   st.integers(1, 40))), "bits": 4},
               {"values": ["nan", "inf", "complex", "object", "text", "wrong ndim"]}, {"bits": BAD_INTS},
               accepts={("values", "empty"): lambda r, kw: None}),
        Target("bitpack.unpack_bits", unpack_bits,
               lambda d: (lambda v: {"buf": pack_bits(v, 4), "bits": 4, "count": v.size})(
                   np.arange(d.draw(st.integers(1, 40))) % 16),
               {"buf": ["nan", "complex", "object", "text"]}, {"bits": BAD_INTS, "count": [-1, 10**6, 1.5, None]}),
        Target("soften", soften, lambda d: {"logits": d.draw(floats(2, 2)), "T": 2.0},
               {"logits": ["nan", "inf", "complex", "object", "text"]}, {"T": [0, -1.0, *BAD_REALS]},
               accepts={("logits", "empty"): empty_like_input("logits")}),
        Target("MinMaxObserver.observe", lambda x: MinMaxObserver().observe(x), lambda d: {"x": d.draw(floats())},
               {"x": ["nan", "inf", "empty", "complex", "object", "text"]}),
        # k-means weight sharing, Huffman coding
        Target("kmeans_1d", KM.kmeans_1d, lambda d: {"values": d.draw(floats()).ravel(), "k": 3},
               {"values": ["nan", "inf", "empty", "complex", "object", "text"]},
               {"k": [0, -1, 1.5, None, "3"], "max_iter": [0, -1, 1.5], "init": ["x", 3]}),
        Target("cluster_weights", KM.cluster_weights, lambda d: {"w": d.draw(floats()), "bits": 2},
               {"w": ["nan", "inf", "empty", "complex", "object", "text"]}, {"bits": [0, -1, 1.5, 40, "2"]}),
        Target("huffman_encode", H.huffman_encode,
               lambda d: {"symbols": np.random.default_rng(d.draw(st.integers(0, 99))).integers(0, 5, 30)},
               {"symbols": ["nan", "inf", "complex", "object", "text"]}, {"alphabet_size": [0, -1, 2, 1.5, "5"]},
               accepts={("symbols", "empty"): lambda r, kw: None}),
        Target("code_lengths", H.code_lengths, lambda d: {"frequencies": np.array([5, 1, 3, 0, 2])},
               {"frequencies": ["nan", "inf", "complex", "object", "text"]},
               accepts={("frequencies", "empty"): lambda r, kw: None}),
        # kernels
        Target("kernels.quantize", K.quantize,
               lambda d: {"x": d.draw(floats()), "scale": 0.05, "zero_point": 128},
               {"x": ["nan", "inf", "complex", "object", "text"]},
               {"scale": [0.0, -1.0, *BAD_REALS], "zero_point": [300, -1, 1.5, None]},
               accepts={("x", "empty"): empty_like_input("x"), ("x", "wrong ndim"): empty_like_input("x"),
                        ("x", "inf"): saturates}),  # documented: +-inf saturate to q_max / q_min
        Target("gemm_s8s8s32", K.gemm_s8s8s32,
               lambda d: {"a": np.ones((3, 4), np.int8), "b": np.ones((4, 5), np.int8)},
               {"a": ["nan", "complex", "object", "text", "wrong ndim"], "b": ["nan", "complex", "object", "text"]}),
        Target("im2col", K.im2col,
               lambda d: {"x": d.draw(floats(4, 4, side=5)), "kernel_size": 1, "stride": 1, "padding": 0},
               {"x": ["nan", "inf", "complex", "object", "text", "wrong ndim"]},
               {"kernel_size": [0, -1, 99, 1.5, None], "stride": [0, -1, 1.5], "padding": [-1, 1.5]},
               accepts={("x", "nan"): None, ("x", "inf"): None}),
        Target("to_csr", K.to_csr, lambda d: {"dense": d.draw(floats(2, 2))},
               {"dense": ["complex", "object", "text", "wrong ndim"]},
               accepts={("dense", "nan"): None, ("dense", "inf"): None, ("dense", "empty"): None}),
        Target("csr_matmul", K.csr_matmul,
               lambda d: (lambda c: {"indptr": c[0], "indices": c[1], "values": c[2],
                                     "dense": np.ones((4, 2), np.float32)})(K.to_csr(np.eye(3, 4, dtype=np.float32))),
               {"indices": ["nan", "complex", "object", "text"], "dense": ["complex", "object", "text", "wrong ndim"],
                "indptr": ["nan", "complex", "object"]},
               accepts={("dense", "nan"): None, ("dense", "inf"): None, ("values", "nan"): None}),
        # data
        Target("DataLoader", DataLoader,
               lambda d: {"x": d.draw(floats(2, 2)), "y": None, "batch_size": 2},
               {"x": ["complex", "object", "text"]}, {"batch_size": [0, -1, 1.5, None, "2"]}),
        Target("Normalize", Normalize, lambda d: {"mean": 0.5, "std": 0.25}, {},
               {"std": [0.0, -1.0, *BAD_REALS], "mean": BAD_REALS}),
    ]
    for t in targets:
        if t.name == "DataLoader":
            base = t.valid
            t.valid = lambda d, base=base: (lambda kw: {**kw, "y": np.zeros(len(kw["x"]), np.int64)})(base(d))
    return {t.name: t for t in targets}


TARGETS = _targets()
NAMES = {"p_teacher": ("p_teacher", "teacher"), "p_student": ("p_student", "student"),
         "w_quantized": ("w_quantized", "W_q", "w"), "params": ("params", "w", "theta"), "T": ("T", "temperature"),
         "Q": ("Q",), "y_hat": ("y_hat", "ŷ"), "x": ("x",), "values": ("values",), "qp": ("qp",),
         "packed": ("packed",), "symbols": ("symbols",), "frequencies": ("frequencies",), "logits": ("logits",)}


def _names(arg):
    return NAMES.get(arg, (arg,))


def _call(target: Target, kwargs: dict, arg: str, kind: str):
    """Call and classify: 'clean error', 'accepted', or fail the test."""
    COUNTS["cases"] += 1
    try:
        result = target.call(**kwargs)
    except InputError as err:
        message = str(err)
        assert any(n.lower() in message.lower() for n in _names(arg)), \
            f"{target.name}({arg}={kind}): the message does not name {arg!r}: {message}"
        COUNTS["clean errors"] += 1
        return
    except Exception as err:  # noqa: BLE001 - the point: nothing but InputError may come out
        COUNTS["errors from deep inside"] += 1
        raise AssertionError(f"{target.name}({arg}={kind}) raised {type(err).__name__} from inside: {err}") from err
    if (arg, kind) not in target.accepts:
        COUNTS["silent results"] += 1
        raise AssertionError(f"{target.name}({arg}={kind}) returned a result instead of refusing: {result!r:.200}")
    check = target.accepts[(arg, kind)]
    if check is not None:
        check(result, kwargs)
    COUNTS["accepted and checked"] += 1


@pytest.mark.parametrize("name", sorted(TARGETS))
@given(data=st.data())
@FUZZ
def test_fuzz_public_api(name, data):
    target = TARGETS[name]
    kwargs = target.valid(data)
    target.call(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()})  # valid: runs
    choices = [("array", a, k) for a, kinds in target.arrays.items() for k in kinds]
    choices += [("scalar", a, v) for a, values in target.scalars.items() for v in values]
    how, arg, what = data.draw(st.sampled_from(choices))
    if how == "array":
        bad = spoil_array(what, kwargs[arg], np.random.default_rng(data.draw(st.integers(0, 999))))
        if bad is None:
            return
        _call(target, {**kwargs, arg: bad}, arg, what)
    else:
        _call(target, {**kwargs, arg: what}, arg, repr(what))


@given(content=st.binary(max_size=300), kind=st.sampled_from(["idx", "npz", "mcz"]),
       prefix=st.sampled_from([b"", b"\x00\x00\x08\x01", b"\x00\x00\x08\x03", b"PK\x03\x04", b"MCPK"]))
@FUZZ
def test_fuzz_file_readers(content, kind, prefix, tmp_path_factory):
    """read_idx, load_model and unpack on random bytes (after a right or wrong magic number)."""
    from minicompress.compress.packing import unpack
    from minicompress.data import read_idx
    from minicompress.io import load_model

    path = tmp_path_factory.mktemp("files") / f"f.{kind}"
    path.write_bytes(prefix + content)
    reader = {"idx": read_idx, "npz": load_model, "mcz": unpack}[kind]
    COUNTS["cases"] += 1
    try:
        reader(path)
    except InputError:
        COUNTS["clean errors"] += 1
        return
    except Exception as err:  # noqa: BLE001
        COUNTS["errors from deep inside"] += 1
        raise AssertionError(f"{reader.__name__} on {prefix + content[:40]!r}: {type(err).__name__}: {err}") from err
    assert kind == "idx", "random bytes were read as a model"
    COUNTS["accepted and checked"] += 1


def test_a_model_with_nan_is_never_saved(tmp_path):
    from minicompress.io import save_model
    from minicompress.nn import Linear, Sequential

    model = Sequential(Linear(3, 2))
    model[0].weight.data[1, 2] = np.nan
    with pytest.raises(InputError, match=r"not saved to .*'0\.weight' holds 1 NaN"):
        save_model(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call,arg", [
    ("load_model", "path"), ("save_model", "path"), ("unpack", "path"), ("read_idx", "path"), ("pack", "path"),
])
@given(bad=st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.integers(), max_size=2)))
@FUZZ
def test_fuzz_paths_that_are_not_paths(call, arg, bad):
    from minicompress.compress.packing import pack, unpack
    from minicompress.data import read_idx
    from minicompress.io import load_model, save_model
    from minicompress.nn import Linear, Sequential

    model = Sequential(Linear(2, 2))
    fn = {"load_model": load_model, "save_model": lambda p: save_model(model, p), "unpack": unpack,
          "read_idx": read_idx, "pack": lambda p: pack(model, p)}[call]
    COUNTS["cases"] += 1
    with pytest.raises(InputError, match=arg):
        fn(bad)
    COUNTS["clean errors"] += 1


@pytest.mark.parametrize("metadata", [["a"], "x", 3, {"a": object()}, {"a": np.zeros(2)}, {"a": {1, 2}}])
def test_metadata_that_json_cannot_hold_is_refused(metadata, tmp_path):
    from minicompress.io import save_model
    from minicompress.nn import Linear, Sequential

    COUNTS["cases"] += 1
    with pytest.raises(InputError, match="metadata"):
        save_model(Sequential(Linear(2, 2)), tmp_path / "m.npz", metadata)
    assert list(tmp_path.iterdir()) == []
    COUNTS["clean errors"] += 1

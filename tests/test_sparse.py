"""Relative-index CSR storage (exact bytes, filler zeros) and the sparse inference path."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicompress.compress.pruning as P
from minicompress import nn
from minicompress.compress.bitpack import pack_bits
from minicompress.compress.relative_csr import RelativeCSR
from minicompress.compress.sparse_inference import DenseInference, SparseInference
from minicompress.kernels import (
    pack_sparse_network,
    sparse_network_forward,
    sparse_network_reference,
    to_csr,
)
from minicompress.models import build
from minicompress.training import predict
from tests.strategies import sparse_networks

pytestmark = pytest.mark.pruning


@st.composite
def sparse_matrices(draw):
    shape = draw(st.sampled_from([(1, 1), (3, 40), (7, 13), (2, 3, 2, 2), (5, 100), (0, 4)]))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    values = draw(hnp.arrays(dtype, shape, elements=st.floats(-4, 4, width=32)))
    keep = draw(hnp.arrays(np.bool_, shape)) if density not in (0.0, 1.0) else np.full(shape, density == 1.0)
    return np.where(keep, values, 0).astype(dtype)


@given(w=sparse_matrices(), bits=st.integers(1, 8))
def test_relative_csr_round_trips_and_counts_bytes_exactly(w, bits):
    r = RelativeCSR.from_dense(w, index_bits=bits)
    np.testing.assert_array_equal(r.to_dense(), w)
    assert r.to_dense().dtype == w.dtype and r.to_dense().shape == w.shape
    assert r.gaps.min(initial=0) >= 0 and r.gaps.max(initial=0) < 2**bits
    assert r.nnz == np.count_nonzero(w)
    buf = r.to_bytes()
    assert len(buf) == r.nbytes()
    assert RelativeCSR.from_bytes(buf) == r
    # filler count: one per full span of 2**bits skipped positions before each nonzero
    flat = w.reshape(w.shape[0], int(np.prod(w.shape[1:])))
    fillers = 0
    for row in flat:
        cols = np.flatnonzero(row)
        gaps = np.diff(np.concatenate([[-1], cols])) - 1
        fillers += int((gaps // 2**bits).sum())
    assert r.n_fillers == fillers
    indptr, indices, values = r.to_csr()
    ref = to_csr(np.ascontiguousarray(flat))
    for a, b in zip((indptr, indices, values), ref):
        np.testing.assert_array_equal(a, b)


def test_the_documented_example():
    r = RelativeCSR.from_dense(np.array([[0, 5, 0, 0, 0, 0, 0, 0, 7]], np.float32), index_bits=2)
    assert list(r.gaps) == [1, 3, 2] and list(r.values) == [5, 0, 7] and list(r.indptr) == [0, 3]
    parts = r.nbytes_breakdown()
    assert parts == {"header": 12 + 8, "indptr": 8, "gaps": 1, "values": 12, "total": 41}


def test_bytes_of_a_90_percent_sparse_layer():
    w = np.zeros((300, 784), np.float32)
    rng = np.random.default_rng(0)
    w[rng.random(w.shape) < 0.1] = 1.0
    r = RelativeCSR.from_dense(w, index_bits=5)
    n = r.n_stored
    assert r.nbytes() == 12 + 8 + 4 * 301 + -(-n * 5 // 8) + 4 * n
    assert r.nbytes() < 0.16 * r.dense_nbytes()
    wide = RelativeCSR.from_dense(w, index_bits=8)
    assert wide.n_fillers <= r.n_fillers


@pytest.mark.parametrize("call, err, match", [
    (lambda: RelativeCSR.from_dense(np.zeros(5, np.float32)), ValueError, "2 dimensions"),
    (lambda: RelativeCSR.from_dense(np.zeros((2, 2), np.int32)), TypeError, "float"),
    (lambda: RelativeCSR.from_dense([[1.0]]), TypeError, "ndarray"),
    (lambda: RelativeCSR.from_dense(np.zeros((2, 2), np.float32), index_bits=0), ValueError, "index_bits"),
    (lambda: RelativeCSR.from_dense(np.full((2, 2), np.nan, np.float32)), ValueError, "finite"),
    (lambda: pack_bits(np.array([4]), 2), ValueError, "fit 2 bits"),
    (lambda: RelativeCSR.from_bytes(b"nope" * 5), ValueError, "not a RelativeCSR"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_truncated_record_is_refused():
    buf = RelativeCSR.from_dense(np.eye(4, dtype=np.float32)).to_bytes()
    with pytest.raises(ValueError, match="bytes"):
        RelativeCSR.from_bytes(buf[:-1])


def test_sparse_inference_matches_the_model(mnist10k):
    model = build("lenet-300-100", seed=0)
    for mod, name in P.prunable_parameters(model):
        P.l1_unstructured(mod, name, 0.9)
    x = mnist10k[2][:100]
    sparse, dense = SparseInference.from_model(model), DenseInference.from_model(model)
    assert sparse.nnz() == pytest.approx(0.1 * 266200, abs=3)
    ref = predict(model, x)
    for batch in (x[:1], x):
        np.testing.assert_allclose(sparse(batch), ref[: len(batch)], atol=1e-4)
        np.testing.assert_allclose(dense(batch), ref[: len(batch)], atol=1e-4)
    with pytest.raises(TypeError, match="Conv2d"):
        SparseInference.from_model(build("lenet5", seed=0))


# ----------------------------------------------------------- fused sparse network (EIE-style)
def _tol(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


@given(sparse_networks())
def test_fused_network_matches_the_dense_oracle(case):
    weights, biases, relus, formats, x = case
    net = pack_sparse_network(weights, biases, relus, formats)
    assert all(f == "auto" or f == g for f, g in zip(formats, net.formats))
    assert net.nnz == sum(np.count_nonzero(w) for w in weights)
    for (w, b, relu), w0, b0, r0 in zip(net.to_dense(), weights, biases, relus):
        np.testing.assert_array_equal(w, w0)
        np.testing.assert_array_equal(b, np.zeros(w0.shape[0]) if b0 is None else b0)
        assert relu == r0
    # the oracle written out here, independent of the package: dense products, ReLU where asked
    a = x
    for w, b, relu in zip(weights, biases, relus):
        a = a @ w.T + (0 if b is None else b)
        a = np.maximum(a, 0) if relu else a
    got = sparse_network_forward(net, x)
    assert got.shape == (x.shape[0], weights[-1].shape[0]) and got.dtype == x.dtype
    np.testing.assert_allclose(got, a, **_tol(x.dtype))
    np.testing.assert_allclose(sparse_network_reference(net, x), a, **_tol(x.dtype))
    # each row alone takes the batch-1 kernel: same answer as inside the batch
    for i in range(min(len(x), 3)):
        np.testing.assert_allclose(sparse_network_forward(net, x[i:i + 1]), got[i:i + 1], **_tol(x.dtype))


def test_fused_network_edge_cases():
    one = pack_sparse_network([np.array([[2.0]], np.float32)], [np.array([0.5], np.float32)], [False])
    np.testing.assert_array_equal(sparse_network_forward(one, np.array([[3.0]], np.float32)), [[6.5]])
    np.testing.assert_array_equal(sparse_network_forward(one, np.zeros((1, 1), np.float32)), [[0.5]])
    assert sparse_network_forward(one, np.zeros((0, 1), np.float32)).shape == (0, 1)
    # all-zero input: every column is skipped and only the biases flow through the ReLUs
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((5, 8)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)]
    bs = [np.array([1, -1, 2, -2, 0], np.float32), np.array([0.5, 0, -0.5], np.float32)]
    net = pack_sparse_network(ws, bs)
    expect = np.maximum(bs[0], 0) @ ws[1].T + bs[1]
    for batch in (1, 4):
        np.testing.assert_allclose(sparse_network_forward(net, np.zeros((batch, 8), np.float32)),
                                   np.tile(expect, (batch, 1)), rtol=1e-6)
    # a strided input is copied, not misread
    x = rng.standard_normal((8, 6)).astype(np.float32)
    np.testing.assert_allclose(sparse_network_forward(net, x.T), sparse_network_reference(net, x.T.copy()),
                               rtol=1e-5, atol=1e-6)


def test_inf_and_nan_inputs_are_never_skipped():
    net = pack_sparse_network([np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)], relus=[False])
    out = sparse_network_forward(net, np.array([[np.inf, np.nan]], np.float32))
    assert out[0, 0] == np.inf and np.isnan(out[0, 1])


@pytest.mark.parametrize("call, err, match", [
    (lambda: pack_sparse_network([]), ValueError, "at least one layer"),
    (lambda: pack_sparse_network(np.zeros((2, 2), np.float32)), TypeError, "list or tuple"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)]),
     ValueError, "takes 3 inputs"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float64)]),
     TypeError, "one dtype"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.int32)]), TypeError, "float32 or float64"),
    (lambda: pack_sparse_network([np.zeros((0, 3), np.float32)]), ValueError, ">= 1"),
    (lambda: pack_sparse_network([np.full((2, 3), np.inf, np.float32)]), ValueError, "finite"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.float32)], [np.zeros(3, np.float32)]),
     ValueError, r"shape \(2,\)"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.float32)], [np.zeros(2, np.float64)]),
     TypeError, "dtype"),
    (lambda: pack_sparse_network([np.zeros((2, 3), np.float32)], relus=[True, False]),
     ValueError, "one of each per layer"),
    (lambda: pack_sparse_network([np.eye(2, dtype=np.float32)], formats=["csc"]), ValueError,
     "'columns', 'rows' or 'auto'"),
    (lambda: sparse_network_forward(pack_sparse_network([np.eye(3, dtype=np.float32)]),
                                    np.zeros((1, 4), np.float32)), ValueError, r"\(batch, 3\)"),
    (lambda: sparse_network_forward(pack_sparse_network([np.eye(3, dtype=np.float32)]),
                                    np.zeros((1, 3), np.float64)), TypeError, "float32"),
    (lambda: sparse_network_forward("net", np.zeros((1, 3), np.float32)), TypeError, "SparseNetwork"),
    (lambda: SparseInference([("linear", np.eye(2, dtype=np.float32), None)])([[1.0, 2.0]]),
     TypeError, "numpy.ndarray"),
    (lambda: SparseInference([("linear", np.eye(2, dtype=np.float32), None)])(np.ones(2, np.float32)),
     TypeError, r"shape \(N, ...\)"),
    (lambda: SparseInference([("linear", np.eye(2, dtype=np.float32), None)], fused_max_batch=-1),
     ValueError, ">= 0"),
    (lambda: SparseInference([("linear", np.eye(2, dtype=np.float32), None)], fused_max_batch=True),
     TypeError, "integer"),
])
def test_fused_network_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_sparse_inference_paths_agree(mnist10k):
    model = build("lenet-300-100", seed=0)
    for mod, name in P.prunable_parameters(model):
        P.l1_unstructured(mod, name, 0.9)
    x = mnist10k[2][:130]
    ref = predict(model, x)
    default = SparseInference.from_model(model)
    csr = SparseInference.from_model(model, fused_max_batch=0)
    fused = SparseInference.from_model(model, fused_max_batch=1000)
    assert default.network is not None and default.network.nnz == default.nnz()
    assert default.path(1) == "fused" and default.path(default.fused_max_batch + 1) == "csr"
    assert csr.path(1) == "csr" and fused.path(130) == "fused"
    for lo, hi in ((0, 1), (1, 2), (0, 7), (0, 64), (0, 130)):
        for f in (default, csr, fused):
            np.testing.assert_allclose(f(x[lo:hi]), ref[lo:hi], atol=1e-4)


def test_a_model_that_is_not_a_chain_takes_the_csr_path():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    sparse, dense = SparseInference.from_model(model), DenseInference.from_model(model)
    assert sparse.network is None and sparse.path(1) == "csr"
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(sparse(x), dense(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse(x[:1]), dense(x[:1]), rtol=1e-5, atol=1e-6)


def test_the_default_layout_is_columns_and_a_given_one_is_kept():
    rng = np.random.default_rng(2)
    ws = [(rng.standard_normal((30, 40)) * (rng.random((30, 40)) < 0.1)).astype(np.float32),
          (rng.standard_normal((20, 30)) * (rng.random((20, 30)) < 0.3)).astype(np.float32)]
    assert pack_sparse_network(ws).formats == ("columns", "columns")
    assert pack_sparse_network(ws, formats=["auto", "rows"]).formats == ("columns", "rows")
    x = (rng.random((5, 40)) * (rng.random((5, 40)) < 0.2)).astype(np.float32)
    for formats in (["columns", "columns"], ["rows", "rows"], ["rows", "columns"]):
        net = pack_sparse_network(ws, formats=formats)
        assert net.formats == tuple(formats)
        np.testing.assert_allclose(sparse_network_forward(net, x), sparse_network_reference(net, x),
                                   rtol=1e-5, atol=1e-6)

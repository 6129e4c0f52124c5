"""Relative-index CSR storage (exact bytes, filler zeros) and the sparse inference path."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicompress.compress.pruning as P
from minicompress.compress.sparse import (
    DenseInference,
    RelativeCSR,
    SparseInference,
    pack_bits,
    unpack_bits,
)
from minicompress.kernels import to_csr
from minicompress.models import build
from minicompress.training import predict

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


@given(st.integers(1, 32).flatmap(
    lambda b: st.tuples(st.just(b), st.lists(st.integers(0, 2**b - 1), max_size=40))))
def test_pack_bits_round_trip(bits_values):
    bits, values = bits_values
    buf = pack_bits(np.array(values, dtype=np.int64), bits)
    assert buf.size == -(-len(values) * bits // 8)
    np.testing.assert_array_equal(unpack_bits(buf, bits, len(values)), values)


def test_pack_bits_layout_is_lsb_first():
    assert list(pack_bits(np.array([1, 2, 3]), 2)) == [0b111001]
    assert list(pack_bits(np.array([5, 1]), 5)) == [0b00100101, 0b00]


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

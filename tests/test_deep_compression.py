"""Deep Compression (chapter 8): k-means weight sharing, Huffman coding, the packed file and its bytes."""

import os
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicompress.compress.deep_compression import deep_compress
from minicompress.compress.huffman import HuffmanCode, canonical_codes, code_lengths, entropy_bits, huffman_encode
from minicompress.compress.kmeans import (
    CentroidOptimizer,
    cluster_weights,
    init_centroids,
    kmeans_1d,
    share_weights,
    shared_weight,
)
from minicompress.compress.packing import (
    MAGIC,
    pack,
    pack_bytes,
    stage_bytes,
    unpack,
    unpack_bytes,
)
from minicompress.compress.pruning import (
    AGPPruner,
    KeepPruned,
    global_unstructured_to_sparsity,
    l1_unstructured,
    prunable_parameters,
)
from minicompress.compress.weights import float32_bytes
from minicompress.engine import Tensor, gradcheck
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Flatten, Linear, ReLU, Sequential
from minicompress.nn.losses import cross_entropy
from minicompress.optim import Adam
from minicompress.training import evaluate, fit, predict

pytestmark = pytest.mark.deep_compression


# --------------------------------------------------------------------------- k-means
def test_kmeans_is_a_lloyd_fixed_point(rng):
    v = np.concatenate([rng.normal(-1, 0.1, 300), rng.normal(0.2, 0.05, 500), rng.normal(2, 0.3, 100)])
    c, labels = kmeans_1d(v, 8, "linear")
    assert np.all(np.diff(c) > 0)
    np.testing.assert_array_equal(labels, np.argmin(np.abs(v[:, None] - c[None, :]), axis=1))  # nearest
    for k in range(c.size):  # each centroid is the mean of its members
        assert c[k] == pytest.approx(v[labels == k].mean())


def test_centroid_inits(rng):
    v = np.sort(rng.standard_normal(1000))
    np.testing.assert_allclose(init_centroids(v, 5, "linear"), np.linspace(v.min(), v.max(), 5))
    dens = init_centroids(v, 4, "density")
    assert np.all(np.abs(dens) < 1.5)  # quantiles crowd where the weights are dense
    r1, r2 = init_centroids(v, 6, "random", seed=3), init_centroids(v, 6, "random", seed=3)
    np.testing.assert_array_equal(r1, r2)
    assert set(r1) <= set(v)
    assert not np.array_equal(r1, init_centroids(v, 6, "random", seed=4))
    with pytest.raises(ValueError, match="unknown centroid init"):
        init_centroids(v, 3, "kmeans++")


def test_cluster_weights_keeps_pruned_zeros(rng):
    w = rng.standard_normal((20, 30)).astype(np.float32)
    w[rng.uniform(size=w.shape) < 0.7] = 0
    cl = cluster_weights(w, bits=3)
    shared = cl.weights()
    assert np.all(shared[w == 0] == 0) and np.all(shared[w != 0] != 0)
    assert np.unique(shared[w != 0]).size <= 8
    assert np.all(cl.indices[w == 0] == -1)
    with pytest.raises(ValueError, match="exactly one of k"):
        cluster_weights(w, 4, bits=2)
    with pytest.raises(ValueError, match="every weight is zero"):
        cluster_weights(np.zeros(4), bits=2)


def test_shared_weight_gradient_is_the_sum_over_members():
    rng = np.random.default_rng(0)
    idx = rng.integers(-1, 4, size=(5, 6))
    codebook = Tensor(rng.standard_normal(4))
    gradcheck(lambda c: shared_weight(c, idx) * 1.0, [codebook])
    codebook.grad = None
    g = rng.standard_normal((5, 6))
    shared_weight(codebook, idx).backward(g)
    for k in range(4):
        assert codebook.grad[k] == pytest.approx(g[idx == k].sum())


def test_centroid_optimizer_sums_member_gradients_and_keeps_weights_shared(rng):
    model = Sequential(Flatten(), Linear(12, 6, seed=0), ReLU(), Linear(6, 3, seed=1))
    clusters = share_weights(model, bits=2, seed=0)
    opt = CentroidOptimizer(model, clusters, lr=1e-2)
    x, y = rng.standard_normal((16, 12)).astype(np.float32), rng.integers(0, 3, 16)
    opt.zero_grad()
    cross_entropy(model(Tensor(x)), y).backward()
    g = model[1].weight.grad.copy()
    before = clusters["1"].codebook.copy()
    opt.step()
    _, cl, codebook = opt.layers[0]
    for k in range(before.size):
        assert codebook.grad[k] == pytest.approx(g[cl.indices == k].sum(), rel=1e-5, abs=1e-6)
    assert not np.array_equal(cl.codebook, before)
    assert np.unique(model[1].weight.data).size <= 4  # still 2-bit shared
    np.testing.assert_array_equal(model[1].weight.data, cl.weights())


# --------------------------------------------------------------------------- Huffman
symbol_lists = st.lists(st.integers(0, 40), min_size=0, max_size=300)


@given(symbol_lists)
def test_huffman_round_trip_and_size(symbols):
    code, data, n_bits = huffman_encode(symbols)
    assert n_bits == code.encoded_bits(symbols) and data.size == -(-n_bits // 8)
    np.testing.assert_array_equal(code.decode(data, len(symbols), n_bits), symbols)
    # the code can be rebuilt from the stored lengths alone (canonical)
    np.testing.assert_array_equal(HuffmanCode(code.lengths).decode(data, len(symbols)), symbols)


@given(st.lists(st.integers(0, 20), min_size=2, max_size=300))
def test_huffman_is_prefix_free_and_near_entropy(symbols):
    code = HuffmanCode.fit(symbols)
    words = [format(int(c), f"0{int(n)}b") for c, n in zip(code.codes, code.lengths) if n > 0]
    for a in words:
        for b in words:
            assert a == b or not b.startswith(a)
    if len(set(symbols)) > 1:
        h, avg = entropy_bits(symbols), code.encoded_bits(symbols) / len(symbols)
        assert h - 1e-9 <= avg < h + 1


def test_huffman_is_deterministic_and_canonical():
    # ties everywhere: four symbols of equal frequency get 2 bits each, codes 00 01 10 11
    lengths = code_lengths([5, 5, 5, 5])
    np.testing.assert_array_equal(lengths, [2, 2, 2, 2])
    np.testing.assert_array_equal(canonical_codes(lengths), [0, 1, 2, 3])
    np.testing.assert_array_equal(canonical_codes([2, 1, 3, 3]), [0b10, 0b0, 0b110, 0b111])
    a = HuffmanCode.fit([0, 0, 1, 2, 2, 3, 3, 3])
    b = HuffmanCode.fit([3, 2, 3, 0, 2, 1, 0, 3])
    np.testing.assert_array_equal(a.lengths, b.lengths)
    single = HuffmanCode.fit([7, 7, 7])
    assert single.lengths[7] == 1 and single.encoded_bits([7, 7, 7]) == 3


def test_huffman_errors():
    code = HuffmanCode.fit([0, 1, 1, 2])
    data, n_bits = code.encode([0, 1, 2])
    with pytest.raises(ValueError, match="ends or is corrupt"):
        code.decode(data, 10, n_bits)
    with pytest.raises(ValueError, match="outside the alphabet"):
        code.encode([5])
    with pytest.raises(ValueError, match="non-negative"):
        HuffmanCode.fit([-1, 2])
    with pytest.raises(ValueError, match="Kraft"):
        canonical_codes([1, 1, 1])


# --------------------------------------------------------------------------- the packed file
@pytest.fixture(scope="module")
def small_packed_model():
    """A pruned, clustered conv + linear model (random weights; the format does not care)."""
    model = Sequential(Conv2d(1, 3, 3, padding=1, seed=0), ReLU(), Flatten(), Linear(3 * 6 * 6, 10, seed=1),
                       ReLU(), Linear(10, 4, bias=False, seed=2))
    for layer in (model[0], model[3], model[5]):
        l1_unstructured(layer, "weight", 0.6)
    share_weights(model, bits={"0": 3, "3": 4, "5": 2}, seed=0)
    return model


def test_pack_round_trip_is_exact(small_packed_model, tmp_path, rng):
    path = tmp_path / "m.mcz"
    size = pack(small_packed_model, path)
    assert size == os.path.getsize(path) == len(pack_bytes(small_packed_model))
    assert path.read_bytes()[:4] == MAGIC
    back = unpack(path)
    for a, b in zip(small_packed_model, back):
        if hasattr(a, "weight"):
            np.testing.assert_array_equal(b.effective("weight").data, a.effective("weight").data)
            assert (a.bias is None) == (b.bias is None)
            if a.bias is not None:
                np.testing.assert_array_equal(b.bias.data, a.bias.data)
    x = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(predict(small_packed_model, x), predict(back, x))
    assert [f for f in os.listdir(tmp_path) if f != "m.mcz"] == []  # the temporary file was renamed


def test_every_stage_is_a_real_smaller_file(small_packed_model):
    stages = stage_bytes(small_packed_model)
    assert stages["dense_float32"] == float32_bytes(small_packed_model) == 4 * small_packed_model.num_parameters()
    assert stages["huffman"] == len(pack_bytes(small_packed_model))
    assert stages["clustered"] < stages["pruned_csr"]
    for values, huffman in (("float32", False), ("codebook", False), ("codebook", True)):
        data = pack_bytes(small_packed_model, values=values, huffman=huffman)
        x = np.ones((2, 1, 6, 6), np.float32)
        np.testing.assert_array_equal(predict(unpack_bytes(data), x), predict(small_packed_model, x))


def test_bad_packed_files_raise(small_packed_model, tmp_path):
    data = pack_bytes(small_packed_model)
    for cut in (0, 3, 12, len(data) // 2, len(data) - 1):
        with pytest.raises(ValueError, match="truncated|shorter"):
            unpack_bytes(data[:cut])
    with pytest.raises(ValueError, match="magic"):
        unpack_bytes(b"NOPE" + data[4:])
    with pytest.raises(ValueError, match="version 9 is unknown"):
        unpack_bytes(data[:4] + struct.pack("<B", 9) + data[5:])
    assert data[4] == 2  # format 2: every stream least significant bit first
    with pytest.raises(ValueError, match="version 1 is no longer read .*most significant bit first.*pack the model again"):
        unpack_bytes(data[:4] + struct.pack("<B", 1) + data[5:])
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    with pytest.raises(ValueError, match="checksum"):
        unpack_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="does not exist"):
        unpack(tmp_path / "missing.mcz")
    dense = Sequential(Linear(30, 20, seed=0))  # 600 distinct weights: not clustered
    with pytest.raises(ValueError, match="Cluster the weights first"):
        pack_bytes(dense)
    assert len(unpack_bytes(pack_bytes(dense, values="float32")).state_dict()) == 3


# --------------------------------------------------------------------------- the whole pipeline
def test_deep_compression_of_lenet300_is_35x_smaller_within_one_point(trained_lenet300, mnist10k, tmp_path):
    x_train, y_train, x_test, y_test = mnist10k
    float_acc = evaluate(trained_lenet300, x_test, y_test)["accuracy"]
    result = deep_compress(trained_lenet300, x_train, y_train, sparsity=0.92, fine_tune_epochs=1,
                           centroid_epochs=1, seed=0, evaluate_on=(x_test, y_test))
    assert set(result.accuracy) == {"pruned_before_fine_tune", "pruned", "clustered", "final"}
    assert result.sparsity == pytest.approx(0.92, abs=1e-3)
    path = tmp_path / "lenet300.mcz"
    size = pack(result.model, path)
    assert size == result.stage_bytes()["huffman"]
    assert 1_066_440 / size >= 35
    restored = unpack(path)
    np.testing.assert_array_equal(predict(restored, x_test), predict(result.model, x_test))
    assert evaluate(restored, x_test, y_test)["accuracy"] == result.accuracy["final"] >= float_acc - 0.01


@pytest.mark.parametrize("schedule, prune_epochs", [("one-shot", 0), ("agp", 1)])
def test_deep_compress_is_the_tutorials_steps_and_reproducible(mnist10k, schedule, prune_epochs):
    x, y = mnist10k[0][:256], mnist10k[1][:256]
    base = Sequential(Flatten(), Linear(784, 32, seed=0), ReLU(), Linear(32, 10, seed=1))
    before = [p.data.copy() for p in base.parameters()]
    kw = dict(sparsity=0.8, schedule=schedule, prune_epochs=prune_epochs, fine_tune_epochs=1, lr=1e-3,
              agp_every=1, bits=3, centroid_epochs=1, batch_size=32, seed=3)
    result = deep_compress(base, x, y, **kw)
    for p, b in zip(base.parameters(), before):
        np.testing.assert_array_equal(p.data, b)  # the input model is untouched
    again = deep_compress(base, x, y, **kw)
    for a, b in zip(result.model.parameters(), again.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)  # same seed, same model
    # step by step, as tutorials/08 does
    model = copy_model(base)
    opt = Adam(model.parameters(), lr=1e-3)
    if schedule == "one-shot":
        global_unstructured_to_sparsity(prunable_parameters(model), 0.8, optimizer=opt)
    else:
        fit(model, opt, x, y, epochs=1, batch_size=32, seed=3, progress=False,
            callbacks=[AGPPruner(model, sparsity=0.8, n=1, dt=1, scope="global")])
    fit(model, opt, x, y, epochs=1, batch_size=32, seed=3, callbacks=[KeepPruned()], progress=False)
    clusters = share_weights(model, bits=3, seed=3)
    fit(model, CentroidOptimizer(model, clusters, lr=1e-4), x, y, epochs=1, batch_size=32, seed=3, progress=False)
    for a, b in zip(result.model.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert result.sparsity == pytest.approx(0.8, abs=0.01)
    assert all(np.unique(m.weight.data[m.weight.data != 0]).size <= 7 for m in result.model if isinstance(m, Linear))
    assert result.accuracy == {} and set(result.seconds) == {"prune", "share_weights"}
    assert set(result.clusterings) == {"1", "3"}


@pytest.mark.parametrize("kwargs, match", [
    ({"schedule": "gradual"}, "schedule must be one of"),
    ({"sparsity": 1.0}, r"sparsity must be a fraction in \[0, 1\)"),
    ({"schedule": "agp", "prune_epochs": 0}, "prune_epochs must be >= 1"),
    ({"prune_epochs": 2}, "prune_epochs applies to schedule='agp'"),
    ({"fine_tune_epochs": -1}, "fine_tune_epochs must be an integer >= 0"),
])
def test_deep_compress_bad_arguments(kwargs, match):
    base = Sequential(Linear(4, 2, seed=0))
    with pytest.raises(ValueError, match=match):
        deep_compress(base, np.zeros((4, 4), np.float32), np.zeros(4, np.int64), **kwargs)


def test_cli_pack_and_unpack(trained_lenet300, tmp_path, capsys):
    import json

    from minicompress.cli.main import main
    from minicompress.io import save_model

    model = copy_model(trained_lenet300)
    for layer in (model[1], model[3], model[5]):
        l1_unstructured(layer, "weight", 0.9)
    src = tmp_path / "pruned.npz"
    save_model(model, src)
    out = tmp_path / "m.mcz"
    assert main(["pack", str(src), "--out", str(out)]) == 2  # not clustered: a clear error
    assert "Cluster the weights first (--cluster-bits B)" in capsys.readouterr().err
    assert main(["pack", str(src), "--cluster-bits", "5", "--out", str(out), "--json", str(tmp_path / "p.json")]) == 0
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["packed_bytes"] == os.path.getsize(out) and report["float_bytes"] == 1_066_440
    assert main(["pack", "--unpack", str(out), "--json", str(tmp_path / "u.json")]) == 0
    assert json.loads((tmp_path / "u.json").read_text())["accuracy"] == pytest.approx(report["accuracy"])
    (tmp_path / "bad.mcz").write_bytes(out.read_bytes()[:50])
    capsys.readouterr()
    assert main(["pack", "--unpack", str(tmp_path / "bad.mcz")]) == 2
    assert "truncated" in capsys.readouterr().err


@given(st.lists(st.integers(-40, 40), min_size=1, max_size=30), st.lists(st.integers(-40, 40), min_size=1, max_size=9),
       st.sampled_from([1.0, 0.1, 3.0 / 7.0]))
def test_assign_is_argmin_of_the_distance_bit_for_bit(values, centroids, step):
    _assert_assign_is_argmin(np.array(values, dtype=np.float64) * step,
                             np.unique(np.array(centroids, dtype=np.float64) * step))


def test_assign_on_the_tie_that_midpoints_broke_the_other_way():
    # linspace(-2.75, 0.25, 8) puts -1.25 exactly halfway between c[3] and c[4] in exact arithmetic;
    # in float64, |v - c[4]| < |v - c[3]|, while the rounded midpoint (c[3] + c[4]) / 2 sent it to c[3].
    v = np.array([-2.75, -1.25, -0.875, -0.25, -0.125, 0.0, 0.125, 0.25])
    _assert_assign_is_argmin(v, np.linspace(-2.75, 0.25, 8))


def _assert_assign_is_argmin(v, c):
    # Grid values make exact (and float-rounded) halfway ties common: the nearest centroid must be
    # argmin's first minimum, which is what a learner's np.argmin(np.abs(v - c)) gives.
    from minicompress.compress.kmeans import assign

    expected = np.argmin(np.abs(v[:, None] - c[None, :]), axis=1)
    np.testing.assert_array_equal(assign(v, c), expected)

"""Pruning: masks, amounts, magnitude/random/structured/global pruning, E3/E5, schedules,
shrink, sensitivity, report, CLI."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicompress.compress.pruning as P
import minicompress.engine.functional as F
from minicompress.engine import Tensor, gradcheck
from minicompress.equations import random_candidate_pruning, scale_by_retention
from minicompress.io import copy_model, load_model, save_model
from minicompress.models import build
from minicompress.nn import Conv2d, Linear, ReLU, Sequential
from minicompress.optim import SGD, Adam
from minicompress.training import fit, predict

pytestmark = pytest.mark.pruning


def lin(seed=0, n_in=20, n_out=10):
    return Linear(n_in, n_out, seed=seed)


# ------------------------------------------------------------------ amounts
def test_amount_is_a_fraction_of_the_remaining_weights():
    layer = lin()
    P.l1_unstructured(layer, "weight", 0.5)
    assert (~layer.weight_mask).sum() == 100
    P.l1_unstructured(layer, "weight", 0.5)  # half of the 100 left
    assert layer.weight_mask.sum() == 50


def test_int_amount_is_a_count_and_sparsity_is_absolute():
    layer = lin()
    P.random_unstructured(layer, "weight", 7, seed=1)
    assert (~layer.weight_mask).sum() == 7
    P.l1_unstructured_to_sparsity(layer, "weight", 0.9)
    P.l1_unstructured_to_sparsity(layer, "weight", 0.9)  # absolute: no further pruning
    assert (~layer.weight_mask).sum() == 180
    P.l1_unstructured_to_sparsity(layer, "weight", 0.5)  # already sparser: masks never un-prune
    assert (~layer.weight_mask).sum() == 180


def test_l1_prunes_the_smallest_magnitudes():
    layer = lin(3)
    w = layer.weight.data.copy()
    P.l1_unstructured(layer, "weight", 0.3)
    pruned, kept = np.abs(w[~layer.weight_mask]), np.abs(w[layer.weight_mask])
    assert pruned.size == 60 and pruned.max() <= kept.min()


def test_random_unstructured_is_seeded():
    a, b, c = lin(), lin(), lin()
    for layer, seed in ((a, 5), (b, 5), (c, 6)):
        P.random_unstructured(layer, "weight", 0.5, seed=seed)
    assert np.array_equal(a.weight_mask, b.weight_mask)
    assert not np.array_equal(a.weight_mask, c.weight_mask)


def test_masks_compose_by_logical_and():
    layer = lin()
    first = np.random.default_rng(0).random((10, 20)) > 0.3
    P.custom_from_mask(layer, "weight", first)
    P.l1_unstructured(layer, "weight", 0.5)
    second = layer.weight_mask.copy()
    assert not (second & ~first).any()  # nothing pruned comes back
    assert first.sum() - second.sum() == round(0.5 * first.sum())
    other = np.random.default_rng(1).random((10, 20)) > 0.5
    P.custom_from_mask(layer, "weight", other)
    assert np.array_equal(layer.weight_mask, second & other)


@pytest.mark.parametrize("call, err, match", [
    (lambda m: P.l1_unstructured(m, "weight", 1.5), ValueError, r"\[0, 1\]"),
    (lambda m: P.l1_unstructured(m, "weight", -0.1), ValueError, r"\[0, 1\]"),
    (lambda m: P.random_unstructured(m, "weight", 201), ValueError, "larger than the tensor"),
    (lambda m: P.l1_unstructured(m, "weight", -3), ValueError, ">= 0"),
    (lambda m: P.l1_unstructured(m, "weight", True), TypeError, "float"),
    (lambda m: P.l1_unstructured(m, "weigth", 0.5), ValueError, "no parameter 'weigth'"),
    (lambda m: P.custom_from_mask(m, "weight", np.ones((20, 10), bool)), ValueError, "shape"),
    (lambda m: P.custom_from_mask(m, "weight", np.ones((10, 20))), TypeError, "bool"),
    (lambda m: P.custom_from_mask(m, "weight", [[True]]), TypeError, "ndarray"),
    (lambda m: P.ln_structured(m, "weight", 0.5, n=2, dim=2), ValueError, "out of range"),
    (lambda m: P.ln_structured(m, "weight", 0.5, n=0, dim=0), ValueError, "n must be"),
    (lambda m: P.random_structured(m, "weight", 11, dim=0), ValueError, "larger"),
    (lambda m: P.l1_unstructured_to_sparsity(m, "weight", 2.0), ValueError, "sparsity must be in"),
    (lambda m: P.remove(m, "weight"), ValueError, "not pruned"),
    (lambda m: P.global_unstructured([(m, "weight")], 0.9, caps=0.5), ValueError, "caps allow"),
])
def test_bad_input_is_refused_clearly(call, err, match):
    with pytest.raises(err, match=match):
        call(lin())


@given(amounts=st.lists(st.one_of(st.floats(0, 1), st.integers(0, 40)), min_size=1, max_size=4),
       seed=st.integers(0, 5), method=st.sampled_from(["l1", "random"]))
def test_every_round_prunes_its_amount_of_what_remains(amounts, seed, method):
    layer = lin(seed)
    previous = np.ones((10, 20), bool)
    for amount in amounts:
        remaining = int(previous.sum())
        expected = amount if isinstance(amount, int) else round(amount * remaining)
        if expected > remaining:
            with pytest.raises(ValueError):
                P.l1_unstructured(layer, "weight", amount)
            continue
        if method == "l1":
            P.l1_unstructured(layer, "weight", amount)
        else:
            P.random_unstructured(layer, "weight", amount, seed=seed)
        mask = layer.weight_mask
        assert remaining - mask.sum() == expected and not (mask & ~previous).any()
        previous = mask.copy()


def test_count_larger_than_the_remaining_weights_is_refused():
    layer = lin()
    P.l1_unstructured(layer, "weight", 150)
    with pytest.raises(ValueError, match="only 50 of 200"):
        P.l1_unstructured(layer, "weight", 60)


# ------------------------------------------------------------ masked training
def test_forward_and_gradient_are_masked():
    layer = lin(1)
    P.random_unstructured(layer, "weight", 0.6, seed=0)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 20)).astype(np.float32))
    w_eff = layer.weight.data * layer.weight_mask
    np.testing.assert_allclose(layer(x).data, x.data @ w_eff.T + layer.bias.data, rtol=1e-6)
    layer.weight.data[~layer.weight_mask] = 123.0  # even a corrupted stored weight is masked out
    np.testing.assert_allclose(layer(x).data, x.data @ w_eff.T + layer.bias.data, rtol=1e-6)
    layer(x).sum().backward()
    assert np.all(layer.weight.grad[~layer.weight_mask] == 0)
    assert np.any(layer.weight.grad[layer.weight_mask] != 0)


def test_gradcheck_of_a_masked_linear():
    rng = np.random.default_rng(0)
    mask = rng.random((3, 4)) > 0.5
    x = Tensor(rng.standard_normal((2, 4)))
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = Tensor(rng.standard_normal(3), requires_grad=True)
    gradcheck(lambda w, b: F.linear(x, w * mask.astype(np.float64), b).tanh(), [w, b])


@pytest.mark.parametrize("make_opt", [
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2),
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: Adam(ps, lr=1e-2, weight_decay=1e-3),
])
def test_pruned_weights_stay_exactly_zero_through_training(make_opt, mnist10k):
    x, y = mnist10k[0][:256], mnist10k[1][:256]
    model = build("lenet-300-100", seed=0)
    opt = make_opt(model.parameters())
    fit(model, opt, x, y, epochs=1, batch_size=64, progress=False)  # optimizer state is now nonzero
    for layer in (model[1], model[3], model[5]):
        P.l1_unstructured(layer, "weight", 0.8, optimizer=opt)
    P.custom_from_mask(model[3], "bias", np.arange(100) % 2 == 0, optimizer=opt)
    masks = {id(m): m.weight_mask.copy() for m in (model[1], model[3], model[5])}
    before = model[1].weight.data.copy()
    fit(model, opt, x, y, epochs=2, batch_size=64, progress=False)
    for layer in (model[1], model[3], model[5]):
        assert np.array_equal(layer.weight_mask, masks[id(layer)])
        assert np.all(layer.weight.data[~layer.weight_mask] == 0)  # stored weight, exactly
        for arr in opt.state[layer.weight].values():
            if isinstance(arr, np.ndarray):
                assert np.all(arr[~layer.weight_mask] == 0)
    assert np.all(model[3].bias.data[1::2] == 0)
    assert np.any(model[1].weight.data != before)  # the kept weights did train


def test_without_the_optimizer_the_effective_weight_is_still_zero(mnist10k):
    x, y = mnist10k[0][:128], mnist10k[1][:128]
    model = build("lenet-300-100", seed=0)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    fit(model, opt, x, y, epochs=1, progress=False)
    P.l1_unstructured(model[1], "weight", 0.5)  # optimizer not passed: stale momentum
    fit(model, opt, x, y, epochs=1, progress=False)
    mask = model[1].weight_mask
    assert np.any(model[1].weight.data[~mask] != 0)  # stale momentum moved the stored weight
    assert np.all(model[1].effective("weight").data[~mask] == 0)  # but the model never sees it
    P.sync_optimizer(opt, model)
    assert np.all(model[1].weight.data[~mask] == 0)
    assert np.all(opt.state[model[1].weight]["momentum"][~mask] == 0)
    fit(model, opt, x, y, epochs=1, progress=False, callbacks=[P.KeepPruned()])
    assert np.all(model[1].weight.data[~mask] == 0)


def test_remove_is_pruned_and_save_load(tmp_path):
    model = build("lenet-300-100", seed=0)
    assert not P.is_pruned(model)
    P.l1_unstructured(model[1], "weight", 0.7)
    assert P.is_pruned(model) and P.is_pruned(model[1]) and not P.is_pruned(model[3])
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert np.array_equal(loaded[1].weight_mask, model[1].weight_mask)
    x = np.random.default_rng(0).random((5, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    before = predict(model, x)
    P.remove(model[1], "weight")
    assert not P.is_pruned(model) and "weight_mask" not in model[1]._buffers
    assert (model[1].weight.data == 0).sum() >= round(0.7 * 235200)
    np.testing.assert_array_equal(predict(model, x), before)


# ------------------------------------------------------------------ structured
def test_ln_structured_removes_the_rows_with_the_smallest_norm():
    layer = lin(0)
    layer.weight.data[2] *= 0.01
    layer.weight.data[7] *= 0.02
    P.ln_structured(layer, "weight", 2, n=1, dim=0)
    rows_alive = layer.weight_mask.any(axis=1)
    assert list(np.flatnonzero(~rows_alive)) == [2, 7]
    assert layer.weight_mask[rows_alive].all()
    P.ln_structured(layer, "weight", 0.5, n=2, dim=0)  # half of the 8 alive rows
    assert layer.weight_mask.any(axis=1).sum() == 4


def test_norm_choice_matters_and_columns_and_filters_work():
    a, b = lin(0, 2, 2), lin(0, 2, 2)
    for layer in (a, b):
        layer.weight.data[:] = [[3.0, 0.0], [2.0, 2.0]]  # L1: 3 < 4; Linf: 3 > 2
    P.ln_structured(a, "weight", 1, n=1, dim=0)
    P.ln_structured(b, "weight", 1, n=np.inf, dim=0)
    assert not a.weight_mask[0].any() and not b.weight_mask[1].any()
    c = lin(0)
    P.ln_structured(c, "weight", 5, n=2, dim=-1)
    assert (~c.weight_mask.any(axis=0)).sum() == 5
    conv = Conv2d(3, 8, 3, seed=0)
    P.random_structured(conv, "weight", 0.25, dim=0, seed=1)
    alive = conv.weight_mask.reshape(8, -1)
    assert (~alive.any(axis=1)).sum() == 2 and alive[alive.any(axis=1)].all()


# ------------------------------------------------------------------ global
def test_global_uses_one_threshold_and_respects_caps():
    model = build("lenet-300-100", seed=0)
    params = P.prunable_parameters(model)
    P.global_unstructured(params, 0.9)
    assert sum((~m.weight_mask).sum() for m, _ in params) == round(0.9 * 266200)
    # the masks zeroed the stored weights, so compare against the original magnitudes
    orig = build("lenet-300-100", seed=0)
    mags = np.concatenate([np.abs(o.weight.data).ravel() for o in (orig[1], orig[3], orig[5])])
    mask = np.concatenate([m.weight_mask.ravel() for m, _ in params])
    assert mags[~mask].max() <= mags[mask].min()
    capped = build("lenet-300-100", seed=0)
    cp = P.prunable_parameters(capped)
    P.global_unstructured_to_sparsity(cp, 0.9, caps=[0.95, 0.95, 0.5])
    sp = [1 - m.weight_mask.mean() for m, _ in cp]
    assert sp[2] <= 0.5 + 1e-12 and abs(1 - sum(m.weight_mask.sum() for m, _ in cp) / 266200 - 0.9) < 1e-5
    rnd = build("lenet-300-100", seed=0)
    P.global_unstructured(P.prunable_parameters(rnd), 1000, importance="random", seed=3)
    assert sum((~m.weight_mask).sum() for m, _ in P.prunable_parameters(rnd)) == 1000


# ------------------------------------------------------------------ E3 / E5
def test_e3_as_written_scales_everything_and_removes_nothing():
    model = build("doc001-mlp", seed=0)
    ref = scale_by_retention(model, 0.3)
    P.e3_scale_by_retention(model, 0.3)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, ref[name])
    orig = build("doc001-mlp", seed=0)
    assert all(np.count_nonzero(p.data) == np.count_nonzero(q.data)
               for (_, p), (_, q) in zip(model.named_parameters(), orig.named_parameters()))
    np.testing.assert_allclose(model[1].bias.data, 0.7 * orig[1].bias.data, rtol=1e-6)
    keep = build("doc001-mlp", seed=0)
    P.e3_keep_ratio(keep, 0.3)
    assert [round(m.weight_mask.mean(), 3) for m, _ in P.prunable_parameters(keep)] == [0.3, 0.3]
    glob = build("doc001-mlp", seed=0)
    P.e3_keep_ratio(glob, 0.3, scope="global")
    total = sum(m.weight_mask.sum() for m, _ in P.prunable_parameters(glob))
    assert total == round(0.3 * (784 * 128 + 1280))


def test_e5_masks_exactly_what_the_equation_removes():
    layer = lin(4, 30, 20)
    w = layer.weight.data.copy()
    w_pruned, w_removed, cand = random_candidate_pruning(w, 0.5, 7, k=1.0)
    info = P.e5_random_candidate_report(layer, "weight", 0.5, seed=7, k=1.0)
    np.testing.assert_array_equal(layer.effective("weight").data, w_pruned)
    assert not (~layer.weight_mask & ~cand).any()  # only candidates are removed
    assert info["removed"] == np.count_nonzero(w_removed) and info["candidates"] == cand.sum()
    model = build("lenet-300-100", seed=0)
    out = P.e5_random_candidate_model_report(model, 0.5, seed=0)
    assert 0 < out["removed"] < 0.5 * out["size"]


# ------------------------------------------------------------------ schedules
def test_agp_formula():
    s = [P.agp_sparsity(t, 0.0, 0.9, 10, 5, 4) for t in range(0, 40)]
    assert s[0] == s[9] == 0.0 and s[30] == s[39] == pytest.approx(0.9)
    assert all(b >= a for a, b in zip(s, s[1:]))
    assert s[18] == pytest.approx(0.9 + (0.0 - 0.9) * (1 - 2 / 5) ** 3)
    assert s[19] == s[18]  # only changes at pruning steps
    with pytest.raises(ValueError, match="must be >= initial_sparsity"):
        P.agp_sparsity(0, 0.5, 0.2, 0, 5, 1)


def test_agp_pruner_reaches_the_final_sparsity_during_fit(mnist10k):
    x, y = mnist10k[0][:640], mnist10k[1][:640]
    model = build("lenet-300-100", seed=0)
    opt = Adam(model.parameters(), lr=1e-3)
    agp = P.AGPPruner(model, sparsity=0.8, n=4, dt=2)
    fit(model, opt, x, y, epochs=1, batch_size=64, callbacks=[agp], progress=False)
    assert [t for t, _ in agp.history] == [0, 2, 4, 6, 8]
    assert agp.history[-1][1] == pytest.approx(0.8)
    for m, _ in P.prunable_parameters(model):
        assert m.weight_mask.mean() == pytest.approx(0.2, abs=1e-3)
        assert np.all(m.weight.data[~m.weight_mask] == 0)
    # per-layer targets, random importance: each layer follows its own curve
    model = build("lenet-300-100", seed=0)
    init = [np.abs(m.weight.data).copy() for m, _ in P.prunable_parameters(model)]
    agp = P.AGPPruner(model, sparsity=[0.9, 0.5, 0.2], n=2, dt=1, importance="random", seed=0)
    fit(model, SGD(model.parameters(), lr=0.0), x[:192], y[:192], epochs=1, callbacks=[agp],
        progress=False)
    masks = [m.weight_mask for m, _ in P.prunable_parameters(model)]
    assert [round(1 - mk.mean(), 3) for mk in masks] == [0.9, 0.5, 0.2]
    # random, not magnitude: some pruned weights are larger than some kept ones
    assert init[0][~masks[0]].max() > init[0][masks[0]].min()
    with pytest.raises(ValueError, match="3 parameters"):
        P.AGPPruner(model, sparsity=[0.9, 0.5], n=2, dt=1)


def test_iterative_prune_and_lottery_rewind(mnist10k):
    assert P.iterative_sparsities(0.75, 2) == pytest.approx([0.5, 0.75])
    x, y = mnist10k[0][:256], mnist10k[1][:256]
    model = build("lenet-300-100", seed=0)
    init = P.snapshot(model)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    ckpt = P.RewindCheckpoint(k=2)
    fit(model, opt, x, y, epochs=1, progress=False, callbacks=[ckpt])
    assert ckpt.weights is not None and not np.array_equal(ckpt.weights["1.weight"], init["1.weight"])
    calls = []
    logs = P.iterative_prune(model, 0.75, 2, lambda m, j: calls.append(j) or {"round": j})
    assert calls == [0, 1] and [round(entry["sparsity"], 6) for entry in logs] == [0.5, 0.75]
    P.rewind(model, init, optimizer=opt)
    mask = model[1].weight_mask
    assert mask.mean() == pytest.approx(0.25, abs=1e-3) and opt.state == {}
    np.testing.assert_array_equal(model[1].weight.data, init["1.weight"] * mask)
    np.testing.assert_array_equal(model[1].bias.data, init["1.bias"])


# ------------------------------------------------------------------ shrink
def test_structured_half_of_lenet300_then_shrink(trained_lenet300, mnist10k):
    model = copy_model(trained_lenet300)
    P.ln_structured(model[1], "weight", 0.5, n=2, dim=0)
    P.ln_structured(model[3], "weight", 0.5, n=2, dim=0)
    small = P.shrink(model)
    x = mnist10k[2][:500]
    assert np.abs(predict(small, x) - predict(model, x)).max() < 1e-5
    assert (small[1].weight.shape, small[3].weight.shape, small[5].weight.shape) == (
        (150, 784), (50, 150), (10, 50))
    assert small.num_parameters() == 784 * 150 + 150 + 150 * 50 + 50 + 50 * 10 + 10
    assert model.num_parameters() == 266610  # the original is untouched


def test_shrink_conv_filters_through_conv_and_flatten():
    model = build("lenet5", seed=0)  # conv(pad 2) -> conv(pad 0) -> flatten -> linear
    P.ln_structured(model[0], "weight", 2, n=1, dim=0)
    P.ln_structured(model[3], "weight", 6, n=1, dim=0)
    P.ln_structured(model[7], "weight", 20, n=1, dim=0)
    P.l1_unstructured(model[9], "weight", 0.3)  # unstructured zeros are carried over as a mask
    small = P.shrink(model)
    assert small[0].weight.shape == (4, 1, 5, 5) and small[3].weight.shape == (10, 4, 5, 5)
    assert small[7].weight.shape == (100, 250) and small[9].weight.shape == (84, 100)
    assert small[9].weight_mask.mean() == pytest.approx(0.7, abs=0.01)
    x = np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32)
    assert np.abs(predict(small, x) - predict(model, x)).max() < 1e-5


def test_shrink_refuses_a_constant_into_a_padded_conv_unless_the_bias_is_pruned():
    model = Sequential(Conv2d(1, 4, 3, padding=1, seed=0), ReLU(), Conv2d(4, 3, 3, padding=1, seed=1))
    model[0].bias.data[:] = 0.5
    filter_1 = np.broadcast_to(np.arange(4)[:, None, None, None] != 1, (4, 1, 3, 3)).copy()
    P.custom_from_mask(model[0], "weight", filter_1)
    with pytest.raises(ValueError, match="padded Conv2d"):
        P.shrink(model)
    P.custom_from_mask(model[0], "bias", np.arange(4) != 1)
    small = P.shrink(model)
    assert small[0].out_channels == 3 and small[2].in_channels == 3
    x = np.random.default_rng(0).random((2, 1, 6, 6)).astype(np.float32)
    assert np.abs(predict(small, x) - predict(model, x)).max() < 1e-5


# ------------------------------------------------------------ sensitivity, report
def test_sensitivity_scan_table_and_figure(trained_lenet300, mnist10k, tmp_path):
    x, y = mnist10k[2][:500], mnist10k[3][:500]
    table = P.sensitivity_scan(trained_lenet300, x, y, sparsities=[0.0, 0.5, 0.99])
    assert len(table) == 9 and {r["layer"] for r in table} == {"1.weight", "3.weight", "5.weight"}
    acc = {(r["layer"], r["sparsity"]): r["accuracy"] for r in table}
    assert acc["1.weight", 0.0] == acc["5.weight", 0.0] > 0.85
    assert acc["5.weight", 0.99] < acc["5.weight", 0.0] - 0.3  # 1 of 1000 output weights left
    assert "1.weight" in P.format_sensitivity(table)
    P.plot_sensitivity(table, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert not P.is_pruned(trained_lenet300)


def test_sparsity_report_counts_weights_and_bytes():
    from minicompress.compress.relative_csr import RelativeCSR

    model = build("lenet-300-100", seed=0)
    P.l1_unstructured(model[1], "weight", 0.9)
    rep = P.sparsity_report(model, requested={"1.weight": 0.9})
    row = rep["layers"][0]
    assert row["name"] == "1.weight" and row["requested"] == 0.9
    assert row["nonzero"] == 23520 and row["sparsity"] == pytest.approx(0.9)
    assert row["csr_bytes"] == RelativeCSR.from_dense(model[1].effective("weight").data, 5).nbytes()
    w = rep["weights"]
    assert w["params"] == 266200 and w["nonzero"] == 23520 + 30000 + 1000
    assert rep["all"]["params"] == 266610 and rep["all"]["nonzero"] == w["nonzero"] + 410
    assert "incl. biases" in P.format_report(rep)
    with pytest.raises(ValueError, match="not parameters"):
        P.sparsity_report(model, requested={"fc1.weight": 0.5})


# ------------------------------------------------------------------ CLI
@pytest.mark.cli
@pytest.mark.parametrize("method", ["l1", "random", "ln-structured", "global", "e3", "e5"])
def test_cli_prune(method, tmp_path, capsys):
    from minicompress.cli.main import main

    src, out, js = tmp_path / "m.npz", tmp_path / "p.npz", tmp_path / "r.json"
    save_model(build("doc001-mlp", seed=0), src)
    how = {"e3": "--r", "e5": "--p"}.get(method, "--sparsity")
    code = main(["prune", str(src), "--method", method, how, "0.5", "--out", str(out), "--json", str(js)])
    assert code == 0
    report = json.loads(js.read_text())
    pruned = load_model(out)
    sparsity = report["weights"]["sparsity"]
    if method == "e3":
        assert sparsity == 0.0 and not P.is_pruned(pruned)
    elif method == "e5":
        assert 0.05 < sparsity < 0.5
    else:
        assert sparsity == pytest.approx(0.5, abs=0.01) and P.is_pruned(pruned)
    assert "sparsity" in capsys.readouterr().out


@pytest.mark.cli
def test_cli_prune_sparsity_is_absolute_and_amount_relative(tmp_path, capsys):
    # re-pruning a 50 %-sparse model: --sparsity 0.5 leaves it at 0.5, --amount 0.5 takes it to 0.75,
    # and the printed line and the JSON report say the real result
    from minicompress.cli.main import main

    src, half = tmp_path / "m.npz", tmp_path / "half.npz"
    save_model(build("doc001-mlp", seed=0), src)
    assert main(["prune", str(src), "--sparsity", "0.5", "--out", str(half)]) == 0
    capsys.readouterr()
    for flag, expected in (("--sparsity", 0.5), ("--amount", 0.75)):
        out, js = tmp_path / f"{flag[2:]}.npz", tmp_path / f"{flag[2:]}.json"
        assert main(["prune", str(half), flag, "0.5", "--out", str(out), "--json", str(js)]) == 0
        report = json.loads(js.read_text())
        assert report["weights_sparsity_before"] == pytest.approx(0.5, abs=0.01)
        assert report["weights"]["sparsity"] == pytest.approx(expected, abs=0.01)
        assert all(r["requested"] == pytest.approx(expected, abs=0.01)
                   for r in report["layers"] if r["kind"] == "weight")
        line = capsys.readouterr().out.strip().splitlines()[-1]
        assert f"{report['weights']['sparsity']:.4f} after" in line and "0.50" in line
    assert main(["prune", str(half), "--sparsity", "0.5", "--amount", "0.5", "--out", str(out)]) == 2
    assert main(["prune", str(half), "--method", "e3", "--sparsity", "0.5", "--out", str(out)]) == 2
    assert "--method e3 takes --r" in capsys.readouterr().err
    assert main(["prune", str(half), "--method", "e5", "--out", str(out)]) == 2
    assert "needs --p" in capsys.readouterr().err


def test_map_weights_and_byte_counts_beside_the_techniques():
    from minicompress.compress.weights import bias_bytes, float32_bytes, map_weights

    model = build("doc001-mlp", seed=0)
    P.l1_unstructured(model[1], "weight", 0.5)
    doubled = map_weights(model, lambda w: 2 * w)
    assert doubled is not model and P.is_pruned(doubled)  # a copy, masks kept
    np.testing.assert_array_equal(doubled[1].weight.data, 2 * model[1].effective("weight").data)
    np.testing.assert_array_equal(doubled[1].bias.data, model[1].bias.data)  # biases untouched
    n_bias = sum(p.size for n, p in model.named_parameters() if n.endswith("bias"))
    assert float32_bytes(model) == 4 * model.num_parameters() and bias_bytes(model) == 4 * n_bias
    assert P.pruned_bytes(model) == P.sparsity_report(model)["weights"]["csr_bytes"] + 4 * n_bias


@pytest.mark.parametrize("method", ["l1", "random", "ln-structured", "global"])
def test_prune_model_sparsity_is_absolute_amount_relative(method):
    for how, second in (({"sparsity": 0.5}, 0.5), ({"amount": 0.5}, 0.75)):
        model = build("doc001-mlp", seed=0)
        assert P.prune_model(model, method, sparsity=0.5, seed=1) is model  # in place, returned
        P.prune_model(model, method, seed=2, **how)
        weights = [m.effective("weight").data for m, _ in P.prunable_parameters(model)]
        if method == "ln-structured":  # the output layer keeps its rows; channels of the others
            rows = [np.mean(~w.reshape(len(w), -1).any(axis=1)) for w in weights[:-1]]
            assert rows == pytest.approx([second] * len(rows), abs=0.01)
        else:
            zero = sum(int(np.sum(w == 0)) for w in weights) / sum(w.size for w in weights)
            assert zero == pytest.approx(second, abs=0.01)


def test_prune_model_documents_methods_and_bad_input():
    model = build("doc001-mlp", seed=0)
    w = model[1].weight.data.copy()
    P.prune_model(model, "e3", r=0.25)
    np.testing.assert_allclose(model[1].weight.data, 0.75 * w, rtol=1e-6)
    P.prune_model(model, "e5", p=0.5, seed=0)
    assert P.is_pruned(model)
    for kwargs, match in (({"method": "l1"}, "exactly one of sparsity, amount"),
                          ({"method": "l1", "sparsity": 0.5, "amount": 0.5}, "exactly one"),
                          ({"method": "e3", "sparsity": 0.5}, "takes r, not sparsity"),
                          ({"method": "l1", "sparsity": 1.5}, r"sparsity must be in \[0, 1\]"),
                          ({"method": "l2", "sparsity": 0.5}, "unknown pruning method")):
        with pytest.raises(ValueError, match=match):
            P.prune_model(build("doc001-mlp", seed=0), **kwargs)
    with pytest.raises(TypeError, match="sparsity must be a number"):
        P.prune_model(build("doc001-mlp", seed=0), "l1", sparsity="0.5")


@pytest.mark.cli
def test_cli_prune_bad_amount(tmp_path, capsys):
    from minicompress.cli.main import main

    src = tmp_path / "m.npz"
    save_model(build("doc002-mlp", seed=0), src)
    assert main(["prune", str(src), "--amount", "1.5", "--out", str(tmp_path / "o.npz")]) == 2
    assert "[0, 1]" in capsys.readouterr().err


@pytest.mark.cli
def test_cli_prune_structured_shrink(tmp_path):
    from minicompress.cli.main import main

    src, out, js = tmp_path / "m.npz", tmp_path / "s.npz", tmp_path / "r.json"
    save_model(build("doc001-mlp", seed=0), src)
    assert main(["prune", str(src), "--method", "ln-structured", "--amount", "0.25", "--shrink",
                 "--out", str(out), "--json", str(js)]) == 0
    small = load_model(out)
    assert small[1].weight.shape == (96, 784) and small[3].weight.shape == (10, 96)
    report = json.loads(js.read_text())
    assert report["parameters_after"] == small.num_parameters() < report["parameters_before"]
    assert main(["prune", str(src), "--method", "l1", "--shrink", "--out", str(out)]) == 2

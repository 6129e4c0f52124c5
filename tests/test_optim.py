"""Chapter 2: optimizers and schedules against their update rules written out by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicompress.nn import Parameter
from minicompress.optim import SGD, Adam, CosineAnnealingLR, StepLR

pytestmark = pytest.mark.optim


def run(opt_cls, grads, **kw):
    p = Parameter(np.array([1.0, -2.0]))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = np.array(g)
        opt.step()
    return p, opt


def test_sgd_momentum_nesterov_weight_decay_by_hand():
    grads = [[0.5, -1.0], [0.25, 0.5], [1.0, 1.0]]
    lr, mu, wd = 0.1, 0.9, 0.01
    for nesterov in (False, True):
        w, v = np.array([1.0, -2.0]), None
        for g in grads:
            g = np.array(g) + wd * w
            v = g.copy() if v is None else mu * v + g
            w = w - lr * (g + mu * v if nesterov else v)
        p, opt = run(SGD, grads, lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd)
        np.testing.assert_allclose(p.data, w)
        assert "momentum" in opt.state[p]


def test_adam_by_hand():
    grads = [[0.5, -1.0], [0.25, 0.5], [1.0, 1.0]]
    w, m, v = np.array([1.0, -2.0]), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        g = np.array(g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    p, opt = run(Adam, grads, lr=0.01)
    np.testing.assert_allclose(p.data, w)
    assert opt.state[p]["step"] == 3


def test_param_groups_have_their_own_learning_rates():
    a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opt = SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.1)
    a.grad = b.grad = np.ones(1)
    opt.step()
    assert a.data[0] == -1.0 and b.data[0] == pytest.approx(-0.1)


def test_frozen_and_gradless_parameters_are_untouched():
    a, b = Parameter(np.ones(1)), Parameter(np.ones(1))
    b.requires_grad = False
    b.grad = np.ones(1)
    SGD([a, b], lr=1.0).step()
    assert a.data[0] == 1.0 and b.data[0] == 1.0


def test_schedules():
    p = Parameter(np.zeros(1))
    opt = SGD([p], lr=1.0)
    s = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        s.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = SGD([p], lr=1.0)
    c = CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    lrs = []
    for _ in range(5):
        c.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [(1 + np.cos(np.pi * e / 4)) / 2 for e in [1, 2, 3, 4, 4]])


def test_bad_optimizer_arguments():
    p = Parameter(np.zeros(1))
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match=r"lr must be a finite number in \[0, inf\), got -1"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="Parameters"):
        Adam([np.zeros(1)])
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p])
    with pytest.raises(ValueError, match="unknown options"):
        SGD([{"params": [p], "learning_rate": 0.1}])
    with pytest.raises(TypeError, match="fused"):
        Adam([p], fused="yes")


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("make,argument", [
    (lambda p, v: SGD([p], lr=v), "lr"),
    (lambda p, v: SGD([p], momentum=v), "momentum"),
    (lambda p, v: SGD([p], weight_decay=v), "weight_decay"),
    (lambda p, v: Adam([p], lr=v), "lr"),
    (lambda p, v: Adam([p], lr=v, fused=True), "lr"),
    (lambda p, v: Adam([p], betas=(v, 0.999)), r"betas\[0\]"),
    (lambda p, v: Adam([p], betas=(0.9, v)), r"betas\[1\]"),
    (lambda p, v: Adam([p], eps=v), "eps"),
    (lambda p, v: Adam([p], weight_decay=v), "weight_decay"),
    (lambda p, v: SGD([{"params": [p], "lr": v}]), "lr"),  # a group's own value is checked too
    (lambda p, v: StepLR(SGD([p]), step_size=1, gamma=v), "gamma"),
    (lambda p, v: CosineAnnealingLR(SGD([p]), T_max=2, eta_min=v), "eta_min"),
])
@pytest.mark.parametrize("value", [NAN, INF, -INF, -1.0])
def test_hyper_parameters_must_be_finite_and_in_range(make, argument, value):
    """issue 15: ``--lr nan`` ended in a ZeroDivisionError inside the Adam kernel."""
    with pytest.raises(ValueError, match=rf"^{argument} must be a finite number in [\[(]"):
        make(Parameter(np.zeros(2)), value)


@pytest.mark.parametrize("make,argument", [
    (lambda p: SGD([p], momentum=1.0), "momentum"),
    (lambda p: Adam([p], betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda p: Adam([p], eps=0.0), "eps"),
    (lambda p: SGD([p], lr="0.1"), "lr"),
    (lambda p: StepLR(SGD([p]), step_size=0), "step_size"),
    (lambda p: StepLR(SGD([p]), step_size=1.5), "step_size"),
    (lambda p: CosineAnnealingLR(SGD([p]), T_max=0), "T_max"),
])
def test_hyper_parameters_at_the_edges_of_their_range(make, argument):
    with pytest.raises(ValueError, match=f"^{argument} must be"):
        make(Parameter(np.zeros(2)))


@pytest.mark.parametrize("fused", [False, True])
def test_adam_keeps_nan_semantics(fused):
    """A NaN gradient gives a NaN weight (no fastmath: the compiler may not assume finite values)."""
    p = Parameter(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    opt = Adam([p], lr=0.1, fused=fused)
    p.grad = np.array([np.nan, 1.0, np.inf], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        opt.step()
    assert np.isnan(p.data[0]) and np.isfinite(p.data[1]) and np.isnan(p.data[2])


def _adam_hand(w0, grads, lr, b1, b2, eps, wd):
    w, m, v = w0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


@pytest.mark.parametrize("fused", [False, True])
def test_adam_numpy_and_fused_follow_the_update_rule_on_float32_matrices(fused):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((7, 5)).astype(np.float32)
    grads = [rng.standard_normal((7, 5)).astype(np.float32) for _ in range(3)]
    p = Parameter(w0.copy())
    opt = Adam([p], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, fused=fused)
    for g in grads:
        p.grad = g
        opt.step()
    assert p.dtype == np.float32 and opt.fused is fused
    np.testing.assert_allclose(p.data, _adam_hand(w0, grads, 0.05, 0.8, 0.99, 1e-6, 0.1), rtol=1e-5, atol=1e-6)


@settings(max_examples=30)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), seed=st.integers(0, 2**16),
       lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999),
       wd=st.sampled_from([0.0, 1e-3, 0.5]), steps=st.integers(1, 4), transpose=st.booleans())
def test_adam_fused_matches_numpy_adam(shape, seed, lr, b1, b2, wd, steps, transpose):
    """The fused kernel against the readable NumPy default, float64, any shape, non-contiguous too."""
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape)
    if transpose:
        w0 = w0.T  # a Fortran-ordered parameter
    grads = [rng.standard_normal(w0.shape) for _ in range(steps)]
    ps = [Parameter(w0.copy(order="K")) for _ in range(2)]
    opts = [Adam([p], lr=lr, betas=(b1, b2), weight_decay=wd, fused=f) for p, f in zip(ps, (False, True))]
    for g in grads:
        for p, opt in zip(ps, opts):
            p.grad = g
            opt.step()
    np.testing.assert_allclose(ps[1].data, ps[0].data, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(opts[1].state[ps[1]]["v"], opts[0].state[ps[0]]["v"], rtol=1e-9, atol=1e-15)

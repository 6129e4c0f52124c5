"""Chapter 2: optimizers and schedules against their update rules written out by hand."""

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="learning rate"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="Parameters"):
        Adam([np.zeros(1)])


def test_adam_fused_kernel_matches_numpy_on_float32_matrices():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((7, 5)).astype(np.float32)
    p = Parameter(w0.copy())
    opt = Adam([p], lr=0.05, weight_decay=0.1)
    w, m, v = w0.astype(np.float64), 0.0, 0.0
    for t in range(1, 4):
        g = rng.standard_normal((7, 5)).astype(np.float32)
        p.grad = g
        opt.step()
        g = g + 0.1 * w
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.data, w, rtol=1e-5, atol=1e-6)

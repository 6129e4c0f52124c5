"""Chapter optim: one SGD step, one Adam step, two learning-rate schedules (PyTorch's formulations).

References run ``minicompress.optim`` itself: the arrays become a ``Parameter`` with
``.grad``, the running state is put into ``optimizer.state[param]``, ``step()`` runs,
and the new weight and state are read back. A learner's step returns new arrays and
leaves its inputs unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicompress.course.registry import register
from minicompress.course.task import Example, Task, Variant, compare_with
from minicompress.nn.module import Parameter
from minicompress.optim import SGD, Adam, CosineAnnealingLR, StepLR

CLOSE = compare_with(rtol=1e-6, atol=1e-9)

_values = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, -2.0]), st.floats(-10, 10))


# ------------------------------------------------------------------ SGD


def _sgd_reference(param, grad, momentum_buffer, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    p = Parameter(np.array(param, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    opt = SGD([p], lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if momentum_buffer is not None:
        opt.state[p] = {"momentum": np.array(momentum_buffer, dtype=np.float64)}
    opt.step()
    return p.data, opt.state.get(p, {}).get("momentum")


@st.composite
def _sgd_inputs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4))
    momentum = draw(st.sampled_from([0.0, 0.9, 0.5]))
    return {
        "param": draw(hnp.arrays(np.float64, shape, elements=_values)),
        "grad": draw(hnp.arrays(np.float64, shape, elements=_values)),
        "momentum_buffer": None if momentum == 0 or draw(st.booleans())
        else draw(hnp.arrays(np.float64, shape, elements=_values)),
        "lr": draw(st.sampled_from([0.1, 0.5, 0.01, 1.0])),
        "momentum": momentum,
        "nesterov": momentum > 0 and draw(st.booleans()),
        "weight_decay": draw(st.sampled_from([0.0, 0.1, 0.01])),
    }


def _sgd_variant(kind):
    def step(param, grad, momentum_buffer, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        g = grad + weight_decay * param if kind != "decoupled" else grad
        buf = None
        if momentum:
            if kind == "sutskever":
                buf = lr * g if momentum_buffer is None else momentum * momentum_buffer + lr * g
                return param - buf, buf
            if kind == "dampened":
                buf = g if momentum_buffer is None else momentum * momentum_buffer + (1 - momentum) * g
            else:
                buf = g.copy() if momentum_buffer is None else momentum * momentum_buffer + g
            g = g + momentum * buf if nesterov and kind != "nesterov_plain" else buf
        new = param - lr * g
        if kind == "decoupled":
            new = new - lr * weight_decay * param
        return new, buf
    return step


register(Task(
    id="optim.sgd_step", chapter="optim", name="sgd_step",
    signature="sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, nesterov=False, weight_decay=0.0)",
    doc="""One step of SGD as torch.optim.SGD computes it (dampening = 0).

    g = grad + weight_decay · param
    if momentum > 0:
        buf = g (a copy) on the first step (momentum_buffer is None),
              else momentum · momentum_buffer + g
        g = g + momentum · buf   if nesterov   else buf
    param_new = param - lr · g

Parameters
----------
param, grad : float ndarray, same shape
momentum_buffer : float ndarray shaped like param, or None (the first step)
lr, momentum, weight_decay : float >= 0
nesterov : bool (only with momentum > 0)

Returns
-------
(param_new, buf) : the new parameter and the new momentum buffer (None when momentum == 0).
The inputs are not changed.
""",
    reference=_sgd_reference,
    inputs=_sgd_inputs(),
    examples=(
        Example({"param": np.array([1.0]), "grad": np.array([2.0]), "momentum_buffer": np.array([1.0]), "lr": 0.5,
                 "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
                (np.array([-0.45]), np.array([2.9])), "buf = 0.9·1 + 2 = 2.9; 1 - 0.5·2.9 = -0.45"),
        Example({"param": np.array([1.0]), "grad": np.array([2.0]), "momentum_buffer": np.array([1.0]), "lr": 0.5,
                 "momentum": 0.9, "nesterov": True, "weight_decay": 0.5},
                (np.array([-1.78]), np.array([3.4])),
                "g = 2 + 0.5·1 = 2.5; buf = 0.9 + 2.5 = 3.4; Nesterov: g + 0.9·3.4 = 5.56; 1 - 0.5·5.56 = -1.78"),
    ),
    variants=(
        Variant("nesterov_plain", _sgd_variant("nesterov_plain"),
                "your Nesterov step uses the plain momentum update: with nesterov, step along g + momentum·buf"),
        Variant("decoupled_weight_decay", _sgd_variant("decoupled"),
                "your weight decay is applied outside the momentum buffer (decoupled, SGDW-style); PyTorch's SGD "
                "adds weight_decay·param to the gradient first"),
        Variant("sutskever", _sgd_variant("sutskever"),
                "your momentum buffer includes the learning rate (buf = μ·buf + lr·g, Sutskever's form); PyTorch's "
                "buffer accumulates gradients and multiplies by lr at the update"),
        Variant("dampened", _sgd_variant("dampened"),
                "your momentum buffer is an exponential average (μ·buf + (1-μ)·g); PyTorch (dampening=0) adds the "
                "whole gradient: μ·buf + g"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ Adam


def _adam_reference(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    p = Parameter(np.array(param, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    opt = Adam([p], lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
    opt.state[p] = {"m": np.array(m, dtype=np.float64), "v": np.array(v, dtype=np.float64), "step": step - 1}
    opt.step()
    return p.data, opt.state[p]["m"], opt.state[p]["v"]


@st.composite
def _adam_inputs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4))
    step = draw(st.integers(1, 5))
    first = step == 1
    return {
        "param": draw(hnp.arrays(np.float64, shape, elements=_values)),
        "grad": draw(hnp.arrays(np.float64, shape, elements=_values)),
        "m": np.zeros(shape) if first else draw(hnp.arrays(np.float64, shape, elements=_values)),
        "v": np.zeros(shape) if first else draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 10))),
        "step": step,
        "lr": draw(st.sampled_from([1e-3, 0.1, 1.0])),
        "betas": draw(st.sampled_from([(0.9, 0.999), (0.5, 0.9)])),
        "eps": draw(st.sampled_from([1e-8, 0.1])),
        "weight_decay": draw(st.sampled_from([0.0, 0.1])),
    }


def _adam_variant(kind):
    def step_fn(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        b1, b2 = betas
        g = grad if kind == "adamw" else grad + weight_decay * param
        m2 = b1 * m + (1 - b1) * g
        v2 = b2 * v + (1 - b2) * g * g
        if kind == "no_bias_correction":
            m_hat, v_hat = m2, v2
        else:
            m_hat, v_hat = m2 / (1 - b1 ** step), v2 / (1 - b2 ** step)
        denom = np.sqrt(v_hat + eps) if kind == "eps_inside_sqrt" else np.sqrt(v_hat) + eps
        new = param - lr * m_hat / denom
        if kind == "adamw":
            new = new - lr * weight_decay * param
        return new, m2, v2
    return step_fn


register(Task(
    id="optim.adam_step", chapter="optim", name="adam_step",
    signature="adam_step(param, grad, m, v, step, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)",
    doc="""One step of Adam with bias correction, as torch.optim.Adam (L2 weight decay, amsgrad off).

    g = grad + weight_decay · param
    m = β1 · m + (1 - β1) · g          v = β2 · v + (1 - β2) · g²
    m̂ = m / (1 - β1^step)              v̂ = v / (1 - β2^step)
    param_new = param - lr · m̂ / (√v̂ + eps)

Parameters
----------
param, grad, m, v : float ndarray, same shape (m and v: the previous moments, zeros before step 1)
step : int >= 1
    The number of this step (1 on the first).
lr, eps, weight_decay : float
betas : (float, float)

Returns
-------
(param_new, m_new, v_new). The inputs are not changed.
""",
    reference=_adam_reference,
    inputs=_adam_inputs(),
    examples=(
        Example({"param": np.array([1.0]), "grad": np.array([2.0]), "m": np.zeros(1), "v": np.zeros(1), "step": 1,
                 "lr": 0.1, "betas": (0.9, 0.999), "eps": 0.5, "weight_decay": 0.0},
                (np.array([0.92]), np.array([0.2]), np.array([0.004])),
                "first step: m̂ = 2 and v̂ = 4 (bias-corrected), so the step is lr · 2 / (√4 + 0.5) = 0.08"),
    ),
    variants=(
        Variant("no_bias_correction", _adam_variant("no_bias_correction"),
                "your Adam has no bias correction: divide m by (1 - β1^step) and v by (1 - β2^step)"),
        Variant("eps_inside_sqrt", _adam_variant("eps_inside_sqrt"),
                "your Adam puts eps inside the square root (√(v̂ + eps)); PyTorch adds it after: √v̂ + eps"),
        Variant("adamw", _adam_variant("adamw"),
                "your weight decay is decoupled (AdamW: param -= lr·wd·param); Adam adds weight_decay·param to "
                "the gradient"),
    ),
    compare=CLOSE,
))


# ------------------------------------------------------------------ schedules


def _one_param_optimizer(lr):
    return SGD([Parameter(np.zeros(1))], lr=lr)


def _cosine_reference(base_lr, epoch, T_max, eta_min=0.0):
    return float(CosineAnnealingLR(_one_param_optimizer(base_lr), T_max, eta_min).lr_at(base_lr, epoch))


def _cosine_variant(kind):
    def lr_at(base_lr, epoch, T_max, eta_min=0.0):
        e = epoch if kind == "no_clamp" else min(epoch + (1 if kind == "off_by_one" else 0), T_max)
        low = 0.0 if kind == "eta_min_ignored" else eta_min
        return low + (base_lr - low) * (1 + math.cos(math.pi * e / T_max)) / 2
    return lr_at


_sched_inputs = st.fixed_dictionaries({
    "base_lr": st.sampled_from([0.1, 1.0, 0.01]),
    "epoch": st.integers(0, 25),
    "T_max": st.integers(1, 12),
    "eta_min": st.sampled_from([0.0, 0.001, 0.05]),
})

register(Task(
    id="optim.cosine_lr", chapter="optim", name="cosine_lr",
    signature="cosine_lr(base_lr, epoch, T_max, eta_min=0.0)",
    doc="""The learning rate of cosine annealing at ``epoch`` (CosineAnnealingLR's closed form).

    lr = eta_min + (base_lr - eta_min) · (1 + cos(π · e / T_max)) / 2,   e = min(epoch, T_max)

Epoch 0 gives base_lr, epoch T_max gives eta_min, and after T_max the rate stays at
eta_min (this library's choice; PyTorch's closed form would rise again).

Returns
-------
float
""",
    reference=_cosine_reference,
    inputs=_sched_inputs,
    examples=(Example({"base_lr": 1.0, "epoch": 5, "T_max": 10, "eta_min": 0.0}, 0.5, "half way: cos(π/2) = 0"),
              Example({"base_lr": 1.0, "epoch": 20, "T_max": 10, "eta_min": 0.1}, 0.1, "flat after T_max")),
    variants=(
        Variant("no_clamp", _cosine_variant("no_clamp"),
                "your schedule keeps following the cosine after T_max (it rises again); this task stays at eta_min"),
        Variant("off_by_one", _cosine_variant("off_by_one"),
                "your schedule is one epoch ahead (it uses epoch + 1): epoch 0 must give base_lr"),
        Variant("eta_min_ignored", _cosine_variant("eta_min_ignored"),
                "your schedule ignores eta_min: it must anneal down to eta_min, not to 0"),
    ),
    compare=CLOSE,
))


def _step_reference(base_lr, epoch, step_size, gamma=0.1):
    return float(StepLR(_one_param_optimizer(base_lr), step_size, gamma).lr_at(base_lr, epoch))


register(Task(
    id="optim.step_lr", chapter="optim", name="step_lr",
    signature="step_lr(base_lr, epoch, step_size, gamma=0.1)",
    doc="""The learning rate of StepLR at ``epoch``: base_lr · gamma ** (epoch // step_size).

The rate drops by ``gamma`` at epochs step_size, 2·step_size, ... (integer division).

Returns
-------
float
""",
    reference=_step_reference,
    inputs=st.fixed_dictionaries({"base_lr": st.sampled_from([0.1, 1.0]), "epoch": st.integers(0, 30),
                                  "step_size": st.integers(1, 10), "gamma": st.sampled_from([0.1, 0.5])}),
    examples=(Example({"base_lr": 1.0, "epoch": 7, "step_size": 3, "gamma": 0.5}, 0.25, "7 // 3 = 2 drops"),),
    variants=(
        Variant("no_floor", lambda base_lr, epoch, step_size, gamma=0.1: base_lr * gamma ** (epoch / step_size),
                "your StepLR decays smoothly (epoch / step_size); it drops in steps: epoch // step_size"),
        Variant("off_by_one",
                lambda base_lr, epoch, step_size, gamma=0.1: base_lr * gamma ** ((epoch + 1) // step_size),
                "your StepLR drops one epoch early (it uses epoch + 1)"),
    ),
    compare=CLOSE,
))

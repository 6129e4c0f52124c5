# %% [markdown]
# # 01 · The engine and autograd
#
# Every technique in the three documents (`../shared/seeds/`) changes a trained network's
# weights: clipping them (doc 001 §3.1), rounding them (doc 001 §3.2, doc 000 §3.2), removing
# them (doc 001 §3.3, doc 000 §3.1), or training a new network to imitate an old one
# (doc 000 §3.3, doc 002 §3). To *measure* what each does we need networks we can train, and
# to train them we need gradients. This chapter builds them from nothing but NumPy.
#
# Run it as a script (`python tutorials/01_engine_and_autograd.py`) or open it in Jupyter /
# VS Code, which read the `# %%` cells as a notebook.

# %%
import numpy as np
from _common import FAST, savefig

import minicompress.engine.functional as F
from minicompress.engine import Function, Tensor, gradcheck, no_grad

# %% [markdown]
# ## A tensor remembers how it was made
#
# `Tensor` wraps an array. Each operation is a `Function` with a `forward` and a `backward`
# on plain arrays; when an input needs a gradient, the output records the function and its
# inputs. `backward()` walks that record in reverse topological order (iteratively, so a
# graph thousands of ops deep is fine) and applies the chain rule.

# %%
x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
y = (x * x + 2 * x).relu().sum()       # y = Σ relu(x² + 2x)
y.backward()
print("y =", y.item())
print("dy/dx =", x.grad, " (2x + 2 where x² + 2x > 0, else 0)")

# %% [markdown]
# Gradients **accumulate**: a second `backward()` adds to `.grad`. That is what lets a loss
# be the sum of several terms computed separately (distillation does this), and it is why
# every training step starts with `optimizer.zero_grad()`.

# %%
y = (x * x + 2 * x).relu().sum()
y.backward()
print("after a second backward:", x.grad)
x.zero_grad()

# %% [markdown]
# ## Writing an op: forward, backward, and a context
#
# A new op is a `Function` subclass. `ctx.save_for_backward` keeps what the backward pass
# needs. Here is the *straight-through estimator* that quantization-aware training uses
# (chapter 04): forward rounds, backward pretends the rounding was the identity.

# %%
class RoundSTE(Function):
    @staticmethod
    def forward(ctx, a):
        return np.round(a)

    @staticmethod
    def backward(ctx, grad):
        return (grad,)          # d round(a)/da is 0 almost everywhere; STE passes 1 instead


w = Tensor(np.array([0.2, 0.7, -1.4]), requires_grad=True)
(RoundSTE.apply(w) * 3).sum().backward()
print("round:", RoundSTE.apply(w).data, " STE gradient:", w.grad)

# %% [markdown]
# ## Checking a gradient against central differences
#
# `gradcheck` perturbs every input element by ±ε and compares
# (f(x+ε) − f(x−ε)) / 2ε with what `backward` computed. The test suite does this for every
# op, layer and loss (`pytest -m engine`, `pytest -m nn`). It needs float64: in float32 the
# difference quotient drowns in round-off.

# %%
rng = np.random.default_rng(0)
img = Tensor(rng.standard_normal((2, 3, 6, 6)))
kernel = Tensor(rng.standard_normal((4, 3, 3, 3)))
bias = Tensor(rng.standard_normal(4))
print("conv2d gradient check:", gradcheck(lambda a, k, b: F.conv2d(a, k, b, stride=2, padding=1), [img, kernel, bias]))
print("log_softmax gradient check:", gradcheck(lambda a: F.log_softmax(a, axis=1), [Tensor(rng.standard_normal((3, 5)))]))

# %% [markdown]
# ## Convolution is a matrix product in disguise (im2col)
#
# `conv2d` lays every receptive field out as a row (`im2col`), so the convolution becomes one
# BLAS matrix product. Below: a hand-made vertical-edge filter on a real digit.

# %%
from minicompress.data import load_mnist10k

x_train, y_train, _, _ = load_mnist10k()
digit = Tensor(x_train[:1])                                   # (1, 1, 28, 28)
edge = Tensor(np.array([[[[-1.0, 0.0, 1.0]] * 3]], dtype=np.float32))  # (1, 1, 3, 3)
with no_grad():
    response = F.conv2d(digit, edge, padding=1)
    pooled = F.max_pool2d(response.relu(), 2)

import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, im, title in zip(axes, [digit.data[0, 0], response.data[0, 0], pooled.data[0, 0]],
                         [f"a digit (label {y_train[0]})", "conv2d with a vertical-edge filter", "ReLU + max_pool2d(2)"]):
    ax.imshow(im, cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
savefig(fig, "01_conv_edge_filter.png")

# %% [markdown]
# ## How fast is it?
#
# The engine is NumPy (`Adam(..., fused=True)` runs the update as one Numba kernel). One epoch of
# LeNet-300-100 on the 8,000 mnist10k training digits:

# %%

from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import fit

model = build("lenet-300-100", seed=0)
history = fit(model, Adam(model.parameters(), lr=1e-3), x_train[: 2000 if FAST else 8000], y_train[: 2000 if FAST else 8000],
              epochs=1, progress=False)
print(f"one epoch: {history[0]['seconds']:.2f} s, {history[0]['samples_per_second']:,.0f} samples/s")
# benchmarks/training.py times this against PyTorch CPU in the same run.

# %% [markdown]
# ## Exercises
#
# 1. Write `Function` subclasses for `sin` and `softplus`, and check them with `gradcheck`.
# 2. Break `MaxPool2d.backward` in `minicompress/engine/conv.py` (send the gradient to the last
#    maximum instead of the first) and run `pytest -m engine`: which tests notice, and why does
#    the gradient check still pass on random inputs?
# 3. Run `pytest -m "engine or nn"` and read the gradient checks for the losses in `tests/test_nn.py`.

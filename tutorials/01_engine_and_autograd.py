# %% [markdown]
# # 01 · The engine and autograd
#
# Every technique in the three documents ([docs/documents.md](../docs/documents.md)) changes a trained network's
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
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **engine**: write these functions (17 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `engine.relu_forward` | `relu_forward(x)`: ReLU: max(x, 0), element by element. | `relu` (minitorch operators.relu) |
# | `engine.relu_backward` | `relu_backward(x, grad_output)`: The gradient of ReLU: grad_output where x > 0, else 0. | `relu_back` (minitorch operators.relu_back(x, d)) |
# | `engine.sigmoid_forward` | `sigmoid_forward(x)`: The logistic sigmoid 1 / (1 + exp(-x)), element by element, without overflow. | `sigmoid` (minitorch operators.sigmoid) |
# | `engine.sigmoid_backward` | `sigmoid_backward(x, grad_output)`: The gradient of the sigmoid: grad_output · s · (1 - s), with s = sigmoid(x). | – |
# | `engine.tanh_forward` | `tanh_forward(x)`: The hyperbolic tangent, element by element, without overflow (tanh(±1000) = ±1). | – |
# | `engine.tanh_backward` | `tanh_backward(x, grad_output)`: The gradient of tanh: grad_output · (1 - tanh(x)²). | – |
# | `engine.matmul_forward` | `matmul_forward(a, b)`: Matrix product with NumPy/PyTorch broadcasting of the batch dimensions (like a @ b). | `matmul` (PyTorch torch.matmul(input, other)) |
# | `engine.matmul_backward` | `matmul_backward(a, b, grad_output)`: The gradients of out = a @ b (batch dimensions broadcast) with respect to a and b. | – |
# | `engine.sum_backward` | `sum_backward(x, axis, keepdims, grad_output)`: The gradient of out = x.sum(axis, keepdims): grad_output copied back over the summed axis. | – |
# | `engine.unbroadcast` | `unbroadcast(grad, shape)`: Sum a gradient down to the shape of an input that NumPy broadcast (the backward of broadcasting). | – |
# | `engine.log_softmax` | `log_softmax(x, axis=-1)`: log(softmax(x)) along ``axis``, computed stably: x - max - log(Σ exp(x - max)). | `logsoftmax` (minitorch nn.logsoftmax(input, dim)) |
# | `engine.softmax_cross_entropy_backward` | `softmax_cross_entropy_backward(logits, labels)`: The gradient of the mean softmax cross-entropy with respect to the logits. | – |
# | `engine.conv2d_forward` | `conv2d_forward(x, weight, bias=None, stride=1, padding=0)`: 2-D convolution as PyTorch computes it: a cross-correlation (the kernel is NOT flipped). | `conv2d` (PyTorch torch.nn.functional.conv2d(input, weight, bias, stride, padding)) |
# | `engine.conv2d_backward` | `conv2d_backward(x, weight, grad_output, stride=1, padding=0)`: The gradients of conv2d_forward (cross-correlation) with respect to x, weight and bias. | – |
# | `engine.max_pool2d_forward` | `max_pool2d_forward(x, kernel_size, stride=None)`: Max pooling over kernel_size × kernel_size windows (PyTorch's floor mode, no padding). | `max_pool2d` (PyTorch torch.nn.functional.max_pool2d(input, kernel_size, stride)) |
# | `engine.max_pool2d_backward` | `max_pool2d_backward(x, kernel_size, stride, grad_output)`: The gradient of max_pool2d_forward: each window's grad_output goes to its maximum. | – |
# | `engine.topological_order` | `topological_order(graph, root)`: The order in which backward() visits a computation graph: every node before its inputs. | – |
#
# ```bash
# minicompress exercises --chapter engine --out my_exercises   # one stub per task
# minicompress check my_exercises/engine.py --chapter engine
# python -m pytest -m engine --candidate my_exercises/engine.py
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. This cross-entropy gradient forgets that
# the loss is a *mean* over the batch:
#
# ```python
# def softmax_cross_entropy_backward(logits, labels):
#     z = logits - logits.max(axis=1, keepdims=True)
#     p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
#     p[np.arange(len(labels)), labels] -= 1
#     return p                                     # forgot: / N
# ```
#
# `minicompress check my_exercises/engine.py --task engine.softmax_cross_entropy_backward` prints (exit code 1):
#
# ```
# engine.softmax_cross_entropy_backward  fail  hand-worked example ((1/2 - onehot) / N with N = 2): max abs diff 0.25, 4 of 4 differ; first at index (0, 0): expected -0.25, got -0.5; inputs: logits=array([[0., 0.], [0., 0.]]), labels=array([0, 1]); expected: array([[-0.25,  0.25], [ 0.25, -0.25]]); got: array([[-0.5,  0.5], [ 0.5, -0.5]])
#     diagnosis: your cross-entropy gradient is not divided by N: the loss is the mean over the batch (reduction='mean')
#
# engine:            1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# ### Explore further
#
# 1. Write `Function` subclasses for `sin` and `softplus`, and check them with `gradcheck`.
# 2. Break `MaxPool2d.backward` in `minicompress/engine/conv.py` (send the gradient to the last
#    maximum instead of the first) and run `pytest -m engine`: which tests notice, and why does
#    the gradient check still pass on random inputs?
# 3. Run `pytest -m "engine or nn"` and read the gradient checks for the losses in `tests/test_nn.py`.

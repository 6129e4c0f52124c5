# %% [markdown]
# # 09 · Kernels: an int8 GEMM that beats float BLAS, a sparse product, and im2col
#
# Read along with doc 001 §2.2 (量化学习, "quantization learning"), which says quantization
# turns float parameters into integers to make the model smaller and faster, and doc 000
# §4.1.2 ([docs/documents.md](../docs/documents.md#doc-000-4)), whose code calls a
# `torch.nn.utils.quantize_weight` module that does not exist. Neither document ever runs
# integer arithmetic, and that is where the "faster" has to come from: a model whose int8
# weights are turned back into floats before every matmul is smaller on disk and exactly as
# slow. This tutorial opens `minicompress.kernels`, the Numba kernels the integer models use:
#
# 1. why an int8 product accumulates in int32, and how requantization returns to int8;
# 2. zero points, and why they never enter the inner loop;
# 3. how the GEMM is made fast, measured against NumPy's float32 BLAS on this machine;
# 4. a CSR sparse x dense product for pruned layers, measured honestly;
# 5. im2col, which turns a convolution into the same GEMM;
# 6. the engine's fast back end: the same im2col, col2im and max pool in Numba, for training;
# 7. a whole integer network in one call, so that batch 1 pays no Python between layers.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

from minicompress.kernels import (
    MAX_K,
    csr_linear,
    gemm_reference,
    gemm_s8s8s32,
    im2col,
    pack_weights,
    qlinear,
    quantize,
    requantize,
    to_csr,
)

REPEATS = 5 if FAST else 30
rng = np.random.default_rng(0)


def best_ms(fn, repeats=REPEATS):
    """Best wall time in ms after one warm-up call (which also triggers Numba compilation)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


# %% [markdown]
# ## 1. Why int32 accumulation
#
# An int8 times an int8 lies in [-16256, 16384]: it fits in int16. A dot product adds K of
# them, and already two products of 127 x 127 overflow int16 (32767). So the hardware and every
# int8 library multiply int8 pairs and *accumulate in int32*. The worst case,
# K x 128 x 128 = K x 2^14, fits int32 for K up to 2^17; with a uint8 activation and zero points
# on both sides a term can reach 255 x 255, so minicompress guarantees exactness up to
# `MAX_K` = 32768 and refuses larger K.

# %%
a = np.full((1, 784), 127, dtype=np.int8)
b = np.full((784, 1), 127, dtype=np.int8)
in_int16 = (a.astype(np.int16) @ b.astype(np.int16))[0, 0]
print(f"784 x 127 x 127 = {784 * 127 * 127}; int16 accumulation gives {in_int16} (wrapped), "
      f"int32 gives {gemm_s8s8s32(a, b)[0, 0]}; MAX_K = {MAX_K}")

# %% [markdown]
# ## 2. Requantization and zero points
#
# A quantized tensor stores q with real value r = s (q - z): scale s, zero point z. For a
# Linear layer y = x W^T + b with uint8 activations (s_x, z_x), int8 weights with one scale per
# output channel (s_w[j], z_w = 0) and an output quantized as (s_y, z_y):
#
#     y_j = s_x s_w[j] * sum_k (q_x[k] - z_x) q_w[k, j] + b_j
#     q_y = clip(round((acc_j + round(b_j / (s_x s_w[j]))) * s_x s_w[j] / s_y) + z_y, 0, 255)
#
# `acc` is the exact int32 dot product; the float multiplier M = s_x s_w / s_y is applied once
# per output, not per multiply. minicompress computes (acc + bias) * M in float64 and rounds
# half to *even* (`np.rint`), like NumPy; ReLU is free: clamp below at z_y.
#
# The zero point would cost a subtraction per multiply if it stayed inside the loop, so it is
# expanded away:
#
#     sum_k (q_x - z_x)(q_w - z_w) = sum_k q_x q_w - z_w sum_k q_x - z_x sum_k q_w + K z_x z_w
#
# The column sums of q_w are computed once when the weights are packed, the row sums of q_x
# once per call; the inner loop is the plain product. An int8 activation is turned into a
# uint8 one by flipping its sign bit (adding 128) and folding the 128 into z_x, so a single
# uint8 x int8 kernel serves both.

# %%
print("round half to even:", requantize(np.array([[1, 3, 5, -1, -3]], np.int32), 0.5, 0, np.int8))

k, n, m = 784, 300, 64
w = (rng.standard_normal((n, k)) * np.sqrt(2 / k)).astype(np.float32)  # a Linear weight (out, in)
bias = (rng.standard_normal(n) * 0.1).astype(np.float32)
x = rng.random((m, k), dtype=np.float32)  # pixel-like inputs in [0, 1)
y_float = np.maximum(x @ w.T + bias, 0)

s_x, z_x = 1 / 255, 0  # inputs in [0, 1]
s_w = np.abs(w).max(axis=1) / 127  # per output channel, symmetric
q_w = np.clip(np.rint(w / s_w[:, None]), -127, 127).astype(np.int8)
s_y = float(y_float.max()) / 255
q_x = quantize(x, s_x, z_x, np.uint8)
packed = pack_weights(q_w.T)  # packed once, reused by every call
bias_q = np.rint(bias / (s_x * s_w)).astype(np.int32)
q_y = qlinear(q_x, packed, bias_q, z_x, s_x * s_w / s_y, 0, np.uint8, relu=True)
err = np.abs(q_y * s_y - y_float)
print(f"int8 layer vs float: max |error| {err.max():.4f} = {err.max() / s_y:.2f} output steps; "
      f"output step s_y = {s_y:.4f}")

# %% [markdown]
# Every kernel has a plain NumPy oracle in `minicompress.kernels.reference`; the tests check
# the Numba kernels against them *bit for bit* on random shapes, extremes and zero points:

# %%
qa = rng.integers(-128, 128, (5, 13), dtype=np.int8)
qb = rng.integers(-128, 128, (13, 7), dtype=np.int8)
print("kernel == oracle:", np.array_equal(gemm_s8s8s32(qa, qb), gemm_reference(qa, qb)))

# %% [markdown]
# ## 3. Making it fast
#
# NumPy has no fast integer matmul: an int32 `@` runs a plain C loop. A naive Numba triple loop
# is better but still a fraction of float BLAS, which uses every SIMD lane. The CPU here has
# AVX-512 VNNI, whose `vpdpbusd` multiplies 64 uint8 x int8 pairs and adds them in groups of
# four into 16 int32 lanes, in one instruction: 128 operations, where a float32 FMA does 32.
# LLVM does not find it from a plain loop (`minicompress/kernels/_vnni.py` lists what we tried
# and what the compiler made of it), so the micro-kernel emits it directly with
# `numba.extending.intrinsic`. Around it:
#
# * **packing** (`kernels/packing.py`): the weights are stored once as panels of 32 columns,
#   with the 4 values of k = 4q..4q+3 of each column side by side, so one 64-byte load feeds
#   one `vpdpbusd`;
# * **register tiling** (`kernels/gemm_vnni.py`): 4 rows x 32 columns = 8 zmm accumulators stay in registers for the
#   whole K loop; each step loads 2 weight vectors, broadcasts 4 bytes of each of the 4 rows,
#   and issues 8 `vpdpbusd`;
# * **blocking and threads** (`kernels/gemm_tiles.py`): `prange` runs over (64-row block, panel group) tasks, so a
#   weight panel (K x 32 bytes, 25 KB for K = 784) is reused from L1 by 16 tiles;
# * **fused epilogue**: each finished 64 x 32 int32 tile is requantized to uint8 while it is
#   still in L1; the int32 matrix is never written out.

# %%
shapes = [(64, 784, 300), (256, 784, 300)] if FAST else [(1, 784, 300), (64, 784, 300),
                                                       (256, 784, 300), (256, 300, 100)]
print(f"{'M x K x N':>14} {'float32 BLAS':>14} {'int8 qlinear':>14} {'speed-up':>9}")
gops = {"float32 BLAS": [], "int8 qlinear": []}
for m, k, n in shapes:
    xf = rng.standard_normal((m, k)).astype(np.float32)
    wf = rng.standard_normal((k, n)).astype(np.float32)
    xq = rng.integers(0, 256, (m, k), dtype=np.uint8)
    pw = pack_weights(rng.integers(-128, 128, (k, n), dtype=np.int8))
    scale = np.full(n, 1.0 / (k * 64))
    t_f = best_ms(lambda xf=xf, wf=wf: xf @ wf)
    t_q = best_ms(lambda xq=xq, pw=pw, s=scale: qlinear(xq, pw, None, 128, s, 0, np.uint8, relu=True))
    gop = 2 * m * k * n / 1e6  # operations / 1e6, so ops / ms -> GOP/s
    gops["float32 BLAS"].append(gop / t_f)
    gops["int8 qlinear"].append(gop / t_q)
    print(f"{f'{m}x{k}x{n}':>14} {t_f:8.3f} ms {gop / t_f:4.0f}G {t_q:8.3f} ms {gop / t_q:4.0f}G "
          f"{t_f / t_q:8.2f}x")

fig, ax = plt.subplots(figsize=(6, 3))
pos = np.arange(len(shapes))
for i, (name, values) in enumerate(gops.items()):
    ax.bar(pos + 0.4 * i - 0.2, values, width=0.4, label=name)
ax.set_xticks(pos, [f"{m}x{k}x{n}" for m, k, n in shapes])
ax.set_ylabel("GOP/s (2 M K N / time)")
ax.set_title("one Linear layer, this machine, this run")
ax.legend()
savefig(fig, "09_int8_vs_float32.png")

# %% [markdown]
# (GOP/s counts 2 M K N operations. The machine is shared, so the numbers move from run to run;
# `python benchmarks/kernels.py` measures every shape with more repeats, against PyTorch's
# fbgemm too when it is installed.) Batch 1 is a matrix-vector product: the whole weight
# matrix is read to do 2 K N operations, so it is bound by memory and call overhead and the
# speed-up is smallest there.
#
# ## 4. Sparse x dense for pruned layers
#
# A pruned weight matrix keeps its nonzeros in CSR: for each row, the column indices and values
# of its nonzeros. `csr_linear(x, indptr, indices, values, bias, relu)` computes x W^T for W in
# CSR, one output row per parallel task. Every nonzero costs three loads (index, value and the
# input element it points to), where dense BLAS streams contiguous memory through all of its
# SIMD lanes, so the sparse product only wins when the matrix is very sparse. Measured:

# %%
print(f"{'density':>8} {'batch':>6} {'dense BLAS':>11} {'CSR':>10} {'speed-up':>9}")
for density in (0.1, 0.03):
    wd = (rng.standard_normal((300, 784)) * (rng.random((300, 784)) < density)).astype(np.float32)
    indptr, indices, values = to_csr(wd)
    for batch in (1, 64):
        xb = rng.random((batch, 784), dtype=np.float32)
        assert np.allclose(csr_linear(xb, indptr, indices, values), xb @ wd.T, atol=1e-4)
        csr = (indptr, indices, values)
        t_d = best_ms(lambda xb=xb, wd=wd: xb @ wd.T, REPEATS * 10)
        t_s = best_ms(lambda xb=xb, csr=csr: csr_linear(xb, *csr), REPEATS * 10)
        print(f"{density:8.2f} {batch:6d} {t_d * 1e3:8.1f} us {t_s * 1e3:7.1f} us {t_d / t_s:8.2f}x")

# %% [markdown]
# ## 5. im2col: a convolution is a GEMM
#
# `im2col(x, kernel, stride, padding, pad_value)` copies each receptive field of an NCHW input
# into one row, channels-then-kernel-rows-then-kernel-columns, so that
# `conv(x, w) = im2col(x) @ w.reshape(C_out, -1).T`. For a quantized input the padding must be
# the *zero point*, the integer that means real 0, hence `pad_value`. The rows are exactly
# the `x_q` operand of `qlinear`, so a quantized Conv2d is im2col followed by the int8 GEMM.

# %%
xc = rng.standard_normal((2, 3, 8, 8))
wc = rng.standard_normal((4, 3, 3, 3))
cols = im2col(xc, 3, stride=1, padding=1)
y_gemm = (cols @ wc.reshape(4, -1).T).reshape(2, 8, 8, 4).transpose(0, 3, 1, 2)
xp = np.pad(xc, ((0, 0), (0, 0), (1, 1), (1, 1)))
y_direct = np.zeros((2, 4, 8, 8))
for i in range(8):
    for j in range(8):
        y_direct[:, :, i, j] = np.einsum("ncij,ocij->no", xp[:, :, i:i + 3, j:j + 3], wc)
print(f"im2col {cols.shape}, conv as GEMM vs direct loop: max diff "
      f"{np.abs(y_gemm - y_direct).max():.1e}")

# %% [markdown]
# ## 6. The engine's fast back end
#
# Training a convolutional network spends its time moving data, not multiplying: unfolding
# patches (im2col), adding them back (col2im, in the backward pass) and max pooling. The
# engine's readable NumPy versions (`minicompress/engine/conv.py`) use strided views and k*k
# passes over the batch; `minicompress.kernels.unfold`, `fold` and `max_pool2d_forward` /
# `max_pool2d_backward` do the same arithmetic in one pass each. The NumPy code stays: it is the
# oracle the kernels are tested against, and `minicompress.engine.backend` switches between
# them (as minitorch keeps `tensor_ops` beside `fast_ops`). The fast convolution also cuts the
# batch into one slice per thread (`minicompress.set_num_threads`, as in PyTorch) and runs each
# slice's unfold and matrix products at once; the sums over the batch are made afterwards, in
# image order, so the thread count changes the speed, never the numbers. The numbers are the same:

# %%
import minicompress.engine.functional as F  # noqa: E402
from minicompress.engine import Tensor, backend  # noqa: E402

xb = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
wb = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
outs, times = {}, {}
for name in backend.BACKENDS:
    with backend.using(name):
        def step():
            x, w = Tensor(xb, requires_grad=True), Tensor(wb, requires_grad=True)
            y = F.max_pool2d(F.conv2d(x, w, None, 1, 2).relu(), 2)
            y.sum().backward()
            return y.data, w.grad
        outs[name] = step()
        times[name] = best_ms(step)
print("same output and weight gradient:", all(np.array_equal(a, b) for a, b in zip(outs["numpy"], outs["numba"])))
print(f"LeNet-5's first conv + ReLU + pool, forward and backward at batch 64: numpy {times['numpy']:.2f} ms, "
      f"numba {times['numba']:.2f} ms")

# %% [markdown]
# ## 7. A whole integer network in one call
#
# At batch 1 each `qlinear` call costs a few microseconds of Python checks and Numba dispatch,
# more than the arithmetic of LeNet-300-100's small layers. `pack_integer_network` checks and
# packs the layers once; `integer_network_forward` then quantizes the input and runs every
# layer in one Numba call, bit for bit the same as the chain of `qlinear` calls (the integer
# model of chapter 4, `to_integer(...)`, does this for every MLP).

# %%
from minicompress.kernels import integer_network_forward, pack_integer_network  # noqa: E402

dims = [784, 300, 100, 10]
ws = [(rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32) for i, o in zip(dims[:-1], dims[1:])]
xs = rng.random((1, 784), dtype=np.float32)
acts, h = [xs], xs
for i, w in enumerate(ws):
    h = h @ w.T
    acts.append(np.maximum(h, 0) if i < 2 else h)
s_act = [float(a.max()) / 255 for a in acts[:3]]
s_ws = [np.abs(w).max(axis=1) / 127 for w in ws]
pws = [pack_weights(np.rint(w / s[:, None]).astype(np.int8).T) for w, s in zip(ws, s_ws)]
biases = [np.zeros(w.shape[0], np.int32) for w in ws]
scales = [s_act[i] * s_ws[i] / (s_act[i + 1] if i < 2 else 1.0) for i in range(3)]
net = pack_integer_network(pws, biases, scales, [0, 0, 0, 0], s_act[0])


def chain(x):
    q = quantize(x, s_act[0], 0, np.uint8)
    for i, pw in enumerate(pws):
        q = qlinear(q, pw, biases[i], 0, scales[i], 0, np.float32 if i == 2 else np.uint8, relu=i < 2)
    return q


print("one call == qlinear chain:", np.array_equal(integer_network_forward(net, xs), chain(xs)))
print(f"batch 1: qlinear chain {1e3 * best_ms(lambda: chain(xs)):.1f} us, one call "
      f"{1e3 * best_ms(lambda: integer_network_forward(net, xs)):.1f} us, float32 NumPy "
      f"{1e3 * best_ms(lambda: np.maximum(np.maximum(xs @ ws[0].T, 0) @ ws[1].T, 0) @ ws[2].T):.1f} us")

# %% [markdown]
# ## Exercises
#
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **kernels**: write these functions (6 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `kernels.gemm_s8s8s32` | `gemm_s8s8s32(a, b)`: int8 x int8 -> int32 matrix product: ``C = a @ b``, exact. | – |
# | `kernels.gemm_u8s8s32` | `gemm_u8s8s32(a, b, a_zero_point, b_zero_point=0)`: Quantized GEMM with zero points: ``C = (a - a_zp) @ (b - b_zp)``, exact in int32. | – |
# | `kernels.requantize` | `requantize(acc, scale, zero_point, out_dtype, bias=None, relu=False)`: Requantize an int32 accumulator to int8 / uint8: ``q = clip(rint((acc + bias) * scale) + zero_point)``. | – |
# | `kernels.to_csr` | `to_csr(dense)`: Compressed sparse row (CSR) form of a 2-D array. | – |
# | `kernels.csr_matmul` | `csr_matmul(indptr, indices, values, dense)`: ``A @ dense`` with A (M, K) given in CSR form (``indptr`` (M + 1,), ``indices``, ``values``). | – |
# | `kernels.im2col` | `im2col(x, kernel_size, stride=1, padding=0, pad_value=0)`: Unfold NCHW patches into rows so that a convolution becomes one matrix product. | – |
#
# ```bash
# minicompress exercises --chapter kernels --out my_exercises   # one stub per task
# minicompress check my_exercises/kernels.py --chapter kernels
# python -m pytest -m kernels --candidate my_exercises/kernels.py
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. Multiplying int8 arrays in int8 wraps
# around (-128 · -128 = 16384 does not fit), and casting the result afterwards is too late:
#
# ```python
# def gemm_s8s8s32(a, b):
#     return (a @ b).astype(np.int32)
# ```
#
# `minicompress check my_exercises/kernels.py --task kernels.gemm_s8s8s32` prints (exit code 1):
#
# ```
# kernels.gemm_s8s8s32  fail  hand-worked example (16384 - 16256 = 128; -128 + 128 = 0): 1 of 2 differ; first at index (0, 0): expected 128, got -128; inputs: a=array([[-128,  127], [   1,   -1]], dtype=int8), b=array([[-128], [-128]], dtype=int8); expected: array([[128], [  0]], dtype=int32); got: array([[-128], [   0]], dtype=int32)
#     diagnosis: you multiply and sum in int8, which wraps around; widen to int32 first (a.astype(np.int32))
#
# kernels:           1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# ### Explore further
#
# 1. Run the kernel tests: `pytest -m kernels`. Then break the rounding: in
#    `minicompress/kernels/gemm_tiles.py` replace the `MAGIC` trick in `_epilogue` by `np.floor(y + 0.5)`
#    (round half *up*) and find which test catches it, and on which input.
# 2. Why is `MAX_K` 32768 and not 131072? Write the worst-case uint8/int8 term with both zero
#    points and check it against `gemm_u8s8s32` at K = MAX_K (`test_gemm_exact_at_max_k_extremes`).
# 3. `vpmaddubsw`, the pre-VNNI instruction, adds two uint8 x int8 products into an *int16*
#    with saturation. Find the pair of inputs for which that is wrong, and explain why
#    minicompress does not use it.
# 4. Measure: at what density does `csr_linear` at batch 1 start to beat `x @ W.T` on your
#    machine? Plot the speed-up against density (save it under `tutorials/figures/`).
# 5. Build the integer LeNet-300-100 forward yourself from `quantize` and three `qlinear`
#    calls and compare it with `python benchmarks/kernels.py --quick` ("forward").
# 6. In `minicompress/kernels/pool.py`, make the general kernel's `_take` keep the *last* maximum
#    (`>=` instead of `>`). Which test fails, and why does the gradient check alone not notice on
#    random inputs? (LeNet's 2 x 2 pooling at stride 2 runs `_forward_2x2`, which is untouched.)
# 7. Time one LeNet-5 training epoch under `backend.using("numpy")` and under the default, with
#    `python -m cProfile -s tottime`: which functions left the top of the profile?

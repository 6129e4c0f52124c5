# %% [markdown]
# # 10 · Out and in: ONNX Runtime runs our compressed model, PyTorch weights come in
#
# Everything so far ran inside minicompress. A model is deployed elsewhere, though, most
# often through ONNX (a file format for computation graphs) and ONNX Runtime (the engine that
# runs it on servers, phones and browsers). And a model you want to compress was probably
# trained in PyTorch. This chapter crosses both borders:
#
# 1. compress LeNet-5 here (prune, int8 static PTQ), export it three ways, run it in ONNX Runtime;
# 2. file sizes: ONNX beside our packed `.mcz`;
# 3. speed: ONNX Runtime beside minicompress's own int8 kernels;
# 4. a lesson in rounding: ONNX rounds half to even, and where minicompress does not;
# 5. weights from PyTorch, through safetensors.
#
# ONNX Runtime is also the best outside check of our integer arithmetic: nobody here wrote it.
# This chapter needs the optional extra: `pip install 'minicompress[onnx]'`.

# %%
import os
import tempfile
import timeit

import matplotlib.pyplot as plt
import numba
import numpy as np
from _common import FAST, savefig

from minicompress.compress.kmeans import share_weights
from minicompress.compress.packing import pack
from minicompress.compress.pruning import KeepPruned, global_unstructured, prunable_parameters
from minicompress.compress.quantization import prepare, quantize_model, static_ptq, to_integer
from minicompress.data import load_mnist10k
from minicompress.engine import Tensor, no_grad
from minicompress.equations import round_half_away
from minicompress.interop import export_onnx, import_safetensors, onnx_session, run_onnx, to_onnx
from minicompress.io import copy_model, save_model
from minicompress.nn import Linear, Sequential
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import fit, predict

x_train, y_train, x_test, y_test = load_mnist10k()
folder = tempfile.mkdtemp(prefix="minicompress-10-")
accuracy = lambda logits: float((logits.argmax(1) == y_test).mean())
base, _ = trained_model("lenet5", epochs=1 if FAST else None)
print(f"LeNet-5, trained here: test accuracy {accuracy(predict(base, x_test)):.4f}")

# %% [markdown]
# ## 1. Compress here, run there
#
# Prune 80 % of the weights (one global magnitude ranking, chapter 05), fine-tune with the
# masks held, then int8 static PTQ (chapter 04): per-channel symmetric weights, uint8
# activations calibrated on 4 × 256 training digits. Then three exports of one model:
#
# * **float**: `Gemm`, `Conv`, `Relu`, `MaxPool`, `Flatten`; the masks are baked into the weights;
# * **QDQ**: the same graph with `QuantizeLinear` → `DequantizeLinear` pairs around weights and
#   activations, ONNX's standard way to say "this tensor is int8"; ONNX Runtime fuses them into
#   its own int8 kernels;
# * **integer operators**: `MatMulInteger` / `ConvInteger` on uint8 × int8 with int32
#   accumulators, then our requantization written out as ONNX nodes in float64. This is
#   exactly what minicompress's integer model computes, so the two must agree bit for bit.

# %%
model = copy_model(base)
opt = Adam(model.parameters(), lr=1e-3)
global_unstructured(prunable_parameters(model), 0.8, optimizer=opt)
n_tune = 2000 if FAST else len(x_train)
fit(model, opt, x_train[:n_tune], y_train[:n_tune], epochs=1, seed=0, callbacks=[KeepPruned()], progress=False)
qmodel = static_ptq(model, [x_train[i * 256:(i + 1) * 256] for i in range(4)], per_channel=True)
imodel = to_integer(qmodel)

paths = {kind: os.path.join(folder, f"lenet5-{kind}.onnx") for kind in ("float", "qdq", "integer")}
for kind, m in (("float", model), ("qdq", qmodel), ("integer", imodel)):
    export_onnx(m, paths[kind])

ours = {"float": predict(model, x_test), "qdq": predict(qmodel, x_test), "integer": imodel.predict(x_test)}
theirs = {kind: run_onnx(path, x_test) for kind, path in paths.items()}
print(f"{'export':<9}{'minicompress':>14}{'ONNX Runtime':>14}{'same prediction':>17}{'max |Δ logit|':>15}")
for kind in paths:
    same = np.mean(ours[kind].argmax(1) == theirs[kind].argmax(1))
    print(f"{kind:<9}{accuracy(ours[kind]):>14.4f}{accuracy(theirs[kind]):>14.4f}{same:>17.2%}"
          f"{np.abs(ours[kind] - theirs[kind]).max():>15.3g}")
print("integer export bit-identical to minicompress's integer model:",
      np.array_equal(theirs["integer"], ours["integer"]))

# %% [markdown]
# The float logits differ in the 7th digit (another summation order). The QDQ graph differs
# a little more: ONNX Runtime rewrites it before running it, rounding each float bias to int32
# (as our integer model does) and fusing the pattern into its own int8 kernels, which
# requantize with a float32 multiplier, so a value within float32's error of a rounding step
# can land on the other side; at 8 bits that flips at most a few of the 2,000 predictions
# (the test suite asserts ≥ 99.9 % agreement). The integer export is identical to the
# last bit on every digit: each operation in it is an exact integer operation or the same
# IEEE float64 product and the same rounding our kernels use. That is the strongest test our
# int8 kernels have: an independent implementation (MLAS, in ONNX Runtime) of the same
# arithmetic, on all 2,000 test digits.
#
# Here is what the integer graph looks like: a chain of integer products and their
# requantization.

# %%
proto = to_onnx(imodel)
ops = [n.op_type for n in proto.graph.node]
print({op: ops.count(op) for op in dict.fromkeys(ops)})

# %% [markdown]
# ## 2. File sizes: ONNX beside the packed `.mcz`
#
# ONNX stores every weight densely, so the 80 % of zeros still take their bytes; int8 storage
# cuts the float file by about 4×. The `.mcz` of chapter 08 stores only the nonzeros, as
# indices into a small codebook, Huffman-coded; it needs the weights clustered first (here
# 5 bits, no fine-tuning), and it needs minicompress to read it.

# %%
clustered = copy_model(model)
share_weights(clustered, bits=5)
sizes = {"float .npz": os.path.join(folder, "lenet5.npz"), "packed .mcz": os.path.join(folder, "lenet5.mcz")}
save_model(model, sizes["float .npz"])
pack(clustered, sizes["packed .mcz"])
sizes.update({"float .onnx": paths["float"], "QDQ .onnx": paths["qdq"], "integer .onnx": paths["integer"]})
nbytes = {k: os.path.getsize(v) for k, v in sizes.items()}
for k, v in nbytes.items():
    print(f"{k:<15}{v:>9} bytes  = {v / nbytes['packed .mcz']:5.1f} x the .mcz")

# %% [markdown]
# ## 3. Speed: ONNX Runtime beside minicompress's int8 kernels
#
# Best of a few runs at batch 1 and batch 256, one thread each, measured now, in this run,
# on this (shared) machine: only the ratios mean anything. `python benchmarks/onnx_runtime.py`
# does this properly for both LeNets.

# %%
numba.set_num_threads(1)  # one thread for our kernels too: a fair race on a shared machine
sessions = {kind: onnx_session(path, threads=1) for kind, path in paths.items()}


def best_ms(fn, repeats=3 if FAST else 20):
    fn()  # warm-up: Numba compiles, ONNX Runtime allocates
    return 1e3 * min(timeit.repeat(fn, number=1, repeat=repeats))


timings = {}
for batch in (1, 256):
    x = np.ascontiguousarray(x_test[:batch])
    timings[batch] = {"minicompress int8": best_ms(lambda x=x: imodel.forward_int(x))}
    for kind, s in sessions.items():
        timings[batch][f"ORT {kind}"] = best_ms(lambda s=s, x=x: s.run(None, {"input": x}))
    ref = timings[batch]["minicompress int8"]
    print(f"batch {batch}: " + ", ".join(f"{k} {v:.3g} ms ({v / ref:.3g}x)" for k, v in timings[batch].items()))

# %% [markdown]
# Read the ratios, not the milliseconds. On LeNet-5 ONNX Runtime is ahead on every path: its
# convolutions are dedicated kernels, while our integer convolution is an im2col of the uint8
# image, one GEMM and a transpose per layer. The integer-operator export is its slowest path,
# because the requantization runs as separate element-wise float64 nodes (Cast, Mul, Round,
# Add, Clip, Cast) where our GEMM does it in its epilogue. `benchmarks/onnx_runtime.py` also
# times LeNet-300-100, which has no convolution.
#
# ## 4. A lesson in rounding: half to even
#
# ONNX's `QuantizeLinear` and `Round` round a tie (x.5) to the even neighbour: 0.5 → 0,
# 1.5 → 2, 2.5 → 2. School rounding (四舍五入, the documents' round) goes away from zero:
# 0.5 → 1, 2.5 → 3. Half to even has no bias: over many ties it rounds up as often as down.
# Watch ONNX Runtime do it: a quantizer with scale 1 and zero point 0, exported alone.

# %%
probe = prepare(Sequential(Linear(4, 1)))[0]  # the input quantizer of a prepared model
probe.calibrating = True
probe(Tensor(np.array([[0.0, 0.0, 0.0, 255.0]], dtype=np.float32)))  # range [0, 255]: s = 1, z = 0
probe.calibrating = False
probe.eval()  # freeze the range: in training mode the quantizer would keep observing
ties = np.array([[0.5, 1.5, 2.5, 3.5]], dtype=np.float32)
onnx_rounded = run_onnx(onnx_session(to_onnx(Sequential(probe), input_shape=(4,)), optimize=False), ties)
with no_grad():
    ours_rounded = Sequential(probe)(Tensor(ties)).data
print("ties               ", ties[0])
print("ONNX QuantizeLinear", onnx_rounded[0])
print("minicompress (rint)", ours_rounded[0])
print("half away from zero", round_half_away(ties)[0])

# %% [markdown]
# **Where minicompress rounds otherwise.** Every quantizer of the practice rounds half to even
# with `np.rint`: `quantize`, `fake_quantize`, the kernels' requantization, hence PTQ, QAT and
# the integer model, which is why the exports above can match. The documents' formulas round
# half away from zero (`round_half_away`): E2 and the fixed-point variant on weights, E4 on
# activations, E6 by ratio (`quantize_model(..., "e2" | "e4" | "e6" | "fixed-point")`).
#
# **What that changes, measured on mnist10k.** A tie needs x/s to be *exactly* k + ½. Trained
# float32 weights almost never are:

# %%
w_all = np.concatenate([m.effective("weight").data.ravel() for m, _ in prunable_parameters(base)])
for label, steps in (("E6, Q = 8", w_all * 8.0), ("fixed-point, b = 8", w_all * 128.0)):
    steps = steps.astype(np.float64)
    n_ties = int(np.sum(steps - np.floor(steps) == 0.5))
    print(f"{label:<20}: {n_ties} exact ties among {w_all.size} weights")
e6_away = quantize_model(base, "e6")
print("E6 with half away vs the same with half even: identical weights:",
      all(np.array_equal(np.rint(m.effective('weight').data * 8.0) / 8.0, q.weight.data)
          for (m, _), (q, _) in zip(prunable_parameters(base), prunable_parameters(e6_away))))

# %% [markdown]
# Ties appear when the values already sit on a grid one bit finer than the new one, i.e. when
# you requantize integers. MNIST's pixels are 8-bit integers p ∈ {0, …, 255}; storing them in
# 7 bits is q = round(p / 2), and every odd p is a tie. Count them, and see what they do to
# the model's accuracy (the 7-bit images, (2q)/255, fed to the float LeNet-5):

# %%
pixels = np.rint(x_test * 255).astype(np.int64)
q_even, q_away = np.rint(pixels / 2), round_half_away(pixels / 2.0)
differ = q_even != q_away
print(f"odd pixels (ties): {np.mean(pixels % 2 == 1):.2%} of {pixels.size}; rounded differently: {differ.mean():.2%}")
acc_even = accuracy(predict(base, (2 * q_even / 255).astype(np.float32)))
acc_away = accuracy(predict(base, (2 * q_away / 255).astype(np.float32)))
print(f"LeNet-5 on 7-bit digits: half to even {acc_even:.4f}, half away {acc_away:.4f}, "
      f"8-bit originals {accuracy(predict(base, x_test)):.4f}")
print(f"mean pixel shift: half to even {np.mean(2 * q_even - pixels):+.3f}, half away {np.mean(2 * q_away - pixels):+.3f}"
      " (in 8-bit steps)")

# %% [markdown]
# Half away from zero pushes every tie up: on non-negative data it is a systematic bias
# (+0.5 step on every tie), exactly what half to even avoids. The two conventions give
# different integers on many pixels here, yet the accuracy barely moves either way: a
# classifier is robust to ±1 in the last bit. The difference matters where bits must match,
# as in a file checked against another runtime: minicompress's integer model matches ONNX
# Runtime bit for bit because both round half to even. One more detail: ONNX keeps scales as
# float32 and divides in float32, while `quantize` divides by a float64 scale; for this
# model's input quantizer (s = 1/255) the two give the same integers on every test pixel:

# %%
qp = qmodel[0].qparams()
ours_q = np.clip(np.rint(x_test / qp.scale) + qp.zero_point, 0, 255)
onnx_q = np.clip(np.rint(x_test / np.float32(qp.scale)) + qp.zero_point, 0, 255)
print(f"input scale {float(qp.scale):.6g}: pixels quantized differently {int(np.sum(ours_q != onnx_q))} of {x_test.size}")

# %% [markdown]
# ## 5. Weights from PyTorch
#
# `safetensors` stores named tensors as raw bytes after a JSON header; unlike a pickled
# `torch.save` file, loading it cannot run code. PyTorch's `Linear` and `Conv2d` store weights
# as minicompress does, so only names need translating: an `nn.Sequential` like the zoo's
# twins uses our names (`0.weight`), and the `conv1`/`fc1` names of PyTorch's LeNet tutorial
# are mapped to the k-th Conv2d and Linear; anything else takes a `name_map`. Here a "PyTorch"
# file is written with the safetensors NumPy API (no torch needed); `benchmarks/pytorch_lenet5.py`
# does it with a LeNet-5 really trained in PyTorch, then prunes, quantizes and exports it. On
# the command line:
#
#     minicompress import weights.safetensors --model lenet5 --out lenet5.npz
#     minicompress export lenet5.npz --format onnx --quantize integer --per-channel --out lenet5.onnx

# %%
from safetensors.numpy import save_file  # noqa: E402  (part of the [onnx] extra)

torch_names = {"0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2", "11": "fc3"}
state = {f"{torch_names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in base.state_dict().items()}
weights_path = os.path.join(folder, "lenet5.safetensors")
save_file(state, weights_path)
print("names in the file:", list(state)[:4], "...")
imported = import_safetensors(weights_path, "lenet5")
print(f"imported: test accuracy {accuracy(predict(imported, x_test)):.4f}; "
      f"same logits as the original: {np.array_equal(predict(imported, x_test), predict(base, x_test))}")
try:
    bad = dict(state)
    bad.pop("fc3.bias")
    save_file(bad, weights_path)
    import_safetensors(weights_path, "lenet5")
except ValueError as err:
    print("a tensor missing:", err)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
names = list(nbytes)
axes[0].barh(names, [nbytes[k] / 1024 for k in names], color="tab:blue")
axes[0].set_xlabel("KiB")
axes[0].set_title("pruned, int8 LeNet-5: file sizes")
for ax_i, batch in enumerate((1, 256)):
    ref = timings[batch]["minicompress int8"]
    labels = list(timings[batch])
    axes[1].bar(np.arange(len(labels)) + 0.4 * ax_i, [timings[batch][k] / ref for k in labels], width=0.4,
                label=f"batch {batch}")
axes[1].set_xticks(np.arange(len(labels)) + 0.2, labels, rotation=20, fontsize=8)
axes[1].axhline(1.0, color="gray", lw=0.8)
axes[1].set_ylabel("time / minicompress int8")
axes[1].set_title("latency, this run (indicative)")
axes[1].legend()
savefig(fig, "10_export_and_import.png")

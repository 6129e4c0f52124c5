# %% [markdown]
# # 05 · Pruning: removing weights for real
#
# Two of the documents describe pruning. Read along:
#
# * doc 001 §3.3 ([E3](../docs/documents.md#e3-pruning-by-retention-ratio)), "模型剪枝": keep a *retention ratio* r of the
#   neurons and weights and delete the rest (§3.3.1); then §3.3.3 writes the equation
#   Θ̃ = (1 − r)·Θ. We call it **E3**.
# * doc 000 §3.1 ([E5](../docs/documents.md#e5-random-candidate-pruning)), "权重裁剪": pick a proportion of the weights at
#   random, compute their mean and variance, decide from those which to keep, and
#   W_pruned = W_original − W_removed. We call it **E5**.
#
# We run both exactly as written on a trained LeNet-300-100, measure what they do, and then
# build what practice uses: magnitude pruning with masks (Han et al. 2015), structured
# pruning that physically shrinks the model, gradual pruning during training (AGP, Zhu & Gupta
# 2017), a per-layer sensitivity scan, and sparse storage whose bytes we count exactly.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

import minicompress.compress.pruning as P
from minicompress.compress.relative_csr import RelativeCSR
from minicompress.compress.sparse_inference import DenseInference, SparseInference
from minicompress.data import load_mnist10k
from minicompress.equations import random_candidate_pruning, scale_by_retention
from minicompress.io import copy_model
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit, predict

x_train, y_train, x_test, y_test = load_mnist10k()
base, info = trained_model("lenet-300-100")


def acc(model):
    return evaluate(model, x_test, y_test)["accuracy"]


def kept(model):
    """Fraction of the *weights* (biases excluded) that are nonzero."""
    return P.sparsity_report(model)["weights"]["kept_fraction"]


print(base)
print(f"trained LeNet-300-100: test accuracy {acc(base):.4f}, {base.num_parameters()} parameters")

# %% [markdown]
# ## E3 as written: every parameter times (1 − r)
#
# `minicompress.equations.scale_by_retention` implements §3.3.3 exactly; on a model it returns
# a new state dict. Count the nonzero weights before and after, and watch r = 1, "retain
# everything".

# %%
print(f"{'r':>5} {'kept weights':>13} {'accuracy':>9} {'max |logit|':>12}")
for r in [0.0, 0.5, 0.9, 1.0]:
    m = copy_model(base)
    m.load_state_dict(scale_by_retention(m, r))  # == P.e3_scale_by_retention(m, r)
    print(f"{r:>5} {kept(m):>13.4f} {acc(m):>9.4f} {np.abs(predict(m, x_test[:200])).max():>12.4f}")

# %% [markdown]
# Nothing is removed: the kept fraction stays 1.0 for every r < 1. The network's outputs
# shrink (each ReLU layer is positively homogeneous, so the argmax barely moves until the
# scaled biases tip it), and at r = 1 every weight is zero: the model predicts one class.
# The prose of §3.3.1 describes something else, **keep the fraction r with the largest
# magnitude**; `P.e3_keep_ratio` is that reading, through the same mask interface as every
# pruning function in this chapter.

# %%
print(f"{'r':>5} {'as written: kept':>17} {'acc':>7} | {'keep-ratio: kept':>17} {'acc':>7}")
for r in [0.5, 0.2, 0.1, 0.05]:
    written = P.e3_scale_by_retention(copy_model(base), r)
    reading = P.e3_keep_ratio(copy_model(base), r)
    print(f"{r:>5} {kept(written):>17.4f} {acc(written):>7.4f} | {kept(reading):>17.4f} "
          f"{acc(reading):>7.4f}")

# %% [markdown]
# ## E5 as written: random candidates, mean and variance
#
# doc 000 never says *how* μ and σ² decide. `random_candidate_pruning` states its rule: a
# candidate is removed when |w − μ| ≤ k·σ. Whatever the rule, three invariants hold, and we
# check them on the first layer.

# %%
w1 = base[1].weight.data
w_pruned, w_removed, candidates = random_candidate_pruning(w1, 0.5, seed=0, k=1.0)
print("W_pruned + W_removed == W_original:", np.array_equal(w_pruned + w_removed, w1))
print("disjoint supports:", not np.any((w_pruned != 0) & (w_removed != 0)))
print("only candidates removed:", not np.any((w_removed != 0) & ~candidates))
print(f"candidates {candidates.mean():.3f} of the weights, removed {np.mean(w_removed != 0):.3f}")
e5 = copy_model(base)
out = P.e5_random_candidate_model_report(e5, 0.5, seed=0, k=1.0)
print(f"E5 on every layer: kept {kept(e5):.4f} of the weights, accuracy {acc(e5):.4f}")

# %% [markdown]
# With k = 1 about 68 % of normally distributed candidates are removed, so p = 0.5 removes
# about a third of the weights, and because trained weights have μ ≈ 0 the removed ones are
# the *small* candidates: E5 is a randomised magnitude pruning. It cannot reach high
# sparsity (it never removes a non-candidate), which is what the rest of the chapter is for.
#
# ## Masks: pruning that stays pruned
#
# A pruned parameter gets a boolean buffer `weight_mask` beside it. Every layer computes
# with `module.effective("weight")` = weight × mask, so a pruned weight contributes nothing
# and gets zero gradient; pruning also zeroes the stored weight and, given the optimizer,
# its momentum / Adam state, so it stays *exactly* zero through training. `amount` is
# PyTorch's: a fraction of the weights **still unpruned**; `*_to_sparsity` takes an absolute
# target.

# %%
m = copy_model(base)
P.l1_unstructured(m[1], "weight", 0.5)
P.l1_unstructured(m[1], "weight", 0.5)  # half of the remaining half
print("two rounds of amount=0.5 keep", m[1].weight_mask.mean())
P.l1_unstructured_to_sparsity(m[1], "weight", 0.9)
print("to_sparsity(0.9) keeps", m[1].weight_mask.mean())
opt = Adam(m.parameters(), lr=1e-3)
fit(m, opt, x_train[:1000], y_train[:1000], epochs=1, progress=False)
print("after training: pruned weights all exactly zero?",
      bool(np.all(m[1].weight.data[~m[1].weight_mask] == 0)))

# %% [markdown]
# ## Magnitude against random, one shot
#
# Prune every weight matrix to the same sparsity, no retraining. If magnitude carries
# information, removing the smallest weights must hurt less than removing random ones.

# %%
sweep = [0.5, 0.7, 0.8, 0.9, 0.95] if FAST else [0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98]
one_shot = {"l1": [], "random": []}
for s in sweep:
    for method in one_shot:
        m = copy_model(base)
        for mod, name in P.prunable_parameters(m):
            if method == "l1":
                P.l1_unstructured_to_sparsity(mod, name, s)
            else:
                P.random_unstructured_to_sparsity(mod, name, s, seed=0)
        one_shot[method].append(acc(m))
    print(f"sparsity {s:.2f}: magnitude {one_shot['l1'][-1]:.4f}, random {one_shot['random'][-1]:.4f}")

# %% [markdown]
# ## Gradual pruning during training (AGP)
#
# One-shot pruning to 90 %+ loses accuracy; pruning *while training* lets the surviving
# weights take over. AGP raises the sparsity as s_t = s_f + (s_i − s_f)(1 − (t − t₀)/(nΔt))³:
# quickly at first, slowly at the end. The output layer (1,000 weights) is the sensitive
# one (see the scan below), so it gets a lower target, as in Han et al. (2015).

# %%
targets = [0.93, 0.90, 0.70]
agp_epochs, tune_epochs = (2, 1) if FAST else (4, 2)
steps = -(-len(x_train) // 64)
dt = steps // 4
n_prune = (agp_epochs * steps - steps // 2) // dt
gradual = copy_model(base)
agp = P.AGPPruner(gradual, sparsity=targets, n=n_prune, dt=dt)
t0 = time.perf_counter()
fit(gradual, Adam(gradual.parameters(), lr=1e-3), x_train, y_train, epochs=agp_epochs,
    callbacks=[agp], progress=False)
fit(gradual, Adam(gradual.parameters(), lr=1e-4), x_train, y_train, epochs=tune_epochs,
    progress=False)
print(f"AGP {agp_epochs} epochs + {tune_epochs} fine-tune ({time.perf_counter() - t0:.1f} s): "
      f"kept {kept(gradual):.4f} of the weights, accuracy {acc(gradual):.4f} "
      f"(dense {acc(base):.4f})")
report = P.sparsity_report(gradual, requested={"1.weight": 0.93, "3.weight": 0.90, "5.weight": 0.70})
print(P.format_report(report))

# %%
fig, (ax_sched, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
ts = np.arange(agp_epochs * steps)
ax_sched.plot(ts, [P.agp_sparsity(t, 0.0, 0.93, 0, n_prune, dt) for t in ts], label="1.weight, sparsity 0.93")
ax_sched.plot(ts, [P.agp_sparsity(t, 0.0, 0.70, 0, n_prune, dt) for t in ts], label="5.weight, sparsity 0.70")
ax_sched.set_xlabel("optimizer step")
ax_sched.set_ylabel("sparsity")
ax_sched.set_title("AGP schedule")
ax_sched.legend()
ax_acc.plot(sweep, one_shot["l1"], marker="o", label="magnitude, one shot")
ax_acc.plot(sweep, one_shot["random"], marker="o", label="random, one shot")
ax_acc.scatter([1 - kept(gradual)], [acc(gradual)], color="k", zorder=3, label="magnitude, AGP + fine-tune")
ax_acc.set_xlabel("fraction of weights removed")
ax_acc.set_ylabel("test accuracy")
ax_acc.set_title("LeNet-300-100 on mnist10k")
ax_acc.legend()
fig.tight_layout()
savefig(fig, "05_pruning_accuracy.png")

# %% [markdown]
# ## Structured pruning and a model that really is smaller
#
# A mask of scattered zeros leaves a 300×784 matrix 300×784. Removing whole **neurons**
# (rows, by L2 norm) lets `shrink` build a smaller dense model: row j of layer 1 goes, and so
# does column j of layer 3. A removed neuron's constant output relu(b_j) is folded into the
# next layer's bias, so the outputs do not change.

# %%
half = copy_model(base)
P.ln_structured(half[1], "weight", 0.5, n=2, dim=0)
P.ln_structured(half[3], "weight", 0.5, n=2, dim=0)
small = P.shrink(half)
diff = np.abs(predict(small, x_test) - predict(half, x_test)).max()
print(small)
print(f"parameters {half.num_parameters()} -> {small.num_parameters()}; "
      f"max |output difference| {diff:.2e}; accuracy {acc(half):.4f} (dense {acc(base):.4f})")

# %% [markdown]
# ## Sensitivity: which layer can lose what
#
# Prune one layer at a time to each sparsity and measure (no retraining). Read the table
# by columns: at moderate sparsity the 100×10 output layer is the first to lose accuracy,
# and at the far end it falls furthest, so the AGP run above gives it 70 % instead of 93 %.
# The 784×300 first layer holds 88 % of the weights, so its row decides the model's size.

# %%
sens_sparsities = [0.0, 0.5, 0.8, 0.9, 0.95, 0.99] if FAST else [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
table = P.sensitivity_scan(base, x_test, y_test, sparsities=sens_sparsities)
print(P.format_sensitivity(table))
fig = P.plot_sensitivity(table)
savefig(fig, "05_sensitivity.png")

# %% [markdown]
# ## Storing and running the sparse model
#
# Deep Compression (Han et al. 2016) stores each nonzero with the *gap* to the previous one
# in a few bits (5 for fully connected layers), inserting a filler zero when a gap does not
# fit. `RelativeCSR` does that and counts its bytes exactly (`nbytes() == len(to_bytes())`).
# The sparse forward pass touches only the nonzero weights. A small batch runs the whole
# network as one Numba call that stores each weight matrix column by column and skips every
# column whose input is zero, as EIE does (Han et al. 2016): most MNIST pixels and many ReLU
# outputs are zero. A large batch runs each Linear layer through the parallel CSR kernel.

# %%
w = gradual[1].effective("weight").data
for bits in (3, 5, 8):
    r = RelativeCSR.from_dense(w, index_bits=bits)
    print(f"index_bits {bits}: {r.nnz} nonzeros + {r.n_fillers} fillers, {r.nbytes()} bytes "
          f"(dense {r.dense_nbytes()}, {r.dense_nbytes() / r.nbytes():.1f}x smaller)")
sparse_fwd, dense_fwd = SparseInference.from_model(gradual), DenseInference.from_model(gradual)
x64 = x_test[:64]
print("sparse and dense forward agree:", np.allclose(sparse_fwd(x64), dense_fwd(x64), atol=1e-4))
print("a batch of 64 takes the", sparse_fwd.path(64), "path")
for name, fn in (("dense NumPy", dense_fwd), ("sparse", sparse_fwd)):
    fn(x64)
    t0 = time.perf_counter()
    for _ in range(20):
        fn(x64)
    print(f"{name:>12}: {(time.perf_counter() - t0) / 20 * 1e3:.3f} ms per batch of 64")

# %% [markdown]
# (`benchmarks/sparse.py` times this properly, at batch 1 and 64 and several sparsities;
# `benchmarks/pruning.py` runs the full comparison, random pruning with the same budget
# included.)
#
# ## Exercises
#
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **pruning**: write these functions (7 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `pruning.fine_grained_prune` | `fine_grained_prune(tensor, sparsity)`: Magnitude-prune ``tensor`` IN PLACE to ``sparsity`` and return the mask (MIT 6.5940 lab 1). | – |
# | `pruning.l1_unstructured` | `l1_unstructured(tensor, amount, mask=None)`: The mask ``torch.nn.utils.prune.l1_unstructured`` leaves: prune ``amount`` of the entries still unpruned. | – |
# | `pruning.ln_structured` | `ln_structured(tensor, amount, n, dim, mask=None)`: The mask ``torch.nn.utils.prune.ln_structured`` leaves: prune whole channels with the smallest L_n norm. | – |
# | `pruning.global_unstructured` | `global_unstructured(tensors, amount)`: Global magnitude pruning: ONE ranking of \|w\| over all the tensors together. | – |
# | `pruning.get_input_channel_importance` | `get_input_channel_importance(weight)`: The importance of each INPUT channel of a layer: the Frobenius (L2) norm of ``weight[:, i]`` (MIT lab 1). | – |
# | `pruning.get_num_channels_to_keep` | `get_num_channels_to_keep(channels, prune_ratio)`: How many channels survive pruning a ratio of them: ``round(channels * (1 - prune_ratio))`` (MIT lab 1). | – |
# | `pruning.agp_sparsity` | `agp_sparsity(t, s_i, s_f, t0, n, dt)`: Automated gradual pruning's target sparsity at step ``t`` (Zhu & Gupta 2017). | – |
#
# ```bash
# minicompress exercises --chapter pruning --out my_exercises   # one stub per task
# minicompress check my_exercises/pruning.py --chapter pruning
# python -m pytest -m pruning --candidate my_exercises/pruning.py
# ```
#
# **equations**: write these functions (2 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `equations.scale_by_retention` | `scale_by_retention(theta, r)`: E3 (doc 001 §3.3.3): Θ̃ = (1 - r) · Θ, every parameter scaled by the retention 1 - r. | `E3` (the documents' id E3) |
# | `equations.random_candidate_pruning` | `random_candidate_pruning(w, p, seed)`: E5 (doc 000 §3.1): W_pruned = W_original - W_removed, removing among random candidates. | `E5` (the documents' id E5) |
#
# ```bash
# minicompress exercises --chapter equations --out my_exercises   # one stub per task
# minicompress check my_exercises/equations.py --chapter equations --task E3 --task E5
# python -m pytest -m equations --candidate my_exercises/equations.py -k "scale_by_retention or random_candidate_pruning"
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. MIT's `fine_grained_prune` keeps only the
# weights *above* the threshold (ties are pruned) and prunes `tensor` in place; this version
# keeps the ties:
#
# ```python
# def fine_grained_prune(tensor, sparsity):
#     k = round(sparsity * tensor.size)
#     if k == 0:
#         return np.ones(tensor.shape, dtype=bool)
#     threshold = np.sort(np.abs(tensor).reshape(-1))[k - 1]
#     mask = np.abs(tensor) >= threshold
#     tensor *= mask
#     return mask
# ```
#
# `minicompress check my_exercises/pruning.py --task pruning.fine_grained_prune` prints (exit code 1):
#
# ```
# pruning.fine_grained_prune  fail  hand-worked example (k = 3; sorted |w| = 0, 0.5, 0.5, 1, 2, 3: the threshold is 0.5; |w| > 0.5 keeps -2, 1 and 3): after the call, 'tensor' (changed in place) is wrong: max abs diff 0.5, 2 of 6 differ; first at index (0, 0): expected 0.0, got 0.5; inputs: tensor=array([[ 0.5, -2. ], [ 1. , -0.5], [ 3. ,  0. ]]), sparsity=0.5; expected: array([[ 0., -2.], [ 1., -0.], [ 3.,  0.]]); got: array([[ 0.5, -2. ], [ 1. , -0.5], [ 3. ,  0. ]])
#     diagnosis: you keep weights equal to the threshold (|w| >= t); ties are pruned (mask = |w| > t)
#
# pruning:           1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# ### Explore further
#
# 1. Run this chapter's tests: `pytest -m pruning`. Find the test that proves pruned weights
#    stay exactly zero under SGD with momentum and weight decay; comment out the
#    `zero_optimizer_state(...)` line of `apply_mask` in `minicompress/compress/pruning/mask.py`
#    and see which assertion fails, and why the *effective* weight is still zero.
# 2. `P.global_unstructured(P.prunable_parameters(m), 0.925)` ranks all weights together.
#    How much of the output layer does it remove? Give it a cap with `caps=[1, 1, 0.7]`.
# 3. Replace `targets` in the AGP cell by `[0.925] * 3`. How many points does the output layer
#    cost? Compare with the sensitivity table.
# 4. Lottery tickets: take `P.snapshot(model)` before training a fresh `build("lenet-300-100")`,
#    train, prune to 90 %, `P.rewind(model, snapshot)`, retrain. Does the rewound sparse net
#    beat the same masks with new random weights?
# 5. Structured pruning of 75 % of the neurons: how much accuracy does `shrink`'s model keep
#    before and after one epoch of fine-tuning?

# %% [markdown]
# # 03 · Threshold clipping (E1), exactly as written, and what practice does instead
#
# Read along with doc 001 §2.1.1 and §3.1 ("权重裁剪", weight clipping), described in
# [docs/documents.md](../docs/documents.md#e1-threshold-clipping).
# The document describes the idea as making the weights sparse by "turning many weight values
# into one specific value", and writes, for a weight matrix W, a threshold T and a specific
# value t (§3.1.3):
#
#     w̃ᵢⱼ = t    if |wᵢⱼ| > T
#     w̃ᵢⱼ = wᵢⱼ  otherwise
#
# We call it **E1**; `minicompress.equations.threshold_clip` implements it exactly as written
# and its property tests (`pytest -m equations`) check it element by element. Two things stand
# out once it runs on a trained network:
#
# * every *large* weight is replaced, and they all become the same value t, whatever their
#   sign: a weight of +0.4 and one of -0.4 both become t;
# * nothing becomes sparse unless t = 0, and then it is the *large* weights that are zeroed,
#   the opposite of magnitude pruning.
#
# The document's code (§4.3) calls `tf.keras.layers.Threshold(threshold=0.5)` and
# `model.add_layer`, neither of which exists. Below we train LeNet-300-100 on mnist10k, apply
# E1 to every weight matrix over a sweep of T, and put the two things practitioners actually
# do next to it: clipping to ±T (`np.clip`, keeps the sign) and magnitude thresholding
# (zero the weights with |w| <= T, Han et al. 2015).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

from minicompress.data import load_mnist10k
from minicompress.equations import threshold_clip
from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

EPOCHS = 1 if FAST else 2

# %% [markdown]
# ## A trained LeNet-300-100
# 784-300-100-10 with ReLU, Adam (lr 1e-3), batch 64, seeded: the same numbers every run.

# %%
x_train, y_train, x_test, y_test = load_mnist10k()
if FAST:  # the test suite runs every tutorial; a quarter of the data is enough to see the shape
    x_train, y_train = x_train[:2000], y_train[:2000]
model = build("lenet-300-100", seed=0)
start = time.perf_counter()
fit(model, Adam(model.parameters(), lr=1e-3), x_train, y_train, epochs=EPOCHS, batch_size=64,
    seed=0, progress=False)
baseline = evaluate(model, x_test, y_test)["accuracy"]
print(f"trained {EPOCHS} epoch(s) on {len(x_train)} images in {time.perf_counter() - start:.1f} s; "
      f"test accuracy {baseline:.4f}")

trained = model.state_dict()
weight_names = [name for name, _ in model.named_parameters() if name.endswith("weight")]
all_w = np.concatenate([trained[n].ravel() for n in weight_names])
print(f"{all_w.size} weights in {weight_names}; |w| quantiles 50/90/99/100 %:",
      np.round(np.quantile(np.abs(all_w), [0.5, 0.9, 0.99, 1.0]), 4))

# %% [markdown]
# ## Four ways to treat the weights above a threshold
# Each transform is applied to every weight matrix (biases untouched), the model is evaluated
# on the 2,000 test images, and the trained weights are restored.

# %%
TRANSFORMS = {
    "E1 as written, t = T": lambda w, T: threshold_clip(w, T, T),
    "E1 as written, t = 0": lambda w, T: threshold_clip(w, T, 0.0),
    "practice: clip to ±T": lambda w, T: np.clip(w, -T, T),
    "practice: zero |w| <= T": lambda w, T: np.where(np.abs(w) > T, w, 0).astype(w.dtype),
}


def accuracy_with(transform, T):
    state = dict(trained)
    for name in weight_names:
        state[name] = transform(trained[name], T)
    model.load_state_dict(state)
    acc = evaluate(model, x_test, y_test)["accuracy"]
    model.load_state_dict(trained)
    return acc


THRESHOLDS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5]
results = {name: [accuracy_with(f, T) for T in THRESHOLDS] for name, f in TRANSFORMS.items()}
changed = [float(np.mean(np.abs(all_w) > T)) for T in THRESHOLDS]

print(f"\nbaseline accuracy {baseline:.4f}")
print(f"{'T':>6} {'|w|>T':>8} " + " ".join(f"{name:>24}" for name in TRANSFORMS))
for i, T in enumerate(THRESHOLDS):
    row = " ".join(f"{results[name][i]:>24.4f}" for name in TRANSFORMS)
    print(f"{T:>6} {changed[i]:>8.2%} {row}")

# %% [markdown]
# Read the table with the document open. At its own threshold, T = 0.5, no weight of this
# network exceeds T (the largest |w| is printed above), so E1 changes nothing: a
# "compression" that does not compress. As T falls into the range where the weights actually live, E1 with t = T turns
# every large weight, positive or negative, into +T, and the accuracy collapses. With t = 0 it
# deletes exactly the weights that matter most. Clipping to ±T keeps the sign and degrades
# gracefully; zeroing the *small* weights removes most of the matrix at little cost, which is
# why practice prunes by magnitude (chapter 5).
#
# What one large weight experiences, side by side:

# %%
demo = np.array([-0.4, -0.05, 0.0, 0.03, 0.4], dtype=np.float32)
for name, f in TRANSFORMS.items():
    print(f"{name:>24}: {demo} -> {f(demo, 0.1)}")

# %%
fig, (ax_acc, ax_hist) = plt.subplots(1, 2, figsize=(11, 4))
for name, accs in results.items():
    ax_acc.plot(THRESHOLDS, accs, marker="o", label=name)
ax_acc.axhline(baseline, color="gray", linestyle=":", label="trained, unchanged")
ax_acc.set_xscale("log")
ax_acc.set_xlabel("threshold T")
ax_acc.set_ylabel("test accuracy (mnist10k)")
ax_acc.set_title("E1 as written vs practice, LeNet-300-100")
ax_acc.legend(fontsize=8)
T_show = 0.05
w1 = trained[weight_names[1]].ravel()
bins = np.linspace(-0.3, 0.3, 121)
ax_hist.hist(w1, bins=bins, alpha=0.6, label="trained")
ax_hist.hist(threshold_clip(w1, T_show, T_show), bins=bins, alpha=0.6, label=f"E1, T = t = {T_show}")
ax_hist.set_yscale("log")
ax_hist.set_xlabel(f"weights of layer {weight_names[1]}")
ax_hist.set_title("every |w| > T piles up at +t")
ax_hist.legend(fontsize=8)
fig.tight_layout()
savefig(fig, "03_threshold_clipping.png")

# %% [markdown]
# ## Exercises
#
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **equations**: write these functions (1 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `equations.threshold_clip` | `threshold_clip(w, T, t)`: E1, threshold clipping (doc 001 §3.1.3): w̃ = t if \|w\| > T, otherwise w. | `E1` (the documents' id E1) |
#
# ```bash
# minicompress exercises --chapter equations --out my_exercises   # one stub per task
# minicompress check my_exercises/equations.py --chapter equations --task E1
# python -m pytest -m equations --candidate my_exercises/equations.py -k "threshold_clip"
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. E1 compares strictly, |w| > T; this version
# also replaces the weights *equal* to T:
#
# ```python
# def threshold_clip(w, T, t):
#     return np.where(np.abs(w) >= T, t, w).astype(w.dtype)
# ```
#
# `minicompress check my_exercises/equations.py --task equations.threshold_clip` prints (exit code 1):
#
# ```
# equations.threshold_clip  fail  hand-worked example (|w| = T is kept; -3 becomes +0.25): max abs diff 1.25, 2 of 5 differ; first at index (1,): expected -1.0, got 0.25; inputs: w=array([-3. , -1. ,  0.5,  1. ,  2. ]), T=1.0, t=0.25; expected: array([ 0.25, -1.  ,  0.5 ,  1.  ,  0.25]); got: array([0.25, 0.25, 0.5 , 0.25, 0.25])
#     diagnosis: you replace weights with |w| = T too; E1's test is strict: |w| > T
#
# equations:         1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# The function may also be named `E1`, the documents' id, and `--task E1` selects it too;
# `--chapter equations` checks the whole chapter (every other task "not started").
#
# ### Explore further
#
# 1. Run the equation's property tests: `pytest -m equations -k E1`. Read `e1_check` in
#    `minicompress/course/equation_properties.py`: which invariant would a sign-preserving
#    variant (`np.sign(w) * t`) break?
# 2. Write that sign-preserving variant as your `threshold_clip` and run
#    `minicompress check my_exercises/equations.py --task E1`: which counterexample does the
#    check find, and how does it name the mistake?
# 3. Change `THRESHOLDS` to reach the weights' 99th percentile (printed above). At which T does
#    E1 with t = T first cost more than one point of accuracy? And clipping to ±T?
# 4. Magnitude thresholding at T = 0.05 zeroes how many weights? Compare with chapter 5's
#    `pytest -m pruning`.

# %% [markdown]
# # 07 · Transfer learning (E9): pretrain on one task, fine-tune on another
#
# doc 000 §2.3 ([E9](../docs/documents.md#e9-transfer-learning)) describes transfer learning
# in two steps and no equation: first train a model on the *source* task; then, as far as the
# two tasks are alike, fine-tune it on the *target* task. We call that
# procedure E9 and make it concrete on mnist10k:
#
# * source task: digits 0-4, every training image (about 4,000);
# * target task: digits 5-9, only **50 labeled images per class** (250 in all);
# * question: does starting from the source network beat training from scratch on those 250?
#
# Fine-tuning has three knobs, all in `minicompress.compress.transfer`: which layers form
# the new **head** (`replace_head`), which layers are **frozen** (`requires_grad = False`),
# and **per-group learning rates** (`param_groups`).
#
# Run: `python tutorials/07_transfer_learning.py` (under a minute; `MINICOMPRESS_FAST=1` shrinks it).

# %%
import time

import matplotlib.pyplot as plt
from _common import FAST, savefig

from minicompress.compress.transfer import (
    class_subset,
    few_per_class,
    fine_tune,
    param_groups,
    replace_head,
)
from minicompress.data import load_mnist10k
from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

start = time.perf_counter()
x_train, y_train, x_test, y_test = load_mnist10k()
source_digits, target_digits = range(5), range(5, 10)
xs, ys = class_subset(x_train, y_train, source_digits)        # labels 0..4
xs_test, ys_test = class_subset(x_test, y_test, source_digits)
xt_pool, yt_pool = class_subset(x_train, y_train, target_digits)  # digit 5 -> label 0, ..., 9 -> 4
xt, yt = few_per_class(xt_pool, yt_pool, 50, seed=0)
xt_test, yt_test = class_subset(x_test, y_test, target_digits)
print(f"source: {len(xs)} training images of 0-4; target: {len(xt)} labeled images of 5-9, "
      f"{len(xt_test)} test images")

# %% [markdown]
# ## Step 1: the source model
#
# LeNet-5 with a 5-way head, trained on digits 0-4.

# %%
source = replace_head(build("lenet5", seed=0), 5, seed=0)
n_src = 2000 if FAST else len(xs)
fit(source, Adam(source.parameters(), lr=1e-3), xs[:n_src], ys[:n_src], epochs=1 if FAST else 3, progress=False)
print(f"source model on 0-4: test accuracy {evaluate(source, xs_test, ys_test)['accuracy']:.4f}")

# %% [markdown]
# ## Step 2: a new head, frozen or not
#
# `replace_head` copies the network and re-initializes its head: by default the last
# `Linear` alone, or every layer from `head_from` on (`head_from=7` is LeNet-5's whole fully
# connected block, leaving only the convolutions). The source model itself is untouched.
# `param_groups(model, head_lr, body_lr=None)` freezes the body; with a number it makes two
# optimizer groups with two learning rates.

# %%
model = replace_head(source, 5, seed=1)
groups = param_groups(model, head_lr=3e-3, body_lr=None)
frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
print(f"head only: {sum(p.size for p in groups[0]['params']):,} trainable parameters; frozen: {frozen}")
groups = param_groups(model, head_lr=3e-3, body_lr=1e-3)
print("full fine-tuning groups:", [(len(g["params"]), g["lr"]) for g in groups])

# %% [markdown]
# ## Step 3: four ways to use 250 labels
#
# Every variant gets the same data, epochs and batch size; `x_val` makes `fit` record the
# target test accuracy after each epoch, for the curves below.

# %%
epochs = 8 if FAST else 30
curves, final = {}, {}


def record(name, model, history):
    curves[name] = [h["val_accuracy"] for h in history]
    final[name] = evaluate(model, xt_test, yt_test)["accuracy"]


scratch = replace_head(build("lenet5", seed=1000), 5, seed=1000)
record("scratch (lr 1e-3)", scratch,
       fit(scratch, Adam(scratch.parameters(), lr=1e-3), xt, yt, epochs=epochs, batch_size=32,
           x_val=xt_test, y_val=yt_test, progress=False))
for name, strategy, body_lr, head_from in (("head only", "head", None, None),
                                          ("classifier block only", "head", None, 7),
                                          ("full fine-tune", "full", 1e-3, None)):
    m = replace_head(source, 5, seed=2000, head_from=head_from)
    record(name, m, fine_tune(m, xt, yt, strategy=strategy, head_lr=3e-3, body_lr=body_lr, head_from=head_from,
                              epochs=epochs, x_val=xt_test, y_val=yt_test, progress=False))
for name, acc in final.items():
    print(f"{name:<24}{acc:.4f}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
for name, c in curves.items():
    ax.plot(range(1, len(c) + 1), c, marker=".", label=name)
ax.set_xlabel("epoch on the 250 target labels")
ax.set_ylabel("test accuracy on digits 5-9")
ax.set_ylim(0.2, 1.0)
ax.legend()
ax.set_title("LeNet-5: digits 0-4 -> digits 5-9, 50 labels per class")
savefig(fig, "07_transfer_curves.png")

# %% [markdown]
# Read the curves before the final numbers (`figures/07_transfer_curves.png`). Freezing
# everything but the last layer is by far the worst choice: LeNet-5's last hidden layer was
# trained to separate 0-4, and those 84 features describe 5-9 poorly (Yosinski et al. 2014
# measured the same on ImageNet: the later the layer, the less it transfers). Freezing only
# the convolutions and retraining the fully connected block works, because stroke detectors
# are shared by all digits. And training from scratch is a strong baseline: MNIST is easy,
# and 250 labels already take a fresh LeNet-5 above 90%. Whatever the gap is between
# scratch and fine-tuning on one seed, it is small; `benchmarks/transfer.py` averages three
# seeds and also gives scratch a second learning rate picked on the test set (a choice that
# can only favour scratch) before calling a winner.
#
# ## Fewer labels: does the source help more?
#
# A common expectation is that the less target data there is, the more the source helps.
# Measure it rather than assume it: five labels per class, same recipes.

# %%
xt5, yt5 = few_per_class(xt_pool, yt_pool, 5, seed=0)
few = {}
for name in ("scratch", "full fine-tune"):
    if name == "scratch":
        m = replace_head(build("lenet5", seed=1000), 5, seed=1000)
        fit(m, Adam(m.parameters(), lr=1e-3), xt5, yt5, epochs=epochs, batch_size=32, progress=False)
    else:
        m = replace_head(source, 5, seed=2000)
        fine_tune(m, xt5, yt5, strategy="full", head_lr=3e-3, body_lr=1e-3, epochs=epochs, progress=False)
    few[name] = evaluate(m, xt_test, yt_test)["accuracy"]
print(f"5 labels per class: scratch {few['scratch']:.4f}, full fine-tune {few['full fine-tune']:.4f}")
print(f"tutorial ran in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# If fine-tuning comes out *below* scratch here, that is **negative transfer**: with 25
# images the few gradient steps cannot move the body far from features tuned to 0-4, so the
# network keeps the source task's biases, while a fresh network has none to unlearn. Which
# way it goes depends on how related the tasks are, which layers transfer, and how many
# steps the target data allows; doc 000 §2.3's "according to the similarity between the
# source and the target task" is exactly that caveat. Exercise 2 varies it.

# %% [markdown]
# ## Transfer and distillation
#
# doc 000 §4.2 files distillation under "transfer learning" (迁移学习). They move different
# things: fine-tuning moves *weights* from one task to another (same architecture, new head);
# distillation moves a *function* from one model to another (same task, any smaller
# architecture, chapter 06). doc 002's last step, copying θ_T into θ_S, is a weight transfer
# with a new task missing: the student simply becomes the teacher.
#
# ## Exercises
#
# ### Write it yourself
#
# Transfer learning has no tasks of its own in the course companion: it is a procedure (replace
# the head, freeze the body or not, fine-tune) built from pieces that other chapters check. The
# closest are the **optim** chapter's SGD and Adam steps (tutorial 02), which are what
# fine-tuning runs, and the **distillation** chapter's (tutorial 06), the other way this course
# reuses a trained network:
#
# ```bash
# minicompress exercises --chapter optim --out my_exercises
# minicompress check my_exercises/optim.py --chapter optim
# minicompress exercises --chapter distillation --out my_exercises
# minicompress check my_exercises/distillation.py --chapter distillation
# python -m pytest -m transfer          # this chapter's own tests, on minicompress's code
# ```
#
# ### Explore further
#
# 1. Run `pytest -m transfer` and read `test_head_only_fine_tuning_leaves_the_body_untouched`:
#    what would go wrong if `freeze()` did not also clear `.grad`?
# 2. Repeat the five-labels experiment with 10 and 20 labels per class, three seeds each.
#    Where does fine-tuning start to beat scratch? Try `head_from=7` (the convolutions kept,
#    the fully connected block new) for the fine-tuned model.
# 3. Swap the tasks: source 5-9, target 0-4. Is transfer symmetric?
# 4. `python benchmarks/transfer.py --arch mlp`: does a 784-256-128 MLP transfer as well as
#    LeNet-5's convolutions? Why might it not?

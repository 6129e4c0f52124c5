# %% [markdown]
# # 02 · Training on mnist10k
#
# doc 001 §4 trains its Keras MLP on MNIST before compressing it; doc 000 §4 trains a CNN on
# CIFAR-10. Compression is only meaningful against a well-trained baseline, so this chapter
# trains the baselines every later chapter starts from.
#
# **The data.** The machines this project runs on are offline and hold only the 10,000 MNIST
# *test* images (LeCun, Cortes and Burges; CC BY-SA 3.0). minicompress ships them as the
# built-in dataset **mnist10k**, split by `numpy.random.default_rng(0).permutation(10000)`:
# the first 8,000 indices train, the last 2,000 test. (Never split by position: the first 5,000
# test images are cleaner than the last 5,000.)

# %%
import numpy as np
from _common import FAST, savefig

from minicompress.data import MNIST10K_CREDIT, load_mnist10k
from minicompress.io import load_model, save_model
from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import evaluate, fit, predict

x_train, y_train, x_test, y_test = load_mnist10k()
print(MNIST10K_CREDIT)
print("train", x_train.shape, x_train.dtype, " test", x_test.shape, " classes", np.bincount(y_train))

# %% [markdown]
# ## LeNet-300-100 with doc 001's recipe
#
# doc 001 uses Adam and (sparse) categorical cross-entropy for 10 epochs. We use Adam, learning
# rate 1e-3, batch 64. `fit` calls back after every optimizer step and at every epoch end; later
# chapters hook pruning schedules in there.

# %%
epochs = 3 if FAST else 15
model = build("lenet-300-100", seed=0)
history = fit(model, Adam(model.parameters(), lr=1e-3), x_train, y_train, epochs=epochs, seed=0,
              x_val=x_test, y_val=y_test)
for h in history[-3:]:
    print(f"epoch {h['epoch']:2d}  loss {h['loss']:.4f}  train acc {h['accuracy']:.4f}  "
          f"test acc {h['val_accuracy']:.4f}  {h['samples_per_second']:,.0f} samples/s")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot([h["epoch"] for h in history], [h["accuracy"] for h in history], label="train")
ax.plot([h["epoch"] for h in history], [h["val_accuracy"] for h in history], label="test")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.set_title("LeNet-300-100 on mnist10k")
ax.legend()
savefig(fig, "02_learning_curve.png")

# %% [markdown]
# With only 8,000 training images the model fits the training set perfectly within a few
# epochs while test accuracy levels off around 95% (the full 60,000-image MNIST gives ~98%).
# Every compressed model in the later chapters is compared against *this* test accuracy.
#
# ## Which digits does it confuse?

# %%
pred = predict(model, x_test).argmax(axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, pred), 1)
off = confusion - np.diag(np.diag(confusion))
worst = np.dstack(np.unravel_index(np.argsort(off, axis=None)[::-1][:3], off.shape))[0]
for true, guess in worst:
    print(f"{off[true, guess]:3d} test images of a {true} were read as {guess}")

# %% [markdown]
# ## Saving and loading, safely
#
# Models are `.npz` files: every array under its dotted name plus a JSON description of the
# architecture. Loading never unpickles (`allow_pickle=False`), and saving writes a temporary
# file and renames it, so an interrupted save cannot destroy the previous model.

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "lenet300.npz"
    save_model(model, path, {"epochs": epochs})
    again = load_model(path)
    print(f"{path.name}: {path.stat().st_size:,} bytes; test accuracy after loading "
          f"{evaluate(again, x_test, y_test)['accuracy']:.4f}")

# %% [markdown]
# ## LeNet-5: convolutions
#
# The same loop trains LeNet-5 (conv 1→6 5×5, pool, conv 6→16 5×5, pool, 400-120-84-10),
# 61,706 parameters against LeNet-300-100's 266,610.

# %%
cnn = build("lenet5", seed=0)
hist5 = fit(cnn, Adam(cnn.parameters(), lr=1e-3), x_train[:2000] if FAST else x_train,
            y_train[:2000] if FAST else y_train, epochs=1 if FAST else 3, seed=0)
print(f"LeNet-5 after {len(hist5)} epoch(s): test accuracy {evaluate(cnn, x_test, y_test)['accuracy']:.4f}, "
      f"{cnn.num_parameters():,} parameters")

# %% [markdown]
# From the command line: `minicompress train --model lenet-300-100 --out lenet300.npz --json train.json`
# and `minicompress evaluate lenet300.npz`.
#
# ## Exercises
#
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **optim**: write these functions (4 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `optim.sgd_step` | `sgd_step(param, grad, momentum_buffer, lr, momentum=0.0, nesterov=False, weight_decay=0.0)`: One step of SGD as torch.optim.SGD computes it (dampening = 0). | – |
# | `optim.adam_step` | `adam_step(param, grad, m, v, step, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)`: One step of Adam with bias correction, as torch.optim.Adam (L2 weight decay, amsgrad off). | – |
# | `optim.cosine_lr` | `cosine_lr(base_lr, epoch, T_max, eta_min=0.0)`: The learning rate of cosine annealing at ``epoch`` (CosineAnnealingLR's closed form). | – |
# | `optim.step_lr` | `step_lr(base_lr, epoch, step_size, gamma=0.1)`: The learning rate of StepLR at ``epoch``: base_lr · gamma ** (epoch // step_size). | – |
#
# ```bash
# minicompress exercises --chapter optim --out my_exercises   # one stub per task
# minicompress check my_exercises/optim.py --chapter optim
# python -m pytest -m optim --candidate my_exercises/optim.py
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. This Adam step has no bias correction, so
# its first steps are far too small:
#
# ```python
# def adam_step(param, grad, m, v, step, lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0):
#     g = grad + weight_decay * param
#     m = betas[0] * m + (1 - betas[0]) * g
#     v = betas[1] * v + (1 - betas[1]) * g * g
#     return param - lr * m / (np.sqrt(v) + eps), m, v      # no bias correction
# ```
#
# `minicompress check my_exercises/optim.py --task optim.adam_step` prints (exit code 1):
#
# ```
# optim.adam_step  fail  hand-worked example (first step: m̂ = 2 and v̂ = 4 (bias-corrected), so the step is lr · 2 / (√4 + 0.5) = 0.08): item 0: max abs diff 0.04449150839051763, 1 of 1 differ; first at index (0,): expected 0.92, got 0.9644915083905177; inputs: param=array([1.]), grad=array([2.]), m=array([0.]), v=array([0.]), step=1, lr=0.1, betas=(0.9, 0.999), eps=0.5, weight_decay=0.0; expected: (array([0.92]), array([0.2]), array([0.004])); got: (array([0.9644915083905177]), array([0.19999999999999996]), array([0.0040000000000000036]))
#     diagnosis: your Adam has no bias correction: divide m by (1 - β1^step) and v by (1 - β2^step)
#
# optim:             1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# ### Explore further
#
# 1. Train with SGD (lr 0.01, momentum 0.9) instead of Adam; how many epochs does it need to
#    match Adam's accuracy?
# 2. Add `Dropout(0.2)` after each hidden ReLU (`minicompress.nn.Dropout`); does test accuracy
#    improve on 8,000 images?
# 3. Run `pytest -m "training or optim or data"` and find the test that proves `fit` is
#    reproducible for a fixed seed.

# %% [markdown]
# # 08 · Deep Compression, end to end, every byte counted
#
# The documents cite Han et al. (2016), "Deep Compression": prune, share weights by
# k-means, Huffman-code. Doc 000 §3.1-3.2 ([docs/documents.md](../docs/documents.md#doc-000))
# prunes and quantizes with its own formulas (E5, E6; chapters 04 and 05); here is the
# pipeline that reached 40× on MNIST, run on mnist10k with LeNet-300-100, and a file format
# whose size is the honest answer to "how much smaller is it?": every byte of the file
# (header, codebooks, index streams, code tables, biases, checksum) is counted.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

from minicompress.compress.deep_compression import deep_compress
from minicompress.compress.huffman import HuffmanCode, entropy_bits
from minicompress.compress.kmeans import CentroidOptimizer, share_weights
from minicompress.compress.packing import pack, read_header, stage_bytes, unpack, unpack_bytes
from minicompress.compress.pruning import AGPPruner, KeepPruned
from minicompress.compress.relative_csr import RelativeCSR
from minicompress.data import load_mnist10k
from minicompress.io import copy_model
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit, predict

x_train, y_train, x_test, y_test = load_mnist10k()
base, _ = trained_model("lenet-300-100")
acc = lambda m: evaluate(m, x_test, y_test)["accuracy"]
float_acc = acc(base)
print(f"LeNet-300-100: {base.num_parameters()} parameters = {4 * base.num_parameters()} bytes "
      f"of float32; test accuracy {float_acc:.4f}")

# %% [markdown]
# ## 1. Prune, with fine-tuning
#
# Magnitude pruning on the AGP schedule (chapter 05) removes 92% of the weights with one
# global ranking, then fine-tunes with the masks fixed. The global ranking prunes the big
# first layer hardest and spares the small output layer, as the paper's per-layer rates do.

# %%
model = copy_model(base)
opt = Adam(model.parameters(), lr=1e-3)
prune_epochs, tune_epochs = (2, 1) if FAST else (4, 3)
fit(model, opt, x_train, y_train, epochs=prune_epochs, seed=0, progress=False,
    callbacks=[AGPPruner(model, sparsity=0.92, n=(prune_epochs - 1) * 125 // 25, dt=25, scope="global")])
fit(model, opt, x_train, y_train, epochs=tune_epochs, seed=0, callbacks=[KeepPruned()], progress=False)
pruned_acc = acc(model)
for name, layer in model.named_modules():
    if hasattr(layer, "weight"):
        print(f"layer {name}: {np.mean(layer.effective('weight').data == 0):.1%} pruned")
print(f"pruned: {pruned_acc:.4f}")
pruned_weights = model[1].effective("weight").data.copy()

# %% [markdown]
# ## 2. Share weights by k-means, 3. fine-tune the centroids
#
# Each layer's surviving weights are clustered into at most 2^5 − 1 = 31 groups (plus the
# zero, so an index fits 5 bits; a cluster left empty is dropped), starting from centroids evenly spaced between the smallest and
# largest weight (linear init, the paper's choice). Then the centroids are trained: the
# gradient of a centroid is the sum of the gradients of the weights that share it.

# %%
clusters = share_weights(model, bits=5, init="linear", seed=0)
clustered_acc = acc(model)
fit(model, CentroidOptimizer(model, clusters, lr=1e-4), x_train, y_train, epochs=1 if FAST else 2, seed=0,
    progress=False)
tuned_acc = acc(model)
print(f"clustered: {clustered_acc:.4f}, after centroid fine-tuning: {tuned_acc:.4f}")
print("layer 1 codebook:", np.round(clusters["1"].codebook, 3))

# %% [markdown]
# These three steps are the library's pipeline, `deep_compress` (what `benchmarks/deep_compression.py`
# and the demo call): one call, the same seed for every shuffle, and the same model, weight for weight.

# %%
result = deep_compress(base, x_train, y_train, sparsity=0.92, schedule="agp", prune_epochs=prune_epochs,
                       fine_tune_epochs=tune_epochs, lr=1e-3, agp_every=25, bits=5,
                       centroid_epochs=1 if FAST else 2, seed=0)
same = all(np.array_equal(a.data, b.data) for a, b in zip(result.model.parameters(), model.parameters()))
print(f"deep_compress gives the same weights as the steps above: {same}")
assert same

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
nz = pruned_weights[pruned_weights != 0]
axes[0].hist(nz, bins=150, color="tab:blue")
axes[0].set_title(f"layer 1 after pruning: {nz.size} nonzero weights")
shared = model[1].weight.data
axes[1].hist(shared[shared != 0], bins=150, color="tab:green")
for c in clusters["1"].codebook:
    axes[1].axvline(c, color="k", lw=0.4)
axes[1].set_title(f"after k-means + centroid fine-tuning: {clusters['1'].codebook.size} values")
for ax in axes:
    ax.set_xlabel("weight")
savefig(fig, "08_weight_sharing.png")

# %% [markdown]
# ## 4. Huffman coding
#
# The indices are not uniform (most weights sit in the few clusters nearest zero) and
# neither are the relative-index gaps of the sparse format (chapter 05's `RelativeCSR`: the
# distance to the previous nonzero in 5 bits, a filler zero when it does not fit). A
# canonical Huffman code spends about the entropy per symbol instead of the fixed 5 bits.

# %%
w = model[1].weight.data
csr = RelativeCSR.from_dense(w.reshape(1, -1), index_bits=5)
codebook = np.concatenate([[0.0], np.unique(w[w != 0])]).astype(np.float32)
indices = np.searchsorted(codebook, csr.values)
for what, symbols, alphabet in (("indices", indices, codebook.size), ("gaps", csr.gaps, 32)):
    code = HuffmanCode.fit(symbols, alphabet)
    print(f"layer 1 {what}: {len(symbols)} symbols, fixed 5 bits, entropy {entropy_bits(symbols):.2f} bits, "
          f"Huffman {code.encoded_bits(symbols) / len(symbols):.2f} bits per symbol")
print(f"({csr.n_fillers} filler zeros for gaps longer than 31)")

# %% [markdown]
# ## The packed file and the byte table
#
# `pack` writes magic, version, a JSON header (architecture, shapes, section sizes), the
# sections (codebook, Huffman code lengths + index bits, code lengths + gap bits, float32
# biases) and a CRC-32. `stage_bytes` writes the same layout three ways to count each stage.

# %%
stages = stage_bytes(model)
tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "lenet300.mcz")
size = pack(model, path)
restored = unpack(path)
packed_acc = acc(restored)
same = np.array_equal(predict(restored, x_test), predict(model, x_test))
accs = [float_acc, pruned_acc, tuned_acc, packed_acc]
print(f"{'stage':<15}{'bytes':>10}{'ratio':>8}{'accuracy':>10}")
for (name, nbytes), a in zip(stages.items(), accs):
    print(f"{name:<15}{nbytes:>10}{stages['dense_float32'] / nbytes:>7.1f}x{a:>10.4f}")
print(f"file on disk: {os.path.getsize(path)} bytes; unpacked model gives identical logits: {same}")
header = read_header(path)
data = open(path, "rb").read()
header_bytes = int.from_bytes(data[5:9], "little")  # the u32 after magic and version
print(f"of which: prefix 9, JSON header {header_bytes}, checksum 4, biases "
      f"{4 * sum(m.bias.size for m in restored if getattr(m, 'bias', None) is not None)} bytes")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(list(stages), list(stages.values()), color=["gray", "tab:blue", "tab:green", "tab:purple"])
ax.set_yscale("log")
ax.set_ylabel("bytes (log scale)")
for i, v in enumerate(stages.values()):
    ax.text(i, v, f"{stages['dense_float32'] / v:.1f}x", ha="center", va="bottom")
savefig(fig, "08_bytes_by_stage.png")

# %% [markdown]
# A damaged file is refused with a clear message, never half-read:

# %%
for label, bad in (("truncated", data[:100]), ("wrong magic", b"ZZZZ" + data[4:]),
                   ("unknown version", data[:4] + bytes([7]) + data[5:])):
    try:
        unpack_bytes(bad)
    except ValueError as err:
        print(f"{label}: ValueError: {err}")

# %% [markdown]
# The full measurement (JSON with every key) is `python benchmarks/deep_compression.py`.
#
# ## Exercises
#
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **deep_compression**: write these functions (6 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `deep_compression.kmeans_1d` | `kmeans_1d(values, k)`: Lloyd's k-means on a 1-D array with LINEAR initialisation (Deep Compression's choice). | – |
# | `deep_compression.k_means_quantize` | `k_means_quantize(fp32_tensor, bitwidth=4)`: k-means weight sharing of a tensor, IN PLACE (MIT 6.5940 lab 2), returning its codebook. | – |
# | `deep_compression.update_codebook` | `update_codebook(fp32_tensor, codebook)`: Move every centroid to the mean of the weights assigned to it, IN PLACE (MIT 6.5940 lab 2). | – |
# | `deep_compression.relative_index_encode` | `relative_index_encode(w, index_bits)`: Deep Compression's sparse storage: per row, the nonzeros with RELATIVE indices and filler zeros. | – |
# | `deep_compression.huffman_code_lengths` | `huffman_code_lengths(frequencies)`: The Huffman code length of every symbol 0..n-1 (Deep Compression §4), 0 for symbols never used. | – |
# | `deep_compression.compression_rate` | `compression_rate(n, k, b=32)`: Deep Compression's compression rate of weight sharing (§3): ``r = n b / (n log2(k) + k b)``. | – |
#
# ```bash
# minicompress exercises --chapter deep_compression --out my_exercises   # one stub per task
# minicompress check my_exercises/deep_compression.py --chapter deep_compression
# python -m pytest -m deep_compression --candidate my_exercises/deep_compression.py
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. MIT's lab code moves each centroid to the
# mean of its weights; a centroid that lost all its weights then becomes the mean of nothing:
#
# ```python
# def update_codebook(fp32_tensor, codebook):
#     flat = fp32_tensor.reshape(-1)
#     for k in range(len(codebook.centroids)):
#         codebook.centroids[k] = np.mean(flat[codebook.labels == k])
# ```
#
# `minicompress check my_exercises/deep_compression.py --task deep_compression.update_codebook` prints (exit code 1):
#
# ```
# deep_compression.update_codebook  fail  hand-worked example (centroid 0: (1 + 3 + 2) / 3 = 2; centroid 1: 10; centroid 2 (no weights): stays 5): after the call, 'codebook' (changed in place) is wrong: item 0: max abs diff 0.0, 1 of 3 differ; first at index (2,): expected 5.0, got nan; inputs: fp32_tensor=array([ 1.,  3., 10.,  2.]), codebook=(array([0., 0., 5.]), array([0, 0, 1, 0])); expected: (array([ 2., 10.,  5.]), array([0, 0, 1, 0])); got: (array([ 2., 10., nan]), array([0, 0, 1, 0]))
#     diagnosis: your centroid with no weights became NaN (the mean of nothing, as MIT's lab code gives); this task keeps its previous value
#
# deep_compression:  1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# ### Explore further
#
# 1. Run this chapter's tests: `pytest -m deep_compression`. Break the tie-breaking in
#    `code_lengths` (`minicompress/compress/huffman.py`) by dropping the smallest-symbol key
#    from the heap entries: which test notices?
# 2. Change `init="linear"` to `"density"` and `"random"`. Which loses most accuracy before
#    centroid fine-tuning, and why (look at the largest weights' centroids)?
# 3. Try `gap_bits` 3, 4, 6 in `stage_bytes(model, gap_bits=...)`: where is the sweet spot
#    between filler zeros and bits per gap?
# 4. Use 3-bit indices for the last two layers only (`share_weights(model, bits={"1": 5,
#    "3": 3, "5": 3})`, before fine-tuning): how many bytes and how many points?

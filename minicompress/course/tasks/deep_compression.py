"""Deep Compression tasks (Han et al. 2016): k-means weight sharing with linear initialisation,
MIT 6.5940 lab 2's ``k_means_quantize`` / ``update_codebook``, relative indices with filler
zeros, Huffman code lengths and the weight-sharing compression rate.

References: ``minicompress.compress.kmeans``, ``.huffman`` and ``.sparse`` behind thin adapters.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from hypothesis import strategies as st

from minicompress.compress.huffman import code_lengths
from minicompress.compress.kmeans import kmeans_1d, update_centroids, weight_sharing_compression_rate
from minicompress.compress.relative_csr import RelativeCSR
from minicompress.course.task import Example, Variant, default_compare
from minicompress.course.tasks._common import task_registrar
from minicompress.course.tasks._draw import distinct_values, grid_arrays, shapes

CHAPTER = "deep_compression"

Codebook = namedtuple("Codebook", ["centroids", "labels"])
"""MIT lab 2's codebook: ``centroids`` (k,) and ``labels`` (n,), the centroid index of every weight."""


_task = task_registrar(CHAPTER)


def shared_values_compare(expected, got):
    """Compare clusterings by the values they give every weight, ``centroids[labels]``.

    A centroid no value uses, or the numbering of the clusters, does not matter; a plain
    array (a tensor changed in place) is compared as usual.
    """
    if not (isinstance(expected, tuple) and len(expected) == 2):
        return default_compare(expected, got)
    if isinstance(expected[0], tuple):  # (result, changed input) of a task that mutates
        if not (isinstance(got, tuple) and len(got) == 2):
            return f"expected (codebook, tensor), got {type(got).__name__}"
        for i, (e, g) in enumerate(zip(expected, got)):
            reason = shared_values_compare(e, g)
            if reason:
                return f"item {i}: {reason}"
        return None
    if not (isinstance(got, tuple) and len(got) == 2):
        return f"expected (centroids, labels), got {type(got).__name__}"
    centroids, labels = (np.asarray(a) for a in got)
    if labels.dtype.kind not in "iu":
        return f"labels must be integers, got dtype {labels.dtype}"
    if labels.size and (labels.min() < 0 or labels.max() >= centroids.size):
        return f"labels must index the {centroids.size} centroids, got range [{labels.min()}, {labels.max()}]"
    e_c, e_l = (np.asarray(a) for a in expected)
    reason = default_compare(e_c[e_l].reshape(-1).astype(np.float64),
                             centroids.reshape(-1)[labels.reshape(-1)].astype(np.float64))
    return None if reason is None else f"the shared values centroids[labels] differ: {reason}"


# ------------------------------------------------------------------ k-means, linear init


def _nearest(v, c, upper=False):
    if upper:  # argmin picks the first minimum: search the reversed centroids to prefer the upper one
        return c.size - 1 - np.argmin(np.abs(v[:, None] - c[None, ::-1]), axis=1)
    return np.argmin(np.abs(v[:, None] - c[None, :]), axis=1)


def _lloyd(values, k, init="linear", max_iter=100, upper=False):
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    k = min(int(k), np.unique(v).size)
    if init == "linear":
        c = np.unique(np.linspace(v.min(), v.max(), k))
    else:
        c = np.unique(np.quantile(v, (np.arange(k) + 0.5) / k))
    for _ in range(max_iter):
        labels = _nearest(v, c, upper)
        counts = np.bincount(labels, minlength=c.size)
        sums = np.bincount(labels, weights=v, minlength=c.size)
        new = sums[counts > 0] / counts[counts > 0]
        new = np.sort(new)
        done = new.size == c.size and np.max(np.abs(new - c)) <= 1e-9
        c = new
        if done:
            break
    return c, _nearest(v, c, upper)


def _kmeans_inputs(max_k=5):
    @st.composite
    def draw(d):
        k = d(st.integers(1, max_k))
        if d(st.booleans()):
            v = d(distinct_values(k, 12))
        else:
            v = d(grid_arrays(shapes(max_dims=1, max_side=12), lo=-8, hi=8, step=0.5))
        return {"values": v, "k": k}
    return draw()


_task(
    "kmeans_1d", "kmeans_1d(values, k)",
    """Lloyd's k-means on a 1-D array with LINEAR initialisation (Deep Compression's choice).

    * ``k`` is first reduced to the number of distinct values;
    * initial centroids ``linspace(min, max, k)`` (evenly spaced over the range, so the rare large
      values keep a centroid);
    * repeat: assign each value to the nearest centroid (a value exactly halfway joins the lower
      one), move each centroid to the mean of its values; a centroid that gets no value is
      DROPPED; stop when no centroid moves more than 1e-9 (or after 100 rounds).

    Returns
    -------
    (ndarray of float (k',), ndarray of int (n,))
        ``(centroids sorted ascending, labels)``. Checked through ``centroids[labels]``, the value
        each weight is replaced by (unused centroids and the numbering do not matter).
    """,
    lambda values, k: kmeans_1d(values, k, init="linear"),
    _kmeans_inputs(),
    [Example({"values": np.array([0.0, 1.0, 2.0, 10.0]), "k": 2}, (np.array([1.0, 10.0]), np.array([0, 0, 0, 1])),
             "linear init 0, 10; 0, 1, 2 are nearer 0: centroids 1 and 10; then stable")],
    [Variant("density_init", lambda values, k: _lloyd(values, k, init="density"),
             "you start from the values' quantiles (density initialisation); this task starts from "
             "linspace(min, max, k) (linear)"),
     Variant("single_round", lambda values, k: _lloyd(values, k, max_iter=1),
             "you stop after one assignment/update round; iterate until no centroid moves"),
     Variant("ties_to_upper", lambda values, k: _lloyd(values, k, upper=True),
             "a value exactly halfway between two centroids joined the upper one in your code; it joins the "
             "LOWER one")],
    compare=shared_values_compare,
)


def _k_means_quantize(fp32_tensor, bitwidth=4):
    c, labels = kmeans_1d(fp32_tensor.reshape(-1), 2**bitwidth, init="linear")
    fp32_tensor[...] = c[labels].reshape(fp32_tensor.shape)
    return Codebook(c, labels)


def _kmq_variant(how):
    def fn(fp32_tensor, bitwidth=4):
        c, labels = _lloyd(fp32_tensor, 2**bitwidth, init="density" if how == "density" else "linear")
        if how != "not_in_place":
            fp32_tensor[...] = c[labels].reshape(fp32_tensor.shape)
        return Codebook(c, labels)
    return fn


@st.composite
def _kmq_inputs(draw):
    bits = draw(st.integers(1, 3))
    if draw(st.booleans()):
        v = draw(distinct_values(2**bits, 16)).reshape(-1, 1)
    else:
        v = draw(grid_arrays(shapes(min_dims=2, max_dims=2, max_side=5), lo=-8, hi=8, step=0.5))
    return {"fp32_tensor": v, "bitwidth": bits}


_task(
    "k_means_quantize", "k_means_quantize(fp32_tensor, bitwidth=4)",
    """k-means weight sharing of a tensor, IN PLACE (MIT 6.5940 lab 2), returning its codebook.

    Cluster all ``fp32_tensor.size`` values into ``k = 2^bitwidth`` clusters with the linear-init
    Lloyd's algorithm of ``kmeans_1d`` (k reduced to the number of distinct values, empty
    clusters dropped, ties to the lower centroid), replace every value by its centroid in place
    (``fp32_tensor[...] = centroids[labels].reshape(shape)``) and return the codebook.

    Returns
    -------
    Codebook(centroids (k',), labels (n,)) -- a namedtuple (or a 2-tuple); labels index the
    flattened tensor (C order). Checked through ``centroids[labels]`` and the changed tensor.
    """,
    _k_means_quantize, _kmq_inputs(),
    [Example({"fp32_tensor": np.array([[0.0, 1.0], [2.0, 10.0]]), "bitwidth": 1},
             (np.array([1.0, 10.0]), np.array([0, 0, 0, 1])),
             "2 clusters: {0, 1, 2} -> 1, {10} -> 10; the tensor becomes [[1, 1], [1, 10]]")],
    [Variant("not_in_place", _kmq_variant("not_in_place"),
             "you return the codebook but leave the tensor unchanged; replace every value by its centroid in "
             "place (fp32_tensor[...] = centroids[labels].reshape(fp32_tensor.shape))"),
     Variant("density_init", _kmq_variant("density"),
             "you start from the values' quantiles (or at random); this task starts k-means from "
             "linspace(min, max, k) (linear initialisation)")],
    mutates=("fp32_tensor",), compare=shared_values_compare,
)

# ------------------------------------------------------------------ update_codebook


def _update_codebook(fp32_tensor, codebook):
    codebook.centroids[:] = update_centroids(fp32_tensor, codebook.labels, codebook.centroids)


def _uc_variant(how):
    def fn(fp32_tensor, codebook):
        v = fp32_tensor.reshape(-1)
        new = codebook.centroids.copy()
        for k in range(new.size):
            members = v[codebook.labels == k]
            if how == "nan_for_empty":
                with np.errstate(all="ignore"):
                    new[k] = members.mean() if members.size else np.nan
            elif members.size:
                new[k] = np.median(members) if how == "median" else members.mean()
        if how == "returns_new":
            return new
        codebook.centroids[:] = new
    return fn


@st.composite
def _uc_inputs(draw):
    k = draw(st.integers(1, 5))
    t = draw(grid_arrays(shapes(max_dims=2, max_side=5), lo=-32, hi=32, step=0.25))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=t.size, max_size=t.size)), dtype=np.int64)
    centroids = np.array(draw(st.lists(st.integers(-32, 32), min_size=k, max_size=k)), dtype=np.float64) / 4
    return {"fp32_tensor": t, "codebook": Codebook(centroids, labels)}


_task(
    "update_codebook", "update_codebook(fp32_tensor, codebook)",
    """Move every centroid to the mean of the weights assigned to it, IN PLACE (MIT 6.5940 lab 2).

    For every k: ``codebook.centroids[k] = mean(fp32_tensor.reshape(-1)[codebook.labels == k])``.
    A centroid with no weights keeps its value (MIT's lab code would make it NaN).
    ``codebook`` is a ``Codebook(centroids, labels)`` namedtuple of arrays; change
    ``codebook.centroids`` in place and return None; ``fp32_tensor`` is not changed.
    """,
    _update_codebook, _uc_inputs(),
    [Example({"fp32_tensor": np.array([1.0, 3.0, 10.0, 2.0]),
              "codebook": Codebook(np.array([0.0, 0.0, 5.0]), np.array([0, 0, 1, 0]))}, None,
             "centroid 0: (1 + 3 + 2) / 3 = 2; centroid 1: 10; centroid 2 (no weights): stays 5")],
    [Variant("nan_for_empty", _uc_variant("nan_for_empty"),
             "your centroid with no weights became NaN (the mean of nothing, as MIT's lab code gives); this task "
             "keeps its previous value"),
     Variant("median", _uc_variant("median"), "you use the median; each centroid becomes the MEAN of its weights"),
     Variant("returns_new", _uc_variant("returns_new"),
             "you return new centroids but leave codebook.centroids unchanged; update it in place "
             "(codebook.centroids[k] = ...) and return None")],
    mutates=("codebook",),
)

# ------------------------------------------------------------------ relative indices with fillers


def _rel_encode(w, index_bits, diff=False, fillers=True):
    span = 2**index_bits
    indptr, gaps, values = [0], [], []
    for row in w.reshape(w.shape[0], -1):
        prev = -1
        for c in np.flatnonzero(row):
            gap = int(c - prev - (0 if diff else 1))
            if fillers:
                while gap > span - 1:
                    gaps.append(span - 1)
                    values.append(0.0)
                    gap -= span
            else:
                gap %= span
            gaps.append(gap)
            values.append(row[c])
            prev = c
        indptr.append(len(gaps))
    return np.array(indptr, np.int64), np.array(gaps, np.int64), np.array(values, dtype=w.dtype)


def _relative_index_encode(w, index_bits):
    r = RelativeCSR.from_dense(w, index_bits)
    return r.indptr, r.gaps, r.values


@st.composite
def _rel_inputs(draw):
    shape = draw(shapes(min_dims=2, max_dims=2, max_side=12))
    dense = draw(st.lists(st.sampled_from([0.0] * 6 + [-2.0, -0.5, 0.25, 1.0, 3.0]), min_size=shape[0] * shape[1],
                          max_size=shape[0] * shape[1]))
    return {"w": np.array(dense).reshape(shape), "index_bits": draw(st.integers(1, 4))}


_task(
    "relative_index_encode", "relative_index_encode(w, index_bits)",
    """Deep Compression's sparse storage: per row, the nonzeros with RELATIVE indices and filler zeros.

    For each row (``w`` is 2-D, rows first) and each nonzero in column order, store
    ``gap = column - previous_column - 1`` (the zeros skipped; the row's first entry counts from
    column -1) and the value. A gap cannot exceed ``2^index_bits - 1``: while it does, store a
    FILLER (gap ``2^index_bits - 1``, value 0.0), which lands ``2^index_bits`` columns further,
    and subtract ``2^index_bits`` from the gap.

    Returns
    -------
    (indptr int (rows + 1,), gaps int (n_stored,), values float (n_stored,))
        ``indptr[r]:indptr[r+1]`` are row r's stored entries, fillers included.
    """,
    _relative_index_encode, _rel_inputs(),
    [Example({"w": np.array([[0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0], [3.0] + [0.0] * 8]), "index_bits": 2},
             (np.array([0, 3, 4]), np.array([1, 3, 2, 0]), np.array([5.0, 0.0, 7.0, 3.0])),
             "row 0: 5 at column 1 (gap 1); 7 at column 8: gap 6 > 3, a filler (gap 3, column 5), then gap 2")],
    [Variant("index_difference", lambda w, index_bits: _rel_encode(w, index_bits, diff=True),
             "you store the index difference (column - previous column); this task stores the zeros skipped, "
             "column - previous - 1 (the first entry of a row counts from column -1)"),
     Variant("no_fillers", lambda w, index_bits: _rel_encode(w, index_bits, fillers=False),
             "a gap larger than 2^index_bits - 1 must be bridged by filler zeros (gap 2^bits - 1, value 0); "
             "yours wrapped around")],
)

# ------------------------------------------------------------------ Huffman code lengths


def _huffman_check(fn, kwargs):
    """Any optimal code passes: zero lengths exactly for unused symbols, Kraft sum 1, Huffman's total bits."""
    f = np.asarray(kwargs["frequencies"], dtype=np.int64)
    best = code_lengths(f)
    got = fn(**kwargs)
    g = np.asarray(got)
    used = f > 0
    reason = None
    if g.shape != f.shape or g.dtype.kind not in "iu":
        reason = f"expected {f.size} integer code lengths, got {g.dtype} of shape {g.shape}"
    elif np.any((g > 0) != used) or np.any(g < 0):
        reason = "a symbol that never occurs must have length 0, and every used symbol a length >= 1"
    elif used.sum() >= 2 and np.sum(2.0 ** -g[used].astype(np.float64)) != 1.0:
        reason = (f"these lengths do not form a complete prefix code: the Kraft sum of 2^-length is "
                  f"{np.sum(2.0 ** -g[used].astype(np.float64))}, not 1")
    elif int((f * g).sum()) != int((f * best).sum()):
        reason = f"your code needs {int((f * g).sum())} bits in total; a Huffman code needs {int((f * best).sum())}"
    if reason:
        err = AssertionError(reason)
        err.inputs, err.expected, err.got = dict(kwargs), best, got
        raise err


def _huff_variant(how):
    def fn(frequencies):
        f = np.asarray(frequencies, dtype=np.int64)
        n = f.size
        if how == "fixed":
            used = int(np.count_nonzero(f))
            return np.where(f > 0, max(int(np.ceil(np.log2(max(used, 2)))), 1), 0).astype(np.int64)
        use = np.arange(n) if how == "unused_coded" else np.flatnonzero(f)
        lengths = np.zeros(n, np.int64)
        if use.size == 1:
            lengths[use] = 0 if how == "single_zero" else 1
            return lengths
        nodes = [(int(f[s]), int(s), [int(s)]) for s in use]
        while len(nodes) > 1:
            nodes.sort(key=lambda t: (t[0], t[1]))
            (fa, ma, sa), (fb, mb, sb) = nodes[0], nodes[1]
            lengths[sa + sb] += 1
            nodes = nodes[2:] + [(fa + fb, min(ma, mb), sa + sb)]
        return lengths
    return fn


_task(
    "huffman_code_lengths", "huffman_code_lengths(frequencies)",
    """The Huffman code length of every symbol 0..n-1 (Deep Compression §4), 0 for symbols never used.

    Repeatedly merge the two nodes of smallest frequency; every symbol under a merged node gets
    one more bit. A single used symbol gets length 1 (a code needs at least one bit).

    Ties may be broken any way: several length vectors are then optimal. On generated inputs
    the check accepts any of them: 0 exactly for the unused symbols, a complete prefix code
    (Kraft sum of 2^-length equal to 1 when two or more symbols are used) and the total bits
    ``sum f * length`` of a Huffman code. (The library merges equal frequencies in order of
    the smallest symbol in each node; the hand-worked examples have no ambiguous tie.)

    Parameters
    ----------
    frequencies : ndarray of int >= 0, shape (n,), at least one > 0

    Returns
    -------
    ndarray of int, shape (n,)
    """,
    lambda frequencies: code_lengths(frequencies),
    st.fixed_dictionaries({"frequencies": st.lists(st.integers(0, 12), min_size=1, max_size=8).filter(any).map(
        lambda v: np.array(v, dtype=np.int64))}),
    [Example({"frequencies": np.array([5, 1, 1, 2])}, np.array([1, 3, 3, 2]),
             "merge 1+1 (symbols 1, 2) = 2; then 2 (node {1, 2}) + 2 (symbol 3) = 4; then 4 + 5"),
     Example({"frequencies": np.array([0, 3])}, np.array([0, 1]), "one used symbol: 1 bit; unused: 0")],
    [Variant("unused_symbols_coded", _huff_variant("unused_coded"),
             "you give symbols that never occur a codeword; their length is 0 (they are left out of the tree)"),
     Variant("single_symbol_zero_bits", _huff_variant("single_zero"),
             "a single used symbol gets length 0 from you; a code needs at least 1 bit per symbol"),
     Variant("fixed_length", _huff_variant("fixed"),
             "you give every used symbol ceil(log2(used)) bits (a fixed-length code); Huffman gives frequent "
             "symbols shorter codes")],
    check=_huffman_check,
)

# ------------------------------------------------------------------ compression rate


_task(
    "compression_rate", "compression_rate(n, k, b=32)",
    """Deep Compression's compression rate of weight sharing (§3): ``r = n b / (n log2(k) + k b)``.

    ``n`` weights of ``b`` bits become one ``log2(k)``-bit index each (log2 as written, not rounded
    up) plus a codebook of ``k`` b-bit centroids. 16 weights, 4 clusters, 32 bits: 512 / 160 = 3.2.

    Returns
    -------
    float
    """,
    lambda n, k, b=32: weight_sharing_compression_rate(n, k, b),
    st.fixed_dictionaries({"n": st.integers(1, 10**6), "k": st.integers(2, 256), "b": st.sampled_from([8, 16, 32])}),
    [Example({"n": 16, "k": 4, "b": 32}, 3.2, "the paper's 4x4 example: 16*32 / (16*2 + 4*32) = 512 / 160"),
     Example({"n": 1000, "k": 3, "b": 32}, 32000 / (1000 * np.log2(3) + 96), "log2(3) = 1.585 bits, not 2")],
    [Variant("no_codebook", lambda n, k, b=32: float(n * b / (n * np.log2(k))),
             "you leave out the codebook: it costs k * b bits too (r = n b / (n log2 k + k b))"),
     Variant("ceil_log2", lambda n, k, b=32: float(n * b / (n * np.ceil(np.log2(k)) + k * b)),
             "you round log2(k) up to whole bits; the paper's formula uses log2(k) as it is"),
     Variant("inverted", lambda n, k, b=32: float((n * np.log2(k) + k * b) / (n * b)),
             "you return compressed / original; the rate is original / compressed (> 1 means smaller)")],
)

__all__ = ["CHAPTER", "Codebook", "shared_values_compare"]

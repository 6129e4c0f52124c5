"""Your own implementation of the documents' equations E1-E8, checked by minicompress.

Fill in any of the functions below (keep the names: the E-id, with "." written "_"),
then run

    minicompress check tutorials/exercises/template.py        # one line per equation
    pytest -m equations --candidate tutorials/exercises/template.py

Each equation is checked by the same property tests the reference passes
(``minicompress/equations/properties.py``): element by element against an exact
oracle, plus the equation's invariants, on float32 and float64 arrays including empty
and 1-element arrays, negatives, exact .5 ties and huge values. A function that still
raises ``NotImplementedError`` is reported as "not implemented"; the check exits 0 only
when at least one function is implemented and every implemented one passes.

The documents (doc 000, doc 001, doc 002) and every equation are described in
``docs/documents.md``.
round(·) is 四舍五入: half AWAY from zero (round(0.5) = 1, round(-2.5) = -3), which is
not what ``np.round`` does.
"""

import numpy as np  # noqa: F401  (you will want it)


def E1(w, T, t):
    """Threshold clipping (doc 001 §3.1.3).

    w̃ᵢⱼ = t if |wᵢⱼ| > T, otherwise wᵢⱼ.

    w: array of any shape; T >= 0 and t: floats. Return an array shaped like w.
    """
    raise NotImplementedError


def E2(w, bits):
    """Weight quantization (doc 001 §3.2.3).

    w̃ᵢⱼ = round(wᵢⱼ / 2^(b−1)) × 2^(b−1), round half away from zero.

    w: array of any shape (float32 or float64); bits: int >= 1. Return an array shaped like w.
    """
    raise NotImplementedError


def E3(theta, r):
    """Pruning by retention ratio (doc 001 §3.3.3).

    Θ̃ = (1 − r)·Θ for every weight and bias.

    theta: dict name -> array (e.g. {"0.weight": ..., "0.bias": ...}); r in [0, 1].
    Return a new dict with the same names.
    """
    raise NotImplementedError


def E4(a, bits):
    """Activation quantization (doc 001 §3.4.3).

    ãᵢⱼ = round(aᵢⱼ / 2^(b−1)) × 2^(b−1), round half away from zero.

    a: array of any shape; bits: int >= 1. Return an array shaped like a.
    """
    raise NotImplementedError


def E5(w, p, seed):
    """Weight pruning in four steps (doc 000 §3.1).

    (1) pick a proportion p of the weights at random as candidates (use
    np.random.default_rng(seed)); (2) mean μ and variance σ² of the candidates;
    (3) decide from μ and σ² which candidates are removed (your rule; the reference
    removes a candidate when |w − μ| <= σ); (4) W_pruned = W_original − W_removed.

    Return (w_pruned, w_removed, candidates): two arrays shaped like w and a boolean
    mask. Checked: w_pruned + w_removed == w exactly, disjoint supports, only candidates
    removed, the same seed gives the same result, the candidate fraction averages p.
    """
    raise NotImplementedError


def E6(w, Q):
    """Quantization by ratio (doc 000 §3.2).

    W_quantized = round(W_original × Q), round half away from zero.

    w: array of any shape; Q > 0 (checked with Q = 1, 2, 4, ..., 1024).
    Return the integers (as an integer or float array) shaped like w.
    """
    raise NotImplementedError


def E6_inverse(w_quantized, Q):
    """Quantization by ratio, mapped back (doc 000 §3.2): W_quantized / Q."""
    raise NotImplementedError


def E7(y_hat, y):
    """The documents' distillation loss (doc 000 §3.3), binary cross-entropy.

    L = −(1/N) Σᵢ [yᵢ log ŷᵢ + (1 − yᵢ) log(1 − ŷᵢ)]

    y_hat: predicted probabilities, shape (N,); y: labels 0 or 1, shape (N,).
    Clip ŷ to [eps, 1 − eps] with eps = 1e-7 before the logs, so ŷ = y gives a finite
    (smallest) loss. Return a float.
    """
    raise NotImplementedError


def E8_soft_cross_entropy(p_teacher, p_student):
    """Imitation loss (doc 002 §3): H(p_T, p_S) = −(1/N) Σᵢ Σₖ p_T,ik log p_S,ik.

    p_teacher, p_student: probability rows, shape (N, K), each row summing to 1.
    Return a float (the mean over the N rows).
    """
    raise NotImplementedError


def E8_output_distance(out_a, out_b):
    """Output distance (doc 002 §3): (1/N) Σᵢ ‖aᵢ − bᵢ‖², the mean over the first axis.

    out_a, out_b: arrays of the same shape (N, ...). Return a float.
    """
    raise NotImplementedError


def E8_parameter_distance(params_a, params_b):
    """Parameter distance (doc 002 §3): Σ over names ‖θ_a − θ_b‖².

    params_a, params_b: dicts name -> array. Raise ValueError naming the parameter when
    a name is missing or extra, or a shape differs. Return a float.
    """
    raise NotImplementedError


def E8_copy(teacher, student):
    """Parameter transfer (doc 002 §3): θ_S ← θ_T.

    teacher, student: dicts name -> array. Return a new dict with the student's names
    holding copies of the teacher's arrays; raise ValueError naming the parameter when a
    name is missing or extra, or a shape differs.
    """
    raise NotImplementedError

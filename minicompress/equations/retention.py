"""E3, "pruning" by retention ratio, exactly as doc 001 writes it.

Source: doc 001 §3.3.3 (``docs/documents.md#e3-pruning-by-retention-ratio``). The text
around the equation asks to keep a fraction r of the neurons and weights and delete the
rest (magnitude pruning with
keep-ratio r), but the equation multiplies every parameter by (1 − r): it removes
nothing, and r = 1 ("keep everything") zeroes the whole model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from minicompress.equations._checks import as_real_array, check_probability


def _scale(arr, r, name):
    a = as_real_array(arr, name)
    # Formed in float64 and rounded once to the tensor's dtype, so float32 parameters
    # get (1 - r) * w correctly rounded instead of rounding (1 - r) first.
    return (a.astype(np.float64) * (1.0 - r)).astype(a.dtype)


def _is_module(obj):
    return hasattr(obj, "named_parameters") and hasattr(obj, "state_dict")


def scale_by_retention(params, r):
    """E3: multiply every weight and bias by (1 − r), as written.

    .. math:: \\tilde\\Theta = \\{(1-r)W^1, (1-r)b^1, \\dots, (1-r)W^l, (1-r)b^l\\}

    (doc 001 §3.3.3, r the retention ratio).

    Choices the document leaves open, made here: r must be a real number in [0, 1];
    each tensor keeps its dtype ((1 − r)·w is formed in float64 and rounded once);
    nothing is modified in place.

    Parameters
    ----------
    params : array_like, mapping of name -> array, or minicompress ``Module``
        * one array (one W or b): returns the scaled array;
        * a dict of arrays (Θ): returns a new dict, same keys, every array scaled;
        * a ``Module``: returns a new *state dict* (``name -> ndarray``) in which every
          parameter (``named_parameters``) is scaled and every buffer (e.g. a pruning
          mask) is copied unchanged, ready for ``model.load_state_dict``. The module
          itself is untouched.
    r : float
        Retention ratio, ``0 <= r <= 1``.

    Returns
    -------
    numpy.ndarray or dict of str -> numpy.ndarray
    """
    r = check_probability(r, "r (the retention ratio)")
    if _is_module(params):
        names = {name for name, _ in params.named_parameters()}
        out = {}
        for name, value in params.state_dict().items():
            out[name] = _scale(value, r, name) if name in names else np.array(value, copy=True)
        return out
    if isinstance(params, Mapping):
        return {name: _scale(value, r, str(name)) for name, value in params.items()}
    return _scale(params, r, "params")

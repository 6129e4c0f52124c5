"""Sparsity report: per layer and in total, requested and achieved, parameters and bytes.

For every parameter of every layer (weights and biases), the report gives its size, the
nonzero count, the achieved sparsity (zero fraction, counting masked *and* exactly-zero
entries), the requested sparsity if the caller says what it asked for, and two storage
costs: dense float bytes, and the exact bytes of the relative-index CSR form
(:class:`minicompress.compress.relative_csr.RelativeCSR`) that a sparse file would hold.

Totals are given twice, so nobody has to guess which one a number means: over the
*weights only* (``weights``) and over *all parameters including biases* (``all``).
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.relative_csr import RelativeCSR
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module


def sparsity_report(model: Module, requested: dict | None = None, index_bits: int = 5) -> dict:
    """Measure how sparse ``model`` is.

    Parameters
    ----------
    model : Module
    requested : dict, optional
        ``{"0.weight": 0.9, ...}``: the sparsity asked for, by dotted parameter name; shown
        beside the achieved one.
    index_bits : int
        Bits per relative index for the CSR byte count (5, Deep Compression's FC choice).

    Returns
    -------
    dict
        ``{"layers": [{"name", "kind", "shape", "params", "nonzero", "sparsity",
        "requested", "dense_bytes", "csr_bytes"}, ...],
        "weights": totals over weights, "all": totals over weights and biases}``; each
        totals dict has ``params, nonzero, sparsity, kept_fraction, dense_bytes, csr_bytes,
        compression`` (dense / CSR bytes).
    """
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a Module, got {type(model).__name__}")
    requested = dict(requested or {})
    known = {n for n, _ in model.named_parameters()}
    unknown = sorted(set(requested) - known)
    if unknown:
        raise InputError(f"requested names {unknown} are not parameters; they are {sorted(known)}")
    rows = []
    for mod_name, mod in model.named_modules():
        for pname in mod._parameters:
            full = f"{mod_name}.{pname}" if mod_name else pname
            w = np.asarray(mod.effective(pname).data)
            as_2d = w if w.ndim >= 2 else w.reshape(1, -1)
            rows.append({
                "name": full, "kind": "weight" if w.ndim >= 2 else "bias",
                "shape": list(w.shape), "params": int(w.size),
                "nonzero": int(np.count_nonzero(w)),
                "sparsity": float(1.0 - np.count_nonzero(w) / w.size) if w.size else 0.0,
                "requested": requested.get(full),
                "dense_bytes": int(w.nbytes),
                "csr_bytes": RelativeCSR.from_dense(np.ascontiguousarray(as_2d), index_bits).nbytes(),
            })

    def totals(selected):
        params = sum(r["params"] for r in selected)
        nonzero = sum(r["nonzero"] for r in selected)
        dense = sum(r["dense_bytes"] for r in selected)
        csr = sum(r["csr_bytes"] for r in selected)
        return {"params": params, "nonzero": nonzero,
                "sparsity": 1.0 - nonzero / params if params else 0.0,
                "kept_fraction": nonzero / params if params else 1.0,
                "dense_bytes": dense, "csr_bytes": csr,
                "compression": dense / csr if csr else float("inf")}

    return {"layers": rows, "weights": totals([r for r in rows if r["kind"] == "weight"]),
            "all": totals(rows), "index_bits": index_bits}


def pruned_bytes(model: Module, index_bits: int = 5) -> int:
    """Storage of a pruned model: its weights in relative-index CSR plus its biases as float32.

    The weights' bytes are ``sparsity_report(model)["weights"]["csr_bytes"]`` (exact bytes of
    :meth:`RelativeCSR.to_bytes`); biases are few and stay dense.
    """
    report = sparsity_report(model, index_bits=index_bits)
    return int(report["weights"]["csr_bytes"]) + sum(r["params"] * 4 for r in report["layers"]
                                                      if r["kind"] == "bias")


def format_report(report: dict) -> str:
    """The report as a fixed-width text table."""
    head = (f"{'parameter':<14}{'shape':>14}{'params':>9}{'nonzero':>9}{'sparsity':>9}"
            f"{'requested':>10}{'dense B':>10}{'CSR B':>10}")
    lines = [head, "-" * len(head)]
    for r in report["layers"]:
        req = "" if r["requested"] is None else f"{r['requested']:.3f}"
        lines.append(f"{r['name']:<14}{'x'.join(map(str, r['shape'])):>14}{r['params']:>9}"
                     f"{r['nonzero']:>9}{r['sparsity']:>9.3f}{req:>10}{r['dense_bytes']:>10}"
                     f"{r['csr_bytes']:>10}")
    lines.append("-" * len(head))
    for key, label in (("weights", "weights only"), ("all", "incl. biases")):
        t = report[key]
        lines.append(f"{label:<28}{t['params']:>9}{t['nonzero']:>9}{t['sparsity']:>9.3f}"
                     f"{'':>10}{t['dense_bytes']:>10}{t['csr_bytes']:>10}"
                     f"  kept {t['kept_fraction']:.4f}, {t['compression']:.1f}x smaller")
    return "\n".join(lines)

"""The documents' equations E1-E8, exactly as written, and the learners' checker.

One function per equation, named for what it does, each docstring quoting the
equation and naming the document and section (``docs/documents.md`` describes the
documents and every equation). ``EQUATIONS`` maps each E-id to
its function; E6 and E8 have several named steps (``"E6.inverse"``, ``"E8.copy"``)::

    E-id                    function                              document, section
    E1                      threshold_clip                        doc 001 §3.1.3
    E2                      quantize_pow2_step                    doc 001 §3.2.3
    E3                      scale_by_retention                    doc 001 §3.3.3
    E4                      quantize_activations_pow2_step        doc 001 §3.4.3
                            (at inference: ActivationQuantE4)
    E5                      random_candidate_pruning              doc 000 §3.1
    E6                      quantize_by_ratio                     doc 000 §3.2
    E6.inverse              dequantize_by_ratio                   doc 000 §3.2
    E7                      distillation_bce_as_written           doc 000 §3.3
    E8.soft_cross_entropy   soft_cross_entropy                    doc 002 §3
    E8.output_distance      output_distance                       doc 002 §3
    E8.parameter_distance   parameter_distance                    doc 002 §3
    E8.copy                 copy_parameters                       doc 002 §3

Not in ``EQUATIONS`` (not the documents' equations): :func:`quantize_fixed_point_reading`
(E2 with the exponent's sign flipped) and :func:`with_activation_quant`.

(doc 000, doc 001, doc 002: ``docs/documents.md#the-three-documents``.) round(·) is
四舍五入, half away from zero:
:func:`round_half_away`. E9, transfer learning (doc 000 §2.3), is a procedure, not an
equation: it is the transfer-learning chapter (``minicompress.compress.transfer``).

Checking your own implementation
--------------------------------
Each equation is a task of the course companion's ``equations`` chapter
(``minicompress.course``): write the functions of ``tutorials/exercises/equations.py``
(or name them by E-id: ``E1``, ``E6_inverse``, ``E8_copy``, ...), then run
``minicompress check your_file.py`` or ``python -m pytest -m equations --candidate your_file.py``.
Both run the property tests of ``minicompress/course/equation_properties.py`` that the
reference passes.
"""

from minicompress.equations.activation import ActivationQuantE4, with_activation_quant
from minicompress.equations.distillation import (
    LOG_EPS,
    copy_parameters,
    distillation_bce_as_written,
    output_distance,
    parameter_distance,
    soft_cross_entropy,
)
from minicompress.equations.pruning import random_candidate_pruning
from minicompress.equations.quantize import (
    dequantize_by_ratio,
    quantize_activations_pow2_step,
    quantize_by_ratio,
    quantize_fixed_point_reading,
    quantize_pow2_step,
)
from minicompress.equations.retention import scale_by_retention
from minicompress.equations.rounding import round_half_away
from minicompress.equations.threshold import threshold_clip

EQUATIONS = {
    "E1": threshold_clip,
    "E2": quantize_pow2_step,
    "E3": scale_by_retention,
    "E4": quantize_activations_pow2_step,
    "E5": random_candidate_pruning,
    "E6": quantize_by_ratio,
    "E6.inverse": dequantize_by_ratio,
    "E7": distillation_bce_as_written,
    "E8.soft_cross_entropy": soft_cross_entropy,
    "E8.output_distance": output_distance,
    "E8.parameter_distance": parameter_distance,
    "E8.copy": copy_parameters,
}

__all__ = [
    "EQUATIONS",
    "LOG_EPS",
    "ActivationQuantE4",
    "copy_parameters",
    "distillation_bce_as_written",
    "output_distance",
    "parameter_distance",
    "soft_cross_entropy",
    "with_activation_quant",
    "dequantize_by_ratio",
    "quantize_activations_pow2_step",
    "quantize_by_ratio",
    "quantize_fixed_point_reading",
    "quantize_pow2_step",
    "random_candidate_pruning",
    "round_half_away",
    "scale_by_retention",
    "threshold_clip",
]

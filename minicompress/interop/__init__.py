"""Interoperability: export to ONNX (run in ONNX Runtime), import PyTorch weights from safetensors.

Layer 5 (imports layers 0-4). onnx, onnxruntime and safetensors are the optional extra
``pip install 'minicompress[onnx]'``; they are imported inside the functions that need them,
so ``import minicompress.interop`` works without them.

=======================  ==========================================================
module                   what it holds
=======================  ==========================================================
``onnx_export``          ``export_onnx`` / ``to_onnx``: float, pruned, QDQ and integer models
``onnx_float``           Sequential layers (float and fake-quantized) as ONNX nodes
``onnx_integer``         the integer model as MatMulInteger / ConvInteger + float64 requantization
``onnx_graph``           the small graph builder (initializers, names, dynamic batch)
``onnx_run``             ``onnx_session`` / ``run_onnx``: ONNX Runtime on the CPU
``safetensors_import``   ``import_safetensors``: a PyTorch state dict into a zoo model
=======================  ==========================================================
"""

from minicompress.interop._optional import MissingDependencyError
from minicompress.interop.onnx_export import export_onnx, to_onnx
from minicompress.interop.onnx_run import onnx_session, run_onnx
from minicompress.interop.safetensors_import import import_safetensors, read_safetensors

__all__ = [
    "MissingDependencyError", "export_onnx", "import_safetensors", "onnx_session", "read_safetensors", "run_onnx",
    "to_onnx",
]

"""Running an exported model in ONNX Runtime: a session and batched predictions."""

from __future__ import annotations

import numpy as np

from minicompress.interop._optional import require


def onnx_session(model, threads: int | None = None, optimize: bool = True):
    """An ``onnxruntime.InferenceSession`` on the CPU for a path, bytes or an ``onnx.ModelProto``.

    Parameters
    ----------
    threads : int, optional
        ``intra_op_num_threads`` (ONNX Runtime's default is one per core).
    optimize : bool
        ``False`` turns ONNX Runtime's graph optimizations off, so it runs the graph's
        operators as written (with them on it may fuse a QDQ graph into its own integer kernels).
    """
    ort = require("onnxruntime")
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3  # warnings about shape merging are noise for a learner
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnx(session, x, batch_size: int = 500) -> np.ndarray:
    """The first output of ``session`` (or of a model/path, wrapped by :func:`onnx_session`) for ``x``, in batches."""
    if not hasattr(session, "run"):
        session = onnx_session(session)
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(x, dtype=np.float32)
    outs = [session.run(None, {name: x[i:i + batch_size]})[0] for i in range(0, len(x), batch_size)]
    return np.concatenate(outs)

"""A small builder for ONNX graphs: constants, nodes, unique names, one dynamic batch dimension.

The exporters (:mod:`.onnx_float`, :mod:`.onnx_integer`) describe a model as a chain of
nodes; this builder turns NumPy constants into initializers, gives every intermediate
value a fresh name and wraps the result in a ``ModelProto`` whose input and output have
the symbolic batch dimension ``"N"``, so the exported model takes a batch of any size.
"""

from __future__ import annotations

import numpy as np

from minicompress.interop._optional import require

#: Opset 21 (ONNX 1.16, 2024): the first with 16-bit QuantizeLinear / DequantizeLinear.
OPSET = 21
#: The IR version that goes with opset 21; older runtimes refuse newer IR versions.
IR_VERSION = 10
BATCH = "N"


class GraphBuilder:
    """Collects initializers and nodes; :meth:`model` assembles the ``onnx.ModelProto``."""

    def __init__(self):
        self.onnx = require("onnx")
        self.nodes = []
        self.initializers = []
        self._used = set()

    def fresh_name(self, hint: str) -> str:
        """``hint``, or ``hint_2``, ``hint_3``, ... if taken: every value and node gets its own name."""
        name, k = hint, 1
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def const(self, hint: str, array) -> str:
        """Add ``array`` (its dtype kept) as an initializer; return its name."""
        from onnx import numpy_helper

        name = self.fresh_name(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        """Add one node with a single output; return the output's name ("" in ``inputs`` = omitted input)."""
        out = self.fresh_name(hint or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=self.fresh_name(f"{out}_node"), **attrs))
        return out

    def model(self, input_name: str, input_dims, input_type, output_name: str, output_dims, output_type,
              doc: str) -> object:
        """The ``ModelProto``: input ``(N, *input_dims)`` and output ``(N, *output_dims)``."""
        helper = self.onnx.helper
        inp = helper.make_tensor_value_info(input_name, input_type, [BATCH, *input_dims])
        out = helper.make_tensor_value_info(output_name, output_type, [BATCH, *output_dims])
        graph = helper.make_graph(self.nodes, "minicompress", [inp], [out], initializer=self.initializers,
                                  doc_string=doc)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="minicompress", ir_version=IR_VERSION)
        proto.doc_string = doc
        return proto

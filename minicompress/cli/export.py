"""``minicompress export``: write a saved model as an ONNX file and check it in ONNX Runtime."""

from __future__ import annotations

import argparse
import os

from minicompress.cli.common import add_json_option, check_writable_file, load_model_arg, write_json
from minicompress.cli.errors import UsageError

HELP = """\
MODEL is a minicompress model file: a .npz (train, prune, quantize --out, pack --unpack) or
a packed .mcz (pack). A .npz holds float weights (a pruned model's masks are baked into the
export; `quantize --out` saves the quantized weight values as floats, because a .npz holds no
activation quantizers). To export a model that computes in int8, quantize it here:

  --quantize qdq       static int8 PTQ calibrated on --calibration-batches batches of 256
                       mnist10k training digits, exported with QuantizeLinear/DequantizeLinear
                       around weights and activations (ONNX Runtime runs it on its int8 kernels)
  --quantize integer   the same model as minicompress's integer model: MatMulInteger/ConvInteger
                       with float64 requantization, bit-identical to minicompress's int8 kernels

When onnxruntime is installed and the model takes 28x28 digits, the exported file is run on
the 2,000 mnist10k test digits and compared with minicompress's own predictions.

examples:
  minicompress train --model lenet5 --epochs 1 --out lenet5.npz
  minicompress export lenet5.npz --format onnx --out lenet5.onnx
  minicompress export lenet5.npz --format onnx --quantize integer --per-channel --out lenet5-int8.onnx
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export", help="export a model to ONNX (float, pruned, int8 QDQ or integer operators)",
        description="Export MODEL (.npz or .mcz) to --out in --format, check it with onnx.checker and, "
                    "when onnxruntime is installed, run it on mnist10k beside minicompress.",
        epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="input model file (.npz or .mcz written by minicompress)")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="output format (default onnx)")
    parser.add_argument("--out", required=True, help="output file (.onnx)")
    parser.add_argument("--quantize", choices=("none", "qdq", "integer"), default="none",
                        help="export float (none, default), int8 QDQ, or integer operators")
    parser.add_argument("--per-channel", action="store_true", help="with --quantize: one weight scale per channel")
    parser.add_argument("--calibration-batches", type=int, default=4,
                        help="with --quantize: number of 256-digit calibration batches (default 4)")
    parser.add_argument("--input-shape", default=None, metavar="C,H,W",
                        help="one sample's shape, for a model that is not one of the zoo's architectures")
    add_json_option(parser)
    parser.set_defaults(run=run)
    return parser


def load_any_model(path):
    """A .npz model file, or a packed .mcz file (recognised by its magic number)."""
    from minicompress.compress.packing import MAGIC, unpack

    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) == MAGIC:
                return unpack(path)
    return load_model_arg(path)


def _shape(text):
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise UsageError(f"--input-shape must be integers separated by commas, e.g. 1,28,28; got {text!r}") from None


def _check_in_runtime(path, model, result) -> None:
    """Run the file in ONNX Runtime on mnist10k's test digits, beside minicompress's own predictions."""
    import numpy as np

    from minicompress.compress.quantization import IntegerModel
    from minicompress.data import load_mnist10k
    from minicompress.engine import Tensor, no_grad
    from minicompress.interop import run_onnx
    from minicompress.interop._optional import MissingDependencyError

    _, _, x, y = load_mnist10k()
    try:
        theirs = run_onnx(path, x)
    except MissingDependencyError:
        print("onnxruntime is not installed: the file was not run (pip install 'minicompress[onnx]')")
        return
    if isinstance(model, IntegerModel):
        ours = model.predict(x)
    else:
        with no_grad():
            ours = model.eval()(Tensor(x)).data
    result.update(onnx_accuracy=float((theirs.argmax(1) == y).mean()),
                  minicompress_accuracy=float((ours.argmax(1) == y).mean()),
                  prediction_agreement=float((theirs.argmax(1) == ours.argmax(1)).mean()),
                  max_abs_logit_difference=float(np.abs(theirs - ours).max()))
    print(f"ONNX Runtime on the 2,000 mnist10k test digits: accuracy {result['onnx_accuracy']:.4f} "
          f"(minicompress {result['minicompress_accuracy']:.4f}); predictions agree on "
          f"{100 * result['prediction_agreement']:.2f}%, largest logit difference "
          f"{result['max_abs_logit_difference']:.3g}")


def run(args) -> int:
    from minicompress.interop import export_onnx
    from minicompress.interop._optional import MissingDependencyError
    from minicompress.interop.onnx_export import zoo_input_shape

    if args.calibration_batches < 1:
        raise UsageError(f"--calibration-batches must be >= 1, got {args.calibration_batches}")
    if args.quantize == "none" and args.per_channel:
        raise UsageError("--per-channel applies only with --quantize qdq or integer")
    check_writable_file(args.out)
    input_shape = _shape(args.input_shape)
    model = load_any_model(args.model)
    takes_digits = (input_shape or zoo_input_shape(model)) == (1, 28, 28)
    if args.quantize != "none":
        from minicompress.compress.quantization import static_ptq, to_integer
        from minicompress.data import load_mnist10k

        if not takes_digits:
            raise UsageError("--quantize calibrates on mnist10k digits, so the model must take (1, 28, 28) inputs")
        x_train = load_mnist10k()[0]
        batches = [x_train[i * 256:(i + 1) * 256] for i in range(args.calibration_batches)]
        model = static_ptq(model, batches, per_channel=args.per_channel)
        if args.quantize == "integer":
            model = to_integer(model)
    try:
        size = export_onnx(model, args.out, input_shape=input_shape)
    except MissingDependencyError as err:
        raise UsageError(str(err)) from None
    result = {"input": args.model, "output": args.out, "format": args.format, "quantize": args.quantize,
              "per_channel": args.per_channel, "onnx_bytes": size, "input_bytes": os.path.getsize(args.model)}
    print(f"wrote {args.out}: {size} bytes ({args.model}: {result['input_bytes']} bytes)")
    if takes_digits:
        _check_in_runtime(args.out, model, result)
    write_json(args.json, result)
    return 0

"""``minicompress quantize``: quantize a saved model with the documents' formulas or with PTQ."""

from __future__ import annotations

import argparse

from minicompress.cli.common import (
    add_json_option,
    check_outputs,
    load_model_arg,
    mnist10k_accuracy,
    positive_float,
    write_json,
)
from minicompress.cli.errors import UsageError

CALIBRATION_BATCH = 256
MAX_CALIBRATION_BATCHES = -(-8000 // CALIBRATION_BATCH)  # mnist10k's 8,000 training images: 32 (the last has 64)

HELP = """\
methods:
  e2           doc 001 §3.2.3 as written: every weight -> round(w / 2^(b-1)) * 2^(b-1)
               (at --bits 8 every |w| < 64 becomes 0: a trained network is wiped out)
  e4           doc 001 §3.4.3 as written, on the activations after every ReLU (cannot be
               saved with --out: a .npz model holds no activation quantizers)
  e6           doc 000 §3.2 as written: every weight -> round(w * Q) / Q, Q = --ratio (default 8)
  fixed-point  E2 with the exponent's sign flipped: round(w * 2^(b-1)) / 2^(b-1)
  ptq          weight-only symmetric PTQ, s = max|w| / (2^(b-1) - 1), --bits 2-8 or 16
  int8-ptq     ptq at 8 bits
  static-ptq   weights and activations, calibrated on --calibration-batches batches of 256
               mnist10k training images (--out saves the quantized weights only)
The quantized model is evaluated on the mnist10k test images when it takes 28x28 digits.

example:
  minicompress quantize lenet.npz --method e2 --bits 8 --out lenet-e2.npz --json e2.json
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from minicompress.compress.quantization import METHODS

    parser = subparsers.add_parser(
        "quantize",
        help="quantize a saved model (E2/E4/E6 as written, weight-only or static PTQ)",
        description="Quantize the model in MODEL (a minicompress .npz) with --method, report its "
                    "accuracy on mnist10k beside the float model's, and optionally save it to --out.",
        epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="input model file (.npz written by minicompress)")
    parser.add_argument("--method", choices=METHODS, default="int8-ptq", help="quantizer (default int8-ptq)")
    parser.add_argument("--bits", type=int, default=None,
                        help="bit width b (default 8; not for e6, whose step is 1/Q)")
    parser.add_argument("--ratio", type=positive_float, default=None,
                        help="E6's quantization ratio Q, a finite number > 0 (default 8)")
    parser.add_argument("--per-channel", action="store_true", help="PTQ: one scale per output channel")
    parser.add_argument("--calibration-batches", type=int, default=None,
                        help=f"static-ptq: number of {CALIBRATION_BATCH}-image calibration batches, "
                             f"1-{MAX_CALIBRATION_BATCHES} (default 4)")
    parser.add_argument("--out", default=None, help="where to write the quantized model (.npz)")
    add_json_option(parser)
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from minicompress.compress.quantization import convert, quantize_model_with_info
    from minicompress.data import load_mnist10k
    from minicompress.io import save_model

    if args.ratio is not None and args.method != "e6":
        raise UsageError("--ratio applies only to --method e6")
    if args.bits is not None and args.method == "e6":
        raise UsageError("--bits does not apply to --method e6: its step is 1/Q; set Q with --ratio")
    if args.per_channel and args.method not in ("ptq", "int8-ptq", "static-ptq"):
        raise UsageError("--per-channel applies only to --method ptq, int8-ptq and static-ptq")
    if args.calibration_batches is not None and args.method != "static-ptq":
        raise UsageError("--calibration-batches applies only to --method static-ptq")
    if args.out and args.method == "e4":
        raise UsageError("e4 quantizes activations, which a .npz model cannot hold; drop --out")
    calibration_batches = 4 if args.calibration_batches is None else args.calibration_batches
    if not 1 <= calibration_batches <= MAX_CALIBRATION_BATCHES:
        raise UsageError(f"--calibration-batches must be between 1 and {MAX_CALIBRATION_BATCHES} "
                         f"(mnist10k's 8,000 training images in batches of {CALIBRATION_BATCH}), "
                         f"got {calibration_batches}")
    bits = 8 if args.bits is None else args.bits
    check_outputs(out=args.out, json=args.json)
    model = load_model_arg(args.model)
    batches = None
    if args.method == "static-ptq":
        x_train = load_mnist10k()[0]
        batches = [x_train[i * CALIBRATION_BATCH:(i + 1) * CALIBRATION_BATCH] for i in range(calibration_batches)]
    qmodel, info = quantize_model_with_info(model, args.method, bits, ratio=args.ratio,
                                            per_channel=args.per_channel, calibration_batches=batches)
    result = {"input": args.model, "float_accuracy": mnist10k_accuracy(model),
              "quantized_accuracy": mnist10k_accuracy(qmodel), **info}
    if args.out:  # every file before the first line of output: a closed stdout loses nothing
        to_save = convert(qmodel) if args.method == "static-ptq" else qmodel
        save_model(to_save, args.out, {"quantization": dict(info)})
        result["output"] = args.out
    write_json(args.json, result)
    fmt = lambda a: "n/a" if a is None else f"{a:.4f}"
    print(f"{args.method} ({', '.join(f'{k}={v}' for k, v in info.items() if k != 'method')})")
    print(f"accuracy on mnist10k test: float {fmt(result['float_accuracy'])}, "
          f"quantized {fmt(result['quantized_accuracy'])}")
    if args.out:
        print(f"saved {args.out}")
    return 0

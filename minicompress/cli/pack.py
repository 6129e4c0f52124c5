"""``minicompress pack``: write a model as a packed Deep Compression file, or read one back."""

from __future__ import annotations

import argparse
import os

from minicompress.cli.common import (
    add_json_option,
    check_outputs,
    load_model_arg,
    mnist10k_accuracy,
    unpack_arg,
    write_json,
)
from minicompress.cli.errors import UsageError

HELP = """\
The packed file (.mcz) stores each Linear/Conv2d layer as relative-index sparse weights
(gaps in --gap-bits bits, filler zeros for longer gaps), each nonzero as an index into a
float32 codebook, indices and gaps Huffman-coded, biases as float32, after a magic number,
a version and a JSON header; a CRC-32 ends it. Every byte is counted.

A layer may have at most 255 distinct nonzero weights: prune and cluster the model first
(see tutorials/08_deep_compression.py), or pass --cluster-bits B to k-means-cluster each
layer here (without fine-tuning, so accuracy may drop).

examples:
  minicompress prune lenet.npz --method global --sparsity 0.92 --out pruned.npz
  minicompress pack pruned.npz --cluster-bits 5 --out lenet.mcz --json bytes.json
  minicompress pack --unpack lenet.mcz --out restored.npz      # and evaluate on mnist10k
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pack", help="pack a pruned, clustered model into a .mcz file (or --unpack one)",
        description="Pack MODEL (.npz) into a Deep Compression file and print the bytes of each "
                    "stage; with --unpack, read a .mcz file back, evaluate it on mnist10k and "
                    "optionally save it as .npz.",
        epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="input: a .npz model (pack) or a .mcz file (--unpack)")
    parser.add_argument("--out", default=None, help="output file: .mcz when packing (required), .npz when unpacking")
    parser.add_argument("--unpack", action="store_true", help="read a packed .mcz file instead of writing one")
    parser.add_argument("--cluster-bits", type=int, default=None,
                        help="k-means-cluster every layer to 2^B - 1 centroids (+ zero) before packing")
    parser.add_argument("--gap-bits", type=int, default=None,
                        help="bits per relative index (default 5 for Linear, 8 for Conv2d layers)")
    add_json_option(parser)
    parser.set_defaults(run=run)
    return parser


def _unpack(args) -> int:
    from minicompress.io import save_model

    if args.cluster_bits is not None or args.gap_bits is not None:
        raise UsageError("--cluster-bits and --gap-bits apply only when packing")
    if args.out and args.out.lower().endswith(".mcz"):
        raise UsageError(f"--unpack writes a .npz model, but --out {args.out!r} ends in .mcz; "
                         "name it .npz (to write a .mcz, pack without --unpack)")
    check_outputs(out=args.out, json=args.json)
    model = unpack_arg(args.model)
    result = {"input": args.model, "file_bytes": os.path.getsize(args.model), "accuracy": mnist10k_accuracy(model),
              "parameters": model.num_parameters()}
    if args.out:  # every file before the first line of output
        save_model(model, args.out, {"unpacked_from": args.model})
        result["output"] = args.out
    write_json(args.json, result)
    acc = "n/a" if result["accuracy"] is None else f"{result['accuracy']:.4f}"
    print(f"{args.model}: {result['file_bytes']} bytes, {result['parameters']} parameters, "
          f"mnist10k test accuracy {acc}")
    if args.out:
        print(f"saved {args.out}")
    return 0


def run(args) -> int:
    from minicompress.compress.kmeans import share_weights
    from minicompress.compress.packing import pack, stage_bytes
    from minicompress.errors import InputError

    if args.unpack:
        return _unpack(args)
    if not args.out:
        raise UsageError("packing needs --out FILE.mcz")
    if args.out.lower().endswith(".npz"):
        raise UsageError(f"pack writes a .mcz file, but --out {args.out!r} ends in .npz; name it .mcz")
    if args.gap_bits is not None and not 1 <= args.gap_bits <= 16:
        raise UsageError(f"--gap-bits must be in [1, 16], got {args.gap_bits}")
    if args.cluster_bits is not None and not 1 <= args.cluster_bits <= 8:
        raise UsageError(f"--cluster-bits must be in [1, 8], got {args.cluster_bits}")
    check_outputs(out=args.out, json=args.json)
    model = load_model_arg(args.model)
    if args.cluster_bits is not None:
        share_weights(model, bits=args.cluster_bits)
    try:
        stages = stage_bytes(model, gap_bits=args.gap_bits)
        size = pack(model, args.out, gap_bits=args.gap_bits)
    except InputError as err:
        msg = str(err).replace("(minicompress.compress.kmeans.share_weights)", "(--cluster-bits B)")
        raise UsageError(msg.replace(" or pack with values='float32'", "")) from None
    dense = stages["dense_float32"]
    accuracy = mnist10k_accuracy(model)
    write_json(args.json, {"input": args.model, "output": args.out, "packed_bytes": size,
                           "float_bytes": dense, "ratio": dense / size, "stages": stages, "accuracy": accuracy})
    print(f"{'stage':<15}{'bytes':>10}{'ratio':>9}")
    for name, nbytes in stages.items():
        print(f"{name:<15}{nbytes:>10}{dense / nbytes:>8.1f}x")
    print(f"wrote {args.out}: {size} bytes, {dense / size:.1f}x smaller than float32"
          + ("" if accuracy is None else f"; mnist10k test accuracy {accuracy:.4f}"))
    return 0

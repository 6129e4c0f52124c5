"""Deep Compression (Han et al. 2016) of LeNet-300-100 on mnist10k, every byte counted.

    python benchmarks/deep_compression.py [--quick] [--json PATH]

Pipeline, starting from the cached trained LeNet-300-100 (``trained_model``, 15 epochs): the
library's ``minicompress.compress.deep_compression.deep_compress`` (the demo runs it too), with
an AGP pruning schedule:

1. **prune** with fine-tuning: AGP schedule (``AGPPruner``, global magnitude ranking) to
   92% of the weights over the first epochs, then fine-tuning with the masks fixed;
2. **k-means weight sharing** per layer, 5-bit indices (31 centroids + the zero),
   linear centroid initialisation (``share_weights``);
3. **centroid fine-tuning**: a centroid's gradient is the sum of its members' gradients
   (``CentroidOptimizer``);
4. **Huffman coding** of the indices and of the relative-index gaps, written with
   ``pack`` to one file (magic, version, JSON header, sections, CRC-32).

The byte table counts the dense float32 weights and biases (4 bytes each, 1,066,440 bytes),
then each stage as a complete file of the packed format (``stage_bytes``): relative-index
CSR with float32 values, clustered with fixed-width indices, Huffman (the real file on disk,
``os.path.getsize``). The file is unpacked and its predictions compared with the model's.
"""

from __future__ import annotations

import os
import sys
import tempfile

if __name__ == "__main__":  # one thread each: the machine is shared, oversubscription only slows
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import blas_line, machine, parser, table, write_json  # noqa: E402

from minicompress.compress.deep_compression import deep_compress  # noqa: E402
from minicompress.compress.packing import pack, unpack  # noqa: E402
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.pretrained import trained_model  # noqa: E402
from minicompress.training import evaluate, predict  # noqa: E402


def sparsity_of(model) -> dict:
    out = {}
    for name, layer in model.named_modules():
        if hasattr(layer, "weight") and layer.weight is not None:
            out[name] = float(np.mean(layer.effective("weight").data == 0))
    return out


def run(quick: bool = False, sparsity: float = 0.92, bits: int = 5, seed: int = 0) -> dict:
    x_train, y_train, x_test, y_test = load_mnist10k()
    acc = lambda m: evaluate(m, x_test, y_test)["accuracy"]
    base, _ = trained_model("lenet-300-100")
    float_acc = acc(base)
    prune_epochs, tune_epochs, centroid_epochs = (2, 1, 1) if quick else (4, 3, 2)
    # 1. prune: AGP over the first prune_epochs - 1 epochs, pruning every 25 steps, then fine-tune;
    # 2. k-means weight sharing, 3. centroid fine-tuning
    result = deep_compress(base, x_train, y_train, sparsity=sparsity, schedule="agp", prune_epochs=prune_epochs,
                           fine_tune_epochs=tune_epochs, lr=1e-3, agp_every=25, bits=bits,
                           centroid_epochs=centroid_epochs, centroid_lr=1e-4, seed=seed,
                           evaluate_on=(x_test, y_test))
    model = result.model
    pruned_acc, clustered_acc = result.accuracy["pruned"], result.accuracy["clustered"]
    finetuned_acc = result.accuracy["final"]
    pruned_sparsity = sparsity_of(result.pruned)
    pipeline_seconds = sum(result.seconds.values())

    # 4. Huffman + the packed file, and the round trip
    stages = result.stage_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lenet300.mcz")
        packed = pack(model, path)
        on_disk = os.path.getsize(path)
        restored = unpack(path)
    if on_disk != packed or on_disk != stages["huffman"]:
        raise RuntimeError("the byte counts disagree with the file on disk")
    same = bool(np.array_equal(predict(model, x_test).argmax(1), predict(restored, x_test).argmax(1)))
    identical_logits = bool(np.array_equal(predict(model, x_test), predict(restored, x_test)))
    packed_acc = acc(restored)
    float_bytes = stages["dense_float32"]
    stage_rows = []
    accs = {"dense_float32": float_acc, "pruned_csr": pruned_acc, "clustered": finetuned_acc,
            "huffman": packed_acc}
    for name, nbytes in stages.items():
        stage_rows.append({"stage": name, "bytes": nbytes, "ratio": float_bytes / nbytes,
                           "accuracy": accs[name]})
    return {
        "benchmark": "deep_compression", "quick": quick, "machine": machine(),
        "model": "lenet-300-100", "sparsity_target": sparsity, "index_bits": bits,
        "epochs": {"prune": prune_epochs, "fine_tune": tune_epochs, "centroids": centroid_epochs},
        "layer_sparsity": pruned_sparsity,
        "float_bytes": float_bytes, "packed_bytes": on_disk, "ratio": float_bytes / on_disk,
        "float_accuracy": float_acc, "pruned_accuracy": pruned_acc, "clustered_accuracy": clustered_acc,
        "centroid_finetuned_accuracy": finetuned_acc, "packed_accuracy": packed_acc,
        "accuracy_loss_points": 100 * (float_acc - packed_acc),
        "round_trip_identical_predictions": same, "round_trip_identical_logits": identical_logits,
        "stages": stage_rows, "pipeline_seconds": pipeline_seconds,
    }


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sparsity", type=float, default=0.92, help="fraction of weights pruned (default 0.92)")
    p.add_argument("--bits", type=int, default=5, help="k-means index bits per layer (default 5)")
    args = p.parse_args(argv)
    print(blas_line())
    res = run(args.quick, args.sparsity, args.bits, seed=args.seed)
    print(f"LeNet-300-100, {res['sparsity_target']:.0%} pruned, {res['index_bits']}-bit k-means, Huffman\n")
    table(res["stages"], ["stage", "bytes", "ratio", "accuracy"])
    print("\nlayer sparsity: " + ", ".join(f"{k}: {v:.1%}" for k, v in res["layer_sparsity"].items()))
    print(f"accuracy: float {res['float_accuracy']:.4f}, pruned {res['pruned_accuracy']:.4f}, "
          f"clustered {res['clustered_accuracy']:.4f}, centroid-tuned {res['centroid_finetuned_accuracy']:.4f}, "
          f"unpacked file {res['packed_accuracy']:.4f}")
    print(f"packed file {res['packed_bytes']} bytes = {res['ratio']:.1f}x smaller than {res['float_bytes']} "
          f"float32 bytes; round trip identical predictions: {res['round_trip_identical_predictions']}")
    print(f"pipeline {res['pipeline_seconds']:.1f} s")
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

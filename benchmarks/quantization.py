"""Quantization on mnist10k: the documents' E2/E4/E6 as written beside PTQ, QAT and integer inference.

    python benchmarks/quantization.py [--quick] [--json PATH]

Models are the cached trained ones (``minicompress.pretrained.trained_model``):
LeNet-300-100 and LeNet-5 (15 epochs each). Accuracies are on the 2,000 test images.

* **E2 as written** (doc 001 §3.2.3), b = 8: w̃ = round(w / 2^(b−1)) × 2^(b−1) on every
  weight; also E4 (doc 001 §3.4.3, after every ReLU), E6 (doc 000 §3.2, Q = 8) and E2 read
  with the other sign (fixed point);
* **int8 PTQ**: weight-only, symmetric per-tensor, s = max|w| / 127 (and a bit sweep);
* **LeNet-5 int8 static PTQ**: weights (symmetric per-tensor) and activations (affine uint8,
  min-max calibrated on 4 batches of 256 training images);
* **QAT** of LeNet-5 from the trained float model: weights per-channel symmetric with an
  MSE-chosen clipping range, activations affine at the same bit width, moving-average
  observers, Adam lr 1e-4 (4 bits) / 3e-4 (2 bits);
* **integer model**: the int8 LeNet-5 on the kernels (int8 × int8 → int32, requantized
  between layers, conv via im2col); ``integer_agreement`` is the fraction of test images
  where its prediction equals the fake-quantized model's.
"""

from __future__ import annotations

import os
import sys
import time

if __name__ == "__main__":  # one thread each: the machine is shared, oversubscription only slows
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import blas_line, machine, parser, table, write_json  # noqa: E402

from minicompress.compress.quantization import (  # noqa: E402
    prepare_qat,
    quantize_model,
    quantize_model_with_info,
    static_ptq,
    to_integer,
)
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.optim import Adam  # noqa: E402
from minicompress.pretrained import trained_model  # noqa: E402
from minicompress.training import evaluate, fit, predict  # noqa: E402


def run(quick: bool = False, seed: int = 0) -> dict:
    x_train, y_train, x_test, y_test = load_mnist10k()
    acc = lambda m: evaluate(m, x_test, y_test)["accuracy"]
    res = {"benchmark": "quantization", "quick": quick, "machine": machine()}
    rows = []
    t0 = time.perf_counter()

    # ---- LeNet-300-100: the documents' formulas beside int8 PTQ
    mlp, _ = trained_model("lenet-300-100")
    res["float_accuracy"] = acc(mlp)
    rows.append({"model": "lenet-300-100", "method": "float32", "bits": 32, "accuracy": res["float_accuracy"]})
    for key, method, bits, kw in [("e2_as_written_accuracy", "e2", 8, {}),
                                  ("e4_as_written_accuracy", "e4", 8, {}),
                                  ("e6_as_written_accuracy", "e6", None, {"ratio": 8.0}),
                                  ("fixed_point_accuracy", "fixed-point", 8, {}),
                                  ("int8_ptq_accuracy", "int8-ptq", 8, {})]:
        qmodel, info = quantize_model_with_info(mlp, method, 8 if bits is None else bits, **kw)
        res[key] = acc(qmodel)
        if "zero_fraction" in info:
            res[key.replace("_accuracy", "_zero_fraction")] = info["zero_fraction"]
        rows.append({"model": "lenet-300-100", "method": method if method != "e6" else "e6 (Q=8)",
                     "bits": bits, "accuracy": res[key]})
    sweep = {}
    for bits in ([8, 4, 2] if quick else [8, 6, 4, 3, 2]):
        qmodel = quantize_model(mlp, "ptq", bits)
        sweep[bits] = acc(qmodel)
    res["ptq_bits_sweep"] = sweep

    # ---- LeNet-5: static int8 PTQ, the integer model
    cnn, _ = trained_model("lenet5")
    res["lenet5_float_accuracy"] = acc(cnn)
    calib = [x_train[i * 256:(i + 1) * 256] for i in range(4)]
    q8 = static_ptq(cnn, calib, 8)
    fake_pred = predict(q8, x_test).argmax(1)
    res["lenet5_int8_ptq_accuracy"] = float(np.mean(fake_pred == y_test))
    t = time.perf_counter()
    integer = to_integer(q8)
    int_pred = integer.predict(x_test).argmax(1)
    res["integer_seconds"] = time.perf_counter() - t
    res["integer_accuracy"] = float(np.mean(int_pred == y_test))
    res["integer_agreement"] = float(np.mean(int_pred == fake_pred))
    res["integer_weight_bytes"] = integer.nbytes
    rows += [{"model": "lenet5", "method": "float32", "bits": 32, "accuracy": res["lenet5_float_accuracy"]},
             {"model": "lenet5", "method": "static PTQ (fake-quant)", "bits": 8,
              "accuracy": res["lenet5_int8_ptq_accuracy"]},
             {"model": "lenet5", "method": "integer model (kernels)", "bits": 8, "accuracy": res["integer_accuracy"]}]

    # ---- QAT of LeNet-5 at 4 and 2 bits (weights and activations)
    res["qat_model"] = "lenet5"
    res["qat_float_accuracy"] = res["lenet5_float_accuracy"]
    epochs = 1 if quick else 2
    res["qat_epochs"] = epochs
    for bits, lr in [(4, 1e-4), (2, 3e-4)]:
        qat = prepare_qat(cnn, bits, act_bits=bits, calibration_batches=calib[:2])
        res[f"ptq{bits}_before_qat_accuracy"] = acc(qat)
        t = time.perf_counter()
        fit(qat, Adam(qat.parameters(), lr=lr), x_train, y_train, epochs=epochs, seed=seed, progress=False)
        res[f"qat{bits}_seconds"] = time.perf_counter() - t
        res[f"qat{bits}_accuracy"] = acc(qat.eval())
        if bits == 4:
            fq = predict(qat, x_test).argmax(1)
            res["qat4_integer_agreement"] = float(np.mean(to_integer(qat).predict(x_test).argmax(1) == fq))
        rows += [{"model": "lenet5", "method": f"W{bits}A{bits} before QAT", "bits": bits,
                  "accuracy": res[f"ptq{bits}_before_qat_accuracy"]},
                 {"model": "lenet5", "method": f"W{bits}A{bits} QAT {epochs} ep", "bits": bits,
                  "accuracy": res[f"qat{bits}_accuracy"]}]
    res["rows"] = rows
    res["seconds"] = time.perf_counter() - t0
    return res


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    print(blas_line())
    res = run(args.quick, seed=args.seed)
    table(res["rows"], ["model", "method", "bits", "accuracy"])
    print("\nweight-only symmetric per-tensor PTQ of LeNet-300-100, accuracy by bits: "
          + ", ".join(f"{b}: {a:.4f}" for b, a in res["ptq_bits_sweep"].items()))
    print(f"E2 at b=8 sets {res['e2_as_written_zero_fraction']:.1%} of the weights to zero.")
    print(f"integer LeNet-5 agrees with the fake-quantized model on {res['integer_agreement']:.2%} of test images "
          f"(4-bit QAT model: {res['qat4_integer_agreement']:.2%}); int8 weights {res['integer_weight_bytes']} bytes")
    print(f"total {res['seconds']:.1f} s")
    write_json(args.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

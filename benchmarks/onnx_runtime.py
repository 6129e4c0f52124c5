"""ONNX Runtime beside minicompress's own int8 kernels: latency at batch 1 and 256, in one run.

    python benchmarks/onnx_runtime.py [--quick] [--threads N] [--json PATH]

Needs the optional extra (``pip install 'minicompress[onnx]'``); without it the script says
so and exits 0. Models: the cached trained LeNet-5 and LeNet-300-100
(``minicompress.pretrained.trained_model``), int8 static PTQ (per-tensor weights, uint8
activations calibrated on 4 x 256 training digits). Five ways to run the same model:

* ``minicompress int8``: :class:`~minicompress.compress.quantization.IntegerModel` on the
  Numba kernels (the reference: every ratio is that row's time over this one, same run);
* ``minicompress float32``: the NumPy engine's forward pass (BLAS);
* ``ORT float32``: the float export;
* ``ORT QDQ``: the QuantizeLinear/DequantizeLinear export, which ONNX Runtime fuses into its
  own int8 kernels (QLinearConv, QGemm/MatMulInteger);
* ``ORT integer ops``: the MatMulInteger/ConvInteger export with float64 requantization
  (bit-identical to minicompress; the requantization runs as separate element-wise nodes).

Both libraries get the same number of threads (``--threads``, default 1: the machine is
shared). The times are wall-clock best-of on a shared machine: indicative, and only the
ratios inside one run mean anything.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    _threads = "1"
    if "--threads" in sys.argv:
        _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[_var] = _threads
    # the reference BLAS runs with the kernel it detects itself, not one forced for the test suite
    for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        os.environ.pop(_var, None)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, parser, table, write_json  # noqa: E402
from kernels import best_times, blas_info  # noqa: E402

from minicompress.compress.quantization import static_ptq, to_integer  # noqa: E402
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.engine import Tensor, no_grad  # noqa: E402
from minicompress.pretrained import trained_model  # noqa: E402

PATHS = ("minicompress int8", "minicompress float32", "ORT float32", "ORT QDQ", "ORT integer ops")


def sessions(model, qmodel, imodel, threads):
    from minicompress.interop import onnx_session, to_onnx

    return {"ORT float32": onnx_session(to_onnx(model), threads),
            "ORT QDQ": onnx_session(to_onnx(qmodel), threads),
            "ORT integer ops": onnx_session(to_onnx(imodel), threads)}


def bench_model(name, threads, batches, repeats):
    x_train, _, x_test, _ = load_mnist10k()
    model, _ = trained_model(name)
    model.eval()
    qmodel = static_ptq(model, [x_train[i * 256:(i + 1) * 256] for i in range(4)])
    imodel = to_integer(qmodel)
    ort = sessions(model, qmodel, imodel, threads)
    rows = []
    for batch in batches:
        x = np.ascontiguousarray(x_test[:batch])

        def float_forward(x=x):
            with no_grad():
                return model(Tensor(x)).data

        fns = {"minicompress int8": lambda x=x: imodel.forward_int(x), "minicompress float32": float_forward}
        for key, s in ort.items():
            fns[key] = lambda s=s, x=x: s.run(None, {"input": x})[0]
        times = best_times(fns, repeats, min_time=0.3)
        ref = times["minicompress int8"]
        for key in PATHS:
            rows.append({"model": name, "batch": batch, "path": key, "ms": 1e3 * times[key],
                         "images_per_s": batch / times[key], "time_vs_minicompress_int8": times[key] / ref})
    return rows


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads for Numba, BLAS and ONNX Runtime (default 1)")
    args = p.parse_args(argv)
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: pip install 'minicompress[onnx]' to run this benchmark")
        return 0
    repeats = 5 if args.quick else 30
    print(f"ONNX Runtime {onnxruntime.__version__}; threads {args.threads}; BLAS: {blas_info()}")
    print("indicative figures (a shared machine): compare the ratios within this run, not across runs")
    rows = []
    for name in ("lenet5", "lenet-300-100"):
        rows += bench_model(name, args.threads, (1, 256), repeats)
    table(rows, ["model", "batch", "path", "ms", "images_per_s", "time_vs_minicompress_int8"])
    write_json(args.json, {"benchmark": "onnx_runtime", "machine": machine(), "threads": args.threads,
                           "onnxruntime": onnxruntime.__version__, "blas": blas_info(), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

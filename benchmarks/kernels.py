"""Benchmark the Numba kernels against NumPy float32 BLAS (and PyTorch fbgemm when installed).

    python benchmarks/kernels.py [--quick] [--only-gemm] [--json PATH]
    python benchmarks/kernels.py --asm | --peak

For each (M, K, N) it times, best of N after a warm-up call (so Numba compilation is excluded):

* ``sgemm``          NumPy ``x @ w`` in float32 (the reference every ratio divides by);
* ``qlinear_u8s8``   the fused int8 layer: uint8 x prepacked int8 -> bias, per-channel scale,
                     ReLU, uint8 out (what an integer Linear layer runs);
* ``gemm_s8s8s32``   int8 x prepacked int8 -> int32 (no requantization);
* ``csr_linear_90``  float32 CSR x dense at 90% sparsity (ops counted as the dense product's);
* ``fbgemm``         ``torch.ao.nn.quantized.dynamic.Linear`` (float in/out, int8 inside);
* ``numba_triple_loop``, ``numba_k_pairs``, ``numba_dot_form`` (256x784x300 only, not with
                     --quick): the plain Numba int8 loops that minicompress/kernels/_vnni.py
                     improves on; ``--asm`` counts their SIMD instructions.

GOP/s counts 2*M*K*N operations; ``ratio_to_sgemm = t_sgemm / t_kernel`` (> 1: faster than
BLAS), ``ratio_to_fbgemm = t_fbgemm / t_kernel`` (null without PyTorch).

``forward``: LeNet-300-100 (784-300-100-10, ``models.build(seed=--seed)``, statically
quantized with ``static_ptq`` on 256 mnist10k training images) at batch 1 and 256: the float32
model as plain NumPy (``x @ W.T + b``, ReLU) against the library's integer model
(``to_integer(...).forward_int``: ``kernels.quantize`` and the whole network in one Numba call,
``kernels.integer_network_forward``). ``speedup`` = t_float32 / t_int8.

``conv``: the engine's two back ends on LeNet-5's shapes at batch 64 (``minicompress.engine.backend``):
NumPy im2col / col2im / max pool against the Numba kernels, ``speedup`` = t_numpy / t_numba.

The summary table at the end lists issue 13's targets with the measured value and a status.
``--only-gemm`` times just the two GEMM shapes of those targets (256x784x300 and 1024^3), for a
quick check of a kernel change; ``--peak`` times the VNNI register tiles alone on one thread, the
ceiling of the GEMM on one core.

Environment: ``_common`` removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this process (they
pin NumPy's OpenBLAS to older kernels) and the first line printed names the BLAS library,
version, threads and kernel that ran (threadpoolctl), so the float32 reference is honest.
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import add_seed, blas_line, machine, table, write_json  # re-executes without BLAS overrides

from minicompress.kernels import (
    csr_linear,
    gemm_s8s8s32,
    im2col,
    pack_weights,
    qlinear,
    to_csr,
)

SHAPES = [(1, 784, 300), (64, 784, 300), (256, 784, 300),
          (1, 300, 100), (64, 300, 100), (256, 300, 100), (1024, 1024, 1024)]


def best_time(fn, repeats, min_time=0.05):
    """Best wall time of ``fn()`` over ``repeats`` runs after one warm-up (and at least min_time)."""
    return best_times({"fn": fn}, repeats, min_time)["fn"]


def best_times(fns, repeats, min_time=0.05, rounds=3):
    """Best wall time of each function: ``rounds`` rounds, each timing every function in a block.

    Blocks, not strict alternation: NumPy's OpenBLAS threads and Numba's OpenMP threads both
    busy-wait for a while after a call, so alternating call by call makes each library wait
    for the other's spinning threads to be descheduled (measured here: 10-100x slower calls on
    2 cores). Each block starts with two untimed calls, then times ``repeats`` calls (at least
    ``min_time`` seconds); taking several rounds means a burst of someone else's load on the
    shared machine does not decide a whole result.
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            fn()
            total, n = 0.0, 0
            while n < repeats or (total < min_time / rounds and n < 50 * repeats):
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                best[name] = min(best[name], dt)
                total, n = total + dt, n + 1
    return best


def fbgemm_times(shapes, repeats, seed=0):
    """{(m, k, n): seconds} for torch's dynamic int8 Linear, measured in a child process.

    PyTorch's OpenMP threads busy-wait after each call and would steal the two cores from the
    NumPy and Numba timings, so torch never runs in this process. Timed with 1 thread and with
    torch's default thread count, keeping the faster: on the shared 2-core machine torch's
    2-thread runs were sometimes 10-50x slower than its 1-thread runs. None without PyTorch.
    """
    code = f"""
import json, sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
try:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear
except ImportError:
    print("null"); sys.exit(0)
torch.backends.quantized.engine = "fbgemm"
out = {{}}
rng = np.random.default_rng({seed})
for threads in sorted({{1, torch.get_num_threads()}}):
    torch.set_num_threads(threads)
    for m, k, n in {[tuple(s) for s in shapes]!r}:
        lin = Linear(k, n, dtype=torch.qint8)
        w = torch.from_numpy((rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32))
        scale = (w.abs().amax(dim=1) / 127).double()
        qw = torch.quantize_per_channel(w, scale, torch.zeros(n, dtype=torch.long), 0, torch.qint8)
        lin.set_weight_bias(qw, torch.zeros(n))
        x = torch.from_numpy(rng.standard_normal((m, k)).astype(np.float32))
        with torch.no_grad():
            lin(x)
            best, total, i = 1e9, 0.0, 0
            while i < {repeats} or total < 0.2:
                t0 = time.perf_counter(); lin(x); dt = time.perf_counter() - t0
                best, total, i = min(best, dt), total + dt, i + 1
        key = f"{{m}},{{k}},{{n}}"
        out[key] = min(out.get(key, 1e9), best)
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    parsed = json.loads(res.stdout.strip().splitlines()[-1])
    if parsed is None:
        return None
    return {tuple(int(v) for v in key.split(",")): t for key, t in parsed.items()}


def bench_shape(m, k, n, repeats, rng, t_fb):
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    w_scale = np.abs(w).max(axis=0) / 127
    w_q = np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8)
    pw = pack_weights(w_q)
    x_q = rng.integers(0, 256, (m, k), dtype=np.uint8)
    x_s8 = rng.integers(-128, 128, (m, k), dtype=np.int8)
    bias = rng.integers(-1000, 1000, n).astype(np.int32)
    scale = rng.uniform(0.5, 2.0, n) / (k * 64.0)
    wt = (rng.standard_normal((n, k)) * (rng.random((n, k)) < 0.1)).astype(np.float32)
    ip, ix, v = to_csr(wt)
    times = best_times({
        "sgemm": lambda: x @ w,
        "qlinear_u8s8": lambda: qlinear(x_q, pw, bias, 128, scale, 0, np.uint8, True),
        "gemm_s8s8s32": lambda: gemm_s8s8s32(x_s8, pw),
        "csr_linear_90": lambda: csr_linear(x, ip, ix, v),
    }, repeats)
    t_sgemm = times.pop("sgemm")
    ops = 2.0 * m * k * n
    rows = [{"kernel": "sgemm", "shape": [m, k, n], "gops": ops / t_sgemm / 1e9,
             "ratio_to_sgemm": 1.0, "ratio_to_fbgemm": None if t_fb is None else t_fb / t_sgemm}]
    if t_fb is not None:
        rows.append({"kernel": "fbgemm", "shape": [m, k, n], "gops": ops / t_fb / 1e9,
                     "ratio_to_sgemm": t_sgemm / t_fb, "ratio_to_fbgemm": 1.0})
    for name, t in times.items():
        rows.append({"kernel": name, "shape": [m, k, n], "gops": ops / t / 1e9,
                     "ratio_to_sgemm": t_sgemm / t,
                     "ratio_to_fbgemm": None if (t_fb is None or name.startswith("csr")) else t_fb / t})
    return rows


def _naive_kernels():
    """The plain-Numba int8 GEMMs that minicompress/kernels/_vnni.py improves on (not cached)."""
    from numba import njit, prange

    @njit(parallel=True)
    def triple_loop(a, b, c):  # c[i, j] += a[i, p] * b[p, j]
        for i in prange(a.shape[0]):
            for p in range(a.shape[1]):
                aip = np.int32(a[i, p])
                for j in range(b.shape[1]):
                    c[i, j] += aip * np.int32(b[p, j])

    @njit(parallel=True)
    def k_pairs(a, bp, c):  # b packed (K/2, N, 2): one lane sums a0*b0 + a1*b1
        for i in prange(a.shape[0]):
            for q in range(a.shape[1] // 2):
                a0 = np.int32(a[i, 2 * q])
                a1 = np.int32(a[i, 2 * q + 1])
                for j in range(bp.shape[1]):
                    c[i, j] += a0 * np.int32(bp[q, j, 0]) + a1 * np.int32(bp[q, j, 1])

    @njit(parallel=True)
    def dot_form(a, bt, c):  # reduce over k with b transposed: one dot product per output
        for i in prange(a.shape[0]):
            for j in range(bt.shape[0]):
                acc = np.int32(0)
                for p in range(a.shape[1]):
                    acc += np.int32(a[i, p]) * np.int32(bt[j, p])
                c[i, j] = acc

    return {"numba_triple_loop": triple_loop, "numba_k_pairs": k_pairs, "numba_dot_form": dot_form}


def _naive_operands(m, k, n, rng):
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    return {"numba_triple_loop": (a, b),
            "numba_k_pairs": (a, np.ascontiguousarray(b.reshape(k // 2, 2, n).transpose(0, 2, 1))),
            "numba_dot_form": (a, np.ascontiguousarray(b.T))}, np.zeros((m, n), np.int32)


def naive_variants(m, k, n, repeats, rng, t_sgemm):
    """GOP/s of the plain-Numba loops, checked against the exact product first."""
    kernels = _naive_kernels()
    operands, c = _naive_operands(m, k, n, rng)
    exact = operands["numba_triple_loop"][0].astype(np.int64) @ operands["numba_triple_loop"][1]
    for name, fn in kernels.items():
        c[:] = 0
        fn(*operands[name], c)
        assert np.array_equal(c, exact), name
    times = best_times({name: (lambda f=fn, ops=operands[name]: f(*ops, c))
                        for name, fn in kernels.items()}, repeats)
    ops = 2.0 * m * k * n
    return [{"kernel": name, "shape": [m, k, n], "gops": ops / t / 1e9,
             "ratio_to_sgemm": t_sgemm / t, "ratio_to_fbgemm": None} for name, t in times.items()]


def asm_report():
    """Count the instructions that matter in each variant's x86 assembly (--asm)."""
    import re

    from numba import njit

    from minicompress.kernels._vnni import HAS_VNNI, make_microkernel

    rng = np.random.default_rng(0)
    kernels = _naive_kernels()
    operands, c = _naive_operands(8, 64, 32, rng)
    listings = {}
    for name, fn in kernels.items():
        fn(*operands[name], c)
        listings[name] = fn.inspect_asm(fn.signatures[0])
    if HAS_VNNI:
        mk = make_microkernel(4, 2)

        @njit
        def vnni_tile(a, b, c):
            mk(a, 0, b, 0, c, 0, 0, np.zeros(4, np.int32), np.zeros(32, np.int32))

        a = np.zeros((4, 64), np.uint8)
        vnni_tile(a, np.zeros(64 * 32, np.int8), np.zeros((4, 32), np.int32))
        listings["vnni micro-kernel 4x32"] = vnni_tile.inspect_asm(vnni_tile.signatures[0])
    names = ["vpdpbusd", "vpdpwssd", "vpmaddwd", "vpmulld", "vpmuldq", "vpmovzx", "vpmovsx"]
    print(f"{'variant':<24}" + "".join(f"{n:>10}" for n in names) + f"{'zmm':>7}{'ymm':>7}")
    for name, asm in listings.items():
        counts = [len(re.findall(rf"\b{n}", asm)) for n in names]
        print(f"{name:<24}" + "".join(f"{c:>10}" for c in counts)
              + f"{len(re.findall('zmm', asm)):>7}{len(re.findall('ymm', asm)):>7}")


def peak_report(tiles=((4, 2), (8, 2), (6, 4)), k=256, calls=20000):
    """GOP/s of the VNNI register tile alone (--peak): one thread calls it ``calls`` times on the
    same operands (an MR x K A sliver and a K x 16 NV panel, both in L1), so nothing but the
    tile's own loop runs; the best of 5. This is the ceiling a GEMM on one core can approach."""
    from numba import njit

    from minicompress.kernels._vnni import HAS_VNNI, make_microkernel

    if not HAS_VNNI:
        print("no AVX-512 VNNI on this CPU: nothing to measure")
        return
    for mr, nv in tiles:
        mk = make_microkernel(mr, nv)

        @njit
        def repeat(a, b, c, rows, cols, n, mk=mk):
            for _ in range(n):
                mk(a, 0, b, 0, c, 0, 0, rows, cols)

        args = (np.ones((mr, k), np.uint8), np.ones(k * 16 * nv, np.int8), np.zeros((mr, 16 * nv), np.int32),
                np.zeros(mr, np.int32), np.zeros(16 * nv, np.int32))
        repeat(*args, 1)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            repeat(*args, calls)
            best = min(best, time.perf_counter() - t0)
        print(f"register tile {mr} x {16 * nv}, K = {k}: {2 * mr * k * 16 * nv * calls / best / 1e9:.0f} GOP/s "
              "(one thread)")


def lenet_forward(repeats, seed):
    """{batch: (int8_ms, float32_ms, argmax agreement)}: the library's integer LeNet-300-100
    against the same float model in NumPy, at batch 1 and 256."""
    from minicompress.compress.quantization import static_ptq, to_integer
    from minicompress.data import load_mnist10k
    from minicompress.models import build
    from minicompress.nn import Linear

    x_train, _, x_test, _ = load_mnist10k()
    model = build("lenet-300-100", seed=seed)
    integer = to_integer(static_ptq(model, [x_train[:256]], 8))
    layers = [(m.weight.data.T.copy(), m.bias.data.copy()) for m in model if isinstance(m, Linear)]

    def float_forward(x):
        h = x
        for i, (wt, b) in enumerate(layers):
            h = h @ wt + b
            if i < len(layers) - 1:
                h = np.maximum(h, 0, out=h)
        return h

    rng = np.random.default_rng(seed)
    out = {}
    for batch in (1, 256):
        x = np.ascontiguousarray(x_test[rng.choice(len(x_test), batch, replace=False)].reshape(batch, -1),
                                 dtype=np.float32)
        agree = float(np.mean(integer.forward_int(x).argmax(1) == float_forward(x).argmax(1)))
        t = best_times({"int8": lambda x=x: integer.forward_int(x), "float32": lambda x=x: float_forward(x)},
                       repeats * 3, min_time=0.5)
        out[batch] = (t["int8"] * 1e3, t["float32"] * 1e3, agree)
    return out


def conv_backends(repeats, seed):
    """{op: (numpy_ms, numba_ms)} on LeNet-5's shapes at batch 64, the two engine back ends."""
    from minicompress.engine import Context, backend
    from minicompress.engine import conv as np_conv
    from minicompress.kernels import fold, max_pool2d_backward, max_pool2d_forward, unfold

    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    x2 = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)
    c2 = rng.standard_normal((64, 150, 100)).astype(np.float32)
    p1 = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
    g1 = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)
    _, arg = max_pool2d_forward(p1, 2, 2)

    def np_pool_backward():
        ctx = Context()
        ctx.saved_tensors, ctx.meta, ctx.fast = (arg,), (p1.shape, p1.dtype, 2, 2), False
        return np_conv.MaxPool2d.backward(ctx, g1)

    def np_pool_forward():
        with backend.using("numpy"):
            return np_conv.MaxPool2d.forward(Context(), p1, 2, 2)

    pairs = {
        "im2col conv1 (64,1,28,28) k5 p2": (lambda: np_conv.im2col(x1, 5, 5, 1, 2), lambda: unfold(x1, 5, 1, 2)),
        "im2col conv2 (64,6,14,14) k5": (lambda: np_conv.im2col(x2, 5, 5, 1, 0), lambda: unfold(x2, 5, 1, 0)),
        "col2im conv2 (64,150,100)": (lambda: np_conv.col2im(c2, x2.shape, 5, 5, 1, 0, (10, 10)),
                                      lambda: fold(c2, (14, 14), 5, 1, 0)),
        "max_pool fwd (64,6,28,28) k2": (np_pool_forward, lambda: max_pool2d_forward(p1, 2, 2)),
        "max_pool bwd (64,6,28,28) k2": (np_pool_backward, lambda: max_pool2d_backward(g1, arg, p1.shape, 2, 2)),
    }
    fns = {}
    for name, (a, b) in pairs.items():
        fns[name + "|numpy"], fns[name + "|numba"] = a, b
    t = best_times(fns, repeats)
    return {name: (t[name + "|numpy"] * 1e3, t[name + "|numba"] * 1e3) for name in pairs}


GEMM_TARGET_SHAPES = ((256, 784, 300), (1024, 1024, 1024))  # the shapes of the two GEMM targets
TARGETS = [  # (what, measured key, bound): issue 13
    ("int8 LeNet-300-100 forward, batch 1, speedup over float32 NumPy", "forward_b1", 2.0),
    ("int8 LeNet-300-100 forward, batch 256, speedup over float32 NumPy", "forward_b256", 2.0),
    ("gemm_s8s8s32 256x784x300, speed relative to fbgemm", "gemm_256", 1.0),
    ("gemm_s8s8s32 1024x1024x1024, speed relative to fbgemm", "gemm_1024", 1.0),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, skip 1024^3")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch's fbgemm")
    parser.add_argument("--peak", action="store_true",
                        help="only the one-thread GOP/s of the VNNI register tiles on L1-resident operands")
    parser.add_argument("--only-gemm", action="store_true",
                        help="only the GEMM shapes of the targets (256x784x300, 1024^3), nothing else")
    parser.add_argument("--asm", action="store_true",
                        help="only count SIMD instructions in the generated assembly of each variant")
    add_seed(parser)
    args = parser.parse_args(argv)
    if args.asm:
        asm_report()
        return 0
    if args.peak:
        peak_report()
        return 0
    repeats = 5 if args.quick else 30
    rng = np.random.default_rng(args.seed)
    print(blas_line())
    shapes = [s for s in SHAPES if not (args.quick and s[0] * s[1] * s[2] > 10**8)]
    if args.only_gemm:
        shapes = [s for s in shapes if s in GEMM_TARGET_SHAPES]
    fb = None if args.no_torch else fbgemm_times(shapes, repeats, args.seed)
    results = []
    print(f"{'kernel':<15}{'M x K x N':>18}{'GOP/s':>10}{'x sgemm':>10}{'x fbgemm':>10}")
    for m, k, n in shapes:
        for row in bench_shape(m, k, n, repeats, rng, None if fb is None else fb[(m, k, n)]):
            results.append(row)
            rf = row["ratio_to_fbgemm"]
            print(f"{row['kernel']:<15}{f'{m}x{k}x{n}':>18}{row['gops']:>10.1f}"
                  f"{row['ratio_to_sgemm']:>10.2f}{'-' if rf is None else f'{rf:.2f}':>10}")
    if args.only_gemm:
        return _summary(args, results, None, None)
    if not args.quick:
        t_sg = next(r for r in results if r["kernel"] == "sgemm" and r["shape"] == [256, 784, 300])
        t_sgemm = 2.0 * 256 * 784 * 300 / (t_sg["gops"] * 1e9)
        for row in naive_variants(256, 784, 300, repeats, rng, t_sgemm):
            results.append(row)
            print(f"{row['kernel']:<18}{'256x784x300':>15}{row['gops']:>10.1f}"
                  f"{row['ratio_to_sgemm']:>10.2f}{'-':>10}")
    xi = rng.integers(0, 256, (64, 16, 14, 14), dtype=np.uint8)
    t_im = best_time(lambda: im2col(xi, 3, 1, 1, pad_value=128), repeats)
    print(f"im2col uint8 (64,16,14,14) k3 p1: {t_im * 1e3:.3f} ms "
          f"({xi.size * 9 / t_im / 1e9:.2f} G elements/s written)\n")
    conv = conv_backends(repeats, args.seed)
    table([{"op (engine backend)": name, "numpy_ms": a, "numba_ms": b, "speedup": a / b}
           for name, (a, b) in conv.items()], ["op (engine backend)", "numpy_ms", "numba_ms", "speedup"])
    print()
    fwd = lenet_forward(repeats, args.seed)
    forward = {f"batch_{b}": {"int8_ms": i, "float32_ms": f, "speedup": f / i, "argmax_agreement": a}
               for b, (i, f, a) in fwd.items()}
    for b, r in forward.items():
        print(f"LeNet-300-100 forward, {b.replace('_', ' ')}: int8 {r['int8_ms']:.4f} ms, float32 "
              f"{r['float32_ms']:.4f} ms, int8 is {r['speedup']:.2f}x as fast; argmax agreement "
              f"{r['argmax_agreement']:.3f}")
    return _summary(args, results, forward, conv)


def _summary(args, results, forward, conv):
    """Print the targets' table and write the JSON; ``forward``/``conv`` None when not measured."""
    measured = {"forward_b1": None, "forward_b256": None}
    if forward is not None:
        measured = {"forward_b1": forward["batch_1"]["speedup"], "forward_b256": forward["batch_256"]["speedup"]}
    for key, shape in zip(("gemm_256", "gemm_1024"), GEMM_TARGET_SHAPES):
        row = next((r for r in results if r["kernel"] == "gemm_s8s8s32" and tuple(r["shape"]) == shape), None)
        measured[key] = None if row is None else row["ratio_to_fbgemm"]
    summary = [{"target": what, "measured": measured[key], "bound": f">= {bound}",
                "status": "-" if measured[key] is None else ("met" if measured[key] >= bound else "MISSED")}
               for what, key, bound in TARGETS]
    print()
    table(summary, ["target", "measured", "bound", "status"])
    print("(90%-sparse LeNet-300-100 at batch 1 against dense: python benchmarks/sparse.py)")
    write_json(args.json, {"results": results, "forward": forward, "conv_backends": None if conv is None else {
        k: {"numpy_ms": a, "numba_ms": b} for k, (a, b) in conv.items()}, "summary": summary,
        "machine": machine(), "seed": args.seed})
    return 0


if __name__ == "__main__":
    sys.exit(main())

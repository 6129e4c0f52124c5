"""The int8 micro-kernel: one AVX-512 VNNI ``vpdpbusd`` per 64 multiply-adds, written as LLVM IR.

Why IR and not a plain Numba loop? LLVM's auto-vectorizer does not find ``vpdpbusd`` by itself.
What it made of the plain loops (Numba 0.68 / LLVM 22 on this project's 2-core AMD EPYC with
AVX-512 VNNI; instruction counts from ``python benchmarks/kernels.py --asm``, speed on
256x784x300 with 2 threads from ``python benchmarks/kernels.py`` on 2026-11-29, a shared
machine where NumPy's float32 sgemm ran at 193 GOP/s in the same run; when other jobs load the
2 cores these loops drop to 5-15 GOP/s):

* triple loop ``c[i, j] += int32(a[i, p]) * int32(b[p, j])``: vectorized over j with
  ``vpmaddwd``/``vpdpwssd`` on int32 lanes that each hold a single widened byte (so half of
  every multiplier idles), 256-bit ``ymm`` only (LLVM prefers 256-bit vectors on this CPU),
  and the output row is loaded and stored again for every p: 83 GOP/s, 0.43x sgemm;
* b packed in k-pairs so one lane sums ``a0*b0 + a1*b1``: ``vpmaddwd`` again, same waste,
  plus shuffles to de-interleave: 10 GOP/s;
* dot-product form (reduce over k, b transposed): ``vpdpwssd`` on zero-extended bytes and a
  horizontal sum per output: 98 GOP/s;
* a register tile of several scalar accumulators in plain Numba is widened to int64 by Numba's
  integer typing (``vpmuldq``/``vpaddq`` in its assembly; not timed).

So the micro-kernel is emitted directly with ``numba.extending.intrinsic``: for ``MR`` rows of A
and ``NV`` vectors of 16 output columns it keeps ``MR * NV`` zmm accumulators in registers and,
per group of four k, loads ``NV`` vectors of packed B (16 columns x 4 int8), broadcasts four
uint8 of each A row, and issues ``MR * NV`` ``vpdpbusd``: each lane adds
``sum_{t<4} uint8(a[i, 4q + t]) * int8(b[4q + t, j])`` to its int32 accumulator, exactly
(no saturation, unlike ``vpmaddubsw``, whose int16 pair sums overflow at 2 * 255 * 127).
The 4 x 32 tile's assembly is 40 ``vpdpbusd`` (LLVM unrolls the loop over k-quads) on ``zmm``
registers and nothing else of note.

Measured. The tile alone (``python benchmarks/kernels.py --peak``: one thread, operands in L1):
453-466 GOP/s for 4 x 32, 8 x 32 and 6 x 64 tiles alike: the ceiling of one core, which
the shape of the tile does not move. So larger register tiles (fewer loads per ``vpdpbusd``) were
tried and not kept, and so was blocking K in 128-512 chunks (a copy of the task loop, 1024^3 on
one thread: no gain, the panel loop was not starved for data); what cost the time was writing
the result, see :func:`.gemm_tiles._task`. The whole GEMM (``python benchmarks/kernels.py
--only-gemm`` three times and ``python benchmarks/kernels.py`` once, 2 threads, 2026-11-29, the
machine idle or nearly):
``gemm_s8s8s32`` at 747-788 GOP/s on 256x784x300 and 816-861 GOP/s on 1024^3, 1.29-1.41x and
1.16-1.24x PyTorch's fbgemm timed in the same runs (538-609 and 656-737 GOP/s; 1.08-1.24x at
1024^3 in five more runs while other jobs used the machine); the fused uint8-output ``qlinear``
at 480-551 and 531-639 GOP/s (its requantization epilogue goes through an L1 tile).
Tried and kept: splitting K over ``4 // mr`` accumulator sets for short tiles (no measurable
change at batch 1, where reading the weights and the call overhead dominate). Not tried: AMX
tiles (this CPU has none; on CPUs with AMX-INT8 they need OS permission and tile configuration,
beyond a kernel a learner can read).

Caching: the kernels that call this code are cached with a stamp of every file of the package
(:mod:`._cache`), so an edit here recompiles them.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16  # int32 lanes in one 512-bit register

HAS_VNNI = {"avx512f", "avx512bw", "avx512vnni"} <= {
    name[1:] for name in llvm.get_host_cpu_features().flatten().split(",") if name.startswith("+")
}


def make_microkernel(mr, nv):
    """Return an intrinsic ``mk(a, i0, b, boff, c, ci0, j0, row_init, col_init)`` computing one
    MR x (16 NV) tile.

    ``a`` : (M, Kpad) uint8, Kpad a multiple of 4; rows ``i0 .. i0 + mr - 1`` are used.
    ``b`` : 1-D int8, packed panels; the panel starts at byte ``boff`` and holds, for every
    k-quad q, ``16 nv`` columns x 4 bytes (column j's ``b[4q:4q + 4, j]``).
    ``c`` : 2-D int32; ``c[ci0 + r, j0 : j0 + 16 nv]`` is overwritten with
    ``row_init[i0 + r] + col_init[j0 + j] + sum_k a[i0 + r, k] b[k, j]`` (``c`` may be a small
    scratch tile, hence its own row offset ``ci0``; pass zeros as ``row_init``/``col_init`` for
    the plain product).
    ``row_init``, ``col_init`` : 1-D int32, the starting values of the accumulators. Starting
    from the zero-point terms instead of 0 lets an int32 result go from the registers straight
    to the output (:mod:`.gemm_tiles`). The sums wrap modulo 2**32 like every int32 addition
    here, which changes no result that fits in int32.
    """

    @intrinsic
    def mk(typingctx, a, i0, b, boff, c, ci0, j0, row_init, col_init):
        sig = types.void(a, i0, b, boff, c, ci0, j0, row_init, col_init)

        def codegen(context, builder, signature, args):
            a_v, i0_v, b_v, boff_v, c_v, ci0_v, j0_v, row_v, col_v = args
            a_arr = context.make_array(signature.args[0])(context, builder, a_v)
            b_arr = context.make_array(signature.args[2])(context, builder, b_v)
            c_arr = context.make_array(signature.args[4])(context, builder, c_v)
            row_arr = context.make_array(signature.args[7])(context, builder, row_v)
            col_arr = context.make_array(signature.args[8])(context, builder, col_v)
            i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
            vec = ir.VectorType(i32, LANES)
            dpbusd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.x86.avx512.vpdpbusd.512"
            )
            lda = builder.extract_value(a_arr.shape, 1)
            ldc = builder.extract_value(c_arr.shape, 1)
            n_quads = builder.udiv(lda, ir.Constant(i64, 4))
            a_base = builder.bitcast(a_arr.data, i8.as_pointer())
            a_rows = []
            for r in range(mr):
                row = builder.mul(builder.add(i0_v, ir.Constant(i64, r)), lda)
                a_rows.append(builder.bitcast(builder.gep(a_base, [row]), i32.as_pointer()))
            b_base = builder.gep(builder.bitcast(b_arr.data, i8.as_pointer()), [boff_v])
            b_base = builder.bitcast(b_base, vec.as_pointer())
            # Accumulators live in allocas; LLVM's mem2reg turns them into zmm registers.
            # ``splits`` independent sets, each summing every splits-th k-quad, keep enough
            # vpdpbusd in flight when the tile is short (1 row x 2 vectors would otherwise be
            # two dependency chains of 5-cycle latency); they are added up at the end.
            splits = max(1, 4 // mr)
            acc = [[[cgutils.alloca_once_value(builder, ir.Constant(vec, None)) for _ in range(nv)]
                    for _ in range(mr)] for _ in range(splits)]
            undef = ir.Constant(vec, ir.Undefined)
            splat_mask = ir.Constant(vec, [0] * LANES)

            def splat(value):  # one int32 in all 16 lanes
                return builder.shuffle_vector(builder.insert_element(undef, value, ir.Constant(i32, 0)),
                                              undef, splat_mask)

            # the first accumulator set starts at row_init[i0 + r] + col_init[j0 + 16 v + lane]
            row_base = builder.bitcast(row_arr.data, i32.as_pointer())
            col_base = builder.bitcast(col_arr.data, i32.as_pointer())
            col_vec = []
            for v in range(nv):
                col = builder.gep(col_base, [builder.add(j0_v, ir.Constant(i64, v * LANES))])
                col_vec.append(builder.load(builder.bitcast(col, vec.as_pointer()), align=4))
            for r in range(mr):
                row_vec = splat(builder.load(builder.gep(row_base, [builder.add(i0_v, ir.Constant(i64, r))])))
                for v in range(nv):
                    builder.store(builder.add(row_vec, col_vec[v]), acc[0][r][v])

            def step(q, acc_set):
                first = builder.mul(q, ir.Constant(i64, nv))
                bvec = [builder.load(builder.gep(b_base, [builder.add(first, ir.Constant(i64, v))]),
                                     align=1) for v in range(nv)]
                for r in range(mr):
                    four_a = splat(builder.load(builder.gep(a_rows[r], [q]), align=1))
                    for v in range(nv):
                        dot = builder.call(dpbusd, [builder.load(acc_set[r][v]), four_a, bvec[v]])
                        builder.store(dot, acc_set[r][v])

            n_main = builder.udiv(n_quads, ir.Constant(i64, splits))
            with cgutils.for_range(builder, n_main) as loop:
                for t in range(splits):
                    q = builder.add(builder.mul(loop.index, ir.Constant(i64, splits)), ir.Constant(i64, t))
                    step(q, acc[t])
            rest_start = builder.mul(n_main, ir.Constant(i64, splits))
            with cgutils.for_range_slice(builder, rest_start, n_quads, ir.Constant(i64, 1)) as (q, _):
                step(q, acc[0])
            for t in range(1, splits):
                for r in range(mr):
                    for v in range(nv):
                        total = builder.add(builder.load(acc[0][r][v]), builder.load(acc[t][r][v]))
                        builder.store(total, acc[0][r][v])
            acc = acc[0]
            c_base = builder.bitcast(c_arr.data, i32.as_pointer())
            for r in range(mr):
                row = builder.mul(builder.add(ci0_v, ir.Constant(i64, r)), ldc)
                for v in range(nv):
                    off = builder.add(row, builder.add(j0_v, ir.Constant(i64, v * LANES)))
                    dst = builder.bitcast(builder.gep(c_base, [off]), vec.as_pointer())
                    builder.store(builder.load(acc[r][v]), dst, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return mk

"""The batch-1 sparse dot product: 16 nonzeros per AVX-512 ``vgatherdps``, written as LLVM IR.

A pruned Linear layer at batch 1 computes, for every output row r, ``sum_p values[p] *
x[indices[p]]`` over the row's nonzeros. Each nonzero needs its index, its value and the
input element the index points to. A scalar loop does three dependent loads per nonzero, and
in our trials (one running sum, eight interleaved sums, or a ``fastmath`` reduction that LLVM
vectorizes with ``vgatherqps``, 8 64-bit addresses per instruction) it stayed clearly
slower than NumPy's dense ``W @ x`` at 10% density, which reads every weight but streams them
through all SIMD lanes; the fastmath version also sums in an order of the compiler's choosing,
which no oracle can reproduce bit for bit.

This intrinsic loads 16 values and 16 int32 indices with one masked vector load each, fetches
the 16 inputs with one ``vgatherdps`` (32-bit indices, the mask switching off lanes past the end
of the row), and keeps 16 partial sums: the nonzero at offset o of the row goes to lane o % 16.
The lanes are then added pairwise, ``((l0 + l1) + (l2 + l3)) + ...``. That order is fixed, so
the NumPy oracle reproduces it exactly (``reference.csr_matmul_reference``), and the plain
Numba fallback (``sparse._rows_b1_lanes``, for float64, int64 indices or no AVX-512) follows it
too. An index outside [0, len(x)) is not loaded (its lane gathers x[0]) and is reported, so a
malformed CSR raises instead of reading out of bounds. Speed: ``python benchmarks/kernels.py``,
row ``csr_linear_90`` at 1x784x300 (on a quiet machine it matched dense BLAS at 90% sparsity,
call overhead included, where the scalar loop had been clearly slower).

Caching: the kernels that call this code are cached with a stamp of every file of the package
(:mod:`._cache`), so an edit here recompiles them.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16  # float32 lanes in one 512-bit register

HAS_AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


def _splat(builder, value, vec_type):
    undef = ir.Constant(vec_type, ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                          [0] * LANES))


@intrinsic
def sparse_dot16(typingctx, values, indices, x, start, end):
    """``(sum, n_bad)``: the row ``values[start:end]`` . ``x[indices[start:end]]`` in 16 lanes.

    values : 1-D float32, indices : 1-D int32, x : 1-D float32 (all C-contiguous).
    """
    sig = types.Tuple((types.float32, types.int64))(values, indices, x, start, end)

    def codegen(context, builder, signature, args):
        v_arg, i_arg, x_arg, start_v, end_v = args
        v_arr = context.make_array(signature.args[0])(context, builder, v_arg)
        i_arr = context.make_array(signature.args[1])(context, builder, i_arg)
        x_arr = context.make_array(signature.args[2])(context, builder, x_arg)
        f32, i32, i64, i8 = ir.FloatType(), ir.IntType(32), ir.IntType(64), ir.IntType(8)
        fvec, ivec = ir.VectorType(f32, LANES), ir.VectorType(i32, LANES)
        mvec = ir.VectorType(ir.IntType(1), LANES)
        module = builder.module
        masked_load_f = cgutils.get_or_insert_function(
            module, ir.FunctionType(fvec, [fvec.as_pointer(), i32, mvec, fvec]),
            "llvm.masked.load.v16f32.p0v16f32")
        masked_load_i = cgutils.get_or_insert_function(
            module, ir.FunctionType(ivec, [ivec.as_pointer(), i32, mvec, ivec]),
            "llvm.masked.load.v16i32.p0v16i32")
        gather = cgutils.get_or_insert_function(
            module, ir.FunctionType(fvec, [fvec, i8.as_pointer(), ivec, mvec, i32]),
            "llvm.x86.avx512.mask.gather.dps.512")
        fzero, izero = ir.Constant(fvec, [0.0] * LANES), ir.Constant(ivec, [0] * LANES)
        lane_ids = ir.Constant(ivec, list(range(LANES)))
        n_cols = _splat(builder, builder.trunc(builder.extract_value(x_arr.shape, 0), i32), ivec)
        x_base = builder.bitcast(x_arr.data, i8.as_pointer())

        acc = cgutils.alloca_once_value(builder, fzero)  # mem2reg makes it a zmm register
        bad = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        length = builder.sub(end_v, start_v)
        n_chunks = builder.udiv(builder.add(length, ir.Constant(i64, LANES - 1)),
                                ir.Constant(i64, LANES))
        v_row = builder.gep(v_arr.data, [start_v])
        i_row = builder.gep(i_arr.data, [start_v])
        with cgutils.for_range(builder, n_chunks) as loop:
            offset = builder.mul(loop.index, ir.Constant(i64, LANES))
            left = _splat(builder, builder.trunc(builder.sub(length, offset), i32), ivec)
            live = builder.icmp_signed("<", lane_ids, left)  # lanes still inside the row
            vals = builder.call(masked_load_f, [
                builder.bitcast(builder.gep(v_row, [offset]), fvec.as_pointer()),
                ir.Constant(i32, 4), live, fzero])
            idx = builder.call(masked_load_i, [
                builder.bitcast(builder.gep(i_row, [offset]), ivec.as_pointer()),
                ir.Constant(i32, 4), live, izero])
            # unsigned compare: a negative index wraps to a huge value, one test for both ends
            out_of_range = builder.and_(builder.icmp_unsigned(">=", idx, n_cols), live)
            n_out = builder.zext(builder.bitcast(out_of_range, ir.IntType(LANES)), i64)
            builder.store(builder.or_(builder.load(bad), n_out), bad)
            safe_idx = builder.select(out_of_range, izero, idx)
            xs = builder.call(gather, [fzero, x_base, safe_idx, live, ir.Constant(i32, 4)])
            old = builder.load(acc)
            # lanes past the row's end keep their sum bit for bit (no + 0.0 that could flip -0.0)
            builder.store(builder.select(live, builder.fadd(old, builder.fmul(vals, xs)), old), acc)

        # pairwise tree over adjacent lanes: 16 -> 8 -> 4 -> 2 -> 1, the oracle's order
        total = builder.load(acc)
        width = LANES
        while width > 1:
            width //= 2
            even = ir.Constant(ir.VectorType(i32, width), list(range(0, 2 * width, 2)))
            odd = ir.Constant(ir.VectorType(i32, width), list(range(1, 2 * width, 2)))
            undef = ir.Constant(total.type, ir.Undefined)
            total = builder.fadd(builder.shuffle_vector(total, undef, even),
                                 builder.shuffle_vector(total, undef, odd))
        total = builder.extract_element(total, ir.Constant(i32, 0))
        return context.make_tuple(builder, signature.return_type, [total, builder.load(bad)])

    return sig, codegen

"""Intra-op threads (minicompress.kernels.threads) and the fast convolution and pooling that use
them: same results at any thread count, bit for bit against the engine's NumPy code (chapter 9)."""

import multiprocessing
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicompress
from minicompress.engine import Context, backend
from minicompress.engine import conv as np_conv
from minicompress.errors import InputError
from minicompress.kernels import conv as kconv
from minicompress.kernels import (
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    threads,
)

pytestmark = pytest.mark.kernels


@pytest.fixture
def num_threads():
    """Set the thread count for one test (and always split: MIN_WORK 0); restored afterwards."""
    before, min_work = threads.get_num_threads(), threads.MIN_WORK
    threads.MIN_WORK = 0
    yield threads.set_num_threads
    threads.set_num_threads(before)
    threads.MIN_WORK = min_work


# ------------------------------------------------------------------ the pool itself


def test_set_num_threads_checks_its_argument(num_threads):
    for bad in (0, -1):
        with pytest.raises(InputError, match="set_num_threads expects an int >= 1"):
            minicompress.set_num_threads(bad)
    for bad in (2.0, "2", True, None):
        with pytest.raises(TypeError, match="set_num_threads expects an int >= 1"):
            minicompress.set_num_threads(bad)
    minicompress.set_num_threads(3)
    assert minicompress.get_num_threads() == threads.get_num_threads() == 3


@pytest.mark.parametrize("env, expected", [
    ({"OPENBLAS_NUM_THREADS": "1"}, "cores"),
    ({"OMP_NUM_THREADS": "1"}, "cores"),
    ({"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}, 1),  # OpenBLAS reads its own first
    ({}, 1),  # BLAS keeps the cores: one pool at a time
    ({"MINICOMPRESS_NUM_THREADS": "3"}, 3),
    ({"MINICOMPRESS_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "1"}, 3),
])
def test_default_thread_count_leaves_the_cores_to_one_pool(monkeypatch, env, expected):
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "MINICOMPRESS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(threads._state, "num_threads", None)
    want = threads._available_cores() if expected == "cores" else expected
    assert threads.get_num_threads() == want


@pytest.mark.parametrize("value", ["0", "two", "-3"])
def test_a_bad_thread_count_in_the_environment_is_named(monkeypatch, value):
    monkeypatch.setenv("MINICOMPRESS_NUM_THREADS", value)
    monkeypatch.setattr(threads._state, "num_threads", None)
    with pytest.raises(InputError, match="MINICOMPRESS_NUM_THREADS must be a whole number >= 1"):
        threads.get_num_threads()


@given(st.integers(0, 50), st.integers(1, 5))
def test_parallel_for_covers_the_range_once_in_contiguous_slices(n, count):
    before, min_work = threads.get_num_threads(), threads.MIN_WORK
    threads.MIN_WORK = 0
    try:
        threads.set_num_threads(count)
        seen, names = [], set()
        lock = threading.Lock()

        def record(lo, hi):
            with lock:
                seen.append((lo, hi))
                names.add(threading.current_thread().name)

        threads.parallel_for(record, n)
    finally:
        threads.set_num_threads(before)
        threads.MIN_WORK = min_work
    covered = sorted(i for lo, hi in seen for i in range(lo, hi))
    assert covered == list(range(n))
    assert all(lo < hi for lo, hi in seen) or n == 0
    assert len(seen) == max(1, min(count, n))
    assert threading.current_thread().name in names  # the caller takes a slice
    assert len(names) <= len(seen)  # (a worker that is already free may take two)


def test_small_work_and_nested_calls_stay_on_the_calling_thread(num_threads):
    num_threads(2)
    threads.MIN_WORK = 100
    callers = []
    threads.parallel_for(lambda lo, hi: callers.append(threading.current_thread().name), 10, work=99)
    assert callers == [threading.current_thread().name]

    num_threads(8)  # each thread gets at least MIN_WORK: 250 of work makes 2 slices, not 8
    slices = []
    threads.parallel_for(lambda lo, hi: slices.append((lo, hi)), 10, work=250)
    assert sorted(slices) == [(0, 5), (5, 10)]
    num_threads(2)

    inner = []

    def outer(lo, hi):  # slice 0 runs on the caller, slice 1 on a worker
        threads.parallel_for(lambda a, b: inner.append((lo, a, b)), 4, work=10**6)

    threads.parallel_for(outer, 2, work=10**6)
    assert [call for call in inner if call[0] == 1] == [(1, 0, 4)]  # a worker never splits again
    assert sorted(call for call in inner if call[0] == 0) == [(0, 0, 2), (0, 2, 4)]


def test_an_error_in_any_slice_is_raised_after_all_slices_finish(num_threads):
    num_threads(3)
    finished = []

    def work(lo, hi):
        if lo > 0:
            raise ValueError(f"slice {lo}")
        threading.Event().wait(0.05)
        finished.append(lo)

    with pytest.raises(ValueError, match="slice"):
        threads.parallel_for(work, 3)
    assert finished == [0]


def _child_uses_the_pool(queue):
    threads.set_num_threads(2)
    threads.MIN_WORK = 0
    out = []
    threads.parallel_for(lambda lo, hi: out.append((lo, hi)), 4)
    queue.put(sorted(out))


def test_a_forked_child_starts_its_own_threads(num_threads):
    num_threads(2)
    threads.parallel_for(lambda lo, hi: None, 4)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_uses_the_pool, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0, "the child hung or failed using the thread pool after fork"
    assert queue.get(timeout=5) == [(0, 2), (2, 4)]


# ------------------------------------------------------------------ convolution, split over threads


@st.composite
def conv_case(draw):
    n, c, f = draw(st.integers(1, 7)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    k, s, p = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(1, k - 2 * p), 8)), draw(st.integers(max(1, k - 2 * p), 8))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, wt, b = (rng.standard_normal(shape).astype(dtype) for shape in ((n, c, h, w), (f, c, k, k), (f,)))
    return x, wt, b, s, p, draw(st.integers(1, 4)), draw(st.integers(1, 3)), rng


@given(conv_case())
def test_conv2d_kernels_match_the_numpy_backend_bit_for_bit_at_any_thread_count(case):
    """Any thread count, and any number of images unfolded at a time (kernels.conv.CHUNK)."""
    x, wt, b, s, p, count, chunk, rng = case
    before, min_work, chunk_before = threads.get_num_threads(), threads.MIN_WORK, kconv.CHUNK
    threads.MIN_WORK, kconv.CHUNK = 0, chunk
    try:
        threads.set_num_threads(count)
        out = conv2d_forward(x, wt, b, s, p)
        grad = rng.standard_normal(out.shape).astype(x.dtype)
        gx, gw = conv2d_backward(grad, x, wt, s, p)
    finally:
        threads.set_num_threads(before)
        threads.MIN_WORK, kconv.CHUNK = min_work, chunk_before
    with backend.using("numpy"):
        ctx = Context()
        ctx.needs_input_grad = (True, True, True)
        want = np_conv.Conv2d.forward(ctx, x, wt, b, s, p)
        want_gx, want_gw, _ = np_conv.Conv2d.backward(ctx, grad)
    for got, expected in ((out, want), (gx, want_gx), (gw, want_gw)):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_conv2d_kernels_reject_what_does_not_fit():
    x, w = np.zeros((2, 3, 6, 6), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(InputError, match="channels"):
        conv2d_forward(x, np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        conv2d_forward(x, w.astype(np.float64))
    with pytest.raises(InputError, match="bias must have shape"):
        conv2d_forward(x, w, np.zeros(3, np.float32))
    out = conv2d_forward(x, w)
    with pytest.raises(InputError, match=r"grad must have shape \(2, 4, 4, 4\)"):
        conv2d_backward(out[:, :, :-1], x, w)
    with pytest.raises(InputError, match="channels"):
        conv2d_backward(out, x[:, :2], w)


def test_lenet5_training_is_bit_identical_at_one_and_two_threads(mnist10k):
    from minicompress.models import build
    from minicompress.optim import Adam
    from minicompress.training import fit

    x, y = mnist10k[0][:96], mnist10k[1][:96]
    results, calls = {}, []
    real = threads._pool

    def counting_pool(workers):
        calls.append(workers)
        return real(workers)

    before = threads.get_num_threads()
    try:
        threads._pool = counting_pool
        for count in (1, 2):
            threads.set_num_threads(count)
            model = build("lenet5", seed=0)
            fit(model, Adam(model.parameters(), lr=1e-3), x, y, epochs=1, batch_size=32, seed=0, progress=False)
            results[count] = [prm.data.copy() for prm in model.parameters()]
    finally:
        threads._pool = real
        threads.set_num_threads(before)
    assert calls and set(calls) == {1}  # the 2-thread run did hand slices to a second thread
    for a, b in zip(results[1], results[2]):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ 2 x 2 pooling at stride 2


@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1),
       st.lists(st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0]), max_size=4))
def test_max_pool_2x2_stride_2_matches_the_numpy_backend(n, c, h, w, dtype, seed, specials):
    """The vectorized k = s = 2 kernels: ties, NaN, infinities, signed zeros, odd sizes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, c, h, w)).astype(dtype)  # few values: ties in most windows
    for special in specials:
        x[tuple(rng.integers(0, d) for d in x.shape)] = special
    out, arg = max_pool2d_forward(x, 2, 2)
    ctx = Context()
    with backend.using("numpy"):
        want = np_conv.MaxPool2d.forward(ctx, x, 2, 2)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    np.testing.assert_array_equal(arg, ctx.saved_tensors[0])
    grad = rng.standard_normal(out.shape).astype(dtype)
    got = max_pool2d_backward(grad, arg, x.shape, 2, 2)
    ctx.fast = False
    np.testing.assert_array_equal(got, np_conv.MaxPool2d.backward(ctx, grad)[0])

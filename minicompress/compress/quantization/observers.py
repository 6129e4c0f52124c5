"""Observers: watch activations on a few batches and choose their quantization range.

A weight's range is known (its min and max); an activation's depends on the input, so
static quantization runs a few *calibration* batches through the model and lets an
observer record the range at each quantization point:

* :class:`MinMaxObserver` -- the smallest min and largest max ever seen;
* :class:`MovingAverageObserver` -- an exponential moving average of each batch's
  min and max, ``r <- r + c (r_batch - r)`` with PyTorch's ``averaging_constant`` c
  weighting the *new* batch (``torch.ao.quantization.MovingAverageMinMaxObserver``, default
  0.01); what QAT uses: early batches of a changing network fade out;
* :class:`PercentileObserver` -- the mean over batches of each batch's p-th and
  (100 - p)-th percentiles, which ignores rare outliers (a clipped outlier costs less
  than a coarse step for every other value).

Every observer turns its range into :class:`~.uniform.QParams` with :meth:`qparams`.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.quantization.uniform import QParams, _as_float, check_axis, qparams_from_range
from minicompress.errors import InputError, InputTypeError


class Observer:
    """Base class: ``observe(x)`` on each batch, then ``qparams(bits, scheme)``.

    Parameters
    ----------
    axis : int or None
        ``None`` for one range over the whole array, else one range per slice along ``axis``.
    """

    def __init__(self, axis=None):
        self.axis = axis
        self.min = None
        self.max = None
        self.batches = 0

    def _batch_range(self, x, lo_q=None, hi_q=None):
        x = np.asarray(getattr(x, "data", x))
        if x.size == 0:
            raise InputError("x is empty: cannot observe an empty batch")
        x = _as_float(x, "x (the observed batch)").astype(np.float64)
        axis = check_axis(self.axis, x.ndim)
        others = None if axis is None else tuple(i for i in range(x.ndim) if i != axis)
        if lo_q is None:
            return x.min(axis=others), x.max(axis=others)
        return np.percentile(x, lo_q, axis=others), np.percentile(x, hi_q, axis=others)

    def observe(self, x) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def qparams(self, bits: int, scheme: str = "affine") -> QParams:
        """The quantizer for the observed range; ``ValueError`` if nothing was observed."""
        if self.batches == 0:
            raise InputError(f"{type(self).__name__} has observed no batches; run calibration first")
        return qparams_from_range(self.min, self.max, bits, scheme, self.axis)


class MinMaxObserver(Observer):
    """Range = [smallest value seen, largest value seen]."""

    def observe(self, x) -> None:
        lo, hi = self._batch_range(x)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)
        self.batches += 1


class MovingAverageObserver(Observer):
    """Range = exponential moving average of the batch min/max (the first batch taken as is).

    .. math:: r \\leftarrow r + c\\,(r_{batch} - r) = (1 - c)\\, r + c\\, r_{batch}

    Parameters
    ----------
    axis : int or None
    averaging_constant : float in (0, 1]
        c, the weight of the *new* batch, as PyTorch's ``MovingAverageMinMaxObserver``
        (default 0.01 there and here); 1 keeps only the last batch.
    """

    def __init__(self, axis=None, averaging_constant: float = 0.01):
        super().__init__(axis)
        if isinstance(averaging_constant, bool) or not isinstance(averaging_constant, (int, float, np.floating)):
            raise InputTypeError(f"averaging_constant must be a number in (0, 1]; got {averaging_constant!r}")
        if not 0.0 < averaging_constant <= 1.0:
            raise InputError(f"averaging_constant must be in (0, 1] (the weight of the new batch); "
                             f"got {averaging_constant}")
        self.averaging_constant = float(averaging_constant)

    def observe(self, x) -> None:
        lo, hi = self._batch_range(x)
        c = self.averaging_constant
        # PyTorch's update, r + c (r_batch - r), operation for operation
        self.min = lo if self.min is None else self.min + c * (lo - self.min)
        self.max = hi if self.max is None else self.max + c * (hi - self.max)
        self.batches += 1


class PercentileObserver(Observer):
    """Range = mean over batches of the batch's (100 − p)-th and p-th percentiles."""

    def __init__(self, axis=None, percentile: float = 99.99):
        super().__init__(axis)
        if not 50.0 < percentile <= 100.0:
            raise InputError(f"percentile must be in (50, 100]; got {percentile}")
        self.percentile = float(percentile)
        self._sum_lo = self._sum_hi = 0.0

    def observe(self, x) -> None:
        lo, hi = self._batch_range(x, 100.0 - self.percentile, self.percentile)
        self._sum_lo = self._sum_lo + lo
        self._sum_hi = self._sum_hi + hi
        self.batches += 1
        self.min, self.max = self._sum_lo / self.batches, self._sum_hi / self.batches


OBSERVERS = {"minmax": MinMaxObserver, "moving_average": MovingAverageObserver,
             "percentile": PercentileObserver}


def make_observer(kind: str = "minmax", **kwargs) -> Observer:
    """An observer by name: ``"minmax"``, ``"moving_average"`` or ``"percentile"``."""
    if kind not in OBSERVERS:
        raise InputError(f"unknown observer {kind!r}; choose one of {sorted(OBSERVERS)}")
    return OBSERVERS[kind](**kwargs)

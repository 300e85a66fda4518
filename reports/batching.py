"""Intervals that hold when samples are dependent in time: correlation-adjusted batch means.

Requests in a load test are not independent draws: neighbours in time share the target's state.
An interval that assumes independence is then far too narrow (issue 13: 10-30x). The method here is
the batch-means method of the steady-state simulation literature, in the form of Lada and Wilson's
SBatch and Fishman's LBATCH, applied to a linearised statistic:

1. Every statistic is written as a mean of per-sample scores: the latency itself for a mean, the
   failure flag for an error rate, and for a percentile the flag "at most the estimate" (Bahadur's
   representation: the quantile's error is the error of the empirical CDF at it, over the density).
2. The window is cut into batches of equal time. The batch length starts small (at most 512 batches)
   and doubles until the bias-corrected lag-1 autocorrelation of the batch values is at most
   `PHI_ACCEPT`, while at least `B_MIN` batches remain; from there on the largest corrected variance
   is kept (`_choose`). Still above `PHI_MAX` at the coarsest: no trusted interval (`Declined`).
3. The variance of the estimate is the batch values' variance over b, times (1 + phi) / (1 - phi),
   phi the remaining lag-1 correlation (an AR(1) correction, as in SBatch), with Student's t on
   (b - 1)(1 - phi)/(1 + phi) degrees of freedom. The interval is never narrower than the independent
   one (the hull of both), except a paired difference's (see `paired_difference`).

The effective sample size is n times the independent variance over this one. Pure numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as sps

B_MIN = 12  # fewer batches and a t interval on b - 1 degrees of freedom is not trusted
MAX_FINE_BATCHES = 512
MIN_BATCH_S = 0.1
PHI_ACCEPT = 0.1  # the batch length stops doubling once batch values are this little alike
PHI_MAX = 0.6  # past this even the AR(1) correction is not trusted


@dataclass(frozen=True)
class Batching:
    """How a window was batched and what that says about the estimate's spread."""

    start: float  # time the first batch begins (s, or job number)
    length: float  # one batch's length, same unit
    count: int  # batches
    residuals: np.ndarray  # per batch: the scores' deviation from the centre, over the mean batch size
    lag1: float  # lag-1 autocorrelation of the residuals
    variance: float  # of the estimate (score units), after the AR(1) correction
    iid_variance: float  # of the estimate if the samples were independent
    floor: bool = True  # never narrower than independence (not for a paired difference, see there)

    @property
    def n_eff_ratio(self) -> float:
        """Effective sample size over n (at most 1: the interval never beats independence)."""
        if self.variance <= 0:
            return 1.0
        return min(1.0, self.iid_variance / self.variance)

    @property
    def dof(self) -> float:
        """Degrees of freedom: b - 1, shrunk like the batches' own effective number when they are
        still correlated (an AR(1) series of b values is worth b (1 - phi) / (1 + phi) independent ones)."""
        phi = min(max(self.lag1, 0.0), 0.99)
        return max(2.0, (self.count - 1) * (1 - phi) / (1 + phi))

    def half_width(self, confidence: float) -> float:
        t = float(sps.t.ppf(1 - (1 - confidence) / 2, self.dof))
        return t * math.sqrt(max(self.variance, self.iid_variance) if self.floor else self.variance)

    def edges(self) -> np.ndarray:
        return self.start + self.length * np.arange(self.count + 1)


@dataclass(frozen=True)
class Declined:
    """No trustworthy batching: why, and the coarsest one tried (so a report can show the batches)."""

    reason: str
    batching: Batching | None = None


def lag1(values: np.ndarray) -> float:
    """Lag-1 autocorrelation (the usual biased estimator); 0 for a constant series."""
    centred = values - values.mean()
    denominator = float(np.dot(centred, centred))
    if denominator == 0 or len(values) < 3:
        return 0.0
    return float(np.dot(centred[:-1], centred[1:]) / denominator)


def _batch_index(times: np.ndarray, start: float, length: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's batch number, and which samples fall inside the `count` batches."""
    index = np.floor((times - start) / length).astype(np.int64)
    return index, (index >= 0) & (index < count)


def _residuals(times: np.ndarray, scores: np.ndarray, start: float, length: float, count: int) -> np.ndarray:
    index, inside = _batch_index(times, start, length, count)
    centre = scores.mean()
    sums = np.bincount(index[inside], weights=scores[inside] - centre, minlength=count)
    per_batch = inside.sum() / count
    return sums / per_batch if per_batch else sums


def _choose(
    residuals_at: Callable[[float, int], np.ndarray],
    span: float,
    unit: float,
    iid_variance: float,
    start: float,
    plateau: bool = True,
) -> Batching | Declined:
    """Double the batch length from the finest until batch values are nearly uncorrelated.

    A lag-1 estimate from a few dozen batches is noisy and can dip under the limit by chance at too
    fine a batching; so, from the first accepted length on, every coarser length that still leaves
    B_MIN batches is computed too and the largest corrected variance is kept (the plateau of the
    variance against batch length, read conservatively). `plateau=False` keeps the first accepted
    length (paired differences, where the pairing leaves little correlation for chance to hide).
    """
    length = max(unit, span / MAX_FINE_BATCHES)
    levels: list[Batching] = []
    accepted = False
    while (count := int(span // length)) >= B_MIN:
        residuals = residuals_at(length, count)
        phi = lag1(residuals)
        phi += (1 + 3 * phi) / count  # the estimator's small-sample bias (Marriott and Pope 1954)
        adjust = (1 + max(phi, 0.0)) / (1 - max(phi, 0.0)) if phi < 1 else math.inf
        variance = float(residuals.var(ddof=1)) / count * adjust
        levels.append(Batching(start, length, count, residuals, phi, variance, iid_variance))
        accepted = accepted or phi <= PHI_ACCEPT
        if not accepted:
            levels = levels[-1:]  # only the accepted length and coarser ones compete
        length *= 2
    if not levels:
        return Declined(f"the window is too short for {B_MIN} batches of {_length(length, unit)}")
    trusted = [level for level in levels if level.lag1 <= PHI_MAX]
    if not trusted:
        last = levels[-1]
        return Declined(
            f"samples stay alike for longer than the window allows: {last.count} batches of "
            f"{_length(last.length, unit)} still have lag-1 correlation {last.lag1:.2f} (at most "
            f"{PHI_MAX} is trusted); measure longer",
            last,
        )
    return max(trusted, key=lambda level: level.variance) if plateau else trusted[0]


def _length(length: float, unit: float) -> str:
    """A batch length in words: seconds for requests, jobs for jobs numbered in order."""
    return f"{length:.3g} s" if unit < 1 else f"{length:.0f} jobs"


def batch(
    times: np.ndarray, scores: np.ndarray, window: tuple[float, float], unit: float = MIN_BATCH_S
) -> Batching | Declined:
    """Batch the scores of samples taken at `times` over `window`; `Declined` when it cannot.

    `unit` is the shortest batch (0.1 s for requests, 1 for jobs numbered in order).
    """
    start, end = window
    n = len(scores)
    if n < 2 or end <= start:
        return Declined(f"only {n} sample(s): no spread to measure")
    iid_variance = float(scores.var(ddof=1)) / n
    return _choose(
        lambda length, count: _residuals(times, scores, start, length, count),
        end - start, unit, iid_variance, start,
    )  # fmt: skip


def _counts(times: np.ndarray, start: float, length: float, count: int) -> np.ndarray:
    index, inside = _batch_index(times, start, length, count)
    return np.bincount(index[inside], minlength=count).astype(float)


def batch_rates(times: np.ndarray, batching: Batching) -> np.ndarray:
    """Events per second in each batch (0 for an empty one): the throughput points a report plots."""
    return _counts(times, batching.start, batching.length, batching.count) / batching.length


def trend_p(batching: Batching) -> float | None:
    """Two-sided p-value of a straight-line trend in the batch values (a stationarity check)."""
    if batching.count < 3 or np.ptp(batching.residuals) == 0:
        return None
    return float(sps.linregress(np.arange(batching.count), batching.residuals).pvalue)


@dataclass(frozen=True)
class Interval:
    """A dependence-aware interval, or why there is none, with the batching behind it."""

    ci: tuple[float, float] | None
    batching: Batching | None
    reason: str | None = None

    def n_eff(self, n: int) -> float | None:
        return None if self.batching is None or self.ci is None else n * self.batching.n_eff_ratio


def mean_interval(
    times: np.ndarray,
    values: np.ndarray,
    window: tuple[float, float],
    confidence: float,
    iid: tuple[float, float] | None = None,
    unit: float = MIN_BATCH_S,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Interval:
    """Mean of `values` (a share when they are 0/1 flags: bounds (0, 1)), hulled with the independent
    interval `iid`."""
    batching = batch(times, values.astype(float), window, unit)
    if isinstance(batching, Declined):
        return Interval(None, batching.batching, batching.reason)
    centre = float(values.mean())
    half = batching.half_width(confidence)
    low, high = centre - half, centre + half
    if iid is not None:
        low, high = min(low, iid[0]), max(high, iid[1])
    return Interval((max(bounds[0], low), min(bounds[1], high)), batching)


def quantile_interval(
    times: np.ndarray,
    values: np.ndarray,
    q: float,
    window: tuple[float, float],
    confidence: float,
    iid: tuple[float, float] | None = None,
    unit: float = MIN_BATCH_S,
) -> Interval:
    """The q-quantile's interval: the empirical quantiles at q -/+ the half-width of F at the estimate."""
    estimate = float(np.quantile(values, q, method="inverted_cdf"))
    batching = batch(times, (values <= estimate).astype(float), window, unit)
    if isinstance(batching, Declined):
        return Interval(None, batching.batching, batching.reason)
    n_eff = len(values) * batching.n_eff_ratio
    low, high = quantiles_at(values, q, batching.half_width(confidence), n_eff, confidence)
    if iid is not None:
        low, high = min(low, iid[0]), max(high, iid[1])
    return Interval((low, high), batching)


def quantiles_at(
    values: np.ndarray, q: float, half: float, n_eff: float | None = None, confidence: float = 0.95
) -> tuple[float, float]:
    """The empirical quantiles at q -/+ half: a quantile's interval from its CDF's.

    Past the data's top the CDF's interval says nothing, but the sample's maximum still bounds the
    quantile when all `n_eff` effective samples falling below it is that unlikely: q ** n_eff at most
    the interval's upper tail (else inf). Below the data's bottom, 0.
    """
    low = float(np.quantile(values, q - half, method="inverted_cdf")) if q - half > 0 else 0.0
    if q + half < 1:
        high = float(np.quantile(values, q + half, method="inverted_cdf"))
    elif n_eff is not None and q**n_eff <= (1 - confidence) / 2:
        high = float(values.max())
    else:
        high = math.inf
    return low, high


def rate_interval(
    times: np.ndarray, window: tuple[float, float], confidence: float, unit: float = MIN_BATCH_S
) -> Interval:
    """Events per second over the window, from the events' count per batch (never narrower than Poisson)."""
    start, end = window
    span = end - start
    n = len(times)
    if n < 2 or span <= 0:
        return Interval(None, None, f"only {n} event(s) in the window")

    def residuals_at(length: float, count: int) -> np.ndarray:
        rates = _counts(times, start, length, count) / length
        return rates - rates.mean()

    batching = _choose(residuals_at, span, unit, n / span**2, start)
    if isinstance(batching, Declined):
        return Interval(None, batching.batching, batching.reason)
    half = batching.half_width(confidence)
    return Interval((max(0.0, n / span - half), n / span + half), batching)


def per_batch(
    times: np.ndarray, values: np.ndarray, batching: Batching, statistic: Callable[[np.ndarray], float]
) -> np.ndarray:
    """`statistic` of the samples in each batch (NaN for an empty one): the points a report plots."""
    index, inside = _batch_index(times, batching.start, batching.length, batching.count)
    out = np.full(batching.count, np.nan)
    order = np.argsort(index[inside], kind="stable")
    grouped, kept = index[inside][order], values[inside][order]
    cuts = np.searchsorted(grouped, np.arange(batching.count + 1))
    for number in range(batching.count):
        chunk = kept[cuts[number] : cuts[number + 1]]
        if len(chunk):
            out[number] = statistic(chunk)
    return out


def grouped_interval(
    groups: np.ndarray, scores: np.ndarray, centre: float, confidence: float
) -> tuple[float, float] | str:
    """Independent groups as batches (the browser's fresh pages): centre -/+ t over the groups.

    No lag check: each group is a new page in a new context, independent by construction.
    """
    labels, inverse = np.unique(groups, return_inverse=True)
    count = len(labels)
    if count < 3:
        return f"only {count} repeat(s): at least 3 independent repeats are needed for an interval"
    sums = np.bincount(inverse, weights=scores - scores.mean(), minlength=count)
    residuals = sums / (len(scores) / count)
    t = float(sps.t.ppf(1 - (1 - confidence) / 2, count - 1))
    half = t * math.sqrt(float(residuals.var(ddof=1)) / count)
    return centre - half, centre + half


def quantile_scores(values: np.ndarray, q: float) -> tuple[float, np.ndarray]:
    """The q-quantile and per-sample scores in its unit whose mean tracks its error (Bahadur).

    The score is -(1{x <= estimate} - q) / f, the density f from the empirical quantile function's
    slope over +/- two standard errors of q (a Siddiqui-Bloch-Gastwirth estimate).
    """
    n = len(values)
    estimate = float(np.quantile(values, q, method="inverted_cdf"))
    h = min(2 * math.sqrt(q * (1 - q) / n), q / 2, (1 - q) / 2)
    low, high = np.quantile(values, [q - h, q + h], method="inverted_cdf")
    slope = float(high - low) / (2 * h)  # d quantile / d probability = 1 / density
    return estimate, -((values <= estimate).astype(float) - q) * slope


def paired_difference(
    new: tuple[np.ndarray, np.ndarray],
    old: tuple[np.ndarray, np.ndarray],
    centre: float,
    window: tuple[float, float],
    confidence: float,
    unit: float = MIN_BATCH_S,
) -> Interval:
    """new - old from (times, scores) of each side, batched on the same time edges so each batch's
    difference is paired: whatever the shared load did to both sides in a batch cancels out.

    Not hulled with the two sides' independent intervals: the caller records those as facts."""
    (t_new, s_new), (t_old, s_old) = new, old
    start, end = window
    if min(len(s_new), len(s_old)) < 2 or end <= start:
        return Interval(None, None, "too few samples on a side for a difference")
    iid_variance = float(s_new.var(ddof=1)) / len(s_new) + float(s_old.var(ddof=1)) / len(s_old)

    def residuals_at(length: float, count: int) -> np.ndarray:
        return _residuals(t_new, s_new, start, length, count) - _residuals(t_old, s_old, start, length, count)

    batching = _choose(residuals_at, end - start, unit, iid_variance, start, plateau=False)
    if isinstance(batching, Declined):
        return Interval(None, batching.batching, batching.reason)
    # no independence floor: the sides share the load's state, so a paired difference is rightly
    # narrower than two independent sides' (the floor made 99-99.6% coverage, bench/coverage_dependent.py)
    batching = replace(batching, floor=False)
    half = batching.half_width(confidence)
    return Interval((centre - half, centre + half), batching)

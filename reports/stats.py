"""Statistics, all computed from raw samples: exact percentiles and their 95% confidence intervals.

Percentiles use the nearest-rank definition (numpy's `inverted_cdf`): the p95 is an observed
sample, the one at rank ceil(0.95 n). Its interval is distribution-free, from order statistics:
ranks l and u such that P(l <= B < u) >= 95% for B ~ Binomial(n, p). When n is too small for such
ranks to exist, there is no interval and the judge says so instead of guessing.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95


def percentile(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile, q in [0, 1]."""
    return float(np.quantile(values, q, method="inverted_cdf"))


def percentile_ci(values: np.ndarray, q: float, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Distribution-free interval [x_(l), x_(u)] for the q-quantile; None when n is too small."""
    n = len(values)
    if n == 0:
        return None
    alpha = 1 - confidence
    lower_rank = int(sps.binom.ppf(alpha / 2, n, q))  # 1-based rank l: P(B < l) <= alpha/2
    upper_rank = int(sps.binom.ppf(1 - alpha / 2, n, q)) + 1  # 1-based rank u: P(B >= u) <= alpha/2
    if lower_rank < 1 or upper_rank > n:
        return None
    ordered = np.partition(values, (lower_rank - 1, upper_rank - 1))
    return float(ordered[lower_rank - 1]), float(ordered[upper_rank - 1])


def min_samples_for_percentile(q: float, confidence: float = CONFIDENCE) -> int:
    """Smallest n for which `percentile_ci` has both ends (e.g. 73 for p95)."""
    n = 1
    while n < 100_000:
        alpha = 1 - confidence
        if sps.binom.ppf(alpha / 2, n, q) >= 1 and sps.binom.ppf(1 - alpha / 2, n, q) + 1 <= n:
            return n
        n += 1
    raise ValueError(f"no sample size up to 100000 gives an interval for q={q}")


def wilson_ci(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; sane at 0 and n, unlike the normal approximation."""
    if n == 0:
        return None
    z = float(sps.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval for a mean; None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = float(np.mean(values))
    sem = float(np.std(values, ddof=1)) / math.sqrt(n)
    if sem == 0:
        return mean, mean
    half = float(sps.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sem
    return mean - half, mean + half


def rule_of_three(n: int) -> float | None:
    """95% upper bound on a failure rate after n clean trials (3/n)."""
    return 3 / n if n > 0 else None


def relative_change(
    value: float, ci: tuple[float, float] | None, base: float, base_ci: tuple[float, float] | None
) -> tuple[float, float, float]:
    """value / base - 1 with a conservative interval from the two intervals' extremes."""
    if base == 0:
        raise ZeroDivisionError("baseline is zero")
    lo, hi = ci or (value, value)
    base_lo, base_hi = base_ci or (base, base)
    point = value / base - 1
    if base_lo <= 0:
        return point, -math.inf, math.inf
    return point, lo / base_hi - 1, hi / base_lo - 1


def difference_ci(
    a: float, a_ci: tuple[float, float] | None, b: float, b_ci: tuple[float, float] | None
) -> tuple[float, float] | None:
    """Interval for a - b from the two 95% intervals (MOVER, Zou & Donner 2008).

    Each interval's distance from its estimate stands in for that side's error, so skewed
    intervals (a percentile's order statistics, Wilson near 0) stay skewed; for two Wilson intervals
    this is Newcombe's method 10 for a difference of proportions.
    """
    if a_ci is None or b_ci is None:
        return None
    difference = a - b
    low = difference - math.hypot(a - a_ci[0], b_ci[1] - b)
    high = difference + math.hypot(a_ci[1] - a, b - b_ci[0])
    return low, high


def mann_whitney(new: np.ndarray, old: np.ndarray) -> tuple[float, float]:
    """P(a new-side sample exceeds an old-side one, ties half) and the two-sided Mann-Whitney p-value.

    0.5 means neither side is slower; the p-value uses the normal approximation with tie correction,
    which is exact enough at load-test sample sizes and linear-logarithmic in time.
    """
    result = sps.mannwhitneyu(new, old, alternative="two-sided", method="asymptotic")
    return float(result.statistic) / (len(new) * len(old)), float(result.pvalue)

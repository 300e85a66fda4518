"""Statistics on constructed samples: exact values and interval coverage."""

from __future__ import annotations

import numpy as np
import pytest

from reports.stats import (
    mean_ci,
    min_samples_for_percentile,
    percentile,
    percentile_ci,
    relative_change,
    rule_of_three,
    wilson_ci,
)


def test_nearest_rank_percentile_is_an_observed_sample() -> None:
    values = np.arange(1, 101, dtype=float)  # 1..100
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(np.array([3.0, 1.0, 2.0]), 0.95) == 3.0


def test_percentile_ci_brackets_and_needs_enough_samples() -> None:
    values = np.arange(1, 1001, dtype=float)
    low, high = percentile_ci(values, 0.95)
    assert low < 950 < high
    assert (low, high) == (936.0, 964.0)
    assert percentile_ci(values[:50], 0.95) is None
    need = min_samples_for_percentile(0.95)
    assert percentile_ci(np.arange(need, dtype=float), 0.95) is not None
    assert percentile_ci(np.arange(need - 1, dtype=float), 0.95) is None


def test_percentile_ci_covers_the_true_p95_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_p95 = float(-np.log(0.05))  # exponential(1)
    trials = 400
    covered = 0
    for _ in range(trials):
        ci = percentile_ci(rng.exponential(1.0, 500), 0.95)
        assert ci is not None
        covered += ci[0] <= true_p95 <= ci[1]
    # the order-statistic interval is conservative (>= 95%); 400 trials put 1-sigma at ~1.1%
    assert 0.92 <= covered / trials <= 0.995


def test_wilson_interval() -> None:
    low, high = wilson_ci(5, 100)
    assert low < 0.05 < high
    assert wilson_ci(0, 100)[0] == 0.0
    assert wilson_ci(100, 100)[1] == 1.0
    assert wilson_ci(0, 0) is None
    assert wilson_ci(0, 300)[1] == pytest.approx(0.0126, abs=0.0005)


def test_wilson_coverage() -> None:
    rng = np.random.default_rng(3)
    hits = sum(
        low <= 0.02 <= high for low, high in (wilson_ci(int(k), 1000) for k in rng.binomial(1000, 0.02, 500))
    )
    assert 0.92 <= hits / 500 <= 0.99


def test_mean_and_relative_change_and_rule_of_three() -> None:
    low, high = mean_ci(np.array([58.0, 59.0, 60.0, 59.0, 59.0]))
    assert low < 59 < high
    assert mean_ci(np.array([1.0])) is None
    assert mean_ci(np.array([2.0, 2.0])) == (2.0, 2.0)
    point, lo, hi = relative_change(75.0, (70.0, 80.0), 100.0, (95.0, 105.0))
    assert point == pytest.approx(-0.25)
    assert lo == pytest.approx(70 / 105 - 1)
    assert hi == pytest.approx(80 / 95 - 1)
    assert rule_of_three(100) == 0.03
    assert rule_of_three(0) is None

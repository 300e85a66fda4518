"""The dependence-aware intervals on series with a known structure, and the judge's rules around them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal
from scipy import stats as sps

from harness.config import Gate
from reports.batching import (
    mean_interval,
    paired_difference,
    quantile_interval,
    quantile_scores,
    rate_interval,
)
from reports.judge import judge_gate, stop_reason
from reports.model import Measurement, Verdict
from reports.sequential import look_confidence, look_times
from reports.stats import percentile_ci

RATE = 50.0  # samples per second


def _ar1(rng: np.random.Generator, n: int, tau_s: float) -> np.ndarray:
    """Unit-variance AR(1) with correlation time tau_s at RATE samples per second."""
    phi = math.exp(-1 / (tau_s * RATE))
    noise = rng.normal(0, math.sqrt(1 - phi**2), n)
    return signal.lfilter([1.0], [1.0, -phi], noise)


def _batch_means_p95_width(values: np.ndarray, batches: int = 10) -> float:
    """A plain reference: p95 per time-ordered batch, t interval over the batches."""
    per_batch = [np.quantile(chunk, 0.95) for chunk in np.array_split(values, batches)]
    return 2 * sps.t.ppf(0.975, batches - 1) * np.std(per_batch, ddof=1) / math.sqrt(batches)


def test_independent_samples_keep_about_the_independent_interval() -> None:
    rng = np.random.default_rng(1)
    n = 6000
    times, values = np.arange(n) / RATE, rng.lognormal(3, 0.5, n)
    got = quantile_interval(times, values, 0.95, (0, n / RATE), 0.95, percentile_ci(values, 0.95))
    iid = percentile_ci(values, 0.95)
    assert got.ci is not None and iid is not None
    assert got.n_eff(n) > 0.6 * n
    assert (got.ci[1] - got.ci[0]) < 2.0 * (iid[1] - iid[0])
    assert got.ci[0] <= iid[0] and got.ci[1] >= iid[1]  # never narrower than independence


def test_a_wandering_latency_gets_an_interval_as_wide_as_batch_means_not_the_iid_one() -> None:
    rng = np.random.default_rng(2)
    n = int(600 * RATE)
    values = np.exp(3 + 0.5 * _ar1(rng, n, tau_s=5.0))
    times = np.arange(n) / RATE
    iid = percentile_ci(values, 0.95)
    got = quantile_interval(times, values, 0.95, (0, n / RATE), 0.95, iid)
    assert got.ci is not None and iid is not None
    width = got.ci[1] - got.ci[0]
    assert width >= 0.7 * _batch_means_p95_width(values)
    assert width >= 5 * (iid[1] - iid[0])  # the independent interval is far too narrow here
    assert got.n_eff(n) < 0.1 * n


def test_a_window_too_short_for_the_dependence_has_no_interval_and_says_why() -> None:
    rng = np.random.default_rng(3)
    n = int(60 * RATE)
    values = np.exp(3 + 0.5 * _ar1(rng, n, tau_s=30.0))
    got = mean_interval(np.arange(n) / RATE, values, (0, n / RATE), 0.95)
    assert got.ci is None and got.reason and "measure longer" in got.reason
    assert got.batching is not None and got.batching.count >= 12  # kept, so the report can plot why
    assert got.n_eff(n) is None


def test_a_paired_difference_cancels_what_both_sides_share() -> None:
    rng = np.random.default_rng(4)
    n = int(300 * RATE)
    shared = 0.5 * _ar1(rng, n, tau_s=5.0)
    new, old = np.exp(3 + shared + rng.normal(0, 0.1, n)), np.exp(3 + shared + rng.normal(0, 0.1, n))
    times = np.arange(n) / RATE
    window = (0.0, n / RATE)
    (p_new, s_new), (p_old, s_old) = quantile_scores(new, 0.95), quantile_scores(old, 0.95)
    got = paired_difference((times, s_new), (times, s_old), p_new - p_old, window, 0.95)
    assert got.ci is not None and got.ci[0] <= 0 <= got.ci[1]
    alone = quantile_interval(times, new, 0.95, window, 0.95)
    assert alone.ci is not None
    assert got.ci[1] - got.ci[0] < 0.5 * (alone.ci[1] - alone.ci[0])  # pairing removed the shared wander


def test_bursty_arrivals_widen_the_rate_interval_past_poisson() -> None:
    rng = np.random.default_rng(5)
    seconds = np.arange(600)
    per_second = rng.poisson(np.where((seconds // 20) % 2 == 0, 80, 20))  # 20 s on, 20 s off
    times = np.concatenate([s + rng.random(k) for s, k in zip(seconds, per_second, strict=True)])
    got = rate_interval(np.sort(times), (0.0, 600.0), 0.95)
    assert got.ci is not None
    poisson_half = 1.96 * math.sqrt(len(times)) / 600
    assert (got.ci[1] - got.ci[0]) / 2 > 3 * poisson_half


def test_looks_double_and_share_the_error() -> None:
    assert look_times(60, 300) == [60, 120, 240, 300]
    assert look_times(60, 60) == [60]
    assert look_confidence(4) == pytest.approx(0.9875)


GATE = Gate(metric="load.latency_ms", stat="p95", below="500ms")


def _measurement(**facts: object) -> Measurement:
    return Measurement("load.latency_ms", "p95", "ms", 120.0, 3000, None, facts=facts)  # type: ignore[arg-type]


def test_no_trustworthy_interval_is_inconclusive_never_a_pass_on_the_point() -> None:
    measured = _measurement(no_interval_reason="samples stay alike; measure longer")
    result = judge_gate("g", "p95", GATE, measured)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no trustworthy interval for the long-run value: samples stay alike" in result.reason


def test_without_an_interval_a_run_beyond_the_limit_even_as_independent_draws_fails() -> None:
    burst = _measurement(no_interval_reason="samples stay alike", iid_ci_low=600.0, iid_ci_high=650.0)
    result = judge_gate("g", "p95", GATE, burst)
    assert result.verdict is Verdict.FAIL
    assert "this run's own samples are beyond the limit" in result.reason
    near = _measurement(no_interval_reason="samples stay alike", iid_ci_low=100.0, iid_ci_high=130.0)
    assert judge_gate("g", "p95", GATE, near).verdict is Verdict.INCONCLUSIVE  # inside: never a PASS


def test_a_trend_in_the_batches_is_reported_beside_the_verdict() -> None:
    measured = Measurement("load.latency_ms", "p95", "ms", 120.0, 3000, (100.0, 140.0), n_eff=300.0,
                           facts={"trend_p": 0.001})  # fmt: skip
    result = judge_gate("g", "p95", GATE, measured)
    assert result.verdict is Verdict.PASS
    assert "effective n=300" in result.reason and "trend over the window" in result.reason


def test_a_run_stops_at_any_fail_or_when_everything_passed() -> None:
    fine = Measurement("load.latency_ms", "p95", "ms", 100.0, 3000, (90.0, 110.0))
    slow = Measurement("load.latency_ms", "p95", "ms", 900.0, 3000, (800.0, 990.0))
    open_ = Measurement("load.latency_ms", "p95", "ms", 480.0, 3000, (400.0, 560.0))
    judged = {name: judge_gate("g", name, GATE, m) for name, m in (("a", fine), ("b", slow), ("c", open_))}
    assert stop_reason([judged["a"]]) == "all 1 judged gate(s) passed"
    assert stop_reason([judged["a"], judged["c"]]) is None
    assert (stop_reason([judged["c"], judged["b"]]) or "").startswith("gate b failed")

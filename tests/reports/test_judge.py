"""Every verdict the judge can give, on constructed measurements (no run needed)."""

from __future__ import annotations

import pytest

from harness.config import Gate
from harness.errors import ExitCode
from reports.judge import exit_code, judge, judge_gate, overall
from reports.model import Measurement, Verdict

P95_BELOW_500 = Gate(metric="load.latency_ms", stat="p95", below="500ms", window="steady")
ERRORS_AT_MOST_1 = Gate(metric="load.error_rate", at_most="1%")
STREAK = Gate(metric="pipeline.consecutive_successes", stat="longest", at_least=100)
FASTER_25 = Gate(metric="pipeline.duration_s", stat="mean", reduced_by_pct_vs_baseline=25)
COST_20 = Gate(metric="cost.monthly_usd", within_pct_of_baseline=20)


def latency(value: float, ci: tuple[float, float] | None, n: int = 10_000, **facts) -> Measurement:
    return Measurement(
        "load.latency_ms", "p95", "ms", value, n, ci, (0.0, 60.0), {"min_samples": 72, **facts}
    )


def verdict(gate: Gate, measurement: Measurement | None, baseline: Measurement | None = None) -> Verdict:
    return judge_gate("set", "gate", gate, measurement, baseline).verdict


def test_pass_fail_inconclusive_from_the_interval() -> None:
    assert verdict(P95_BELOW_500, latency(300, (290, 310))) is Verdict.PASS
    assert verdict(P95_BELOW_500, latency(700, (690, 710))) is Verdict.FAIL
    # point estimate passes but the interval reaches the threshold: can't tell
    assert verdict(P95_BELOW_500, latency(495, (480, 505))) is Verdict.INCONCLUSIVE
    # "below" is strict: an interval ending exactly on 500 does not pass
    assert verdict(P95_BELOW_500, latency(490, (480, 500))) is Verdict.INCONCLUSIVE
    assert verdict(P95_BELOW_500, latency(500, (500, 520))) is Verdict.FAIL


def test_reason_carries_value_interval_and_threshold() -> None:
    result = judge_gate("phase-2", "api-latency", P95_BELOW_500, latency(300, (290, 310)))
    assert "p95 300.0 ms" in result.reason
    assert "290.0 ms to 310.0 ms" in result.reason
    assert "< 500.0 ms" in result.reason


def test_invalid_when_the_measurement_cannot_be_trusted() -> None:
    cases = {
        "too few samples": latency(300, None, n=40),
        "no samples": Measurement("load.latency_ms", "p95", "ms", None, 0),
        "load generator saturated": latency(300, (290, 310), generator_cpu_max=0.97),
        "host saturated": latency(300, (290, 310), host_busy_p90=0.99),
        "stopped early": latency(300, (290, 310), window_coverage=0.2),
    }
    for words, measurement in cases.items():
        result = judge_gate("s", "g", P95_BELOW_500, measurement)
        assert result.verdict is Verdict.INVALID, words
        assert words in result.reason
    # a failing value is still INVALID when it cannot be trusted: the generator may have caused it
    assert verdict(P95_BELOW_500, latency(900, (890, 910), generator_cpu_max=0.95)) is Verdict.INVALID
    # below the limits everything is trusted
    trusted = latency(300, (290, 310), generator_cpu_max=0.5, host_busy_p90=0.6, window_coverage=1.0)
    assert verdict(P95_BELOW_500, trusted) is Verdict.PASS


def test_browser_facts_make_invalid() -> None:
    fps = Gate(metric="browser.fps_mean", at_least=58)
    base = {"frames_drawn": 1200, "rendered": True, "page_errors": 0}
    good = Measurement("browser.fps_mean", "mean", "fps", 59.9, 5, (59.8, 60.0), facts=base)
    assert verdict(fps, good) is Verdict.PASS
    for change in ({"frames_drawn": 0}, {"rendered": False}):
        bad = Measurement("browser.fps_mean", "mean", "fps", 59.9, 5, (59.8, 60.0), facts={**base, **change})
        assert verdict(fps, bad) is Verdict.INVALID, change
    # console errors of the page are a finding about the page, not a broken measurement
    noisy = Measurement(
        "browser.fps_mean", "mean", "fps", 59.9, 5, (59.8, 60.0), facts={**base, "page_errors": 2}
    )
    assert verdict(fps, noisy) is Verdict.PASS


def test_ratio_gate_with_wilson_interval() -> None:
    def errors(k_over_n: float, ci: tuple[float, float]) -> Measurement:
        return Measurement("load.error_rate", "value", "ratio", k_over_n, 20_000, ci)

    assert verdict(ERRORS_AT_MOST_1, errors(0.002, (0.0015, 0.0027))) is Verdict.PASS
    assert verdict(ERRORS_AT_MOST_1, errors(0.05, (0.047, 0.053))) is Verdict.FAIL
    assert verdict(ERRORS_AT_MOST_1, errors(0.0, (0.0, 0.037))) is Verdict.INCONCLUSIVE


def test_counts_without_interval() -> None:
    def streak(value: int) -> Measurement:
        return Measurement("pipeline.consecutive_successes", "longest", "count", value, 100)

    assert verdict(STREAK, streak(100)) is Verdict.PASS
    assert verdict(STREAK, streak(99)) is Verdict.FAIL


def test_skipped_and_pending() -> None:
    assert verdict(STREAK, None) is Verdict.SKIPPED
    pending = Measurement("cost.monthly_usd", "value", "usd", None, 0, facts={"pending": True})
    assert verdict(COST_20, pending) is Verdict.PENDING


def test_baseline_relative_gates() -> None:
    def duration(mean: float, half: float) -> Measurement:
        return Measurement("pipeline.duration_s", "mean", "s", mean, 100, (mean - half, mean + half))

    baseline = duration(100, 2)
    assert verdict(FASTER_25, duration(70, 2), baseline) is Verdict.PASS
    assert verdict(FASTER_25, duration(90, 2), baseline) is Verdict.FAIL
    assert verdict(FASTER_25, duration(75, 3), baseline) is Verdict.INCONCLUSIVE
    result = judge_gate("success", "pipeline-time", FASTER_25, duration(70, 2), baseline)
    assert result.relative_change is not None
    assert result.relative_change[0] == pytest.approx(-0.30)
    assert "-30.0%" in result.reason
    no_base = judge_gate("success", "pipeline-time", FASTER_25, duration(70, 2), None)
    assert no_base.verdict is Verdict.INCONCLUSIVE
    assert "--baseline" in no_base.reason

    def cost(value: float) -> Measurement:
        return Measurement("cost.monthly_usd", "value", "usd", value, 1)

    assert verdict(COST_20, cost(110), cost(100)) is Verdict.PASS
    assert verdict(COST_20, cost(130), cost(100)) is Verdict.FAIL
    assert verdict(COST_20, cost(75), cost(100)) is Verdict.FAIL
    assert verdict(COST_20, cost(100), cost(0)) is Verdict.INVALID


def test_overall_and_exit_codes() -> None:
    gates = {"lat": P95_BELOW_500, "err": ERRORS_AT_MOST_1, "streak": STREAK}
    measured = {
        "lat": latency(300, (290, 310)),
        "err": Measurement("load.error_rate", "value", "ratio", 0.001, 50_000, (0.0008, 0.0013)),
    }
    results = judge("phase-2", gates, measured)
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.PASS, Verdict.SKIPPED]
    assert overall(results) is Verdict.PASS
    assert exit_code(results) is ExitCode.OK

    failing = judge("phase-2", gates, {**measured, "lat": latency(900, (880, 920))})
    assert exit_code(failing) is ExitCode.GATE_FAILED
    invalid = judge("phase-2", gates, {**measured, "lat": latency(300, None, n=10)})
    assert exit_code(invalid) is ExitCode.INVALID
    unsure = judge("phase-2", gates, {**measured, "lat": latency(495, (480, 505))})
    assert exit_code(unsure) is ExitCode.INCONCLUSIVE
    nothing = judge("phase-2", gates, {})
    assert overall(nothing) is Verdict.INVALID
    assert exit_code(nothing) is ExitCode.INVALID


def test_streak_needs_enough_jobs_and_names_the_failure() -> None:
    def streak(value: int, jobs: int, **facts) -> Measurement:
        return Measurement("pipeline.consecutive_successes", "longest", "count", value, jobs, facts=facts)

    assert verdict(STREAK, streak(40, 40)) is Verdict.INCONCLUSIVE
    broken = judge_gate("p", "streak", STREAK, streak(60, 120, first_failure="job 61 (abc): injected fault"))
    assert broken.verdict is Verdict.FAIL
    assert "job 61 (abc): injected fault" in broken.reason

"""The judge: the only code that decides PASS, FAIL, INCONCLUSIVE, INVALID, PENDING or SKIPPED.

Pure: it takes gates and measurements and returns verdicts, with no I/O, so every rule is tested on
constructed data (Lighthouse CI's assertion engine is the model). Trust comes first: a measurement
the rules distrust is INVALID whatever its value. Then the confidence interval, not the point
estimate, is compared with the threshold: wholly on the good side is PASS, wholly on the bad side
FAIL, straddling it INCONCLUSIVE.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.config import Gate
from harness.errors import ExitCode
from reports.model import GateResult, Measurement, Verdict
from reports.stats import relative_change


@dataclass(frozen=True)
class TrustRules:
    """Limits past which a measurement is not trusted; documented in docs/JUDGING.md."""

    generator_cpu_max: float = 0.90  # share of one core used by any load generator process
    host_busy_max: float = 0.95  # un-niced host CPU busy share (p90 over the window)
    min_window_coverage: float = 0.5  # measured window / planned window


def _untrusted(measurement: Measurement, rules: TrustRules) -> str | None:
    """The first reason not to trust a measurement, or None."""
    facts = measurement.facts
    if measurement.n == 0 or measurement.value is None:
        return str(facts.get("empty_reason") or "no samples in the window")
    missing = facts.get("min_samples")
    if isinstance(missing, int) and measurement.ci is None and measurement.n < missing:
        return f"too few samples for {measurement.stat}: n={measurement.n}, needs at least {missing}"
    cpu = facts.get("generator_cpu_max")
    if isinstance(cpu, int | float) and cpu > rules.generator_cpu_max:
        return (
            f"load generator saturated: a Locust process used {cpu:.0%} of a core "
            f"(limit {rules.generator_cpu_max:.0%}); add --workers or a bigger machine"
        )
    busy = facts.get("host_busy_p90")
    if isinstance(busy, int | float) and busy >= rules.host_busy_max:
        return (
            f"host saturated: un-niced CPU busy {busy:.0%} (p90) during the window "
            f"(limit {rules.host_busy_max:.0%}); the machine, not the target, was the limit"
        )
    coverage = facts.get("window_coverage")
    if isinstance(coverage, int | float) and coverage < rules.min_window_coverage:
        return f"the run stopped early: only {coverage:.0%} of the planned window was measured"
    # browser: only what breaks the measurement (never rendered, view not found, crashed, no frames);
    # console errors of a page that drew are a finding about it (browser.page_errors), not distrust
    for key in ("frames_drawn", "rendered"):
        if key in facts and not facts[key]:
            return str(facts.get("empty_reason") or f"the page reported {key}={facts[key]!r}")
    return None


def _interval(measurement: Measurement) -> tuple[float, float]:
    assert measurement.value is not None
    return measurement.ci or (measurement.value, measurement.value)


def _absolute(kind: str, threshold: float, low: float, high: float) -> Verdict:
    """Compare an interval with a threshold; `below`/`at_most` are upper limits, the others lower."""
    good_side = {
        "below": high < threshold,
        "at_most": high <= threshold,
        "above": low > threshold,
        "at_least": low >= threshold,
    }[kind]
    bad_side = {
        "below": low >= threshold,
        "at_most": low > threshold,
        "above": high <= threshold,
        "at_least": high < threshold,
    }[kind]
    if good_side:
        return Verdict.PASS
    if bad_side:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


_WORDS = {"below": "<", "at_most": "<=", "above": ">", "at_least": ">="}


def _relative(kind: str, pct: float, low: float, high: float) -> Verdict:
    limit = pct / 100
    if kind == "within_pct_of_baseline":
        if -limit <= low and high <= limit:
            return Verdict.PASS
        if high < -limit or low > limit:
            return Verdict.FAIL
        return Verdict.INCONCLUSIVE
    # reduced_by_pct_vs_baseline: the change must be at most -limit
    if high <= -limit:
        return Verdict.PASS
    if low > -limit:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def _fmt(value: float, unit: str) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit in ("fps", "per_s", "usd"):
        return f"{value:.2f}" if unit == "usd" else f"{value:.1f}{' fps' if unit == 'fps' else '/s'}"
    return f"{value:g}"


def judge_gate(
    gate_set: str,
    name: str,
    gate: Gate,
    measurement: Measurement | None,
    baseline: Measurement | None = None,
    rules: TrustRules | None = None,
) -> GateResult:
    rules = rules or TrustRules()

    def result(verdict: Verdict, reason: str, change: tuple[float, float, float] | None = None) -> GateResult:
        return GateResult(gate_set, name, gate, verdict, reason, measurement, baseline, change)

    if measurement is None:
        return result(Verdict.SKIPPED, f"{gate.metric} was not measured in this run")
    if measurement.facts.get("pending"):
        return result(
            Verdict.PENDING, str(measurement.facts.get("pending_reason") or "data not available yet")
        )
    if (why := _untrusted(measurement, rules)) is not None:
        return result(Verdict.INVALID, why)

    kind, threshold = gate.comparison
    low, high = _interval(measurement)
    unit = measurement.unit
    value = measurement.value
    assert value is not None
    # censored (a probe gap still open at an edge of the run): ci is (lower bound, inf), shown as such
    censored = measurement.facts.get("censored")
    shown = f"{gate.statistic} {'at least ' if censored else ''}{_fmt(value, unit)}"
    if censored:
        shown += f" (n={measurement.n})"
    elif measurement.ci is not None:
        confidence = measurement.facts.get("confidence")
        level = confidence * 100 if isinstance(confidence, float) else 95
        shown += f" ({level:.4g}% CI {_fmt(low, unit)} to {_fmt(high, unit)}, n={measurement.n}"
        shown += f", effective n={measurement.n_eff:.0f})" if measurement.n_eff is not None else ")"
    else:
        shown += f" (n={measurement.n})"
    no_interval = measurement.facts.get("no_interval_reason")
    if no_interval and measurement.ci is None:
        # dependent samples with too few effective batches: never a PASS on a point estimate; but a
        # run whose own samples are beyond the limit even as independent draws (a 5xx burst) FAILs:
        # that is a finding about the target, observed, whatever the long-run value is
        iid_low, iid_high = measurement.facts.get("iid_ci_low"), measurement.facts.get("iid_ci_high")
        beyond = (
            isinstance(iid_low, float)
            and isinstance(iid_high, float)
            and kind in _WORDS
            and _absolute(kind, threshold, iid_low, iid_high) is Verdict.FAIL
        )
        verdict = Verdict.FAIL if beyond else Verdict.INCONCLUSIVE
        observed = "; this run's own samples are beyond the limit" if verdict is Verdict.FAIL else ""
        return result(
            verdict,
            f"{shown}; gate {_WORDS.get(kind, kind)} {_fmt(threshold, unit)}; no trustworthy interval "
            f"for the long-run value: {no_interval}{observed}" + _drift_note(measurement),
        )

    if kind in ("within_pct_of_baseline", "reduced_by_pct_vs_baseline"):
        if baseline is None or baseline.value is None or baseline.n == 0:
            return result(Verdict.INCONCLUSIVE, f"{shown}; needs a baseline run (--baseline RUN) to compare")
        if (why := _untrusted(baseline, rules)) is not None:
            return result(Verdict.INVALID, f"the baseline cannot be trusted: {why}")
        try:
            change = relative_change(value, measurement.ci, baseline.value, baseline.ci)
        except ZeroDivisionError:
            return result(Verdict.INVALID, "the baseline value is zero; a relative change is undefined")
        verdict = _relative(kind, threshold, change[1], change[2])
        wanted = f"within ±{threshold:g}%" if kind == "within_pct_of_baseline" else f"at most -{threshold:g}%"
        return result(
            verdict,
            f"{shown}; change vs baseline {change[0]:+.1%} (95% CI {change[1]:+.1%} to {change[2]:+.1%}), "
            f"wanted {wanted}",
            change,
        )

    verdict = _absolute(kind, threshold, low, high)
    words = _WORDS[kind]
    reason = f"{shown}; gate {words} {_fmt(threshold, unit)}"
    if censored:
        # only a lower bound is known, so it never passes: beyond the limit already it fails, else unknown
        verdict = Verdict.FAIL if verdict is Verdict.FAIL else Verdict.INCONCLUSIVE
        bound = measurement.facts.get("censored_gap_s")
        reason += f"; {censored}: at least {_fmt(bound if isinstance(bound, int | float) else low, unit)}"
        if (where := measurement.facts.get("censored_gap")) is not None:
            reason += f" ({where})"
    elif verdict is Verdict.INCONCLUSIVE:
        reason += "; the interval straddles the threshold: measure longer or with more load"
    reason += _drift_note(measurement)
    if isinstance(dependence := measurement.facts.get("dependence"), str):
        reason += f"; dependence {dependence}"
    if (
        unit == "count"
        and kind in ("at_least", "above")
        and verdict is Verdict.FAIL
        and measurement.n < threshold
        and not measurement.facts.get("all_failed")
    ):
        # 40 clean jobs out of 40 do not show that 100 in a row would fail: too few were run
        # (but when every job failed, no number of further jobs makes the streak)
        verdict = Verdict.INCONCLUSIVE
        reason += f"; only {measurement.n} ran, too few to show {threshold:g} in a row"
    if (failure := measurement.facts.get("first_failure")) is not None:
        reason += f"; first failure: {failure}"
    return result(verdict, reason + _page_errors_note(gate, measurement))


DRIFT_P = 0.01  # a trend in the batch values this unlikely under stationarity is reported


def _drift_note(measurement: Measurement) -> str:
    """The interval assumes the window is steady; a clear trend in its batches says it was not."""
    trend = measurement.facts.get("trend_p")
    if not isinstance(trend, float) or trend >= DRIFT_P:
        return ""
    return (
        f"; the batch values trend over the window (p={trend:.1g}): the target was not steady, "
        "so the interval describes a moving value"
    )


def _page_errors_note(gate: Gate, measurement: Measurement) -> str:
    """Beside a browser verdict: the console errors the page logged, which never change it."""
    errors = measurement.facts.get("page_errors")
    if not isinstance(errors, int) or errors <= 0:
        return ""
    top = measurement.facts.get("page_errors_top")
    most = f"; most frequent: {top}" if top else ""
    if gate.metric == "browser.page_errors":
        return most
    return f"; the page logged {errors} console error(s), a finding about the page, not the measurement{most}"


def judge(
    gate_set: str,
    gates: Mapping[str, Gate],
    measurements: Mapping[str, Measurement | None],
    baselines: Mapping[str, Measurement | None] | None = None,
    rules: TrustRules | None = None,
) -> list[GateResult]:
    """Judge every gate of a set; `measurements` and `baselines` are keyed by gate name."""
    baselines = baselines or {}
    return [
        judge_gate(gate_set, name, gate, measurements.get(name), baselines.get(name), rules)
        for name, gate in gates.items()
    ]


_SEVERITY = [
    (Verdict.FAIL, ExitCode.GATE_FAILED),
    (Verdict.INVALID, ExitCode.INVALID),
    (Verdict.INCONCLUSIVE, ExitCode.INCONCLUSIVE),
    (Verdict.PENDING, ExitCode.INCONCLUSIVE),
]


def overall(results: Iterable[GateResult]) -> Verdict:
    """The run's verdict: the worst gate's, where FAIL > INVALID > INCONCLUSIVE > PENDING > PASS.

    Skipped gates do not count; a run in which nothing was judged is INVALID, never PASS.
    """
    verdicts = {result.verdict for result in results}
    for verdict, _ in _SEVERITY:
        if verdict in verdicts:
            return verdict
    return Verdict.PASS if Verdict.PASS in verdicts else Verdict.INVALID


def exit_code(results: Iterable[GateResult]) -> ExitCode:
    verdict = overall(results)
    return dict(_SEVERITY).get(verdict, ExitCode.OK)


def decision(results: Iterable[GateResult]) -> str:
    """Before a canary step: GO when every judged gate passed, NO-GO when any failed, else INCONCLUSIVE.

    A failed gate on either side is a NO-GO: errors on the old side confound the comparison as much
    as errors on the new side endanger the users moved to it.
    """
    verdict = overall(results)
    return {Verdict.PASS: "GO", Verdict.FAIL: "NO-GO"}.get(verdict, "INCONCLUSIVE")


def stop_reason(results: Iterable[GateResult]) -> str | None:
    """At a look of a run that lasts until decided: why it may stop now, or None to go on.

    The verdict is known once any gate fails (the run's verdict is FAIL whatever the rest do; a canary
    side with errors stops getting traffic, k6's abortOnFail) or once every judged gate passed.
    INVALID, INCONCLUSIVE and PENDING gates keep the run going until its maximum duration.
    """
    judged = [result for result in results if result.verdict is not Verdict.SKIPPED]
    failed = [result for result in judged if result.verdict is Verdict.FAIL]
    if failed:
        return f"gate {failed[0].name} failed: {failed[0].reason}"
    if judged and all(result.verdict is Verdict.PASS for result in judged):
        return f"all {len(judged)} judged gate(s) passed"
    return None

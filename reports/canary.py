"""Blue against green from one interleaved load: per-side gates, side-by-side numbers, consistency.

A canary run (`pavi-validate canary`) records which side every request went to. Its load gates are
judged once per side (`expand_sides`), and the comparison metrics (`canary.*`) are computed here from
the same steady window: the new side's latency percentile minus the old side's, the error-rate
difference and the Mann-Whitney shift. Numbers only; the judge decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.config import Gate
from harness.registry import METRICS
from reports.batching import Interval, paired_difference, per_batch, quantile_scores
from reports.metrics import Window, confidence_of, dependent, failed_mask, in_window, load_facts, load_window
from reports.model import Fact, Measurement
from reports.rundata import RunData
from reports.stats import (
    CONFIDENCE,
    difference_ci,
    mann_whitney,
    min_samples_for_percentile,
    percentile,
    percentile_ci,
    wilson_ci,
)

COMPARISON_COLUMNS = [
    "side", "requests", "failures", "error_rate", "error_rate_ci", "p50_ms", "p95_ms", "p95_ci", "p99_ms",
]  # fmt: skip


@dataclass(frozen=True)
class Sides:
    """Which side is new (the plan deploys the new infrastructure as blue) and where each one is."""

    new: str
    old: str
    urls: Mapping[str, str]
    step_pct: float | None


def canary_sides(data: RunData) -> Sides | None:
    """The run's sides, or None when it is not a canary run."""
    part = data.part("canary")
    urls = part.get("sides") or {}
    new = part.get("new_side")
    if len(urls) != 2 or new not in urls:
        return None
    old = next(side for side in urls if side != new)
    step = part.get("step_pct")
    return Sides(str(new), str(old), dict(urls), float(step) if step is not None else None)


def expand_sides(gates: Mapping[str, Gate], sides: Sides | None) -> dict[str, Gate]:
    """Every load gate without a side becomes one gate per side ("error-rate (blue)"), new side first."""
    if sides is None:
        return dict(gates)
    expanded: dict[str, Gate] = {}
    for name, gate in gates.items():
        if METRICS[gate.metric].part != "load" or gate.side is not None:
            expanded[name] = gate
            continue
        for side in (sides.new, sides.old):
            expanded[f"{name} ({side})"] = gate.model_copy(update={"side": side})
    return expanded


def _steady_rows(data: RunData, which: str) -> tuple[pd.DataFrame, Window] | str:
    window = load_window(data, which)
    if isinstance(window, str):
        return window
    requests = data.requests
    if requests is None:
        return "no requests were recorded"
    return in_window(requests, "start", window), window


def measure_canary(gate: Gate, data: RunData) -> Measurement | None:
    """`canary.*` gates: consistency from canary/consistency.json, comparisons from the requests."""
    spec = METRICS[gate.metric]
    stat = gate.statistic
    if gate.metric == "canary.consistency_mismatches":
        return _consistency(gate, data)
    sides = canary_sides(data)
    if sides is None or data.requests is None:
        return None  # not a canary run: nothing to compare
    steady = _steady_rows(data, gate.window)
    if isinstance(steady, str):
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts={"empty_reason": steady})
    rows, window = steady
    facts = load_facts(data, window)
    facts.update(new_side=sides.new, old_side=sides.old)
    new, old = rows[rows["side"] == sides.new], rows[rows["side"] == sides.old]
    span = (window.start, window.end)
    n = min(len(new), len(old))
    if n == 0:
        missing = sides.new if not len(new) else sides.old
        facts["empty_reason"] = f"no requests to side {missing} in the window"
        return Measurement(gate.metric, stat, spec.unit, None, 0, None, span, facts)

    confidence = confidence_of(data, "load")
    if confidence != CONFIDENCE:
        facts["confidence"] = confidence
    t_new, t_old = new["start"].to_numpy(dtype=float), old["start"].to_numpy(dtype=float)
    if gate.metric == "canary.error_rate_diff":
        flags_new, flags_old = failed_mask(new).to_numpy(dtype=float), failed_mask(old).to_numpy(dtype=float)
        fails_new, fails_old = int(flags_new.sum()), int(flags_old.sum())
        rate_new, rate_old = fails_new / len(new), fails_old / len(old)
        iid = difference_ci(
            rate_new,
            wilson_ci(fails_new, len(new), confidence),
            rate_old,
            wilson_ci(fails_old, len(old), confidence),
        )
        facts.update(
            {f"error_rate_{sides.new}": rate_new, f"error_rate_{sides.old}": rate_old, "failures": fails_new}
        )
        # time batches hold both sides (users alternate), so a batch's difference is paired
        interval = paired_difference(
            (t_new, flags_new), (t_old, flags_old), rate_new - rate_old, span, confidence
        )
        if interval.ci is not None and iid is not None:
            # rare failures: few or no batches differ, so keep Newcombe's bound (no failures on either
            # side is not a difference known to be exactly zero)
            low, high = interval.ci
            interval = Interval((min(low, iid[0]), max(high, iid[1])), interval.batching)
        return dependent(
            gate, spec.unit, rate_new - rate_old, n, interval, iid, facts, span,
            lambda got: _paired_batches(got, (t_new, flags_new), (t_old, flags_old), np.mean),
        )  # fmt: skip

    latency_new = new["latency_ms"].to_numpy(dtype=float)
    latency_old = old["latency_ms"].to_numpy(dtype=float)
    if gate.metric == "canary.slower_share":
        share, p_value = mann_whitney(latency_new, latency_old)
        facts["mann_whitney_p"] = p_value
        return Measurement(gate.metric, stat, spec.unit, share, n, None, span, facts)

    q = int(stat.removeprefix("p")) / 100
    value_new, value_old = percentile(latency_new, q), percentile(latency_old, q)
    facts.update({f"{stat}_{sides.new}_ms": value_new, f"{stat}_{sides.old}_ms": value_old})
    facts["min_samples"] = min_samples_for_percentile(q)
    ci_new, ci_old = percentile_ci(latency_new, q, confidence), percentile_ci(latency_old, q, confidence)
    iid = difference_ci(value_new, ci_new, value_old, ci_old)
    if iid is None:
        return Measurement(gate.metric, stat, spec.unit, value_new - value_old, n, None, span, facts)
    (_, scores_new), (_, scores_old) = quantile_scores(latency_new, q), quantile_scores(latency_old, q)
    interval = paired_difference(
        (t_new, scores_new), (t_old, scores_old), value_new - value_old, span, confidence
    )
    return dependent(
        gate, spec.unit, value_new - value_old, n, interval, iid, facts, span,
        lambda got: _paired_batches(
            got, (t_new, latency_new), (t_old, latency_old), lambda chunk: percentile(chunk, q)
        ),
    )  # fmt: skip


def _paired_batches(
    interval: Interval,
    new: tuple[np.ndarray, np.ndarray],
    old: tuple[np.ndarray, np.ndarray],
    statistic: Callable[[np.ndarray], float],
) -> np.ndarray:
    """Per batch: the statistic on the new side minus on the old side (the plotted points)."""
    assert interval.batching is not None
    return per_batch(*new, interval.batching, statistic) - per_batch(*old, interval.batching, statistic)


def _consistency(gate: Gate, data: RunData) -> Measurement | None:
    spec = METRICS[gate.metric]
    record = data.evidence.get("consistency.json")
    if record is None:
        return None
    jobs = record.get("jobs") or []
    checked = int(record.get("checked", len(jobs)))
    mismatched = [job for job in jobs if job.get("mismatch")]
    facts: dict[str, Fact] = {"checked": checked, "mismatches": len(mismatched)}
    if checked == 0:
        facts["empty_reason"] = "no payload was compared on both sides"
        return Measurement(gate.metric, gate.statistic, spec.unit, None, 0, facts=facts)
    if mismatched:
        first = mismatched[0]
        facts["first_failure"] = f"payload {first.get('payload')}: {first.get('reason') or 'results differ'}"
    count = float(len(mismatched))
    return Measurement(gate.metric, gate.statistic, spec.unit, count, checked, None, None, facts)


def comparison_table(data: RunData, which: str = "steady") -> pd.DataFrame:
    """Side by side over the steady window, new side first, then the difference (new - old)."""
    split = _steady_sides(data, which)
    if split is None:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    sides, by_side = split
    table: list[dict[str, Any]] = []
    for side, of_side in by_side.items():
        latencies = of_side["latency_ms"].to_numpy(dtype=float)
        failures, count = int(failed_mask(of_side).sum()), len(of_side)
        table.append(
            {
                "side": f"{side} ({'new' if side == sides.new else 'old'})",
                "requests": count,
                "failures": failures,
                "error_rate": failures / count if count else np.nan,
                "error_rate_ci": wilson_ci(failures, count),
                "p50_ms": percentile(latencies, 0.5) if count else np.nan,
                "p95_ms": percentile(latencies, 0.95) if count else np.nan,
                "p95_ci": percentile_ci(latencies, 0.95) if count else None,
                "p99_ms": percentile(latencies, 0.99) if count else np.nan,
            }
        )
    new, old = table
    if new["requests"] and old["requests"]:
        table.append(
            {
                "side": f"difference ({sides.new} - {sides.old})",
                "requests": None,
                "failures": None,
                "error_rate": new["error_rate"] - old["error_rate"],
                "error_rate_ci": difference_ci(
                    new["error_rate"], new["error_rate_ci"], old["error_rate"], old["error_rate_ci"]
                ),
                "p50_ms": new["p50_ms"] - old["p50_ms"],
                "p95_ms": new["p95_ms"] - old["p95_ms"],
                "p95_ci": difference_ci(new["p95_ms"], new["p95_ci"], old["p95_ms"], old["p95_ci"]),
                "p99_ms": new["p99_ms"] - old["p99_ms"],
            }
        )
    return pd.DataFrame(table, columns=COMPARISON_COLUMNS)


def latency_shift(data: RunData, which: str = "steady") -> tuple[float, float] | None:
    """Mann-Whitney over the steady window: P(new slower than old) and the p-value."""
    split = _steady_sides(data, which)
    if split is None:
        return None
    sides, by_side = split
    new, old = (by_side[side]["latency_ms"].to_numpy(dtype=float) for side in (sides.new, sides.old))
    return mann_whitney(new, old) if len(new) and len(old) else None


def _steady_sides(data: RunData, which: str) -> tuple[Sides, dict[str, pd.DataFrame]] | None:
    """Each side's requests in the window, new side first; None when not a canary run or no window."""
    sides = canary_sides(data)
    steady = _steady_rows(data, which) if sides is not None else "not a canary run"
    if sides is None or isinstance(steady, str):
        return None
    rows, _ = steady
    return sides, {side: rows[rows["side"] == side] for side in (sides.new, sides.old)}

"""Metrics: turn a run's raw samples into the Measurement a gate names. Numbers only, no verdicts.

Every value comes from the harness's own samples (never Locust's rounded percentiles). Facts that
the judge needs to decide whether to trust a value (generator CPU, host saturation, window coverage)
are recorded next to it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.config import Gate
from harness.registry import METRICS
from reports.batching import (
    Interval,
    batch_rates,
    grouped_interval,
    mean_interval,
    per_batch,
    quantile_interval,
    quantiles_at,
    rate_interval,
    trend_p,
)
from reports.model import BatchSeries, Fact, Measurement
from reports.rundata import RunData
from reports.stats import (
    CONFIDENCE,
    mean_ci,
    min_samples_for_percentile,
    percentile,
    percentile_ci,
    rule_of_three,
    wilson_ci,
)

PIPELINE_BATCHED_FROM = 24  # jobs: two of the batching's minimum 12 batches
LONG_FRAME_MS = 25.0  # headless Chromium paces frames at 16.7 ms; one missed vsync is jitter, two is not


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    planned_end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def coverage(self) -> float:
        planned = self.planned_end - self.start
        return 1.0 if planned <= 0 else min(1.0, self.seconds / planned)


def confidence_of(data: RunData, part: str) -> float:
    """The confidence a part's intervals use: 95%, or less error per look for --until-decided."""
    value = data.part(part).get("confidence")
    return float(value) if isinstance(value, int | float) else CONFIDENCE


def dependent(
    gate: Gate,
    unit: str,
    value: float,
    n: int,
    interval: Interval,
    iid: tuple[float, float] | None,
    facts: dict[str, Fact],
    window: tuple[float, float] | None,
    batch_values: Callable[[Interval], np.ndarray] | None = None,
    axis: str = "s",
) -> Measurement:
    """A Measurement from a dependence-aware interval, noting the batching and the independent one.

    No interval (too few batches, samples alike for too long): ci None with the reason, which the
    judge turns into INCONCLUSIVE (never a PASS on the point estimate), or FAIL when even the
    independent interval is beyond the limit.
    """
    if iid is not None:
        facts["iid_ci_low"], facts["iid_ci_high"] = iid
    batching = interval.batching
    if interval.ci is None:
        facts["no_interval_reason"] = interval.reason or "no interval"
    if batching is None:
        return Measurement(gate.metric, gate.statistic, unit, value, n, None, window, facts)
    # declined or not, the batches show why (a declined one: the coarsest batching tried)
    facts.update(batches=batching.count, batch_length=batching.length, batch_lag1=round(batching.lag1, 4))
    if (trend := trend_p(batching)) is not None:
        facts["trend_p"] = trend
    series = None
    if batch_values is not None:
        values = batch_values(interval)
        origin = window[0] if window and axis == "s" else 0.0
        starts = batching.edges()[:-1] - origin
        points = tuple(None if math.isnan(point) else point for point in values.tolist())
        series = BatchSeries(tuple(starts.tolist()), points, batching.length, axis)
    return Measurement(
        gate.metric, gate.statistic, unit, value, n, interval.ci, window, facts, "", interval.n_eff(n), series
    )


def percentile_measurement(
    gate: Gate,
    unit: str,
    values: np.ndarray,
    facts: dict[str, Fact],
    window: tuple[float, float] | None = None,
    *,
    times: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    confidence: float = CONFIDENCE,
    unit_step: float = 0.1,
    axis: str = "s",
    batch_window: tuple[float, float] | None = None,
) -> Measurement:
    """A `pNN` statistic: dependence-aware when the samples' `times` (or independent `groups`) are
    known, else the order-statistic interval; notes the sample size the interval needs."""
    q = int(gate.statistic.removeprefix("p")) / 100
    facts["min_samples"] = min_samples_for_percentile(q)
    value = percentile(values, q)
    iid = percentile_ci(values, q, confidence)
    n = len(values)
    if iid is None or (times is None and groups is None):
        return Measurement(gate.metric, gate.statistic, unit, value, n, iid, window, facts)
    if groups is not None:
        spread = grouped_interval(groups, (values <= value).astype(float), q, confidence)
        if isinstance(spread, str):  # a smoke run of one or two pages: say the interval is optimistic
            facts["dependence"] = f"not checked: {spread}; this interval treats frames as independent"
            return Measurement(gate.metric, gate.statistic, unit, value, n, iid, window, facts)
        low, high = quantiles_at(values, q, (spread[1] - spread[0]) / 2)
        facts["iid_ci_low"], facts["iid_ci_high"] = iid
        ci = (min(low, iid[0]), max(high, iid[1]))
        return Measurement(gate.metric, gate.statistic, unit, value, n, ci, window, facts)
    assert times is not None
    span = batch_window or window or (float(times.min()), float(times.max()))
    interval = quantile_interval(times, values, q, span, confidence, iid, unit_step)
    return dependent(
        gate, unit, value, n, interval, iid, facts, window,
        lambda got: per_batch(times, values, got.batching, lambda chunk: percentile(chunk, q)),  # type: ignore[arg-type]
        axis,
    )  # fmt: skip


def load_window(data: RunData, which: str) -> Window | str:
    """The time span a load gate is judged on, or why there is none.

    `steady` starts once every user runs (Locust's spawning_complete) plus the configured settle
    time, so ramp-up latencies never count.
    """
    events = data.load_events or {}
    requests = data.requests
    part = data.part("load")
    start = events.get("test_start")
    if start is None and requests is not None and len(requests):
        start = float(requests["start"].min())
    if start is None:
        return "the load test never started"
    end = events.get("test_stop")
    if end is None:
        end = float(requests["start"].max()) if requests is not None and len(requests) else start
    planned_end = start + float(part.get("duration_s", end - start))
    if part.get("until_decided"):
        # a run that lasts until decided is judged up to its look, at the look and in the report alike
        # (not the seconds Locust took to stop after it)
        end = min(end, planned_end)
    if which == "steady":
        spawned = events.get("spawning_complete")
        if spawned is None:
            return "not every user started (Locust never reported spawning complete)"
        start = float(spawned) + float(part.get("settle_s", 0.0))
        if start >= end:
            return "the run ended before the steady window began (ramp-up plus settle took it all)"
    return Window(float(start), float(end), float(planned_end))


def in_window(frame: pd.DataFrame, column: str, window: Window) -> pd.DataFrame:
    return frame[(frame[column] >= window.start) & (frame[column] <= window.end)]


def load_facts(data: RunData, window: Window) -> dict[str, Fact]:
    facts: dict[str, Fact] = {
        "window_s": round(window.seconds, 3),
        "window_coverage": round(window.coverage, 4),
        "run_status": data.meta.get("status"),
    }
    if data.host is not None and len(data.host):
        host = in_window(data.host, "time", window)
        # a CPU sample is the share over the interval ending at its time: keep only intervals that
        # began inside the window (the first one also holds Locust's start-up imports, ~100% of a core)
        everything = data.host[data.host["process"].str.startswith("locust")].sort_values("time")
        began = everything.groupby("process")["time"].shift()
        generator = everything[(began >= window.start) & (everything["time"] <= window.end)]
        if len(generator):
            facts["generator_cpu_max"] = float(generator["cpu"].max())
            facts["generator_cpu_mean"] = float(generator.groupby("process")["cpu"].mean().max())
        machine = host[host["process"] == "host"]
        if len(machine) and "cpu_unniced" in machine:
            facts["host_busy_p90"] = float(np.quantile(machine["cpu_unniced"].dropna(), 0.9))
    if data.unreadable:
        facts["unreadable_chunks"] = len(data.unreadable)
    return facts


def failed_mask(frame: pd.DataFrame) -> pd.Series:
    """A request failed when it got no answer, an error status, or Locust marked it failed."""
    return frame["error"].notna() | (frame["status"] == 0) | (frame["status"] >= 400)


def _measure_load(gate: Gate, data: RunData) -> Measurement | None:
    if data.requests is None and data.load_events is None:
        return None  # the load part did not run
    spec = METRICS[gate.metric]
    stat = gate.statistic
    window = load_window(data, gate.window)
    if isinstance(window, str):
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts={"empty_reason": window})
    facts = load_facts(data, window)
    if gate.metric == "load.generator_cpu":
        value = facts.get("generator_cpu_max" if stat == "max" else "generator_cpu_mean")
        if not isinstance(value, float):
            facts["empty_reason"] = "no CPU samples of the load generator"
            return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)
        facts.pop("generator_cpu_max", None)  # judged on its own value, not as a trust fact
        return Measurement(gate.metric, stat, spec.unit, value, 1, None, (window.start, window.end), facts)

    requests = data.requests if data.requests is not None else pd.DataFrame(columns=["start"])
    rows = in_window(requests, "start", window)
    if gate.request is not None:
        rows = rows[rows["name"] == gate.request]
    if gate.side is not None:
        rows = rows[rows["side"] == gate.side]
    n = len(rows)
    span = (window.start, window.end)
    if n == 0:
        facts["empty_reason"] = (
            "no requests in the window"
            + (f" named {gate.request!r}" if gate.request else "")
            + (f" to side {gate.side}" if gate.side else "")
        )
        return Measurement(gate.metric, stat, spec.unit, None, 0, None, span, facts)

    confidence = confidence_of(data, "load")
    if confidence != CONFIDENCE:
        facts["confidence"] = confidence
    times = rows["start"].to_numpy(dtype=float)
    if gate.metric == "load.error_rate":
        flags = failed_mask(rows).to_numpy(dtype=float)
        failures = int(flags.sum())
        facts["failures"] = failures
        iid = wilson_ci(failures, n, confidence)
        interval = mean_interval(times, flags, span, confidence, iid, bounds=(0.0, 1.0))
        return dependent(
            gate, spec.unit, failures / n, n, interval, iid, facts, span,
            lambda got: per_batch(times, flags, got.batching, np.mean),  # type: ignore[arg-type]
        )  # fmt: skip
    if gate.metric == "load.throughput_rps":
        seconds = window.seconds or 1.0
        interval = rate_interval(times, span, confidence)

        return dependent(
            gate, spec.unit, n / seconds, n, interval, None, facts, span,
            lambda got: batch_rates(times, got.batching),  # type: ignore[arg-type]
        )  # fmt: skip
    latencies = rows["latency_ms"].to_numpy(dtype=float)
    if stat == "mean":
        iid = mean_ci(latencies, confidence)
        interval = mean_interval(times, latencies, span, confidence, iid, bounds=(0.0, math.inf))
        return dependent(
            gate, spec.unit, float(latencies.mean()), n, interval, iid, facts, span,
            lambda got: per_batch(times, latencies, got.batching, np.mean),  # type: ignore[arg-type]
        )  # fmt: skip
    if stat == "max":
        return Measurement(gate.metric, stat, spec.unit, float(latencies.max()), n, None, span, facts)
    return percentile_measurement(gate, spec.unit, latencies, facts, span, times=times, confidence=confidence)


def console_table(data: RunData, limit: int = 20) -> pd.DataFrame:
    """The page's console errors grouped by normalised text, most frequent first (counted before
    ignored): text, type, count, ignored, repeats, phases. Page text: renderers escape it."""
    columns = ["text", "type", "count", "ignored", "repeats", "phases"]
    raw = data.page_errors
    if isinstance(raw, list):  # runs before grouping: one entry per message, every one counted
        frame = pd.DataFrame(raw, columns=["repeat", "phase", "type", "text"])
        if not len(frame):
            return pd.DataFrame(columns=columns)
        frame["text"] = frame["text"].astype(str).str.split("\n").str[0].str.slice(0, 300)
        grouped = frame.groupby(["text", "type"], sort=False)
        groups = [
            {"text": text, "type": kind, "count": len(rows), "ignored": False,
             "repeats": sorted(set(rows["repeat"])), "phases": list(dict.fromkeys(rows["phase"]))}
            for (text, kind), rows in grouped
        ]  # fmt: skip
    else:
        groups = list((raw or {}).get("groups") or [])
    table = pd.DataFrame([{key: group.get(key) for key in columns} for group in groups], columns=columns)
    if not len(table):
        return table
    table = table.sort_values(["ignored", "count"], ascending=[True, False], kind="stable")
    return table.head(limit).reset_index(drop=True)


def _top_console(data: RunData, shown: int = 2) -> str | None:
    """The most frequent counted messages in one line, for a browser gate's reason."""
    table = console_table(data)
    counted = table[~table["ignored"].astype(bool)] if len(table) else table
    if not len(counted):
        return None
    return "; ".join(
        f'{row["count"]}x "{str(row["text"])[:120]}"' for _, row in counted.head(shown).iterrows()
    )


def _browser_facts(interactions: pd.DataFrame, frames: pd.DataFrame) -> dict[str, Fact]:
    rendered = interactions.groupby("repeat")["rendered"].all()
    ignored = interactions.get("page_errors_ignored")  # absent in runs before ignore_console
    facts: dict[str, Fact] = {
        "repeats": int(rendered.size),
        "rendered": bool(rendered.all()) if rendered.size else False,
        "frames_drawn": len(frames),
        "redraws": int(interactions["redraws"].fillna(0).sum()),
        # console errors are a finding about the page, shown beside the verdict, never distrust
        "page_errors": int(interactions["page_errors"].fillna(0).sum()),
        "page_errors_ignored": int(ignored.fillna(0).sum()) if ignored is not None else 0,
    }
    if not facts["rendered"]:
        errors = interactions.loc[~interactions["rendered"].astype(bool), "error"].dropna()
        why = f": {errors.iloc[0]}" if len(errors) else ""
        facts["empty_reason"] = (
            f"the alignment never rendered in {int((~rendered).sum())} of {rendered.size} repeats{why}"
        )
    elif not len(frames):
        facts["empty_reason"] = "the view drew no frames while it was driven"
    return facts


def _measure_browser(gate: Gate, data: RunData) -> Measurement | None:
    if data.interactions is None:
        return None  # the browser part did not run
    spec = METRICS[gate.metric]
    stat = gate.statistic
    interactions = data.interactions
    frames = (
        data.frames
        if data.frames is not None
        else pd.DataFrame(columns=["repeat", "interaction", "frame_ms"])
    )
    if gate.interaction is not None:
        interactions = interactions[interactions["interaction"] == gate.interaction]
        frames = frames[frames["interaction"] == gate.interaction]
    facts = _browser_facts(interactions, frames)
    if facts["page_errors"] and (top := _top_console(data)):
        facts["page_errors_top"] = top
    if gate.metric == "browser.page_errors":
        return _page_errors(gate, interactions, facts)
    if not facts["rendered"] or not len(frames):
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)

    confidence = confidence_of(data, "browser")  # below 95% per look with --until-decided
    if confidence != CONFIDENCE:
        facts["confidence"] = confidence
    per_repeat = interactions.groupby("repeat")[["frames", "redraws", "duration_ms"]].sum()
    per_repeat = per_repeat[per_repeat["duration_ms"] > 0]
    if gate.metric in ("browser.fps_mean", "browser.redraw_rate"):
        column = "frames" if gate.metric == "browser.fps_mean" else "redraws"
        rates = (per_repeat[column] / per_repeat["duration_ms"] * 1000).to_numpy(dtype=float)
        ci = mean_ci(rates, confidence)
        return Measurement(gate.metric, stat, spec.unit, float(rates.mean()), len(rates), ci, None, facts)
    durations = frames["frame_ms"].to_numpy(dtype=float)
    if gate.metric == "browser.long_frame_share":
        long_flags = (durations > LONG_FRAME_MS).astype(float)
        long_frames = int(long_flags.sum())
        facts["long_frames"] = long_frames
        share = long_frames / len(durations)
        # frames of one page are alike; fresh pages (repeats) are the independent units
        iid = wilson_ci(long_frames, len(durations), confidence)
        spread = grouped_interval(frames["repeat"].to_numpy(), long_flags, share, confidence)
        if isinstance(spread, str):  # a smoke run of one or two pages: say the interval is optimistic
            facts["dependence"] = f"not checked: {spread}; this interval treats frames as independent"
            ci = iid
        else:
            ci = (max(0.0, min(spread[0], iid[0])), min(1.0, max(spread[1], iid[1]))) if iid else spread
        return Measurement(gate.metric, stat, spec.unit, share, len(durations), ci, None, facts)
    return percentile_measurement(
        gate, spec.unit, durations, facts, groups=frames["repeat"].to_numpy(), confidence=confidence
    )


def _page_errors(gate: Gate, interactions: pd.DataFrame, facts: dict[str, Fact]) -> Measurement:
    """Counted page errors, an exact count per repeat (no interval): the run's total or the worst
    repeat's. Frames do not matter here; a page that never rendered was not driven, so the judge
    distrusts its count (facts `rendered`)."""
    spec = METRICS[gate.metric]
    facts = {key: value for key, value in facts.items() if key not in ("frames_drawn", "redraws")}
    per_repeat = interactions["page_errors"].fillna(0).groupby(interactions["repeat"]).sum()
    if not len(per_repeat):
        facts["empty_reason"] = "no repeat of the browser part was recorded"
        return Measurement(gate.metric, gate.statistic, spec.unit, None, 0, facts=facts)
    value = per_repeat.max() if gate.statistic == "max_per_repeat" else per_repeat.sum()
    return Measurement(
        gate.metric, gate.statistic, spec.unit, float(value), len(per_repeat), None, None, facts
    )


def running_streak(success: pd.Series) -> list[int]:
    """Successes in a row after each job (in job order)."""
    streak, current = [], 0
    for ok in success.astype(bool):
        current = current + 1 if ok else 0
        streak.append(current)
    return streak


def streaks(success: pd.Series) -> tuple[int, int]:
    """Longest run of successes, and the run still going at the end."""
    streak = running_streak(success)
    return (max(streak), streak[-1]) if streak else (0, 0)


def _measure_pipeline(gate: Gate, data: RunData) -> Measurement | None:
    if data.jobs is None:
        return None  # the pipeline part did not run
    spec = METRICS[gate.metric]
    stat = gate.statistic
    jobs = data.jobs.sort_values("seq")
    n = len(jobs)
    failures = jobs[~jobs["success"].astype(bool)]
    facts: dict[str, Fact] = {
        "jobs": n,
        "failures": len(failures),
        "run_status": data.meta.get("status"),
        "planned_jobs": data.part("pipeline").get("jobs"),
        "all_failed": n > 0 and len(failures) == n,
    }
    if "rejected" in jobs:  # runs before the column existed have none
        facts["rejected_sequences"] = int(jobs["rejected"].fillna(0).sum())
        facts["jobs_with_rejections"] = int((jobs["rejected"].fillna(0) > 0).sum())
    if len(failures):
        first = failures.iloc[0]
        facts["first_failure"] = (
            f"job {int(first['seq'])} ({first['job_id']}): {first['error'] or 'checks failed'}"
        )
    if n == 0:
        facts["empty_reason"] = "no pipeline job ran"
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)
    if gate.metric == "pipeline.consecutive_successes":
        longest, final = streaks(jobs["success"])
        return Measurement(
            gate.metric, stat, spec.unit, float(longest if stat == "longest" else final), n, None, None, facts
        )
    if gate.metric == "pipeline.success_ratio":
        successes = n - len(failures)
        if not len(failures):
            facts["failure_rate_upper_95"] = rule_of_three(n)
        iid = wilson_ci(successes, n)
        if n < PIPELINE_BATCHED_FROM:
            facts["dependence"] = f"not checked: {n} jobs (batching needs {PIPELINE_BATCHED_FROM})"
            return Measurement(gate.metric, stat, spec.unit, successes / n, n, iid, None, facts)
        # failures of consecutive jobs come in runs when the target has a bad spell: batch in job order
        order = jobs["seq"].to_numpy(dtype=float)
        ok = jobs["success"].astype(bool).to_numpy(dtype=float)
        jobs_span = (float(order.min()), float(order.max()) + 1)
        interval = mean_interval(order, ok, jobs_span, CONFIDENCE, iid, 1.0, (0.0, 1.0))
        return dependent(
            gate, spec.unit, successes / n, n, interval, iid, facts, None,
            lambda got: per_batch(order, ok, got.batching, np.mean), "job",  # type: ignore[arg-type]
        )  # fmt: skip
    if gate.metric == "pipeline.sfn_executions_succeeded":
        executed = jobs[jobs["execution_arn"].notna()] if "execution_arn" in jobs else jobs.iloc[0:0]
        if not len(executed):
            facts["empty_reason"] = "no job ran through Step Functions (driver api)"
            return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)
        succeeded = int((executed["status"] == "completed").sum())
        return Measurement(gate.metric, stat, spec.unit, float(succeeded), len(executed), None, None, facts)
    column = f"stage_{stat}_s" if gate.metric == "pipeline.stage_mean_s" else "duration_s"
    if column not in jobs:
        facts["empty_reason"] = f"no {column} column in jobs.parquet"
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)
    timed = jobs.loc[jobs["success"].astype(bool), ["seq", column]].dropna()
    durations = timed[column].to_numpy(dtype=float)
    if not len(durations):
        facts["empty_reason"] = f"no successful job has {column} (the driver or target gave no such time)"
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts=facts)
    # consecutive jobs may be alike (a warm cache, a queue): batch them in job order like requests in
    # time, once there are enough for the batching to see it; fewer keep the independent interval
    order = timed["seq"].to_numpy(dtype=float)
    checked = len(durations) >= PIPELINE_BATCHED_FROM
    if not checked:
        facts["dependence"] = f"not checked: {len(durations)} jobs (batching needs {PIPELINE_BATCHED_FROM})"
    span = (float(order.min()), float(order.max()) + 1)
    if stat == "mean" or gate.metric == "pipeline.stage_mean_s":
        iid = mean_ci(durations)
        if not checked:
            return Measurement(gate.metric, stat, spec.unit, float(durations.mean()), len(durations), iid,
                               None, facts)  # fmt: skip
        interval = mean_interval(order, durations, span, CONFIDENCE, iid, 1.0, (0.0, math.inf))
        return dependent(
            gate, spec.unit, float(durations.mean()), len(durations), interval, iid, facts, None,
            lambda got: per_batch(order, durations, got.batching, np.mean), "job",  # type: ignore[arg-type]
        )  # fmt: skip
    if not checked:
        return percentile_measurement(gate, spec.unit, durations, facts)
    return percentile_measurement(
        gate, spec.unit, durations, facts, None, times=order, unit_step=1.0, axis="job", batch_window=span
    )


_SOURCE_OF = {
    "cost": "cost",
    "cloudwatch": "cloudwatch",
    "e2e": "e2e",
    "deploy": "smoke",
}


def _measure_sources(gate: Gate, data: RunData) -> Measurement | None:
    """Evidence gates. Cost compares the run's period with its own baseline period (see `own_baseline`)."""
    spec = METRICS[gate.metric]
    stat = gate.statistic
    source = _SOURCE_OF[gate.metric.split(".")[0]]
    how = data.part("sources").get(source)
    if how is None:
        return None  # this source was not asked for in this run
    if how.get("status") == "failed":
        reason = f"collecting {source} failed: {how.get('error', 'no reason recorded')}"
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts={"empty_reason": reason})
    evidence = data.evidence

    def empty(reason: str) -> Measurement:
        return Measurement(gate.metric, stat, spec.unit, None, 0, facts={"empty_reason": reason})

    if gate.metric == "cost.monthly_usd":
        totals = (evidence.get("cost.json") or {}).get("period")
        if totals is None:
            return empty("no Cost Explorer total for the period")
        if not totals.get("complete", False):
            return Measurement(gate.metric, stat, spec.unit, None, 0, facts={
                "pending": True,
                "pending_reason": "the cost period is not complete yet (Cost Explorer lags up to a day)",
            })  # fmt: skip
        return Measurement(
            gate.metric, stat, spec.unit, float(totals["total_usd"]), int(totals.get("days", 1))
        )
    if gate.metric.startswith("cloudwatch."):
        frame = evidence.get("cloudwatch")
        if frame is None or not len(frame):
            return empty("CloudWatch returned no data points for the window")

        def series(query_id: str) -> pd.Series:
            return frame.loc[frame["query_id"] == query_id, "value"].astype(float)

        if gate.metric == "cloudwatch.api_latency_ms":
            values = series("alb_latency_p95") * 1000  # ALB TargetResponseTime is in seconds
            if not len(values):
                return empty("no ALB TargetResponseTime p95 data points")
            # a window's p95 cannot be rebuilt from per-period p95s: judge the worst period
            return Measurement(gate.metric, stat, spec.unit, float(values.max()), len(values),
                               facts={"periods": len(values), "note": "worst period's p95"})  # fmt: skip
        if gate.metric == "cloudwatch.error_rate":
            errors, requests = int(series("alb_5xx").sum()), int(series("alb_requests").sum())
            if requests == 0:
                return empty("no ALB RequestCount in the window")
            return Measurement(
                gate.metric, stat, spec.unit, errors / requests, requests, wilson_ci(errors, requests)
            )
        values = series("sfn_time_mean") / 1000  # Step Functions ExecutionTime is in milliseconds
        if not len(values):
            return empty("no Step Functions ExecutionTime data points")
        return Measurement(
            gate.metric, stat, spec.unit, float(values.mean()), len(values), mean_ci(values.to_numpy())
        )
    if gate.metric == "e2e.pass_rate":
        cases = evidence.get("e2e")
        if cases is None or not len(cases):
            return empty("no E2E test cases were read")
        counted = cases[cases["outcome"] != "skipped"]
        passed = int((counted["outcome"] == "passed").sum())
        failing = counted.loc[counted["outcome"] != "passed", "name"].astype(str).head(5).tolist()
        facts: dict[str, Fact] = {"skipped": len(cases) - len(counted)}
        if failing:
            facts["first_failure"] = ", ".join(failing)
        # every test case ran: an exact count, not a sample, so no interval
        return Measurement(gate.metric, stat, spec.unit, passed / len(counted) if len(counted) else None,
                           len(counted), None, None, facts)  # fmt: skip
    checks = (evidence.get("smoke.json") or {}).get("checks", {})
    check = checks.get("web" if gate.metric == "deploy.web_up" else "api")
    if check is None:
        return empty("no deploy smoke check recorded")
    facts = {"url": check.get("url"), "status": check.get("status"), "error": check.get("error")}
    return Measurement(gate.metric, stat, spec.unit, 1.0 if check.get("ok") else 0.0, 1, None, None, facts)


@dataclass(frozen=True)
class Gap:
    """One route's stretch between successful answers, as far as the probes saw it.

    A gap open at an edge of the run is censored: the outage began before the first probe or was
    still on after the last one, so its true length is unknown and `seconds` is only a lower bound.
    """

    kind: str
    start: float  # epoch s: the last success before it, or the route's first probe (open_start)
    end: float  # epoch s: the first success after it, or the route's last probe (open_end)
    open_start: bool  # failures from the route's first probe: it may have begun before the run
    open_end: bool  # no success after it: still open when the run ended

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def censored(self) -> bool:
        return self.open_start or self.open_end

    @property
    def why_censored(self) -> str:
        if self.open_end:
            never = " (no successful answer at all)" if self.open_start else ""
            return f"gap still open at the end of the run{never}"
        return "gap already open when the probe began (failures before the first success)"


def probe_gaps(probes: pd.DataFrame) -> list[Gap]:
    """Every gap between successful answers per route, with the run's edges as censored gaps."""
    gaps: list[Gap] = []
    for kind, group in probes.sort_values("t", kind="stable").groupby("kind", sort=True):
        times = group["t"].to_numpy(dtype=float)
        ok = group["ok"].to_numpy(dtype=bool)
        ok_times = times[ok]
        name = str(kind)
        if not len(ok_times):
            gaps.append(Gap(name, times[0], times[-1], open_start=True, open_end=True))
            continue
        if not ok[0]:
            gaps.append(Gap(name, times[0], ok_times[0], open_start=True, open_end=False))
        gaps += [Gap(name, a, b, False, False) for a, b in itertools.pairwise(ok_times)]
        if not ok[-1]:
            gaps.append(Gap(name, ok_times[-1], times[-1], open_start=False, open_end=True))
    return gaps


def longest_gap_s(probes: pd.DataFrame) -> float:
    """Longest time any probed route went without a successful answer (a lower bound when censored)."""
    return max((gap.seconds for gap in probe_gaps(probes)), default=0.0)


def _measure_probe(gate: Gate, data: RunData) -> Measurement | None:
    if data.probes is None:
        return None  # no prober ran
    spec = METRICS[gate.metric]
    probes = data.probes
    n = len(probes)
    if n == 0:
        return Measurement(
            gate.metric, gate.statistic, spec.unit, None, 0, facts={"empty_reason": "no probes"}
        )
    failed = probes[~probes["ok"].astype(bool)]
    origin = float(probes["t"].min())
    facts: dict[str, Fact] = {
        "probes": n,
        "failed": len(failed),
        "span_s": float(probes["t"].max() - origin),
    }
    if len(failed):
        first = failed.iloc[0]
        offset = first["t"] - origin
        detail = f"status {first['status']} {first['error'] or ''}".strip()
        facts["first_failure"] = f"{first['kind']} at +{offset:.1f} s: {detail}"
    if gate.metric == "probe.failed":
        return Measurement(gate.metric, gate.statistic, spec.unit, float(len(failed)), n, None, None, facts)
    gaps = probe_gaps(probes)
    longest = max((gap.seconds for gap in gaps), default=0.0)
    censored = [gap for gap in gaps if gap.censored]
    if not censored:
        return Measurement(gate.metric, gate.statistic, spec.unit, longest, n, None, None, facts)
    # the longest gap is at least `longest` and, since a censored gap has no known end, at most inf:
    # the judge reads that interval and a censored lower bound can never pass an upper limit
    open_gap = max(censored, key=lambda gap: gap.seconds)
    facts["censored"] = open_gap.why_censored
    facts["censored_gap_s"] = open_gap.seconds
    facts["censored_gap"] = f"{open_gap.kind} from +{open_gap.start - origin:.1f} s"
    return Measurement(gate.metric, gate.statistic, spec.unit, longest, n, (longest, math.inf), None, facts)


def _measure_s3(gate: Gate, data: RunData) -> Measurement | None:
    diff = data.evidence.get("s3_diff.json")
    if diff is None:
        return None
    spec = METRICS[gate.metric]
    facts: dict[str, Fact] = {
        "missing": len(diff.get("missing", [])),
        "extra": len(diff.get("extra", [])),
        "different": len(diff.get("different", [])),
        "unverified": len(diff.get("unverified", [])),
    }
    for kind in ("missing", "extra"):
        if diff.get(kind):
            facts["first_failure"] = f"{kind}: {diff[kind][0]}"
            break
    else:
        if diff.get("different"):
            first = diff["different"][0]
            facts["first_failure"] = f"different ({first.get('reason')}): {first.get('key')}"
    count = float(facts["missing"] + facts["extra"] + facts["different"])  # type: ignore[operator]
    objects = int(diff.get("source_objects", 0)) + int(diff.get("dest_objects", 0))
    return Measurement(gate.metric, gate.statistic, spec.unit, count, max(objects, 1), None, None, facts)


def own_baseline(gate: Gate, data: RunData) -> Measurement | None:
    """Cost gates compare with the baseline period collected in the same run."""
    if gate.metric != "cost.monthly_usd":
        return None
    totals = (data.evidence.get("cost.json") or {}).get("baseline")
    if not totals or not totals.get("complete", False):
        return None
    spec = METRICS[gate.metric]
    return Measurement(
        gate.metric, gate.statistic, spec.unit, float(totals["total_usd"]), int(totals.get("days", 1))
    )


def _measure_canary(gate: Gate, data: RunData) -> Measurement | None:
    from reports.canary import measure_canary  # it builds on this module's load helpers

    return measure_canary(gate, data)


def _measure_watch(gate: Gate, data: RunData) -> Measurement | None:
    """Route 53 weights (canary/route53.json) against the expected step; None when no step was given."""
    spec = METRICS[gate.metric]
    how = data.part("watch").get("route53") or {}
    found = data.evidence.get("route53.json")

    def empty(reason: str) -> Measurement:
        return Measurement(gate.metric, gate.statistic, spec.unit, None, 0, facts={"empty_reason": reason})

    if how.get("status") == "failed":
        return empty(f"reading Route 53 failed: {how.get('error', 'no reason recorded')}")
    if found is None or found.get("expected_step_pct") is None:
        return None  # Route 53 not read, or no --step to compare with: SKIPPED
    if found.get("missing") or found.get("new_share_pct") is None:
        where = f"{found.get('record_type')} {found.get('record_name')} in zone {found.get('hosted_zone_id')}"
        return empty(f"Route 53 weighted records not found ({where}): {'; '.join(found.get('missing', []))}")
    new, share = str(found["new_side"]), float(found["new_share_pct"])
    step = float(found["expected_step_pct"])
    old = "green" if new == "blue" else "blue"
    weights, others = found.get("weights", {}), found.get("other_weights") or {}
    facts: dict[str, Fact] = {
        "new_side": new,
        f"{new}_weight": weights.get(new),
        f"{old}_weight": weights.get(old),
        "total_weight": found.get("total_weight"),
        "new_share_pct": share,
        "expected_step_pct": step,
    }
    off = round(abs(share - step), 2)  # weights summing to 100 give exact shares
    if off > 0:
        extra = f", others {others}" if others else ""
        facts["first_failure"] = (
            f"{new} (new side) has weight {weights.get(new)} = {share:g}% of traffic, {old} weight "
            f"{weights.get(old)}{extra}; the step expects {step:g}%"
        )
    return Measurement(gate.metric, gate.statistic, spec.unit, off, 1, None, None, facts)


_BY_PART: dict[str, Callable[[Gate, RunData], Measurement | None]] = {
    "load": _measure_load,
    "browser": _measure_browser,
    "pipeline": _measure_pipeline,
    "sources": _measure_sources,
    "probe": _measure_probe,
    "s3": _measure_s3,
    "canary": _measure_canary,
    "watch": _measure_watch,
}


def measure(gate: Gate, data: RunData) -> Measurement | None:
    """The measurement a gate asks for; None when its part did not run (the judge says SKIPPED).

    A part that failed to run leaves an empty measurement naming the failure (the judge: INVALID).
    """
    spec = METRICS[gate.metric]
    measurer = _BY_PART.get(spec.part)
    measured = measurer(gate, data) if measurer else None
    how = data.part(spec.part)
    own_reason = measured is not None and measured.facts.get("empty_reason")
    if how.get("status") == "failed" and (measured is None or measured.value is None) and not own_reason:
        reason = f"the {spec.part} part failed to run: {how.get('error', 'no reason recorded')}"
        return Measurement(gate.metric, gate.statistic, spec.unit, None, 0, facts={"empty_reason": reason})
    return measured


def error_table(data: RunData, limit: int = 20) -> pd.DataFrame:
    """The most frequent failures over the whole run: request name, status, error text, count."""
    columns = ["name", "status", "error", "count"]
    if data.requests is None or not len(data.requests):
        return pd.DataFrame(columns=columns)
    failed = data.requests[failed_mask(data.requests)]
    if not len(failed):
        return pd.DataFrame(columns=columns)
    grouped = (
        # names and errors may be categories (rundata): as text, groups sort as before, by name
        failed.assign(
            name=failed["name"].astype(str),
            error=failed["error"].astype(object).fillna("").astype(str).str.slice(0, 300),
        )
        .groupby(["name", "status", "error"], dropna=False)
        .size()
        .reset_index(name="count")
        .sort_values("count", ascending=False, kind="stable")
    )
    return grouped.head(limit).reset_index(drop=True)[columns]


def endpoint_table(data: RunData, which: str = "steady") -> pd.DataFrame:
    """Per request name: count, failures, p50/p95/p99/max latency and rate, from raw samples."""
    columns = ["name", "count", "failures", "error_rate", "p50_ms", "p95_ms", "p99_ms", "max_ms", "rps"]
    window = load_window(data, which)
    if data.requests is None or isinstance(window, str):
        return pd.DataFrame(columns=columns)
    rows = in_window(data.requests, "start", window)
    seconds = window.seconds or 1.0
    table = []
    sides = sorted(side for side in rows["side"].unique() if side) if "side" in rows else []
    groups = _named_groups(rows)
    if sides:  # a canary run: every line once per side
        groups = [
            (f"{side} · {name}", group)
            for side in sides
            for name, group in _named_groups(rows[rows["side"] == side])
        ]
    for name, group in groups:
        latencies = group["latency_ms"].to_numpy(dtype=float)
        failures = int(failed_mask(group).sum())
        count = len(group)
        # one pass for the three: the same nearest-rank values as `percentile`
        quantiles = (
            np.quantile(latencies, [0.5, 0.95, 0.99], method="inverted_cdf").tolist()
            if count
            else [float("nan")] * 3
        )
        table.append(
            [name, count, failures, failures / count if count else float("nan"), *quantiles,
             float(latencies.max()) if count else float("nan"), count / seconds]
        )  # fmt: skip
    return pd.DataFrame(table, columns=columns)


def _named_groups(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("All requests", rows), *sorted(rows.groupby("name"), key=lambda item: str(item[0]))]

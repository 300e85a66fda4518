"""The fixed list of metrics a gate may name, with their unit and the statistics they offer.

A gate on a name that is not here is a config error, never a silent pass. The measuring parts and the
judge (reports/) use the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["ms", "s", "ratio", "count", "fps", "per_s", "usd", "bool", "pct"]  # pct: percentage points

PERCENTILES = ("p50", "p75", "p90", "p95", "p99")


@dataclass(frozen=True)
class MetricSpec:
    unit: Unit
    stats: tuple[str, ...]
    default_stat: str
    part: str  # which measuring part produces it (load, browser, pipeline, sources, canary, watch, probe)
    description: str


def _spec(unit: Unit, part: str, description: str, stats: tuple[str, ...] = ("value",)) -> MetricSpec:
    return MetricSpec(unit=unit, stats=stats, default_stat=stats[0], part=part, description=description)


METRICS: dict[str, MetricSpec] = {
    "load.latency_ms": MetricSpec(
        "ms", (*PERCENTILES, "mean", "max"), "p95", "load", "client-side latency of every API request"
    ),
    "load.error_rate": _spec("ratio", "load", "share of requests that failed (status >= 400 or no answer)"),
    "load.throughput_rps": _spec("per_s", "load", "requests per second in the window"),
    "load.generator_cpu": _spec(
        "ratio", "load", "load generator CPU as a share of one core", ("max", "mean")
    ),
    "browser.fps_mean": _spec("fps", "browser", "animation frames per second while interacting", ("mean",)),
    "browser.frame_ms": MetricSpec("ms", PERCENTILES, "p95", "browser", "frame duration while interacting"),
    "browser.redraw_rate": _spec(
        "per_s", "browser", "alignment redraws (drawCompleted) per second", ("mean",)
    ),
    "browser.long_frame_share": _spec("ratio", "browser", "share of frames longer than 25 ms"),
    "browser.page_errors": _spec(
        "count",
        "browser",
        "console errors and uncaught exceptions while the page loaded and was driven, less "
        "ignore_console matches (total over repeats, or the worst repeat's)",
        ("total", "max_per_repeat"),
    ),
    "pipeline.consecutive_successes": _spec(
        "count", "pipeline", "successful jobs in a row", ("longest", "final")
    ),
    "pipeline.success_ratio": _spec("ratio", "pipeline", "share of jobs whose every check passed"),
    "pipeline.duration_s": MetricSpec(
        "s", ("mean", *PERCENTILES), "mean", "pipeline", "submit-to-completion time per job"
    ),
    "pipeline.stage_mean_s": _spec(
        "s",
        "pipeline",
        "mean seconds of one pipeline stage over successful jobs",
        ("alignment", "seq_retrieval", "seq_info", "callback"),
    ),
    "pipeline.sfn_executions_succeeded": _spec(
        "count", "pipeline", "Step Functions executions that ended SUCCEEDED"
    ),
    "cost.monthly_usd": _spec("usd", "sources", "Cost Explorer unblended cost for the period"),
    "cloudwatch.api_latency_ms": _spec("ms", "sources", "ALB TargetResponseTime p95", ("p95",)),
    "cloudwatch.error_rate": _spec("ratio", "sources", "ALB 5xx count over request count"),
    "cloudwatch.pipeline_duration_s": _spec("s", "sources", "Step Functions ExecutionTime", ("mean",)),
    "e2e.pass_rate": _spec("ratio", "sources", "share of E2E (Cypress JUnit) test cases that passed"),
    "deploy.web_up": _spec("bool", "sources", "the web UI health page answers"),
    "deploy.api_up": _spec("bool", "sources", "the API health route answers"),
    "canary.consistency_mismatches": _spec("count", "canary", "jobs whose results differ between sides"),
    "canary.weight_off_step_pct": _spec(
        "pct",
        "watch",
        "percentage points between the new side's Route 53 weight share and the expected canary step",
    ),
    "canary.latency_diff_ms": MetricSpec(
        "ms", PERCENTILES, "p95", "canary", "new side's latency percentile minus the old side's (same load)"
    ),
    "canary.error_rate_diff": _spec("ratio", "canary", "new side's error rate minus the old side's"),
    "canary.slower_share": _spec(
        "ratio", "canary", "chance a new-side request is slower than an old-side one (0.5: no shift)"
    ),
    "probe.longest_gap_s": _spec("s", "probe", "longest stretch without a successful probe"),
    "probe.failed": _spec("count", "probe", "failed probes during the cutover"),
    "s3.differences": _spec("count", "s3", "objects missing, extra or different after the S3 migration"),
}

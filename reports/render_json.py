"""summary.json: the machine-readable verdicts, for CI steps and for comparing runs later.

Strict JSON (NaN and infinities become null, since most parsers refuse them) with a fixed key order,
so two summaries diff cleanly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from reports.model import BatchSeries, CanarySummary, GateResult, Measurement, Report

SCHEMA_VERSION = 1


def plain(value: Any) -> Any:
    """JSON-safe: non-finite floats -> None, numpy scalars -> Python, tuples -> lists, keys -> str."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _measurement(measurement: Measurement | None) -> dict[str, Any]:
    if measurement is None:
        return {
            "value": None, "ci": None, "at_least": False, "n": None, "n_eff": None, "unit": None,
            "measurement_window": None, "facts": {}, "series": None,
        }  # fmt: skip
    return {
        "value": measurement.value,
        "ci": list(measurement.ci) if measurement.ci else None,  # censored: [low, null]
        "at_least": bool(measurement.facts.get("censored")),  # value is a lower bound (a censored gap)
        "n": measurement.n,
        "n_eff": measurement.n_eff,  # n shrunk by the dependence in time; null without batching
        "unit": measurement.unit,
        "measurement_window": list(measurement.window) if measurement.window else None,
        "facts": dict(sorted(measurement.facts.items())),
        "series": _series(measurement.series),
    }


def _series(series: BatchSeries | None) -> dict[str, Any] | None:
    """The statistic per time batch (NaN for an empty batch becomes null), to replot or compare runs."""
    if series is None:
        return None
    return {
        "starts": list(series.starts),
        "values": list(series.values),
        "length": series.length,
        "axis": series.axis,
    }


def _baseline(baseline: Measurement | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    return {"value": baseline.value, "ci": list(baseline.ci) if baseline.ci else None, "n": baseline.n}


def gate_summary(result: GateResult) -> dict[str, Any]:
    """One gate as plain data; every renderer can read the same fields."""
    kind, threshold = result.gate.comparison
    change = result.relative_change
    baseline = result.baseline
    return {
        "set": result.gate_set,
        "name": result.name,
        "metric": result.gate.metric,
        "stat": result.gate.statistic,
        "request": result.gate.request,
        "comparison": kind,
        "threshold": threshold,
        "window": result.gate.window,
        "plan": result.gate.plan,
        "verdict": str(result.verdict),
        "reason": result.reason,
        **_measurement(result.measurement),
        "baseline": _baseline(baseline),
        "relative_change": None if change is None else {"value": change[0], "ci": [change[1], change[2]]},
    }


def summary(report: Report) -> dict[str, Any]:
    run = report.run
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.get("id"),
        "status": run.get("status"),
        "target": run.get("target"),
        "started": run.get("started"),
        "ended": run.get("ended"),
        "gate_set": report.gate_set,
        "overall": str(report.overall),
        "exit_code": report.exit_code,
        "notes": list(report.notes),
        "baseline_run": report.baseline_run,
        "gates": [gate_summary(result) for result in report.results],
        "canary": _canary(report.canary),
        "page_console": _console(report.console),
        "jobs": {"load": dict(report.jobs.load), "rejected": list(report.jobs.rejected)},
    }


def _console(console: object) -> list[dict[str, Any]]:
    """The browser page's console errors grouped by text (`ignored`: an ignore_console pattern matched)."""
    if console is None or getattr(console, "empty", True):
        return []
    return console.to_dict("records")  # type: ignore[attr-defined]


def _canary(canary: CanarySummary | None) -> dict[str, Any] | None:
    if canary is None:
        return None
    table = canary.comparison
    return {
        "decision": canary.decision,
        "new_side": canary.new_side,
        "old_side": canary.old_side,
        "urls": dict(canary.urls),
        "step_pct": canary.step_pct,
        "comparison": [] if getattr(table, "empty", True) else table.to_dict("records"),  # type: ignore[union-attr]
        "slower_share": canary.slower_share,
        "mann_whitney_p": canary.mann_whitney_p,
        "consistency": list(canary.consistency),
    }


def render_json(report: Report) -> str:
    return json.dumps(plain(summary(report)), indent=2, allow_nan=False, ensure_ascii=False) + "\n"

"""report.html: one self-contained page (figures inlined, no external CSS/JS/fonts) to attach or mail.

Autoescaping is on for the whole template and nothing server-supplied is marked safe: request names,
error messages, reasons and run facts can hold anything a server or a config sends. The view model
is built here, so the template only lays it out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import ExitCode
from harness.registry import METRICS
from reports.model import GateResult, Report, Verdict
from reports.plots import BATCH_PREFIX, batch_caption, batch_figure_name, part_of
from reports.render_markdown import (
    CANARY_HEADER,
    CONSOLE_HEADER,
    ENDPOINT_HEADER,
    EXIT_CODE_MEANINGS,
    MISSING,
    STATUS_WORDS,
    canary_headline,
    canary_rows,
    consistency_summary,
    console_rows,
    endpoint_rows,
    format_ci,
    format_count,
    format_n_eff,
    format_threshold,
    gate_label,
    shift_text,
    value_text,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
PART_TITLES = {
    "load": "Load",
    "browser": "Browser frame rate",
    "pipeline": "Pipeline runs",
    "sources": "AWS sources",
    "canary": "Canary",
    "probe": "Cutover probe",
}
_RUN_FIELDS = [
    ("id", "Run"),
    ("status", "Status"),
    ("target", "Target"),
    ("started", "Started"),
    ("ended", "Ended"),
    ("scenario_file", "Scenario file"),
    ("harness_version", "Harness version"),
    ("git_commit", "Git commit"),
]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


FACT_LIMIT = 400  # longer facts (payloads, settings blobs) stay in run.json, not on the page


def _fact(value: object) -> str:
    """A run fact as one line of text (nested settings as compact JSON), cut when very long."""
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = MISSING if value is None else str(value)
    if len(text) > FACT_LIMIT:
        return f"{text[:FACT_LIMIT]}… ({len(text):,} characters; full text in run.json)"
    return text


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def _window(result: GateResult) -> tuple[str, str]:
    """The window's kind and length, and when it was (UTC clock times, to match logs)."""
    span = result.measurement.window if result.measurement else None
    if not span:
        return result.gate.window, ""
    return f"{result.gate.window}, {span[1] - span[0]:,.0f} s", f"{_utc(span[0])} to {_utc(span[1])} UTC"


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def _gate(result: GateResult, figures: Mapping[str, bytes]) -> dict[str, Any]:
    m = result.measurement
    plot = figures.get(batch_figure_name(result.name))
    return {
        "name": result.name,
        "label": gate_label(result),
        "verdict": str(result.verdict),
        "value": value_text(result),
        "ci": format_ci(m.ci if m else None, m.unit if m else None),
        "threshold": format_threshold(result.gate),
        "n": format_count(m.n) if m else MISSING,
        "n_eff": format_n_eff(m.n_eff if m else None),
        "plot": _b64(plot) if plot else None,  # drawn with the report's figures (reports.report)
        "plot_caption": batch_caption(result) if plot else "",
        "window": _window(result)[0],
        "window_span": _window(result)[1],
        "plan": result.gate.plan,
        "reason": result.reason,
        "facts": [(key, _fact(value)) for key, value in sorted(m.facts.items())] if m else [],
    }


def _run_rows(report: Report) -> list[tuple[str, str]]:
    run = report.run
    rows = [(label, _fact(run.get(key))) for key, label in _RUN_FIELDS if key in run]
    rows.append(("Gate set", report.gate_set))
    if report.baseline_run:
        rows.append(("Baseline run", report.baseline_run))
    shown = {key for key, _ in _RUN_FIELDS} | {"host", "parts", "gate_set"}
    rows += [(str(key), _fact(value)) for key, value in run.items() if key not in shown]
    return rows


def _part_figures(report: Report) -> dict[str, bytes]:
    """The figures shown in the part sections; a gate's batch plot is shown in its verdict row."""
    return {name: png for name, png in report.figures.items() if not name.startswith(BATCH_PREFIX)}


def _parts_present(report: Report) -> list[str]:
    parts = set(report.run.get("parts") or {})
    parts |= {part_of(name) for name in _part_figures(report)}
    if not getattr(report.endpoints, "empty", True):
        parts.add("load")
    order = list(PART_TITLES)
    return sorted(parts, key=lambda part: (order.index(part) if part in order else len(order), part))


def _sections(report: Report) -> list[dict[str, Any]]:
    sections = []
    for part in _parts_present(report):
        figures = [(name, _b64(png)) for name, png in _part_figures(report).items() if part_of(name) == part]
        gates = [r for r in report.results if METRICS[r.gate.metric].part == part]
        sections.append(
            {
                "part": part,
                "title": PART_TITLES.get(part, part.capitalize()),
                "figures": figures,
                "gates": [(r.name, str(r.verdict)) for r in gates],
                "endpoints": endpoint_rows(report.endpoints) if part == "load" else None,
                "errors": _error_rows(report.errors) if part == "load" else [],
                "console": console_rows(report.console) if part == "browser" else [],
            }
        )
    return sections


def _error_rows(errors: Any) -> list[dict[str, str]]:
    if errors is None or getattr(errors, "empty", True):
        return []
    return [
        {
            "name": str(row["name"]),
            "status": str(row["status"]),
            "error": str(row["error"]),
            "count": str(row["count"]),
        }
        for row in errors.to_dict("records")
    ]


def _canary(report: Report) -> dict[str, Any] | None:
    canary = report.canary
    if canary is None:
        return None
    return {
        "decision": canary.decision,
        "headline": canary_headline(canary),
        "urls": [(side, url) for side, url in canary.urls.items()],
        "header": CANARY_HEADER,
        "rows": canary_rows(canary),
        "shift": shift_text(canary),
        "jobs": [
            {
                "summary": consistency_summary(job),
                "mismatch": bool(job.get("mismatch")),
                "diff": job.get("diff"),
            }
            for job in canary.consistency
        ],
    }


def _exit_name(code: int) -> str:
    return ExitCode(code).name if code in ExitCode._value2member_map_ else "unknown"


def view_model(report: Report) -> dict[str, Any]:
    overall = Verdict(report.overall)
    parts = report.run.get("parts") or {}
    return {
        "run_id": str(report.run.get("id", "?")),
        "gate_set": report.gate_set,
        "overall": str(overall),
        "status_word": STATUS_WORDS[overall],
        "run_status": _fact(report.run.get("status")),
        "exit_code_name": _exit_name(report.exit_code),
        "exit_code": report.exit_code,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "gates": [_gate(result, report.figures) for result in report.results],
        "notes": list(report.notes),
        "job_lines": report.jobs.lines(),
        "run_rows": _run_rows(report),
        "host_rows": [(str(k), _fact(v)) for k, v in (report.run.get("host") or {}).items()],
        "part_settings": [
            (PART_TITLES.get(str(name), str(name)), [(str(k), _fact(v)) for k, v in (facts or {}).items()])
            for name, facts in parts.items()
        ],
        "sections": _sections(report),
        "canary": _canary(report),
        "endpoint_header": ENDPOINT_HEADER,
        "console_header": CONSOLE_HEADER,
        "exit_codes": [(int(code), code.name, EXIT_CODE_MEANINGS[code]) for code in ExitCode],
    }


def render_html(report: Report) -> str:
    return _environment().get_template("report.html.j2").render(view_model(report))

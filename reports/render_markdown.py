"""report.md: a GitHub job summary, verdicts first, in plain Markdown tables.

Also home of the text formatting the other human-facing renderers (HTML, JUnit) share, so a value
reads the same everywhere. Request names, reasons and errors come from the server or the run: every
such string is escaped, so a `|` or a newline cannot break a table and `<tag>` is never raw HTML.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.config import Gate
from harness.errors import ExitCode
from harness.registry import METRICS
from reports.model import CanarySummary, GateResult, Measurement, Report, Verdict

EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "every gate passed (or the command did what it was asked)",
    ExitCode.GATE_FAILED: "at least one gate failed",
    ExitCode.USAGE: "bad command line or scenarios.yaml",
    ExitCode.INVALID: "a measurement could not be trusted",
    ExitCode.INCONCLUSIVE: "the data cannot tell pass from fail (or a result is still pending)",
    ExitCode.ENVIRONMENT: "target unreachable, tool missing, stack failed to start",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); what was measured so far is kept",
}

STATUS_WORDS: dict[Verdict, str] = {
    Verdict.PASS: "passed",
    Verdict.FAIL: "failed",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.INVALID: "invalid",
    Verdict.PENDING: "pending",
    Verdict.SKIPPED: "skipped",
}

MISSING = "-"  # no value: None, NaN and infinities alike
_COMPARISON_WORDS = {"below": "<", "at_most": "<=", "above": ">", "at_least": ">="}


# ---------------------------------------------------------------- shared formatting


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_value(value: object, unit: str | None) -> str:
    """A number in its metric's unit; MISSING when there is none (NaN, inf and None alike)."""
    if isinstance(value, bool) or unit == "bool":
        return MISSING if value is None else ("yes" if value else "no")
    if not _finite(value):
        return MISSING
    number = float(value)  # type: ignore[arg-type]
    match unit:
        case "ratio":
            return f"{number:.2%}"
        case "ms":
            return f"{number:,.1f} ms"
        case "s":
            return f"{number:,.2f} s"
        case "per_s":
            return f"{number:,.1f}/s"
        case "fps":
            return f"{number:.1f} fps"
        case "usd":
            return f"${number:,.2f}"
        case "count":
            return f"{number:,.0f}"
    return f"{number:g}"


def format_ci(ci: Sequence[float] | None, unit: str | None) -> str:
    if ci is None or not all(_finite(bound) for bound in ci):
        return MISSING
    return f"{format_value(ci[0], unit)} to {format_value(ci[1], unit)}"


def format_threshold(gate: Gate) -> str:
    kind, threshold = gate.comparison
    if kind == "within_pct_of_baseline":
        return f"within ±{threshold:g}% of baseline"
    if kind == "reduced_by_pct_vs_baseline":
        return f"at least {threshold:g}% below baseline"
    return f"{_COMPARISON_WORDS[kind]} {format_value(threshold, METRICS[gate.metric].unit)}"


def _signed_pct(value: float) -> str:
    return f"{value:+.1%}" if _finite(value) else MISSING


def format_count(n: object) -> str:
    return f"{int(n):,}" if _finite(n) else MISSING  # type: ignore[call-overload]


NO_N_EFF = "—"  # no effective sample size: no batching (independent samples, or no interval)


def format_n_eff(n_eff: object) -> str:
    """The effective sample size as a whole number: a fraction of a sample means nothing to a reader."""
    return f"{n_eff:,.0f}" if _finite(n_eff) else NO_N_EFF


def n_text(measurement: Measurement | None) -> str:
    """n with the effective n beside it, so a reader sees how much the dependence in time cost."""
    if measurement is None:
        return MISSING
    return f"{format_count(measurement.n)} ({format_n_eff(measurement.n_eff)})"


def value_text(result: GateResult) -> str:
    """The statistic and its value, plus the change against the baseline when there is one."""
    m = result.measurement
    shown = format_value(m.value, m.unit) if m else MISSING
    if m and m.facts.get("censored") and shown != MISSING:
        shown = f"at least {shown}"  # a censored probe gap: only its lower bound is known
    text = MISSING if shown == MISSING else f"{result.gate.statistic} {shown}"
    if result.relative_change is not None and _finite(result.relative_change[0]):
        change, low, high = (_signed_pct(x) for x in result.relative_change)
        text += f"; vs baseline {change} (CI {low} to {high})"
    return text


def gate_label(result: GateResult) -> str:
    gate = result.gate
    label = f"{gate.metric} {gate.statistic}"
    return f"{label} [{gate.request}]" if gate.request else label


def exit_code_text(code: int) -> str:
    try:
        known = ExitCode(code)
    except ValueError:
        return f"{code} (unknown)"
    return f"{code} ({known.name}: {EXIT_CODE_MEANINGS[known]})"


# ---------------------------------------------------------------- Markdown

_SPECIAL = re.compile(r"([\\`*_\[\]<>&|#~])")


def md(text: object) -> str:
    """Escape server-supplied text for one table cell: literal, on one line."""
    escaped = _SPECIAL.sub(r"\\\1", str(text))
    return re.sub(r"\r\n|\r|\n", "<br>", escaped)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _verdict_rows(report: Report) -> list[list[str]]:
    return [
        [
            md(result.name),
            f"**{result.verdict}**",
            md(value_text(result)),
            md(format_ci(result.measurement.ci if result.measurement else None, _unit(result))),
            md(format_threshold(result.gate)),
            n_text(result.measurement),
            md(result.reason),
        ]
        for result in report.results
    ]


def _unit(result: GateResult) -> str | None:
    return result.measurement.unit if result.measurement else METRICS[result.gate.metric].unit


def endpoint_rows(endpoints: Any) -> list[dict[str, str]]:
    """The per-endpoint table as display strings; [] when there is no table or it is empty."""
    if endpoints is None or getattr(endpoints, "empty", True):
        return []
    return [
        {
            "name": str(row["name"]),
            "count": format_count(row["count"]),
            "failures": format_count(row["failures"]),
            "error_rate": format_value(row["error_rate"], "ratio"),
            "p50": format_value(row["p50_ms"], "ms"),
            "p95": format_value(row["p95_ms"], "ms"),
            "p99": format_value(row["p99_ms"], "ms"),
            "max": format_value(row["max_ms"], "ms"),
            "rps": format_value(row["rps"], "per_s"),
        }
        for row in endpoints.to_dict("records")
    ]


ENDPOINT_HEADER = ["Request", "Count", "Failures", "Error rate", "p50", "p95", "p99", "Max", "Rate"]
CANARY_HEADER = ["Side", "Requests", "Failures", "Error rate", "95% CI", "p50", "p95", "95% CI", "p99"]


def canary_rows(canary: CanarySummary) -> list[list[str]]:
    """The side-by-side table as display strings (new side, old side, difference)."""
    table = canary.comparison
    if table is None or getattr(table, "empty", True):
        return []
    return [
        [
            str(row["side"]),
            format_count(row["requests"]),
            format_count(row["failures"]),
            format_value(row["error_rate"], "ratio"),
            format_ci(row["error_rate_ci"], "ratio"),
            format_value(row["p50_ms"], "ms"),
            format_value(row["p95_ms"], "ms"),
            format_ci(row["p95_ci"], "ms"),
            format_value(row["p99_ms"], "ms"),
        ]
        for row in table.to_dict("records")
    ]


def canary_headline(canary: CanarySummary) -> str:
    step = f" before the {canary.step_pct:g}% step" if canary.step_pct is not None else ""
    return f"{canary.decision}{step}: {canary.new_side} (new) against {canary.old_side} (old)"


def shift_text(canary: CanarySummary) -> str:
    if canary.slower_share is None or canary.mann_whitney_p is None:
        return "Mann-Whitney: not computed (a side had no requests in the steady window)"
    return (
        f"Mann-Whitney: a {canary.new_side} request is slower than a {canary.old_side} request "
        f"{canary.slower_share:.1%} of the time (50% = no shift), p = {canary.mann_whitney_p:.3g}"
    )


def consistency_summary(job: Mapping[str, Any]) -> str:
    """One compared payload in words: which jobs, and what differed."""
    sides = job.get("jobs") or {}
    names = ", ".join(
        f"{side} {info.get('uuid') or '-'} ({info.get('status') or '-'})" for side, info in sides.items()
    )
    verdict = "differs" if job.get("mismatch") else "equal"
    reason = f": {job.get('reason')}" if job.get("reason") else ""
    return f"payload {job.get('payload')}: {verdict}{reason} [{names}]"


CONSOLE_HEADER = ["Message (normalised)", "Type", "Count", "Counted", "Repeats", "Phases"]


def console_rows(console: Any) -> list[list[str]]:
    """The page's console errors, grouped (reports.metrics.console_table), as text cells."""
    if console is None or getattr(console, "empty", True):
        return []
    return [
        [
            str(row["text"]),
            str(row["type"]),
            f"{int(row['count']):,}",
            "no (ignore_console)" if row["ignored"] else "yes",
            ", ".join(str(r) for r in row["repeats"] or []),
            ", ".join(str(p) for p in row["phases"] or []),
        ]
        for row in console.to_dict("records")
    ]


def render_markdown(report: Report) -> str:
    run = report.run
    overall = Verdict(report.overall)
    lines = [
        f"## pavi-validate {md(report.gate_set)}: {overall}",
        "",
        f"**Status: {STATUS_WORDS[overall]}** · run {md(run.get('id', '?'))} on target "
        f"{md(run.get('target', '?'))} ({md(run.get('status', '?'))}) · exit code {report.exit_code}",
        "",
        "### Verdicts",
        "",
    ]
    if report.results:
        lines += _table(
            ["Gate", "Verdict", "Value", "95% CI", "Threshold", "n (effective n)", "Reason"],
            _verdict_rows(report),
        )
    else:
        lines.append("No gates in this set.")
    if report.baseline_run:
        lines += ["", f"Compared with baseline run {md(report.baseline_run)}."]
    if report.notes:
        lines += ["", "### Notes", "", *(f"- {md(note)}" for note in report.notes)]
    if job_lines := report.jobs.lines():
        lines += ["", "### Jobs", "", *(f"- {md(line)}" for line in job_lines)]
    if report.canary is not None:
        lines += _canary_section(report.canary)
    lines += ["", "### Endpoints (steady window)", ""]
    rows = endpoint_rows(report.endpoints)
    if rows:
        lines += _table(ENDPOINT_HEADER, ([md(value) for value in row.values()] for row in rows))
    else:
        lines.append("No requests in the steady window.")
    errors = report.errors
    if errors is not None and not getattr(errors, "empty", True):
        lines += ["", "### Most frequent failures", ""]
        lines += _table(
            ["Request", "Status", "Error", "Count"],
            (
                [md(str(row[key])) for key in ("name", "status", "error", "count")]
                for row in errors.to_dict("records")
            ),
        )
    if console := console_rows(report.console):
        lines += ["", "### Page console errors (browser)", ""]
        lines += _table(CONSOLE_HEADER, ([md(cell) for cell in row] for row in console))
    lines += ["", f"Exit code: **{md(exit_code_text(report.exit_code))}**", ""]
    return "\n".join(lines)


def _canary_section(canary: CanarySummary) -> list[str]:
    lines = ["", f"### Canary: {md(canary_headline(canary))}", ""]
    rows = canary_rows(canary)
    if rows:
        lines += _table(CANARY_HEADER, ([md(value) for value in row] for row in rows))
    lines += ["", md(shift_text(canary)), ""]
    if canary.consistency:
        lines += ["#### Data consistency", ""]
        for job in canary.consistency:
            lines.append(f"- {md(consistency_summary(job))}")
            if job.get("diff"):
                # a fenced block shows server text literally; a fence inside it cannot close it early
                fence = "~~~~" if "```" in str(job["diff"]) else "```"
                lines += ["", f"{fence}diff", str(job["diff"]).replace(fence, ""), fence, ""]
    return lines

"""Build a run's report: load -> metrics -> judge -> render, and write every format into report/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.config import Scenarios
from harness.runstore import Run, open_run
from reports import judge as judging
from reports.canary import canary_sides, comparison_table, expand_sides, latency_shift
from reports.metrics import console_table, endpoint_table, error_table, measure, own_baseline
from reports.model import CanarySummary, JobsSummary, Report
from reports.rundata import RunData, load_run_data


@dataclass(frozen=True)
class Written:
    report: Report
    folder: Path


def run_notes(data: RunData) -> list[str]:
    notes = []
    status = data.meta.get("status")
    if status != "complete":
        notes.append(
            f"this run is {status}: it did not end normally; verdicts judge only the samples on disk"
        )
    if data.unreadable:
        notes.append(
            f"{len(data.unreadable)} sample chunk(s) could not be read (torn by a crash) and were skipped"
        )
    return notes


MAX_REJECTED_JOBS = 50  # jobs listed by name in the report; the JSON keeps the same list


def jobs_summary(data: RunData) -> JobsSummary:
    """The load's job tally (run.json) and, per pipeline job, the sequences the pipeline rejected."""
    rejected = []
    jobs = data.jobs
    if jobs is not None and "rejected_names" in jobs:
        for row in (
            jobs[jobs["rejected"].fillna(0) > 0].sort_values("seq").head(MAX_REJECTED_JOBS).itertuples()
        ):
            rejected.append(
                {"seq": int(row.seq), "job_id": row.job_id, "names": json.loads(row.rejected_names)}
            )
    return JobsSummary(load=data.part("load").get("jobs") or {}, rejected=rejected)


def build_report(
    run: Run, scenarios: Scenarios, gate_set: str, baseline: Run | None = None, *, figures: bool = True
) -> Report:
    """Judge `run` against `gate_set`; `figures=False` skips the plots (the self-test judges ~50 reports)."""
    data = load_run_data(run)
    sides = canary_sides(data)
    gates = expand_sides(scenarios.gate_set(gate_set), sides)
    measurements = {name: measure(gate, data) for name, gate in gates.items()}
    if baseline is not None:
        base_data = load_run_data(baseline)
        baselines = {name: measure(gate, base_data) for name, gate in gates.items()}
    else:
        baselines = {name: own_baseline(gate, data) for name, gate in gates.items()}
    results = judging.judge(gate_set, gates, measurements, baselines)
    from reports.plots import batch_figures, figures_for

    canary = None
    if sides is not None:
        shift = latency_shift(data)
        canary = CanarySummary(
            new_side=sides.new,
            old_side=sides.old,
            urls=sides.urls,
            step_pct=sides.step_pct,
            decision=judging.decision(results),
            comparison=comparison_table(data),
            slower_share=shift[0] if shift else None,
            mann_whitney_p=shift[1] if shift else None,
            consistency=list((data.evidence.get("consistency.json") or {}).get("jobs") or []),
        )

    return Report(
        run=run.meta,
        gate_set=gate_set,
        results=results,
        overall=judging.overall(results),
        exit_code=int(judging.exit_code(results)),
        endpoints=endpoint_table(data),
        errors=error_table(data),
        notes=run_notes(data),
        baseline_run=baseline.id if baseline else None,
        figures={**figures_for(data), **batch_figures(results)} if figures else {},  # part figures first
        canary=canary,
        console=console_table(data),
        jobs=jobs_summary(data),
    )


def write_report(
    run_ref: str | Path, scenarios: Scenarios, gate_set: str, baseline_ref: str | Path | None = None
) -> Written:
    from reports.render_html import render_html
    from reports.render_json import render_json
    from reports.render_junit import render_junit
    from reports.render_markdown import render_markdown

    run = open_run(run_ref)
    baseline = open_run(baseline_ref) if baseline_ref else None
    report = build_report(run, scenarios, gate_set, baseline)
    folder = run.path / "report"
    folder.mkdir(exist_ok=True)
    (folder / "summary.json").write_text(render_json(report))
    (folder / "junit.xml").write_text(render_junit(report))
    (folder / "report.md").write_text(render_markdown(report))
    (folder / "report.html").write_text(render_html(report))
    return Written(report, folder)

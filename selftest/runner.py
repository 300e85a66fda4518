"""Run the self-test: plan every case, measure every trial once, judge every case with the real judge.

Each trial is a real run in `<selftest folder>/<NN>-<trial>/` (run.json and the part's raw samples, so
`pavi-validate report <that folder> --gates SET` rebuilds any verdict), judged by
`reports.report.build_report` against the gate exactly as the chosen set defines it. A case behaved
when the judge said what its recipe expects (PASS healthy, FAIL tripped, INVALID for a saturated load
generator), or what a named, documented exception explains (`recipes.EXCEPTIONS`).

A trial whose case did not behave is measured once more (at most RETRY_TRIALS trials, never after an
environment problem), because a shared two-core machine sometimes saturates for reasons outside the
test (the judge then rightly says INVALID: host saturated). The row keeps the first attempt's verdict
and reason, and both runs stay in the folder, so a retry is never hidden.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness.config import Scenarios
from harness.errors import EnvironmentProblem, HarnessError
from harness.runstore import Run, create_run, host_facts, runs_dir
from reports.model import Report, Verdict
from selftest.lab import Lab
from selftest.recipes import EXCEPTIONS, SATURATED, Case, KnownException, Trial, Untestable, plan
from selftest.scale import scale_for
from selftest.trials import ORDER, Bench, measure, needs_moto, roles_for

RETRY_TRIALS = 4


@dataclass
class TrialRecord:
    trial: Trial
    run: Run
    seconds: float
    error: str | None = None
    environment: bool = False  # the error was an environment problem (exit 5)


@dataclass(frozen=True)
class Row:
    case: Case
    got: str  # a verdict, or ERROR when the run could not be judged
    ok: bool
    reason: str
    run: str
    baseline_run: str | None = None
    exception: KnownException | None = None  # applied: the case did not behave, for a documented reason
    attempts: int = 1
    first: str | None = None  # the first attempt's verdict and reason, when the trial was measured again


@dataclass
class Outcome:
    scale: str
    gate_sets: list[str]
    folder: Path
    started: str
    wall_s: float
    rows: list[Row]
    untestable: list[Untestable]
    trials: list[TrialRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows) and not self.untestable and bool(self.rows)

    @property
    def environment_problem(self) -> TrialRecord | None:
        return next((record for record in self.trials if record.environment), None)


def default_folder() -> Path:
    return runs_dir() / f"selftest-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def _slug(trial: Trial) -> str:
    text = "-".join([trial.kind, *(f"{key}-{value}" for key, value in trial.params)])
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


def _new_run(folder: Path, number: int, trial: Trial, scale: str) -> Run:
    run = create_run("selftest", None, root=folder, trial=trial.label, scale=scale)
    path = folder / f"{number:02d}-{_slug(trial)}"
    run.path.rename(path)
    run.path = path
    run.meta["id"] = path.name
    run.save()
    return run


def run_trials(
    trials: list[Trial], bench: Bench, folder: Path, console: Console, first_number: int = 1, note: str = ""
) -> list[TrialRecord]:
    records = []
    for index, trial in enumerate(trials):
        number = first_number + index
        run = _new_run(folder, number, trial, bench.scale.name)
        console.print(f"[bold]trial {index + 1}/{len(trials)}{note}[/] {trial.label}", highlight=False)
        started = time.monotonic()
        record = TrialRecord(trial, run, 0.0)
        try:
            measure(trial, bench, run)
            run.finish("complete")
        except HarnessError as error:
            record.error, record.environment = str(error), isinstance(error, EnvironmentProblem)
        except Exception as error:  # one broken trial must not lose the others: its cases say ERROR
            record.error = f"{type(error).__name__}: {error}"
        if record.error is not None:
            run.record_part("selftest", error=record.error)
            run.finish("aborted")
            console.print(f"  [red]trial failed:[/] {record.error}", highlight=False)
        record.seconds = round(time.monotonic() - started, 2)
        console.print(f"  {record.seconds:.1f} s  {run.path}", style="dim", highlight=False)
        records.append(record)
    return records


class _Judge:
    """build_report once per run, gate set and baseline (every case of that set reads the same report)."""

    def __init__(self, scenarios: Scenarios) -> None:
        self.scenarios = scenarios
        self.reports: dict[tuple[Path, str, Path | None], Report] = {}

    def report(self, run: Run, gate_set: str, baseline: Run | None) -> Report:
        from reports.report import build_report

        key = (run.path, gate_set, baseline.path if baseline else None)
        if key not in self.reports:
            self.reports[key] = build_report(run, self.scenarios, gate_set, baseline, figures=False)
        return self.reports[key]


def judge_case(case: Case, records: dict[Trial, TrialRecord], judge: _Judge) -> Row:
    record = records[case.trial]
    baseline = records[case.baseline] if case.baseline is not None else None
    where = dict(run=record.run.path.name, baseline_run=baseline.run.path.name if baseline else None)
    try:
        report = judge.report(record.run, case.gate_set, baseline.run if baseline else None)
    except Exception as error:  # a run too broken to load is this case's failure, not the whole test's
        return Row(
            case, "ERROR", False, f"the run could not be judged: {type(error).__name__}: {error}", **where
        )
    result = next((result for result in report.results if result.name == case.gate), None)
    if result is None:
        return Row(case, "ERROR", False, f"the report has no gate named {case.gate!r}", **where)
    got, reason = Verdict(result.verdict), result.reason
    ok = got is case.expected and (case.case != SATURATED or "saturated" in reason)
    errors = [r.error for r in (record, baseline) if r is not None and r.error]
    if errors and not ok:
        reason = f"{reason}; the trial failed: {errors[0]}"
    exception = EXCEPTIONS.get(case.exception or "")
    if not ok and exception is not None and got in exception.got:
        return Row(
            case, got.value, True, f"{reason}. Known exception: {exception.why}", **where, exception=exception
        )
    return Row(case, got.value, ok, reason, **where)


def _to_retry(rows: list[Row], records: dict[Trial, TrialRecord]) -> list[Trial]:
    """The trials (and baselines) of cases that did not behave, in run order, unless the environment broke."""
    if any(record.environment for record in records.values()):
        return []
    wanted: dict[Trial, None] = {}
    for row in rows:
        if not row.ok:
            for trial in (row.case.baseline, row.case.trial):
                if trial is not None:
                    wanted.setdefault(trial)
    order = list(records)
    return sorted(wanted, key=order.index)[:RETRY_TRIALS]


def _rejudge(row: Row, records: dict[Trial, TrialRecord], retried: set[Trial], judge: _Judge) -> Row:
    """A case that did not behave, judged on the second attempt of its trial; the first one is kept."""
    case = row.case
    if row.ok or (case.trial not in retried and case.baseline not in retried):
        return row
    again = judge_case(case, records, judge)
    return replace(again, attempts=2, first=f"{row.got}: {row.reason}")


def run_selftest(
    scenarios: Scenarios,
    gate_sets: list[str],
    scale_name: str,
    console: Console,
    folder: Path | None = None,
) -> Outcome:
    """Measure and judge every case of `gate_sets`; writes selftest.json and junit.xml into the folder."""
    from selftest.output import write_outputs

    scale = scale_for(scale_name, scenarios)
    the_plan = plan(scenarios, gate_sets, scale)
    trials = sorted(the_plan.trials, key=lambda trial: ORDER.index(trial.kind))
    folder = folder or default_folder()
    folder.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    console.print(
        f"selftest: {len(the_plan.cases)} cases of {', '.join(gate_sets)} from {len(trials)} trials "
        f"at scale {scale.name}, into {folder}",
        highlight=False,
    )
    judge = _Judge(scenarios)
    with Lab(folder / "lab") as lab:
        roles = roles_for(trials)
        lab.start(
            roles & {"main"}, needs_moto(trials), later=roles - {"main"}
        )  # the rest while evidence runs
        bench = Bench(lab, scale, scenarios)
        records = run_trials(trials, bench, folder, console)
        by_trial = {record.trial: record for record in records}
        rows = [judge_case(case, by_trial, judge) for case in the_plan.cases]
        again = _to_retry(rows, by_trial)
        if again:
            console.print(
                f"{len(again)} trial(s) gave a case other than expected: measuring them once more",
                highlight=False,
            )
            retried = run_trials(again, bench, folder, console, len(records) + 1, " (second attempt)")
            records += retried
            second = {**by_trial, **{record.trial: record for record in retried}}
            rows = [_rejudge(row, second, set(again), judge) for row in rows]
    outcome = Outcome(
        scale=scale.name,
        gate_sets=list(gate_sets),
        folder=folder,
        started=started_at,
        wall_s=round(time.monotonic() - started, 1),
        rows=rows,
        untestable=the_plan.untestable,
        trials=records,
    )
    write_outputs(outcome, host_facts())
    return outcome

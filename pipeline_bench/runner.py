"""The pipeline part: N jobs one after another, each checked, recorded the moment it ends.

It measures and records; it never judges (the judge in `reports/` reads jobs.parquet). The plan's
gate is "100 consecutive successful runs", so jobs run strictly one after another by default;
`concurrency > 1` keeps that many in flight (a thread pool) for throughput studies, and then rows
finish out of seq order.

Resume: calling `run_pipeline` on a run whose `pipeline/jobs.parquet` already holds rows runs only
the seqs 1..jobs that have no row; recorded jobs are never submitted again. A job that was in flight
when the process died has no row (rows are written only when a job ends), so it is simply run again
under its seq with the same payload (generated payloads are seeded by seq) and a new job id; the
abandoned one may still finish on the server, unrecorded. Each call appends to `sessions` in run.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.config import PipelineWorkload
from harness.errors import ConfigError, HarnessError
from harness.runstore import Run
from pipeline_bench.checks import run_checks
from pipeline_bench.drivers import Driver, JobOutcome
from pipeline_bench.jobs_table import JOBS_FILE, job_row, read_jobs, warm_up, write_jobs
from pipeline_bench.payloads import PayloadPlan

PART = "pipeline"
DRIVER_ERROR = "driver_error"


@dataclass(frozen=True)
class PipelineOutcome:
    """Where the rows are and what they add up to (counts only; the judge decides)."""

    pipeline_dir: Path
    jobs_file: Path
    status: str  # complete | stopped (stop_on_failure) | interrupted | error
    jobs_planned: int
    jobs_recorded: int  # rows in jobs.parquet, including those of earlier sessions
    jobs_run: int  # jobs this call ran
    resumed_from: int  # rows that were already there
    successes: int
    failures: int
    longest_streak: int
    final_streak: int


def streaks(rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Longest run of successes and the run still going at the end, in seq order."""
    longest = current = 0
    for row in sorted(rows, key=lambda row: row["seq"]):
        current = current + 1 if row["success"] else 0
        longest = max(longest, current)
    return longest, current


class _Progress:
    """Jobs done, current and longest streak, failures; silent when disabled."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]pipeline[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            disable=not enabled,
        )
        self.task = self.progress.add_task("jobs", total=total, completed=done, info="")

    def show(self, rows: dict[int, dict[str, Any]], last: dict[str, Any] | None) -> None:
        longest, current = streaks(rows.values())
        failures = sum(not row["success"] for row in rows.values())
        info = f"streak {current}  longest {longest}  failures {failures}"
        if last is not None:
            took = f"{last['duration_s']:.2f} s" if last["duration_s"] is not None else "-"
            info += f"  last #{last['seq']} {last['status']} {took}"
        self.progress.update(self.task, completed=len(rows), info=info)


def _settings(
    workload: PipelineWorkload, jobs: int | None, concurrency: int | None, timeout_s: float | None
) -> tuple[int, int, float]:
    jobs = workload.jobs if jobs is None else jobs
    concurrency = workload.concurrency if concurrency is None else concurrency
    timeout_s = float(workload.timeout if timeout_s is None else timeout_s)
    if jobs < 1 or concurrency < 1 or timeout_s <= 0:
        raise ConfigError(
            f"pipeline settings out of range: jobs={jobs}, concurrency={concurrency}, timeout={timeout_s} s",
            "jobs >= 1, concurrency >= 1 and a timeout above 0",
        )
    return jobs, concurrency, timeout_s


def _existing_rows(path: Path, run: Run, driver: Driver) -> dict[int, dict[str, Any]]:
    try:
        rows = {int(row["seq"]): row for row in read_jobs(path)}
    except Exception as error:  # only a foreign or hand-edited file: ours are replaced atomically
        raise ConfigError(
            f"{path} cannot be read ({error}), so the run cannot be resumed",
            "move the file away to start the pipeline part afresh, or use a new run",
        ) from None
    earlier = {row["driver"] for row in rows.values()}
    if earlier - {driver.name}:
        raise ConfigError(
            f"run {run.id} holds jobs of driver {', '.join(sorted(earlier))}; resuming with "
            f"{driver.name!r} would mix two drivers in one streak",
            f"resume with the same driver, or start a new run for {driver.name!r}",
        )
    return rows


def run_pipeline(
    run: Run,
    driver: Driver,
    workload: PipelineWorkload,
    api_url: str,
    *,
    jobs: int | None = None,
    concurrency: int | None = None,
    stop_on_failure: bool = False,
    timeout_s: float | None = None,
    show_progress: bool = True,
    on_job_done: Callable[[int], None] | None = None,
) -> PipelineOutcome:
    """Run jobs 1..jobs through `driver` (skipping those already recorded) into runs/<id>/pipeline/.

    `on_job_done(seq)` is called in the calling thread after each job's row is on disk (tests use
    it to change faults between jobs). Payload files are checked before anything is submitted.

    Raises:
        ConfigError: bad settings or payload files, an unreadable jobs.parquet, a different driver.
        HarnessError: whatever the driver raises as one (e.g. no AWS credentials); rows are kept.
    """
    jobs, concurrency, timeout_s = _settings(workload, jobs, concurrency, timeout_s)
    plan = PayloadPlan(workload.payloads, api_url)
    pipeline_dir = run.part_dir(PART)
    path = pipeline_dir / JOBS_FILE
    rows = _existing_rows(path, run, driver)
    resumed_from = len(rows)
    jobs = max(jobs, max(rows, default=0))  # never plan fewer jobs than are recorded
    todo = [seq for seq in range(1, jobs + 1) if seq not in rows]
    part = dict(run.meta.get("parts", {}).get(PART, {}))
    warm_up()
    session: dict[str, Any] = {"started": time.time(), "rows_before": resumed_from, "todo": len(todo)}
    sessions = [*part.get("sessions", []), session]
    facts = getattr(driver, "facts", None)
    run.record_part(
        PART,
        status="running",
        driver=driver.name,
        driver_facts=facts() if callable(facts) else {},
        api_url=api_url,
        jobs=jobs,
        concurrency=concurrency,
        timeout_s=timeout_s,
        stop_on_failure=stop_on_failure,
        payloads=plan.describe(),
        sessions=sessions,
    )

    status = "error"
    ran = retries = 0
    view = _Progress(jobs, len(rows), show_progress)

    def one(seq: int) -> tuple[dict[str, Any], int]:
        payload = plan.for_job(seq)
        try:
            outcome = driver.run_job(payload.body, timeout_s)
        except HarnessError:
            raise
        except Exception as error:  # a driver bug fails this job, with its reason, not the run
            outcome = JobOutcome(None, DRIVER_ERROR, time.time(), error=f"{type(error).__name__}: {error}")
        return job_row(seq, driver.name, payload, outcome, run_checks(outcome, payload)), outcome.http_retries

    def record(row: dict[str, Any], http_retries: int) -> bool:
        """Keep the row on disk at once; True when the run must stop."""
        nonlocal ran, retries
        rows[row["seq"]] = row
        ran += 1
        retries += http_retries
        write_jobs(path, list(rows.values()))
        view.show(rows, row)
        if on_job_done is not None:
            on_job_done(row["seq"])
        return stop_on_failure and not row["success"]

    try:
        with view.progress:
            view.show(rows, None)
            stopped = (
                _sequential(todo, one, record)
                if concurrency == 1
                else _pooled(todo, concurrency, one, record)
            )
        status = "stopped" if stopped else "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if callable(close := getattr(driver, "close", None)):
            close()  # the driver's HTTP connections, kept alive between jobs
        longest, final = streaks(rows.values())
        successes = sum(bool(row["success"]) for row in rows.values())
        session |= {"ended": time.time(), "ran": ran, "status": status, "http_retries": retries}
        run.record_part(
            PART,
            status=status,
            driver_facts=facts() if callable(facts) else {},
            jobs_recorded=len(rows),
            successes=successes,
            failures=len(rows) - successes,
            longest_streak=longest,
            final_streak=final,
            sessions=sessions,
        )
    return PipelineOutcome(
        pipeline_dir=pipeline_dir,
        jobs_file=path,
        status=status,
        jobs_planned=jobs,
        jobs_recorded=len(rows),
        jobs_run=ran,
        resumed_from=resumed_from,
        successes=successes,
        failures=len(rows) - successes,
        longest_streak=longest,
        final_streak=final,
    )


Job = Callable[[int], tuple[dict[str, Any], int]]
Record = Callable[[dict[str, Any], int], bool]


def _sequential(todo: list[int], one: Job, record: Record) -> bool:
    """One job at a time, in the calling thread (Ctrl-C stops between two polls). True if stopped."""
    return any(record(*one(seq)) for seq in todo)  # any() stops at the first job that says stop


def _pooled(todo: list[int], concurrency: int, one: Job, record: Record) -> bool:
    """`concurrency` jobs in flight; rows are recorded in the calling thread as jobs end.

    After a stop, jobs already in flight still finish and are recorded; no new one starts. After
    Ctrl-C, jobs in flight are abandoned unrecorded (the process exits once their threads return,
    within the job timeout); a resume runs them again.
    """
    queue = iter(todo)
    stopped = False
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pipeline-job")
    in_flight: set[Future[tuple[dict[str, Any], int]]] = set()
    try:
        while True:
            while not stopped and len(in_flight) < concurrency and (seq := next(queue, None)) is not None:
                in_flight.add(pool.submit(one, seq))
            if not in_flight:
                return stopped
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                stopped = record(*future.result()) or stopped
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

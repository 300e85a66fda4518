"""The measuring parts as plain functions over one run: what `load`, `browser`, `pipeline` and `run` share.

Each function measures into `runs/<id>/<part>/` and returns nothing to judge with: the report reads
the run folder. Parts raise on problems; `run_parts` records a failed part in run.json and goes on,
so one broken part never loses what the others measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from harness.config import Scenarios, Target
from harness.errors import ConfigError, HarnessError
from harness.registry import METRICS
from harness.runstore import Run

ORDER = ("sources", "pipeline", "browser", "load")  # quick evidence first; the 500-user load last


@dataclass(frozen=True)
class Where:
    """The target a run measures, with its resolved URLs (a local stack is already up)."""

    name: str
    target: Target
    api_url: str
    web_url: str


@dataclass(frozen=True)
class Overrides:
    """Command-line values that replace scenarios.yaml's workload settings (None: keep)."""

    users: int | None = None
    spawn_rate: float | None = None
    duration_s: float | None = None
    workers: int = 0
    sequences: int | None = None
    repeats: int | None = None
    interaction_time_s: float | None = None
    uncapped: bool | None = None
    cpu_throttle: float | None = None
    uuid: str | None = None
    jobs: int | None = None
    driver: str | None = None
    concurrency: int | None = None
    timeout_s: float | None = None
    stop_on_failure: bool = False
    probe_interval_s: float = 1.0
    probe_until: float | None = None
    probe_rounds: int | None = None
    s3_source: str = ""
    s3_dest: str = ""
    s3_hash: str = "sample"
    s3_sample: int = 50


def parts_for(scenarios: Scenarios, gate_set: str) -> list[str]:
    """The parts a gate set needs, in the order they should run."""
    needed = {METRICS[gate.metric].part for gate in scenarios.gate_set(gate_set).values()}
    return [part for part in ORDER if part in needed]


def measure_load(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from loadtests.runner import run_load

    workload = scenarios.workloads.load
    run.record_part("load", settle_s=workload.settle, target_url=where.api_url)
    run_load(
        run,
        where.api_url,
        workload,
        users=options.users,
        spawn_rate=options.spawn_rate,
        duration_s=options.duration_s,
        workers=options.workers,
    )


def measure_browser(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from browser_bench.jobs import ensure_alignment_job
    from browser_bench.runner import run_browser
    from local_pavi.genome import FASTA_NAME

    workload = scenarios.workloads.browser
    if options.sequences is not None:
        workload = workload.model_copy(update={"sequences": options.sequences})
    job = options.uuid or workload.job_uuid
    if job is None:
        if where.target.kind != "local":
            raise ConfigError(
                f"target {where.name!r} is remote: the browser bench needs a completed job to show",
                "pass --uuid <job uuid> or set workloads.browser.job_uuid in scenarios.yaml",
            )
        job = ensure_alignment_job(
            where.api_url, workload.sequences, f"{where.api_url}/genome/{FASTA_NAME}", timeout_s=900
        )
    run_browser(
        run,
        where.web_url,
        job,
        workload,
        repeats=options.repeats,
        interaction_time_s=options.interaction_time_s,
        uncapped=options.uncapped,
        cpu_throttle=options.cpu_throttle,
    )


def measure_pipeline(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from pipeline_bench.runner import run_pipeline

    workload = scenarios.workloads.pipeline
    driver = pipeline_driver(options.driver or workload.driver, where)
    run_pipeline(
        run,
        driver,
        workload,
        where.api_url,
        jobs=options.jobs,
        concurrency=options.concurrency,
        stop_on_failure=options.stop_on_failure,
        timeout_s=options.timeout_s,
    )


def pipeline_driver(kind: str, where: Where) -> object:
    if kind == "api":
        from pipeline_bench.driver_api import ApiDriver

        return ApiDriver(where.api_url)
    if kind == "stepfunctions":
        from harness import stack
        from pipeline_bench.driver_stepfunctions import StepFunctionsDriver

        if where.target.kind == "local":
            state = stack.read_state(where.name)
            if state is None:
                raise ConfigError(f"local stack {where.name!r} is not running", "pavi-validate stack up")
            return StepFunctionsDriver.for_local_stack(state)
        if not where.target.state_machine_arn:
            raise ConfigError(
                f"target {where.name!r} has no state_machine_arn", "set it under the target in scenarios.yaml"
            )
        return StepFunctionsDriver(
            where.target.aws, where.target.state_machine_arn, where.target.jobs_table, api_url=where.api_url
        )
    raise ConfigError(f"driver {kind!r} is not known", "use --driver api or --driver stepfunctions")


def measure_sources(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from sources.collect import collect

    if scenarios.sources is None:
        # nothing asked for: its gates are SKIPPED ("not measured"), which is true, not a failure
        run.record_part("sources", status="skipped", reason="scenarios.yaml has no `sources:` block")
        return
    outcomes = collect(run, where.target, scenarios.sources, urls=(where.api_url, where.web_url))
    failed = [name for name, facts in outcomes.items() if facts.get("status") == "failed"]
    if failed and len(failed) == len(outcomes):
        raise HarnessError(f"every source failed: {', '.join(failed)} (see run.json parts.sources)")


def measure_probe(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from cutover.probe import run_probe

    run_probe(
        run,
        where.api_url,
        interval_s=options.probe_interval_s,
        until=options.probe_until,
        max_probes=options.probe_rounds,
        job_uuid=options.uuid,
    )


def measure_s3(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from cutover.s3_verify import verify_s3
    from sources.aws import open_session

    client = open_session(where.target.aws).client("s3")
    diff = verify_s3(
        options.s3_source,
        options.s3_dest,
        client_source=client,
        hash_content=options.s3_hash,  # type: ignore[arg-type]
        sample=options.s3_sample,
        out_dir=run.part_dir("s3"),
    )
    run.record_part("s3", source=options.s3_source, dest=options.s3_dest, differences=diff.differences)


MEASURE: dict[str, Callable[[Run, Scenarios, Where, Overrides], None]] = {
    "load": measure_load,
    "browser": measure_browser,
    "pipeline": measure_pipeline,
    "sources": measure_sources,
    "probe": measure_probe,
    "s3": measure_s3,
}


def run_parts(
    run: Run, scenarios: Scenarios, where: Where, parts: list[str], options: Overrides, console: Console
) -> None:
    """Run parts one after another; a part that fails is recorded (its gates become INVALID), not fatal."""
    for part in parts:
        console.rule(f"[bold]{part}")
        try:
            MEASURE[part](run, scenarios, where, options)
        except Exception as error:  # KeyboardInterrupt still stops the whole run
            reason = str(error) if isinstance(error, HarnessError) else f"{type(error).__name__}: {error}"
            run.record_part(part, status="failed", error=reason)
            console.print(f"[red]{part} failed:[/] {reason}", highlight=False)

"""The measuring parts as plain functions over one run: what `load`, `browser`, `pipeline` and `run` share.

Each function measures into `runs/<id>/<part>/` and returns nothing to judge with: the report reads
the run folder. Parts raise on problems; `run_parts` records a failed part in run.json and goes on,
so one broken part never loses what the others measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from harness.config import PayloadSpec, Scenarios, Target
from harness.errors import ConfigError, HarnessError
from harness.registry import METRICS
from harness.runstore import Run

ORDER = ("sources", "watch", "pipeline", "browser", "load")  # quick evidence first; the 500-user load last


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
    max_jobs: int | None = None
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
    # canary: the traffic step (%) this run clears; canary watch: the step Route 53 should be at now
    step_pct: float | None = None
    watch_window_s: float = 900.0  # canary watch: the CloudWatch window ending now
    # --until-decided: look at doubling times from first_look_s until the load's gates are decided,
    # for at most max_duration_s (default: twice the planned duration); gate_set names the gates
    until_decided: bool = False
    first_look_s: float = 60.0
    max_duration_s: float | None = None
    max_repeats: int | None = None  # the browser's: default four times its repeats
    gate_set: str | None = None


def parts_for(scenarios: Scenarios, gate_set: str) -> list[str]:
    """The parts a gate set needs, in the order they should run."""
    gates = scenarios.gate_set(gate_set).values()
    needed = {METRICS[gate.metric].part for gate in gates}
    if "watch" in needed and all(
        gate.metric.startswith("cloudwatch.") for gate in gates if METRICS[gate.metric].part == "sources"
    ):
        needed.discard("sources")  # the watch collects its own CloudWatch window (sets like canary-watch)
    return [part for part in ORDER if part in needed]


def measure_load(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from harness.safety import preflight, require_listed

    require_listed(where.api_url, scenarios)
    preflight(where.api_url)
    _load(run, scenarios, where.api_url, options, remote=where.target.kind == "remote")


def _load(
    run: Run,
    scenarios: Scenarios,
    api_url: str,
    options: Overrides,
    sides: dict[str, str] | None = None,
    *,
    remote: bool,
) -> None:
    """The load workload with the command line's overrides; `sides` makes it a canary load."""
    from loadtests.runner import run_load

    workload = scenarios.workloads.load
    run.record_part("load", settle_s=workload.settle, target_url=api_url)
    duration_s = options.duration_s or workload.duration
    looks: list[float] = []
    at_look = None
    if options.until_decided:
        from reports.looks import judge_look
        from reports.model import Verdict
        from reports.sequential import look_confidence, look_times

        if options.gate_set is None:
            raise ConfigError("--until-decided needs the gate set to judge", "give --gates SET")
        gate_set = options.gate_set
        max_s = options.max_duration_s or 2 * duration_s
        looks = look_times(options.first_look_s, max_s)
        duration_s = max_s
        # Bonferroni across the planned looks: the whole procedure keeps its 95%
        run.record_part(
            "load",
            confidence=look_confidence(len(looks)),
            until_decided={"looks_s": looks, "max_duration_s": max_s},
        )

        def at_look(at: float) -> str | None:
            reason, results = judge_look(run, scenarios, gate_set)
            if reason is None:
                open_ = next((r for r in results if r.verdict not in (Verdict.PASS, Verdict.SKIPPED)), None)
                why = f" ({open_.name} {open_.verdict.value}: {open_.reason})" if open_ else ""
                print(f"look at {at:g} s: not decided yet, going on{why}", flush=True)
            else:
                print(f"look at {at:g} s: {reason}; stopping", flush=True)
            return reason

    run_load(
        run,
        api_url,
        workload,
        users=options.users,
        spawn_rate=options.spawn_rate,
        duration_s=duration_s,
        workers=options.workers,
        sides=sides,
        max_jobs=workload.job_budget(remote, options.max_jobs),
        looks=looks,
        at_look=at_look,
    )


def measure_browser(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from browser_bench.jobs import ensure_alignment_job
    from browser_bench.runner import run_browser

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
        job = ensure_alignment_job(where.api_url, workload.sequences, timeout_s=900)
    repeats = options.repeats or workload.repeats
    looks: list[float] = []
    at_look = None
    if options.until_decided:
        # repeats, not seconds: the first look after 3 fresh pages (the fewest for an interval), doubling
        looks, at_look, repeats = _browser_looks(run, scenarios, options, repeats)
    run_browser(
        run,
        where.web_url,
        job,
        workload,
        repeats=repeats,
        interaction_time_s=options.interaction_time_s,
        uncapped=options.uncapped,
        cpu_throttle=options.cpu_throttle,
        looks=looks,
        at_look=at_look,
    )


def _browser_looks(
    run: Run, scenarios: Scenarios, options: Overrides, repeats: int
) -> tuple[list[float], Callable[[int], str | None], int]:
    """--until-decided for the browser: look after 3, 6, 12... repeats up to --max-repeats."""
    from reports.looks import judge_look
    from reports.sequential import look_confidence, look_times

    if options.gate_set is None:
        raise ConfigError("--until-decided needs the gate set to judge", "give --gates SET")
    gate_set = options.gate_set
    most = options.max_repeats or 4 * repeats
    looks = [float(round(at)) for at in look_times(min(3, most), most)]
    run.record_part("browser", confidence=look_confidence(len(looks)))

    def at_look(done: int) -> str | None:
        reason, _ = judge_look(run, scenarios, gate_set, ("browser",))
        print(f"look after {done} repeat(s): {reason or 'not decided yet, going on'}", flush=True)
        return reason

    return looks, at_look, most


def measure_pipeline(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    from harness.safety import preflight
    from pipeline_bench.runner import run_pipeline

    workload = scenarios.workloads.pipeline
    kind = options.driver or workload.driver
    driver = pipeline_driver(kind, where)
    if kind == "api":
        preflight(where.api_url)
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


def measure_canary(run: Run, scenarios: Scenarios, sides: dict[str, Where], options: Overrides) -> None:
    """Blue against green: the consistency check on a few payloads, then one interleaved load.

    Either half may fail (recorded in run.json; its gates become INVALID); the other still runs.
    """
    from cutover.consistency import check_consistency, dynamodb_for
    from harness.safety import preflight, require_listed

    for where in sides.values():
        require_listed(where.api_url, scenarios)
        preflight(where.api_url)
    canary = scenarios.workloads.canary
    urls = {side: where.api_url for side, where in sides.items()}
    new = sides[canary.new_side]
    run.record_part(
        "canary",
        sides=urls,
        targets={side: where.name for side, where in sides.items()},
        new_side=canary.new_side,
        step_pct=options.step_pct,
        normalise=canary.normalise.model_dump(),
    )
    try:
        check_consistency(
            urls,
            consistency_payloads(canary.payload, canary.consistency_jobs, new.api_url),
            new_side=canary.new_side,
            normalise=canary.normalise,
            out_dir=run.part_dir("canary"),
            timeout_s=canary.job_timeout,
            dynamodb=dynamodb_for(new.name, new.target),
        )
    except Exception as error:  # the load still runs; the consistency gate says why it has no data
        run.record_part("canary", status="failed", error=_reason(error))
    try:
        remote = any(where.target.kind == "remote" for where in sides.values())
        _load(run, scenarios, new.api_url, options, sides=urls, remote=remote)
    except Exception as error:
        run.record_part("load", status="failed", error=_reason(error))


def consistency_payloads(spec: PayloadSpec, count: int, api_url: str) -> list[list[dict[str, object]]]:
    """The payload file once, or `count` payloads the local stand-in generates (one seed each)."""
    from pavi_contract.admin import generated_payload
    from pavi_contract.payload import read_payload_file

    if spec.file is not None:
        return [read_payload_file(spec.file)]
    return [generated_payload(api_url, spec.entries, seed=seed) for seed in range(count)]


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, HarnessError) else f"{type(error).__name__}: {error}"


def measure_watch(run: Run, scenarios: Scenarios, where: Where, options: Overrides) -> None:
    """canary watch: the ALB's CloudWatch window ending now and the Route 53 weights (cutover/watch.py)."""
    from cutover.watch import run_watch

    canary = scenarios.workloads.canary
    run_watch(
        run,
        where.target,
        scenarios.sources.cloudwatch if scenarios.sources else None,
        window_s=options.watch_window_s,
        step_pct=options.step_pct,
        route53=canary.route53,
        new_side=canary.new_side,
        urls=(where.api_url, where.web_url),
    )


MEASURE: dict[str, Callable[[Run, Scenarios, Where, Overrides], None]] = {
    "load": measure_load,
    "browser": measure_browser,
    "pipeline": measure_pipeline,
    "sources": measure_sources,
    "probe": measure_probe,
    "s3": measure_s3,
    "watch": measure_watch,
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
            reason = _reason(error)
            run.record_part(part, status="failed", error=reason)
            console.print(f"[red]{part} failed:[/] {escape(reason)}", highlight=False)

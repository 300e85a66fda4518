"""`pavi-validate`: thin commands over plain functions (asv's pattern) and one error path."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import __version__, stack
from harness.config import DEFAULT_CONFIG, Faults, Scenarios, Target, load_scenarios, require_payload_files
from harness.errors import ConfigError, ExitCode, HarnessError
from harness.parts import MEASURE, Overrides, Where, parts_for, run_parts
from harness.runstore import Run, create_run, iter_runs

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="pavi-validate",
    help="Validate a PAVI deployment against the migration plan's phase gates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check scenarios.yaml.", no_args_is_help=True)
runs_app = typer.Typer(help="Look at past runs in the run store.", no_args_is_help=True)
stack_app = typer.Typer(help="Start, stop and inspect the local PAVI stack.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(runs_app, name="runs")
app.add_typer(stack_app, name="stack")

_state = {"debug": False}

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="scenarios file", show_default=True)]
TargetOption = Annotated[str | None, typer.Option("--target", "-t", help="target name from scenarios.yaml")]
StackName = Annotated[str, typer.Option("--name", help="stack name (e.g. blue, green)")]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks of errors")] = False,
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    _state["debug"] = debug
    if version:
        console.print(__version__)
        raise typer.Exit()


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="scenarios file")] = DEFAULT_CONFIG) -> None:
    """Validate scenarios.yaml; exit 2 with every problem named if it does not fit."""
    if not file.exists():
        raise ConfigError(f"config file {file} does not exist", "pass the path of your scenarios.yaml")
    scenarios = load_scenarios(file)
    gates = sum(len(gate_set) for gate_set in scenarios.gates.values())
    console.print(
        f"[green]ok[/green] {file}: {len(scenarios.targets)} targets, "
        f"{len(scenarios.gates)} gate sets ({gates} gates), default target {scenarios.default_target!r}"
    )


@runs_app.command("list")
def runs_list(
    runs_dir: Annotated[
        Path | None, typer.Option(help="run store folder (default ./runs or $PAVI_RUNS_DIR)")
    ] = None,
) -> None:
    """List past runs, newest last, with their status and parts."""
    table = Table("run id", "status", "target", "started", "parts")
    count = 0
    for run in iter_runs(runs_dir):
        meta = run.meta
        status = meta.get("status", "?")
        colour = {"complete": "green", "incomplete": "yellow", "aborted": "red"}.get(status, "white")
        table.add_row(
            run.id, f"[{colour}]{status}[/]", str(meta.get("target")), str(meta.get("started")),
            ", ".join(meta.get("parts", {})) or "-",
        )  # fmt: skip
        count += 1
    if count:
        console.print(table)
    else:
        console.print("no runs yet")


@stack_app.command("up")
def stack_up(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="stack name (default: the target's, e.g. local-green)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port on 127.0.0.1 (default: the target's)")] = None,
    workers: Annotated[int | None, typer.Option(help="pipeline jobs running at once")] = None,
    backend: Annotated[
        str | None, typer.Option(help="inprocess (today's PAVI) or stepfunctions (on moto)")
    ] = None,
    threading: Annotated[
        str | None,
        typer.Option(
            help="bounded (jobs in a pool of --workers threads) or upstream (as upstream's API: jobs and "
            "result downloads share AnyIO's 40 threads; inprocess only)"
        ),
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(help="added latency on /api routes")] = None,
    latency_jitter_ms: Annotated[float | None, typer.Option(help="± uniform jitter on that latency")] = None,
    error_ratio: Annotated[float | None, typer.Option(help="share of /api answers turned into 503")] = None,
    drop_ratio: Annotated[
        float | None, typer.Option(help="share of /api answers cut off after the headers (dropped)")
    ] = None,
    pipeline_failure_ratio: Annotated[float | None, typer.Option(help="share of jobs that fail")] = None,
    pipeline_delay_ms: Annotated[
        float | None, typer.Option(help="added to every job's alignment stage")
    ] = None,
    slow_frame_ms: Annotated[
        float | None, typer.Option(help="busy wait per alignment redraw in the page")
    ] = None,
    alter_alignment: Annotated[
        bool | None, typer.Option(help="change one residue of every job's alignment (a data inconsistency)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="seed for fault draws")] = None,
) -> None:
    """Start a local PAVI stack in the background and print its URLs."""
    scenarios = load_scenarios(config)
    target_name, chosen = scenarios.target(target or "local")
    name = name or target_name  # so a target's commands find the stack started for it
    overrides = _given(port=port, pipeline_workers=workers, backend=backend, threading=threading)
    fault_overrides = _given(
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        error_ratio=error_ratio,
        drop_ratio=drop_ratio,
        pipeline_failure_ratio=pipeline_failure_ratio,
        pipeline_delay_ms=pipeline_delay_ms,
        slow_frame_ms=slow_frame_ms,
        alter_alignment=alter_alignment,
    )
    faults = Faults.model_validate({**chosen.faults.model_dump(), **fault_overrides})
    try:
        chosen = Target.model_validate({**chosen.model_dump(), **overrides, "faults": faults})
    except ValidationError as error:
        raise ConfigError(
            f"stack up: {error.errors()[0]['msg']}", "see `pavi-validate stack up --help`"
        ) from None
    with err_console.status(f"starting stack {name!r} (first start generates the genome)..."):
        state = stack.start_stack(name, chosen, seed=seed)
    console.print(
        f"stack [bold]{name}[/] up (pid {state.pid}, backend {state.backend}, threading {state.threading})"
    )
    console.print(f"  API     {state.api_url}/api/health")
    console.print(f"  web UI  {state.web_url}/result?uuid=<job uuid>")
    console.print(f"  genome  {state.url}/genome/{_genome_name()}")
    console.print(f"  log     {state.log}")
    active = {key: value for key, value in state.faults.items() if value}
    if active:
        console.print(f"  faults  {active}")
    if state.aws:
        aws = state.aws
        console.print(
            f"  AWS     {aws['endpoint_url']} (moto)  {aws['state_machine_arn']}  table {aws['jobs_table']}"
        )


def _genome_name() -> str:
    from local_pavi.genome import FASTA_NAME

    return FASTA_NAME


@stack_app.command("down")
def stack_down(name: StackName = "local") -> None:
    """Stop a local stack started with `stack up`."""
    state = stack.stop_stack(name)
    console.print(f"stack {name!r} stopped" if state else f"stack {name!r} was not running")


@stack_app.command("status")
def stack_status() -> None:
    """Show every local stack the harness knows, and whether it answers."""
    states = stack.all_states()
    if not states:
        console.print("no local stack is running")
        return
    table = Table("name", "pid", "url", "backend", "health", "faults")
    for state in states:
        up = stack.healthy(state.url)
        active = {key: value for key, value in state.faults.items() if value} or "-"
        table.add_row(
            state.name, str(state.pid), state.url, state.backend,
            "[green]up[/]" if up else "[red]down[/]", str(active),
        )  # fmt: skip
    console.print(table)


@stack_app.command("faults")
def stack_faults(
    name: StackName = "local",
    latency_ms: Annotated[float | None, typer.Option()] = None,
    latency_jitter_ms: Annotated[float | None, typer.Option()] = None,
    error_ratio: Annotated[float | None, typer.Option()] = None,
    drop_ratio: Annotated[float | None, typer.Option()] = None,
    pipeline_failure_ratio: Annotated[float | None, typer.Option()] = None,
    pipeline_delay_ms: Annotated[float | None, typer.Option()] = None,
    slow_frame_ms: Annotated[float | None, typer.Option()] = None,
    alter_alignment: Annotated[bool | None, typer.Option(help="change a residue of every alignment")] = None,
) -> None:
    """Change the faults of a running stack (no option: show them)."""
    state = stack.read_state(name)
    if state is None or not stack.healthy(state.url):
        raise HarnessError(
            f"stack {name!r} is not running", "start it with `pavi-validate stack up`", ExitCode.ENVIRONMENT
        )
    changes = _given(
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        error_ratio=error_ratio,
        drop_ratio=drop_ratio,
        pipeline_failure_ratio=pipeline_failure_ratio,
        pipeline_delay_ms=pipeline_delay_ms,
        slow_frame_ms=slow_frame_ms,
        alter_alignment=alter_alignment,
    )
    console.print_json(data=stack.set_faults(state.url, **changes))


@app.command("payload")
def payload(
    entries: Annotated[int, typer.Option(min=1, help="number of transcripts (seq-region objects)")] = 10,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
    seed: Annotated[int, typer.Option(help="different seeds pick different transcripts")] = 0,
    fasta_url: Annotated[str, typer.Option(help="fasta_file_url written into each entry")] = "",
) -> None:
    """Write a PAVI-schema job payload that references the local stack's genome."""
    from local_pavi.genome import FASTA_NAME
    from local_pavi.payload import generate_payload

    url = fasta_url or f"http://127.0.0.1:8765/genome/{FASTA_NAME}"
    try:
        body = generate_payload(entries, fasta_file_url=url, seed=seed)
    except ValueError as error:
        raise ConfigError(f"--entries {entries}: {error}", "ask for fewer entries") from None
    text = json.dumps(body, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err_console.print(f"wrote {entries} entries to {output}")


def _report(run_ref: str | Path, scenarios: Scenarios, gate_set: str, baseline: str | None) -> int:
    from reports.render_console import print_verdicts
    from reports.report import write_report

    written = write_report(run_ref, scenarios, gate_set, baseline)
    print_verdicts(written.report, console)
    console.print(f"report: {written.folder / 'report.html'}")
    return written.report.exit_code


@app.command("report")
def report(
    run: Annotated[str, typer.Argument(help="run id (or unambiguous prefix, or path) from `runs list`")],
    config: ConfigOption = DEFAULT_CONFIG,
    gates: Annotated[
        str | None, typer.Option("--gates", "-g", help="gate set (default: the run's own)")
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="run to compare relative gates with")] = None,
) -> None:
    """Judge a run against a gate set and write report.html, report.md, junit.xml and summary.json.

    Rebuilds from the raw samples in runs/<id>/ at any time, with any gates. Exit code: see README.
    """
    from harness.runstore import open_run

    scenarios = load_scenarios(config)
    gate_set = gates or str(open_run(run).meta.get("gate_set") or "phase-2")
    raise typer.Exit(_report(run, scenarios, gate_set, baseline))


GatesOption = Annotated[str, typer.Option("--gates", "-g", help="gate set to judge with")]
# the load's size, shared by `load` and `canary` (a canary's users alternate between the sides)
UsersOption = Annotated[
    int | None, typer.Option(min=1, help="concurrent users (default: workloads.load.users)")
]
SpawnRateOption = Annotated[float | None, typer.Option(min=0.1, help="users started per second")]
DurationOption = Annotated[str | None, typer.Option(help="load time with a unit, e.g. 5m, 90s")]
WorkersOption = Annotated[int, typer.Option(min=0, help="Locust worker processes (0: one process)")]
MaxJobsOption = Annotated[
    int | None,
    typer.Option(
        "--max-jobs",
        min=0,
        help="every job the load may submit, seed jobs included (per side in a canary); "
        "default workloads.load.max_jobs, else 50 on a remote target",
    ),
]
UntilDecidedOption = Annotated[
    bool,
    typer.Option(
        "--until-decided",
        help="look at doubling times (--first-look, 2x, 4x...) and stop once every load gate is decided "
        "(any FAIL, or all PASS); at most --max-duration, then INCONCLUSIVE (docs/JUDGING.md)",
    ),
]
FirstLookOption = Annotated[str, typer.Option(help="--until-decided: the first look, e.g. 60s")]
MaxDurationOption = Annotated[
    str | None, typer.Option(help="--until-decided: the longest run (default twice the duration)")
]
ConfirmProduction = Annotated[
    bool,
    typer.Option("--confirm-production", help="allow load, jobs or a full run on a production: true target"),
]


def _duration(option: str, value: str | None) -> float | None:
    from harness.units import parse_duration_s

    try:
        return parse_duration_s(value) if value else None
    except ValueError as error:
        raise ConfigError(f"{option} {value!r}: {error}", f"e.g. {option} 90s") from None


def _looks(until_decided: bool, first_look: str, max_duration: str | None, gates: str) -> dict[str, Any]:
    """The Overrides of --until-decided (empty without it, so the options change nothing)."""
    if not until_decided:
        return {}
    return {
        "until_decided": True,
        "first_look_s": _duration("--first-look", first_look),
        "max_duration_s": _duration("--max-duration", max_duration),
        "gate_set": gates,
    }


def _measure(
    config: Path,
    target: str | None,
    gates: str,
    parts: list[str] | None,
    options: Overrides,
    confirm_production: bool = False,
    resume: str | None = None,
) -> None:
    """Resolve the target, measure the parts into one run, then judge and report it."""
    from harness.runstore import open_run

    scenarios = load_scenarios(config)
    name, chosen = scenarios.target(target)
    scenarios.gate_set(gates)  # fail on an unknown set before anything is sent
    wanted = parts if parts is not None else parts_for(scenarios, gates)
    if chosen.production and not confirm_production and {"load", "pipeline"} & set(wanted):
        raise ConfigError(
            f"target {name!r} is marked production: true; load and jobs on it need --confirm-production",
            "add --confirm-production if you really mean to send them to production",
        )
    require_payload_files(scenarios.workloads, {name: chosen}, set(wanted), options.uuid)
    with _target_urls(name, chosen) as (api_url, web_url):
        run = open_run(resume) if resume else create_run(name, config, gate_set=gates, parts_planned=wanted)
        # name the URL each part drives: the browser bench drives the web UI, the others the API
        driven = web_url if wanted == ["browser"] else api_url
        if "browser" in wanted and driven != web_url:
            driven += f" (browser: {web_url})"
        console.print(f"run {run.id}: {', '.join(wanted) or 'nothing to measure'} on {driven}")
        where = Where(name, chosen, api_url, web_url)
        with _recording(run, scenarios, gates):
            if parts is None:
                run_parts(run, scenarios, where, wanted, options, console)
            else:
                for part in wanted:
                    MEASURE[part](run, scenarios, where, options)
    raise typer.Exit(_report(run.path, scenarios, gates, None))


@app.command("run")
def run_all(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    gates: GatesOption = "phase-2",
    max_jobs: MaxJobsOption = None,
    confirm_production: ConfirmProduction = False,
) -> None:
    """The full validation: run every part the gate set needs, in one run, and write one report.

    Order: sources, pipeline, browser, load (the 500-user load last, alone on the machine). A part
    that fails is recorded and its gates become INVALID with the reason; the other parts still run.
    """
    _measure(config, target, gates, None, Overrides(max_jobs=max_jobs), confirm_production)


@app.command("collect")
def collect_evidence(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    gates: GatesOption = "phase-2",
) -> None:
    """Collect the AWS and CI evidence in scenarios.yaml's `sources:` block, then judge and report it.

    Cost Explorer (period against baseline), CloudWatch queries, E2E JUnit files and a deploy smoke
    check, into runs/<id>/sources/. Only the evidence gates of the set are judged; the rest are SKIPPED.
    """
    _measure(config, target, gates, ["sources"], Overrides())


@app.command("probe")
def probe(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    interval: Annotated[str, typer.Option(help="time between probe rounds, e.g. 1s")] = "1s",
    until: Annotated[
        str | None, typer.Option(help="how long to probe (e.g. 30m) or until when (ISO time)")
    ] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="stop after this many rounds")] = None,
    uuid: Annotated[
        str | None, typer.Option(help="a completed job to read (needed on a deployed PAVI)")
    ] = None,
    gates: GatesOption = "cutover",
) -> None:
    """Probe health, a job status read and a result read continuously through a cutover (zero downtime).

    Every probe goes to runs/<id>/probe/probes.parquet; the report gives failed probes and the longest
    time any route went without an answer. Ctrl-C ends it and still judges what was probed.
    """
    import time
    from datetime import datetime

    if until is None and rounds is None:
        raise ConfigError("the prober needs an end", "give --until 30m (or an ISO time) or --rounds N")
    end: float | None = None
    if until is not None:
        try:
            end = time.time() + float(_duration("--until", until) or 0)
        except ConfigError:
            try:
                end = datetime.fromisoformat(until).timestamp()
            except ValueError:
                raise ConfigError(
                    f"--until {until!r} is neither a duration nor an ISO time", "e.g. --until 30m"
                ) from None
    options = Overrides(
        probe_interval_s=_duration("--interval", interval) or 1.0,
        probe_until=end,
        probe_rounds=rounds,
        uuid=uuid,
    )
    _measure(config, target, gates, ["probe"], options)


@app.command("s3-verify")
def s3_verify(
    source: Annotated[str, typer.Option(help="s3://bucket/prefix copied from")],
    dest: Annotated[str, typer.Option(help="s3://bucket/prefix copied to")],
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    hash_content: Annotated[
        str, typer.Option(help="none, sample or all: content hashes where ETags differ in kind")
    ] = "sample",
    sample: Annotated[int, typer.Option(min=1, help="objects hashed with --hash-content sample")] = 50,
    gates: GatesOption = "cutover",
) -> None:
    """Compare two S3 prefixes after the data migration: keys, sizes and checksums.

    Uses the target's AWS settings (profile, region, endpoint). Lists what is missing, extra or
    different in runs/<id>/s3/ and judges `s3.differences`.
    """
    if hash_content not in ("none", "sample", "all"):
        raise ConfigError(f"--hash-content {hash_content!r} is not known", "use none, sample or all")
    options = Overrides(s3_source=source, s3_dest=dest, s3_hash=hash_content, s3_sample=sample)
    _measure(config, target, gates, ["s3"], options)


@app.command("load")
def load(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    users: UsersOption = None,
    spawn_rate: SpawnRateOption = None,
    duration: DurationOption = None,
    workers: WorkersOption = 0,
    max_jobs: MaxJobsOption = None,
    gates: GatesOption = "phase-2",
    confirm_production: ConfirmProduction = False,
    until_decided: UntilDecidedOption = False,
    first_look: FirstLookOption = "60s",
    max_duration: MaxDurationOption = None,
) -> None:
    """Run the Locust load test headless against a target, then judge and report it.

    Every request is recorded in runs/<id>/load/requests.parquet; the report is computed from those
    raw samples. Against the local target the stack is started (and stopped) as needed.
    """
    options = Overrides(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=_duration("--duration", duration),
        workers=workers,
        max_jobs=max_jobs,
        **_looks(until_decided, first_look, max_duration, gates),
    )
    _measure(config, target, gates, ["load"], options, confirm_production)


@app.command("browser")
def browser(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    sequences: Annotated[int | None, typer.Option(min=2, help="rows in the alignment (default 500)")] = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="fresh pages measured")] = None,
    interaction_time: Annotated[str | None, typer.Option(help="time per interaction, e.g. 3s")] = None,
    uncapped: Annotated[
        bool | None, typer.Option("--uncapped/--capped", help="ask Chromium not to cap at 60 Hz")
    ] = None,
    cpu_throttle: Annotated[
        float | None, typer.Option(min=1, help="CDP CPU throttling rate (e.g. 4)")
    ] = None,
    uuid: Annotated[
        str | None, typer.Option(help="an existing completed job to show (remote targets)")
    ] = None,
    gates: GatesOption = "phase-1",
    until_decided: Annotated[
        bool,
        typer.Option(
            "--until-decided", help="look after 3, 6, 12... repeats; stop once every browser gate is decided"
        ),
    ] = False,
    max_repeats: Annotated[
        int | None, typer.Option(min=1, help="--until-decided: the most repeats (default 4x --repeats)")
    ] = None,
) -> None:
    """Measure the alignment view's frame rate in Chromium (Playwright), then judge and report it.

    Against the local target the harness makes the N-sequence job itself; against a deployed web UI,
    give --uuid (or workloads.browser.job_uuid) of a completed job with that many sequences.
    """
    options = Overrides(
        sequences=sequences,
        repeats=repeats,
        interaction_time_s=_duration("--interaction-time", interaction_time),
        uncapped=uncapped,
        cpu_throttle=cpu_throttle,
        uuid=uuid,
        **({"until_decided": True, "max_repeats": max_repeats, "gate_set": gates} if until_decided else {}),
    )
    _measure(config, target, gates, ["browser"], options)


@app.command("pipeline")
def pipeline(
    config: ConfigOption = DEFAULT_CONFIG,
    target: TargetOption = None,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="jobs to run (default: workloads.pipeline.jobs)")
    ] = None,
    driver: Annotated[
        str | None, typer.Option(help="api (POST /api/pipeline-job/) or stepfunctions (boto3)")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="jobs at once (1 = consecutive)")] = None,
    timeout: Annotated[str | None, typer.Option(help="per-job timeout with a unit, e.g. 10m")] = None,
    stop_on_failure: Annotated[
        bool, typer.Option("--stop-on-failure", help="stop at the first failed job")
    ] = False,
    resume: Annotated[str | None, typer.Option(help="continue an interrupted run (its id)")] = None,
    gates: GatesOption = "phase-2",
    confirm_production: ConfirmProduction = False,
) -> None:
    """Run pipeline jobs one after another, check every result, then judge and report.

    Each job's row is written to runs/<id>/pipeline/jobs.parquet as soon as it ends, so an
    interrupted run loses at most the job in flight and --resume RUN continues it.
    """
    options = Overrides(
        jobs=jobs,
        driver=driver,
        concurrency=concurrency,
        timeout_s=_duration("--timeout", timeout),
        stop_on_failure=stop_on_failure,
    )
    _measure(config, target, gates, ["pipeline"], options, confirm_production, resume)


canary_app = typer.Typer(
    help="Blue against green before each canary step; `canary watch` during one.",
    invoke_without_command=True,
)
app.add_typer(canary_app, name="canary")


@canary_app.callback()
def canary(
    ctx: typer.Context,
    blue: Annotated[
        str | None, typer.Option(help="target name in scenarios.yaml, or a local stack started with --name")
    ] = None,
    green: Annotated[str | None, typer.Option(help="the other side, named the same way")] = None,
    step: Annotated[
        float | None, typer.Option(min=0, max=100, help="the traffic step (%) this run clears, e.g. 10")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    users: UsersOption = None,
    spawn_rate: SpawnRateOption = None,
    duration: DurationOption = None,
    workers: WorkersOption = 0,
    max_jobs: MaxJobsOption = None,
    gates: GatesOption = "canary",
    confirm_production: ConfirmProduction = False,
    until_decided: UntilDecidedOption = False,
    first_look: FirstLookOption = "60s",
    max_duration: MaxDurationOption = None,
) -> None:
    """GO / NO-GO for the next canary step: one interleaved load on blue and green, plus data consistency.

    Every simulated user alternates between the sides (same journey, same payloads, same time), so the
    machines and the load generator are the same for both. Load gates are judged once per side; the
    comparison gates judge the new side (workloads.canary.new_side) against the old one.
    Exit code 0 = GO, 1 = NO-GO, 3 or 4 = INCONCLUSIVE (see README).
    """
    if ctx.invoked_subcommand is not None:
        return
    if blue is None or green is None:
        raise ConfigError(
            "canary needs both sides", "give --blue TARGET --green TARGET (or use `canary watch`)"
        )
    if blue == green:
        raise ConfigError(f"--blue and --green are both {blue!r}", "name two different targets")
    scenarios = load_scenarios(config)
    scenarios.gate_set(gates)
    named = {
        "blue": _side_target(scenarios, "--blue", blue),
        "green": _side_target(scenarios, "--green", green),
    }
    production = [name for name, target in named.values() if target.production]
    if production and not confirm_production:
        raise ConfigError(
            f"target {production[0]!r} is marked production: true; a canary load needs --confirm-production",
            "add --confirm-production if you really mean to send load to production",
        )
    require_payload_files(scenarios.workloads, dict(named.values()), {"canary", "load"})
    options = Overrides(
        users=users,
        spawn_rate=spawn_rate,
        duration_s=_duration("--duration", duration),
        workers=workers,
        max_jobs=max_jobs,
        step_pct=step,
        **_looks(until_decided, first_look, max_duration, gates),
    )
    from harness.parts import measure_canary

    with _target_urls(*named["blue"]) as blue_urls, _target_urls(*named["green"]) as green_urls:
        sides = {
            "blue": Where(named["blue"][0], named["blue"][1], *blue_urls),
            "green": Where(named["green"][0], named["green"][1], *green_urls),
        }
        run = create_run(f"{blue}+{green}", config, gate_set=gates, parts_planned=["canary", "load"])
        console.print(f"run {run.id}: canary, blue {blue_urls[0]} against green {green_urls[0]}")
        with _recording(run, scenarios, gates):
            measure_canary(run, scenarios, sides, options)
    raise typer.Exit(_report(run.path, scenarios, gates, None))


@canary_app.command("watch")
def canary_watch(
    target: TargetOption = None,
    window: Annotated[str, typer.Option(help="CloudWatch window ending now, e.g. 15m")] = "15m",
    step: Annotated[
        float | None,
        typer.Option(min=0, max=100, help="the step (%) Route 53 should be at; checks the weighted records"),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    gates: Annotated[str, typer.Option("--gates", "-g", help="gate set to judge with")] = "canary-watch",
) -> None:
    """During a canary step: did a rollback trigger fire in the last window? (CloudWatch, Route 53)

    Reads the ALB's 5xx ratio and p95 response time (sources.cloudwatch.load_balancer) for the window
    and, with workloads.canary.route53 and --step, the blue/green weights. Exit 1 = a trigger fired:
    roll back. Sends nothing to the target.
    """
    options = Overrides(watch_window_s=_duration("--window", window) or 900.0, step_pct=step)
    _measure(config, target, gates, ["watch"], options)


def _side_target(scenarios: Scenarios, option: str, name: str) -> tuple[str, Target]:
    """A side by target name, or by the name of a local stack already running (`stack up --name`)."""
    if name in scenarios.targets:
        return name, scenarios.targets[name]
    state = stack.read_state(name)
    if state is not None and stack.healthy(state.url):
        return name, Target(
            kind="local",
            port=state.port,
            backend=state.backend,
            threading=state.threading,  # type: ignore[arg-type]
        )
    raise ConfigError(
        f"{option} {name!r} is neither a target in scenarios.yaml nor a running local stack",
        f"use one of: {', '.join(scenarios.targets)}; or `pavi-validate stack up --name {name} --port N`",
    )


@contextmanager
def _recording(run: Run, scenarios: Scenarios, gates: str) -> Iterator[None]:
    """Mark the run complete or aborted; on Ctrl-C still judge what was measured so far."""
    run.meta["status"] = "incomplete"
    run.save()
    try:
        yield
    except KeyboardInterrupt:
        run.finish("aborted")
        err_console.print("interrupted: judging what was measured so far")
        _report(run.path, scenarios, gates, None)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except BaseException:
        run.finish("aborted")
        raise
    run.finish("complete")


def _given(**values: object) -> dict[str, object]:
    """Only the options the user gave (None means: keep the configured value)."""
    return {key: value for key, value in values.items() if value is not None}


@contextmanager
def _target_urls(name: str, target: Target) -> Iterator[tuple[str, str]]:
    """A target's API and web URLs; a local target's stack runs for the duration."""
    if target.kind == "local":
        with stack.local_stack(name, target) as state:
            yield state.api_url, state.web_url
    else:
        yield target.urls()


@app.command("demo")
def demo(
    config: ConfigOption = DEFAULT_CONFIG,
    entries: Annotated[int, typer.Option(min=2, help="transcripts in the demo job")] = 10,
) -> None:
    """Start the local stack (or use the running one), run one job through it and print its result page."""
    from harness.smoke import submit_and_wait
    from pavi_contract.admin import generated_payload

    scenarios = load_scenarios(config)
    name, target = scenarios.target("local")
    started_here = stack.read_state(name) is None
    with stack.local_stack(name, target) as state:
        payload = generated_payload(state.api_url, entries)
        with err_console.status(f"running a {entries}-entry job through {state.url} ..."):
            result = submit_and_wait(state.api_url, state.web_url, payload)
        summary = f"{result.status}[/] in {result.seconds:.1f} s, {result.rows} aligned rows"
        console.print(f"job {result.uuid}: [bold]{summary}")
        if result.status != "completed" or result.rows != entries:
            raise HarnessError(
                "the demo job did not complete as expected", f"read {state.log}", ExitCode.GATE_FAILED
            )
        if started_here:
            console.print("the stack is stopped again; `pavi-validate stack up` keeps one running to browse")
        else:
            console.print(f"open {result.result_url}")


@app.command("selftest")
def selftest(
    config: ConfigOption = DEFAULT_CONFIG,
    gates: Annotated[
        list[str] | None,
        typer.Option("--gates", "-g", help="gate set(s), repeated or comma-separated; all: every set"),
    ] = None,
    scale: Annotated[
        str, typer.Option(help="ci (small workloads, 3-4 min on 2 cores) or full (the configured ones)")
    ] = "ci",
) -> None:
    """Prove the gates: each one measured healthy (it must PASS) and with the fault that should trip it.

    Runs on its own local stacks and moto server (127.0.0.1 only), judges every case with the real judge
    and prints gate x case x expected x got; writes selftest.json and junit.xml into runs/selftest-<time>/.
    Exit 0 when every gate behaved, 1 when one did not.
    """
    from selftest.output import print_table
    from selftest.runner import run_selftest

    scenarios = load_scenarios(config)
    chosen = [name.strip() for given in gates or ["all"] for name in given.split(",") if name.strip()]
    sets = list(scenarios.gates) if chosen in ([], ["all"]) else list(dict.fromkeys(chosen))
    for name in sets:
        scenarios.gate_set(name)  # an unknown set fails before anything starts
    if not sets:
        raise ConfigError(f"{config} defines no gate sets", "add gate sets under `gates:` (docs/CONFIG.md)")
    outcome = run_selftest(scenarios, sets, scale, console)
    print_table(outcome, console)
    if (failed := outcome.environment_problem) is not None:
        raise HarnessError(
            f"trial {failed.trial.label} could not run: {failed.error}",
            "fix the environment (`make setup`) and run the self-test again",
            ExitCode.ENVIRONMENT,
        )
    raise typer.Exit(0 if outcome.ok else 1)


def main() -> None:
    """Console entry point: every HarnessError becomes one message and its exit code, no traceback."""
    try:
        app()
    except HarnessError as error:
        if _state["debug"]:
            traceback.print_exc()
        # problems quote servers and files: printed literally, never as rich markup
        err_console.print(f"[bold red]error:[/] {escape(error.problem)}", highlight=False)
        if error.fix:
            err_console.print(f"  [bold]fix:[/] {escape(error.fix)}", highlight=False)
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        err_console.print("interrupted; what was measured so far is kept in the run store")
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":
    main()

"""Trials: measure one recipe trial into one run of the run store, through the harness's own parts.

Each kind calls what the matching command calls (`harness.parts.measure_*`, or the part's `run_*`
where the self-test needs a hook), with the scale's workloads and the trial's faults on the lab's
stacks. Nothing is judged here. Load faults (latency, 5xx) are switched on when Locust reports its
test start, so seeding jobs and the canary's consistency check (set-up, not the judged window) are
not slowed down by them; job and page faults are on from the start.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from harness.config import Route53Spec, Scenarios, Target
from harness.parts import (
    Overrides,
    Where,
    measure_browser,
    measure_canary,
    measure_load,
    measure_pipeline,
    measure_s3,
    measure_sources,
    measure_watch,
)
from harness.runstore import Run
from selftest.lab import REGION, Lab, free_port
from selftest.recipes import E2E_TESTS, Trial
from selftest.scale import Scale
from sources.spec import CloudWatchSpec, CostSpec, DateRange, E2ESpec, SmokeSpec, SourcesSpec

LOAD_FAULTS = ("latency_ms", "error_ratio")
LOAD_START_WAIT_S = 180.0  # Locust's start after its seed jobs; past that the faults stay off
LB = "app/pavi-selftest/0123456789abcdef"
STATE_MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:pavi-pipeline"
ZONE = "selftest.example.org"
RECORD = f"pavi-api.{ZONE}"
PERIOD = (date(2025, 2, 1), date(2025, 3, 1))  # complete months, so Cost Explorer data is final
BASELINE = (date(2025, 1, 1), date(2025, 2, 1))


class Bench:
    """What every trial needs: the lab, the scale, the user's scenarios."""

    def __init__(self, lab: Lab, scale: Scale, scenarios: Scenarios) -> None:
        self.lab = lab
        self.scale = scale
        self.scenarios = scenarios

    def with_workloads(self, **workloads: Any) -> Scenarios:
        updated = self.scenarios.workloads.model_copy(update=workloads)
        return self.scenarios.model_copy(update={"workloads": updated})

    def with_sources(self, spec: SourcesSpec, **workloads: Any) -> Scenarios:
        return self.with_workloads(**workloads).model_copy(update={"sources": spec})


def roles_for(trials: list[Trial]) -> set[str]:
    """The stacks the trials use."""
    roles: set[str] = set()
    for trial in trials:
        roles |= {
            "load": {"main"},
            "saturated": {"main"},
            "browser": {"main"},
            "pipeline": {"main"},
            "probe": {"main"},
            "smoke": {"main"},
            "sfn": {"sfn"},
            "canary": {"blue", "green"},
        }.get(trial.kind, set())
    return roles


def needs_moto(trials: list[Trial]) -> bool:
    return any(trial.kind in ("s3", "cost", "cloudwatch", "watch") for trial in trials)


def measure(trial: Trial, bench: Bench, run: Run) -> None:
    """Measure `trial` into `run`; raises what the part raises."""
    KINDS[trial.kind](trial, bench, run)


@contextmanager
def faults_at_load_start(run: Run, faults: Mapping[str, dict[str, float]], lab: Lab) -> Iterator[None]:
    """Switch load faults on (role -> faults) as soon as Locust writes its test start into events.json."""
    faults = {role: changes for role, changes in faults.items() if changes}
    stop = threading.Event()
    events = run.path / "load" / "events.json"
    switched: list[float] = []  # when; recorded in run.json by this thread, never by the watcher

    def watch() -> None:
        deadline = time.monotonic() + LOAD_START_WAIT_S
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                started = json.loads(events.read_text()).get("test_start")
            except (OSError, ValueError):
                started = None
            if started is not None:
                for role, changes in faults.items():
                    lab.set_faults(role, **changes)
                switched.append(time.time())
                return
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, name="selftest-faults", daemon=True) if faults else None
    if watcher is not None:
        watcher.start()
    try:
        yield
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=10)
            on = {"load_faults": faults, "load_faults_on": switched[0] if switched else None}
            run.record_part("selftest", **on)


def _load(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    lab.clear_faults("main")
    workload = bench.scale.saturated if trial.kind == "saturated" else bench.scale.load
    faults = {name: float(trial.get(name)) for name in LOAD_FAULTS if trial.get(name)}
    scenarios = bench.with_workloads(load=workload)
    try:
        with faults_at_load_start(run, {"main": faults}, lab):
            measure_load(run, scenarios, lab.where("main"), Overrides())
    finally:
        lab.clear_faults("main")


def _canary(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    new = bench.scenarios.workloads.canary.new_side
    old = "green" if new == "blue" else "blue"
    for side in (new, old):
        lab.clear_faults(side)
    if trial.get("new_alter"):
        lab.set_faults(new, alter_alignment=True)  # on for the consistency check's jobs
    load_faults = {
        side: {
            name: float(trial.get(f"{role}_{name}")) for name in LOAD_FAULTS if trial.get(f"{role}_{name}")
        }
        for side, role in ((new, "new"), (old, "old"))
    }
    scenarios = bench.with_workloads(load=bench.scale.canary_load, canary=bench.scale.canary)
    sides = {"blue": lab.where("blue"), "green": lab.where("green")}
    try:
        with faults_at_load_start(run, load_faults, lab):
            measure_canary(run, scenarios, sides, Overrides())
    finally:
        for side in (new, old):
            lab.clear_faults(side)


def _browser(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    lab.clear_faults("main")
    lab.set_faults("main", slow_frame_ms=float(trial.get("slow_frame_ms", 0)))
    try:
        measure_browser(
            run, bench.with_workloads(browser=bench.scale.browser), lab.where("main"), Overrides()
        )
    finally:
        lab.clear_faults("main")


def _pipeline(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    role, driver = ("sfn", "stepfunctions") if trial.kind == "sfn" else ("main", "api")
    lab.clear_faults(role)
    faults = {name: float(trial.get(name, 0)) for name in ("pipeline_failure_ratio", "pipeline_delay_ms")}
    lab.set_faults(role, **{name: value for name, value in faults.items() if value})
    scenarios = bench.with_workloads(pipeline=bench.scale.pipeline)
    try:
        measure_pipeline(
            run, scenarios, lab.where(role), Overrides(jobs=int(trial.get("jobs")), driver=driver)
        )
    finally:
        lab.clear_faults(role)


def _probe(trial: Trial, bench: Bench, run: Run) -> None:
    """The prober (`pavi-validate probe`), with an outage of `outage_s` (every /api answer a 503) between
    healthy rounds; the outage starts and ends on round boundaries."""
    from cutover.probe import run_probe

    lab, scale = bench.lab, bench.scale
    lab.clear_faults("main")
    interval = scale.probe_interval_s
    outage_s = float(trial.get("outage_s", 0))
    on_round: Callable[[int, list[dict[str, Any]]], None] | None = None
    if outage_s:
        margin = scale.probe_margin_rounds
        outage_rounds = math.ceil(outage_s / interval)
        rounds = 2 * margin + outage_rounds

        def on_round(round_no: int, _rows: list[dict[str, Any]]) -> None:
            if round_no == margin:
                lab.set_faults("main", error_ratio=1.0)
                run.record_part("selftest", outage_from=time.time())
            elif round_no == margin + outage_rounds:
                lab.clear_faults("main")
                run.record_part("selftest", outage_to=time.time())

    else:
        rounds = scale.probe_healthy_rounds
    try:
        run_probe(run, lab.state("main").api_url, interval_s=interval, max_probes=rounds, on_round=on_round)
    finally:
        lab.clear_faults("main")


def _s3_client(lab: Lab) -> Any:
    return boto3.client("s3", endpoint_url=lab.moto_url, region_name=REGION)


def _s3(trial: Trial, bench: Bench, run: Run) -> None:
    """Two buckets on moto: the source prefix and its copy, with objects missing or changed as asked."""
    lab = bench.lab
    lab.moto_reset()
    client = _s3_client(lab)
    for bucket in ("selftest-source", "selftest-copy"):
        client.create_bucket(Bucket=bucket)
    objects = {
        f"jobs/{n}/alignment.aln": f"CLUSTAL {n}\n".encode() * 40 for n in range(int(trial.get("objects")))
    }
    missing, changed = int(trial.get("missing", 0)), int(trial.get("changed", 0))
    for index, (key, body) in enumerate(objects.items()):
        client.put_object(Bucket="selftest-source", Key=key, Body=body)
        if index < missing:
            continue
        if index < missing + changed:
            body = body.replace(b"CLUSTAL", b"CLUSTAW")  # same size: only the checksum tells
        client.put_object(Bucket="selftest-copy", Key=key, Body=body)
    options = Overrides(
        s3_source="s3://selftest-source/jobs", s3_dest="s3://selftest-copy/jobs", s3_hash="all"
    )
    measure_s3(run, bench.scenarios, lab.aws_where(), options)


def _month(start: date, end: date, usd: float) -> dict[str, Any]:
    """One GetCostAndUsage answer as Cost Explorer gives it when grouped by service."""
    services = {"AWS Step Functions": usd * 0.25, "Amazon DynamoDB": usd * 0.35, "AWS Amplify": usd * 0.4}
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [name],
                        "Metrics": {"UnblendedCost": {"Amount": f"{amount:.10f}", "Unit": "USD"}},
                    }
                    for name, amount in services.items()
                ],
                "Estimated": False,
            }
        ],
        "DimensionValueAttributes": [],
    }


def _cost(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    lab.moto_reset()
    answers = [
        _month(*PERIOD, float(trial.get("period_usd"))),
        _month(*BASELINE, float(trial.get("baseline_usd"))),
    ]
    httpx.post(
        f"{lab.moto_url}/moto-api/static/ce/cost-and-usage-results", json={"results": answers}, timeout=10
    ).raise_for_status()  # moto hands them out in order: the period is asked for first
    spec = SourcesSpec(
        cost=CostSpec(
            period=DateRange(start=PERIOD[0], end=PERIOD[1]),
            baseline=DateRange(start=BASELINE[0], end=BASELINE[1]),
        ),
        cost_cache_dir=run.path / "cost-cache",  # never an answer of another trial
    )
    measure_sources(run, bench.with_sources(spec), lab.aws_where(), Overrides())


def _put_metrics(lab: Lab, trial: Trial, end: datetime) -> None:
    """ALB request and 5xx sums over five one-minute periods ending two minutes before `end`."""
    requests, errors = int(trial.get("requests", 0)), int(trial.get("errors", 0))
    if not requests:
        return
    client = boto3.client("cloudwatch", region_name=REGION, endpoint_url=lab.moto_url)
    elb = [{"Name": "LoadBalancer", "Value": LB}]
    for minute in range(5):
        at = end - timedelta(minutes=2 + minute)
        share = (requests // 5, errors // 5 + (errors % 5 if minute == 0 else 0))
        data = [
            {"MetricName": metric, "Dimensions": elb, "Timestamp": at, "Value": float(value)}
            for metric, value in zip(("RequestCount", "HTTPCode_Target_5XX_Count"), share, strict=True)
        ]
        client.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


def write_evidence(run: Run, trial: Trial, end: datetime) -> None:
    """The series moto cannot give, added to sources/cloudwatch.parquet as collect would write them.

    moto computes no CloudWatch percentiles: a p95 query over real data answers HTTP 500, and so does
    the whole GetMetricData call that holds one (ALB TargetResponseTime p95; Step Functions
    ExecutionTime, whose built-in queries ask for a mean and a p95 together). So the ALB p95 and the
    ExecutionTime mean are written here, five one-minute periods each; every other row of the file came
    from moto through collect. run.json says which series were written (`written_by_selftest`).
    """
    from sources.cloudwatch import ALB_LATENCY_P95, METRICS_FILE, METRICS_SCHEMA, SFN_TIME_MEAN

    series = []
    if trial.get("p95_ms"):  # the worst period's p95 is judged
        value = float(trial.get("p95_ms")) / 1000
        series.append((ALB_LATENCY_P95, "AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": LB},
                       "p95", "s", [value, *[0.9 * value] * 4]))  # fmt: skip
    if trial.get("sfn_s"):  # the mean over the periods is judged
        value = float(trial.get("sfn_s")) * 1000
        series.append((SFN_TIME_MEAN, "AWS/States", "ExecutionTime", {"StateMachineArn": STATE_MACHINE},
                       "Average", "ms", [value * f for f in (0.98, 0.99, 1.0, 1.01, 1.02)]))  # fmt: skip
    if not series:
        return
    path = run.part_dir("sources") / METRICS_FILE
    rows = pq.read_table(path).to_pylist() if path.exists() else []
    for query_id, namespace, metric, dims, stat, unit, values in series:
        rows += [
            {
                "query_id": query_id,
                "namespace": namespace,
                "metric": metric,
                "dimensions": json.dumps(dims, sort_keys=True),
                "stat": stat,
                "period_s": 60,
                "unit": unit,
                "timestamp": end - timedelta(minutes=2 + minute),
                "value": value,
            }
            for minute, value in enumerate(values)
        ]
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), tmp)
    tmp.replace(path)
    facts = dict(run.meta.get("parts", {}).get("sources", {}).get("cloudwatch", {}))
    written = ", ".join(f"{query_id} ({len(values)} periods)" for query_id, *_, values in series)
    facts["written_by_selftest"] = f"{written}: moto computes no CloudWatch percentiles"
    run.record_part("sources", cloudwatch=facts)


def _cloudwatch(trial: Trial, bench: Bench, run: Run) -> None:
    lab = bench.lab
    lab.moto_reset()
    now = datetime.now(UTC)
    end = datetime.fromtimestamp(now.timestamp() // 60 * 60, UTC)
    _put_metrics(lab, trial, end)
    spec = SourcesSpec(
        cloudwatch=CloudWatchSpec(
            lookback="15m",
            period=60,
            load_balancer=LB,  # its three queries; the Step Functions series is written (write_evidence)
        )
    )
    measure_sources(run, bench.with_sources(spec), lab.aws_where(), Overrides())
    write_evidence(run, trial, end)


def _weighted_zone(lab: Lab, new_side: str, new_weight: float, old_weight: float) -> str:
    client = boto3.client("route53", region_name=REGION, endpoint_url=lab.moto_url)
    zone = client.create_hosted_zone(Name=ZONE, CallerReference=f"selftest-{time.time()}")
    old_side = "green" if new_side == "blue" else "blue"
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": RECORD,
                "Type": "A",
                "SetIdentifier": side,
                "Weight": int(weight),
                "TTL": 60,
                "ResourceRecords": [{"Value": f"10.0.0.{n + 1}"}],
            },
        }
        for n, (side, weight) in enumerate(((new_side, new_weight), (old_side, old_weight)))
    ]
    zone_id = zone["HostedZone"]["Id"]
    client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id


def _watch(trial: Trial, bench: Bench, run: Run) -> None:
    """`canary watch`: the ALB's CloudWatch window ending now and the Route 53 weights, on moto."""
    lab = bench.lab
    lab.moto_reset()
    now = datetime.now(UTC)
    end = datetime.fromtimestamp(now.timestamp() // 60 * 60, UTC)
    _put_metrics(lab, trial, end)
    canary = bench.scenarios.workloads.canary
    route53 = None
    if trial.get("step") is not None:
        zone_id = _weighted_zone(lab, canary.new_side, trial.get("new_weight"), trial.get("old_weight"))
        route53 = Route53Spec(hosted_zone_id=zone_id, record_name=RECORD)
    spec = SourcesSpec(cloudwatch=CloudWatchSpec(period=60, load_balancer=LB))
    scenarios = bench.with_sources(spec, canary=canary.model_copy(update={"route53": route53}))
    step = trial.get("step")
    options = Overrides(watch_window_s=900.0, step_pct=None if step is None else float(step))
    measure_watch(run, scenarios, lab.aws_where(), options)
    write_evidence(run, trial, end)


def junit_xml(tests: int, failing: int) -> str:
    """A Cypress run's JUnit file (mocha-junit-reporter's shape): `failing` of `tests` cases fail."""
    root = ET.Element("testsuites", name="Mocha Tests", tests=str(tests), failures=str(failing))
    suite = ET.SubElement(
        root, "testsuite", name="Alignment result page", file="cypress/e2e/alignment.cy.js",
        tests=str(tests), failures=str(failing), time="1.0",
    )  # fmt: skip
    for n in range(tests):
        case = ET.SubElement(
            suite,
            "testcase",
            name=f"Alignment result page check {n + 1}",
            classname=f"check {n + 1}",
            time="0.05",
        )
        if n < failing:
            failure = ET.SubElement(
                case, "failure", message="Expected to find element: `#download`", type="AssertionError"
            )
            failure.text = (
                "AssertionError: Timed out retrying after 4000ms (written by pavi-validate selftest)"
            )
    out = io.BytesIO()
    ET.ElementTree(root).write(out, encoding="UTF-8", xml_declaration=True)
    return out.getvalue().decode()


def _e2e(trial: Trial, bench: Bench, run: Run) -> None:
    folder = run.part_dir("e2e-input")
    (folder / "cypress-results.xml").write_text(junit_xml(E2E_TESTS, int(trial.get("failing", 0))))
    spec = SourcesSpec(e2e=E2ESpec(junit=[str(folder / "*.xml")]))
    measure_sources(run, bench.with_sources(spec), bench.lab.aws_where(), Overrides())


def _smoke(trial: Trial, bench: Bench, run: Run) -> None:
    """The deploy smoke check against the main stack's health pages, or a port nobody listens on."""
    url = f"http://127.0.0.1:{free_port()}" if trial.get("dead") else bench.lab.state("main").url
    where = Where("selftest-smoke", Target(kind="remote", api_url=url), url, url)
    spec = SourcesSpec(smoke=SmokeSpec(timeout="3s"))
    measure_sources(run, bench.with_sources(spec), where, Overrides())


KINDS: dict[str, Callable[[Trial, Bench, Run], None]] = {
    "load": _load,
    "saturated": _load,
    "canary": _canary,
    "browser": _browser,
    "pipeline": _pipeline,
    "sfn": _pipeline,
    "probe": _probe,
    "s3": _s3,
    "cost": _cost,
    "cloudwatch": _cloudwatch,
    "watch": _watch,
    "e2e": _e2e,
    "smoke": _smoke,
}
# quick evidence first, then the pipeline, the prober and the browser; load last, alone on the machine
ORDER = ("e2e", "smoke", "cost", "s3", "cloudwatch", "watch", "sfn", "pipeline", "probe", "browser",
         "load", "saturated", "canary")  # fmt: skip

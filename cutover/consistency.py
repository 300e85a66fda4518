"""Blue against green: the same payloads on both sides must give the same results.

Each payload is submitted to every side, both jobs are followed to their end (adaptive polling, as
the pipeline bench's API driver does) and their results compared after normalising what may
legitimately differ (`Normalise`: Clustal lines such as the version header, seq-info keys). On the
new side, the status the API reported must also be what the job's DynamoDB record says, when the
side keeps records there (`DynamoDbSettings`; `dynamodb_for` finds them for a target).

Rules, per payload:
- every side completed: alignments and seq-info are compared; any difference is a mismatch, with a
  unified diff from the baseline (the first side that is not the new one) to each other side;
- statuses differ (completed on one side, failed or timed out on the other): a mismatch, nothing
  compared;
- every side failed, or every side refused the submit: consistent, but `compared` is false and the
  reason says that nothing was compared;
- every side timed out: a mismatch (nothing is known about the results, so nothing is shown equal);
- the new side's record disagrees with its API status: a mismatch.

A side that does not answer (health check first, then a submit or polls failing for 30 s) raises
`EnvironmentProblem`, after consistency.json got what was compared so far. Writes
`<out_dir>/consistency.json` after every payload; judges nothing.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from harness.config import Normalise, Target
from harness.errors import ConfigError, EnvironmentProblem, HarnessError
from harness.runstore import write_json_atomic
from pipeline_bench.driver_api import ApiDriver, PollSchedule
from pipeline_bench.drivers import (
    COMPLETED,
    FAILED,
    FINAL_STATUSES,
    SUBMIT_FAILED,
    TIMEOUT,
    UNREACHABLE,
    JobOutcome,
)

CONSISTENCY_FILE = "consistency.json"
DIFF_MAX_LINES = 200  # per compared file: a diff longer than that is cut, saying how much
NOT_CHECKED = "not checked"  # `dynamodb` of a job (and of the file) when no DynamoDB settings were given
GIVE_UP_AFTER_S = 30.0  # a side whose status route keeps failing that long is unreachable
REQUEST_TIMEOUT_S = 30.0
# Equal statuses that are consistent although no result exists to compare.
_NOTHING_TO_COMPARE = {FAILED: "failed", SUBMIT_FAILED: "refused the submit"}


# --- normalise and compare (pure) -------------------------------------------------------------------


def normalise_alignment(text: str, ignore_lines: Iterable[str]) -> str:
    """Clustal text without the lines a regex matches (`re.search`), trailing whitespace and trailing
    blank lines; ends with one newline (empty text stays empty)."""
    patterns = [re.compile(pattern) for pattern in ignore_lines]
    lines = [line.rstrip() for line in text.splitlines()]
    kept = [line for line in lines if not any(pattern.search(line) for pattern in patterns)]
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


def normalise_seq_info(obj: Any, ignore_keys: Iterable[str]) -> Any:
    """A copy of seq-info JSON without the given keys, at any depth (inside objects and lists)."""
    ignored = frozenset(ignore_keys)

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: strip(item) for key, item in value.items() if key not in ignored}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(obj)


def seq_info_text(obj: Any) -> str:
    """Seq-info as compared and diffed: pretty JSON with sorted keys."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def unified_diff(a: str, b: str, a_label: str, b_label: str, max_lines: int = DIFF_MAX_LINES) -> str:
    """A unified diff (3 lines of context) from `a` to `b`, empty when equal; beyond `max_lines` lines
    it is cut, and a last line says how many lines were cut."""
    lines = [
        line if line.endswith("\n") else line + "\n"
        for line in difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile=a_label, tofile=b_label
        )
    ]
    if len(lines) > max_lines:
        cut = len(lines) - max_lines
        lines = [*lines[:max_lines], f"... {cut} more diff lines cut ({len(lines)} in all)\n"]
    return "".join(lines)


@dataclass(frozen=True)
class SideResult:
    """What one side gave for one payload: its job and the two results (None: not read)."""

    side: str
    uuid: str | None
    alignment: str | None
    seq_info: Any


@dataclass(frozen=True)
class Comparison:
    alignment_equal: bool
    seq_info_equal: bool
    diff: str  # alignment diff, then seq-info diff; empty when both are equal


def compare_results(baseline: SideResult, other: SideResult, normalise: Normalise) -> Comparison:
    """Compare two sides' results after normalising; diffs are labelled `<side>/<uuid>/alignment`
    and `<side>/<uuid>/seq-info`. Both results of both sides must be present."""
    assert baseline.alignment is not None and other.alignment is not None
    texts = {
        "alignment": [
            normalise_alignment(side.alignment or "", normalise.alignment_ignore_lines)
            for side in (baseline, other)
        ],
        "seq-info": [
            seq_info_text(normalise_seq_info(side.seq_info, normalise.seq_info_ignore_keys))
            for side in (baseline, other)
        ],
    }
    diffs = [
        unified_diff(a, b, f"{baseline.side}/{baseline.uuid}/{name}", f"{other.side}/{other.uuid}/{name}")
        for name, (a, b) in texts.items()
    ]
    return Comparison(
        alignment_equal=not diffs[0],
        seq_info_equal=not diffs[1],
        diff="".join(diff for diff in diffs if diff),
    )


# --- DynamoDB ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamoDbSettings:
    """Where the new side keeps its job records: a boto3 DynamoDB client and the table (key `jobId`)."""

    client: Any  # boto3 DynamoDB client
    table: str
    where: str  # endpoint URL or "AWS <region>", for the record of how the check ran

    def facts(self) -> dict[str, str]:
        return {"table": self.table, "where": self.where}


def dynamodb_for(name: str, target: Target) -> DynamoDbSettings | None:
    """The job table of the side `name` (the new side, in `canary`), or None when it has none.

    Local target: the running stack `name` (`harness.stack.read_state`); its moto server's table for
    backend `stepfunctions`, None for `inprocess` (jobs in memory), with moto's dummy credentials.
    Remote target: `target.jobs_table` through the target's `aws:` settings (`sources.aws`), or None
    when the target names no `state_machine_arn` (taken as a side without the Step Functions backend).

    Raises:
        EnvironmentProblem: a local stepfunctions stack that is not running; AWS credentials missing.
    """
    if target.kind == "local":
        from harness.stack import local_aws_session, read_state

        state = read_state(name)
        if state is None:
            if target.backend == "inprocess":
                return None
            raise EnvironmentProblem(
                f"local stack {name!r} is not running, so its DynamoDB table cannot be read",
                f"start it with `pavi-validate stack up --name {name} --backend stepfunctions`",
            )
        if state.backend != "stepfunctions" or not state.aws:
            return None
        endpoint = str(state.aws["endpoint_url"])
        session = local_aws_session(str(state.aws["region"]))
        return DynamoDbSettings(
            session.client("dynamodb", endpoint_url=endpoint), str(state.aws["jobs_table"]), endpoint
        )
    if target.state_machine_arn is None:
        return None
    from sources.aws import open_session

    session = open_session(target.aws)
    where = session.settings.endpoint_url or f"AWS {session.settings.region}"
    return DynamoDbSettings(session.client("dynamodb"), target.jobs_table, where)


def check_record(dynamodb: DynamoDbSettings, job_id: str, api_status: str) -> dict[str, Any]:
    """Read the job's record (strongly consistent) and compare its status with the API's.

    Returns `{"table", "api_status", "record_status", "agree", "problem", "record_error",
    "execution_arn"}`; `problem` is None when they agree.

    Raises:
        ConfigError: no such table.
        EnvironmentProblem: DynamoDB unreachable, credentials refused, access denied.
    """
    from sources.aws import translate

    try:
        item = dynamodb.client.get_item(
            TableName=dynamodb.table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        ).get("Item")
    except (BotoCoreError, ClientError) as error:
        what = f"reading job {job_id} from DynamoDB table {dynamodb.table} ({dynamodb.where})"
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"{what}: there is no such table", "set the new side's `jobs_table` in scenarios.yaml"
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise EnvironmentProblem(
                f"{what}: access denied",
                f"grant dynamodb:GetItem on {dynamodb.table}, or use another profile",
            ) from None
        raise translate(error, what) from None
    record_status = _attribute(item, "status")
    if item is None:
        problem: str | None = f"no record for {job_id} in {dynamodb.table}"
    elif record_status != api_status:
        problem = f"the API says {api_status!r} but the record in {dynamodb.table} says {record_status!r}"
    else:
        problem = None
    return {
        "table": dynamodb.table,
        "api_status": api_status,
        "record_status": record_status,
        "agree": problem is None,
        "problem": problem,
        "record_error": _attribute(item, "error"),
        "execution_arn": _attribute(item, "executionArn"),
    }


def _attribute(item: Mapping[str, Any] | None, name: str) -> str | None:
    value = (item or {}).get(name)
    return value.get("S") if isinstance(value, Mapping) else None


# --- the check --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsistencyOutcome:
    path: Path  # consistency.json
    checked: int  # payloads submitted to every side and followed to the end
    compared: int  # of those, payloads whose results were compared (completed on every side)
    mismatches: int  # a count, not a verdict
    jobs: list[dict[str, Any]]  # the `jobs` entries of consistency.json


def check_consistency(
    sides: Mapping[str, str],
    payloads: Sequence[list[dict[str, Any]]],
    *,
    new_side: str,
    normalise: Normalise,
    out_dir: Path,
    timeout_s: float,
    dynamodb: DynamoDbSettings | None = None,
    on_job: Callable[[dict[str, Any]], None] | None = None,
    schedule: PollSchedule | None = None,
) -> ConsistencyOutcome:
    """Submit every payload to every side (`{"blue": api_url, "green": api_url}`) and compare.

    Payloads run one after the other; within one, the sides' jobs run at the same time. `timeout_s`
    bounds each payload's wait for a final status. `on_job` gets each `jobs` entry as it is written
    (for progress). See the module docstring for the rules.

    Raises:
        ConfigError: fewer than two sides, or `new_side` not among them.
        EnvironmentProblem: a side does not answer (consistency.json keeps what was compared).
    """
    if len(sides) < 2 or new_side not in sides:
        raise ConfigError(
            f"the consistency check needs two sides or more, the new one among them; got {sorted(sides)} "
            f"with new side {new_side!r}",
            "name both sides (e.g. --blue T1 --green T2) and set workloads.canary.new_side to one of them",
        )
    urls = {side: url.rstrip("/") for side, url in sides.items()}
    baseline = next(side for side in urls if side != new_side)
    schedule = schedule or PollSchedule()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONSISTENCY_FILE
    document: dict[str, Any] = {
        "sides": urls,
        "new_side": new_side,
        "baseline": baseline,
        "normalise": normalise.model_dump(mode="json"),
        "dynamodb": dynamodb.facts() if dynamodb else NOT_CHECKED,
        "timeout_s": timeout_s,
        "started": time.time(),
        "ended": None,
        "stopped": None,  # why the check stopped early: a side or DynamoDB unreachable, Ctrl-C
        "jobs": [],
        "mismatches": 0,
        "checked": 0,
        "compared": 0,
    }
    write_json_atomic(path, document)
    clients = {side: httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) for side, url in urls.items()}
    try:
        for side in urls:
            _require_health(side, urls[side], clients[side])
        for index, payload in enumerate(payloads):
            outcomes = _run_payload(clients, payload, timeout_s, schedule)
            lost = {side: o for side, o in outcomes.items() if o.status == UNREACHABLE}
            if lost:
                side, outcome = next(iter(lost.items()))
                raise EnvironmentProblem(
                    f"payload {index}: side {side!r} ({urls[side]}) stopped answering: {outcome.error}",
                    f"check that side, then run again; {path} keeps the {index} payloads compared",
                )
            entry = _judge_payload(index, payload, outcomes, new_side, baseline, normalise, dynamodb)
            document["jobs"].append(entry)
            document["checked"] += 1
            document["compared"] += entry["compared"]
            document["mismatches"] += entry["mismatch"]
            write_json_atomic(path, document)
            if on_job is not None:
                on_job(entry)
    except HarnessError as error:
        document["stopped"] = error.problem
        raise
    except KeyboardInterrupt:
        document["stopped"] = "interrupted"
        raise
    finally:
        for client in clients.values():
            client.close()
        document["ended"] = time.time()
        write_json_atomic(path, document)
    return ConsistencyOutcome(
        path, document["checked"], document["compared"], document["mismatches"], document["jobs"]
    )


def _require_health(side: str, url: str, client: httpx.Client) -> None:
    fix = "check the side's api_url (or start the local stack with `pavi-validate stack up --name ...`)"
    try:
        answer = client.get("/api/health", timeout=10.0)
    except httpx.HTTPError as error:
        raise EnvironmentProblem(f"side {side!r} ({url}) does not answer: {error!r}", fix) from None
    if answer.status_code != 200:
        raise EnvironmentProblem(
            f"side {side!r} ({url}) answers /api/health with {answer.status_code} {answer.text[:200]!r}", fix
        )


def _run_payload(
    clients: Mapping[str, httpx.Client],
    payload: list[dict[str, Any]],
    timeout_s: float,
    schedule: PollSchedule,
) -> dict[str, JobOutcome]:
    """Submit to every side, follow all jobs in one polling loop, then read the finished jobs' results."""
    drivers = {side: ApiDriver(str(client.base_url)) for side, client in clients.items()}
    outcomes = {side: drivers[side]._submit(client, payload) for side, client in clients.items()}
    _follow(clients, outcomes, timeout_s, schedule)
    for side, outcome in outcomes.items():
        if outcome.status in FINAL_STATUSES:
            drivers[side]._results(clients[side], outcome)
    return outcomes


def _follow(
    clients: Mapping[str, httpx.Client],
    outcomes: dict[str, JobOutcome],
    timeout_s: float,
    schedule: PollSchedule,
) -> None:
    """Poll every submitted job until a final status, the deadline, or errors lasting GIVE_UP_AFTER_S.

    One loop for all sides (no threads), so Ctrl-C stops it at once. A non-200 status answer (a 5xx,
    or a 404 for a job an eventually consistent store does not show yet) is retried, as the API
    driver does.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    interval: float | None = None
    failing_since: dict[str, float] = {}
    waiting = [side for side, outcome in outcomes.items() if outcome.job_id is not None]
    while waiting:
        now = time.monotonic()
        if now >= deadline:
            for side in waiting:
                outcome = outcomes[side]
                outcome.error = f"no final status within {timeout_s:g} s (last seen: {outcome.status})"
                outcome.status = TIMEOUT
            return
        interval = schedule.next_interval(interval, now - start)
        time.sleep(min(interval, deadline - now))
        for side in list(waiting):
            outcome = outcomes[side]
            path = f"/api/pipeline-job/{outcome.job_id}"
            try:
                answer = clients[side].get(path)
                problem = "" if answer.status_code == 200 else f"GET {path} answered {answer.status_code}"
                if not problem:
                    outcome.status = str(answer.json()["status"])
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                problem = f"GET {path}: {error!r}"
            if not problem:
                failing_since.pop(side, None)
                if outcome.status in FINAL_STATUSES:
                    outcome.observed_done = time.time()
                    waiting.remove(side)
                continue
            outcome.http_retries += 1
            if time.monotonic() - failing_since.setdefault(side, time.monotonic()) >= GIVE_UP_AFTER_S:
                outcome.status = UNREACHABLE
                outcome.error = f"could not follow job {outcome.job_id} for {GIVE_UP_AFTER_S:g} s: {problem}"
                waiting.remove(side)


def _judge_payload(
    index: int,
    payload: list[dict[str, Any]],
    outcomes: Mapping[str, JobOutcome],
    new_side: str,
    baseline: str,
    normalise: Normalise,
    dynamodb: DynamoDbSettings | None,
) -> dict[str, Any]:
    """One `jobs` entry of consistency.json (see the module docstring for the rules)."""
    statuses = {side: outcome.status for side, outcome in outcomes.items()}
    reasons: list[str] = []
    mismatch = False
    compared = False
    alignment_equal: bool | None = None
    seq_info_equal: bool | None = None
    diff = ""
    if len(set(statuses.values())) > 1:
        mismatch = True
        reasons.append(
            "statuses differ: " + ", ".join(f"{side} {status}" for side, status in statuses.items())
        )
    elif (status := next(iter(statuses.values()))) in _NOTHING_TO_COMPARE:
        reasons.append(f"every side {_NOTHING_TO_COMPARE[status]}: nothing compared")
    elif status != COMPLETED:
        mismatch = True
        reasons.append(f"no side gave a result ({status}): nothing compared")
    elif missing := _missing_results(outcomes):
        mismatch = True
        reasons.extend(missing)
    else:
        compared = True
        reference = _side_result(baseline, outcomes[baseline])
        comparisons = [
            compare_results(reference, _side_result(side, outcome), normalise)
            for side, outcome in outcomes.items()
            if side != baseline
        ]
        alignment_equal = all(comparison.alignment_equal for comparison in comparisons)
        seq_info_equal = all(comparison.seq_info_equal for comparison in comparisons)
        diff = "".join(comparison.diff for comparison in comparisons)
        if not alignment_equal or not seq_info_equal:
            mismatch = True
            pairs = (("alignment", alignment_equal), ("seq-info", seq_info_equal))
            different = [name for name, equal in pairs if not equal]
            reasons.append(" and ".join(different) + (" differs" if len(different) == 1 else " differ"))
    record: dict[str, Any] | str = NOT_CHECKED
    if dynamodb is not None:
        checked = _record_check(dynamodb, outcomes[new_side])
        if checked.get("problem"):
            mismatch = True
            reasons.append(f"{new_side}: {checked['problem']}")
        record = checked
    return {
        "payload": index,
        "entries": len(payload),
        "jobs": {
            side: {"uuid": outcome.job_id, "status": outcome.status, "error": outcome.error or outcome.log}
            for side, outcome in outcomes.items()
        },
        "compared": compared,
        "alignment_equal": alignment_equal,
        "seq_info_equal": seq_info_equal,
        "dynamodb": record,
        "mismatch": mismatch,
        "reason": "; ".join(reasons) or "equal after normalising",
        "diff": diff,
    }


def _missing_results(outcomes: Mapping[str, JobOutcome]) -> list[str]:
    """For jobs every side calls completed: the results a side did not give."""
    missing = []
    for side, outcome in outcomes.items():
        if outcome.alignment is None:
            missing.append(
                f"{side} completed but its alignment could not be read (HTTP {outcome.alignment_http})"
            )
        if outcome.seq_info is None:
            missing.append(
                f"{side} completed but its seq-info is not a JSON object (HTTP {outcome.seq_info_http})"
            )
    return missing


def _side_result(side: str, outcome: JobOutcome) -> SideResult:
    return SideResult(side, outcome.job_id, outcome.alignment, outcome.seq_info)


def _record_check(dynamodb: DynamoDbSettings, outcome: JobOutcome) -> dict[str, Any]:
    if outcome.job_id is None:
        return {"table": dynamodb.table, "checked": False, "why": "no job on the new side (submit failed)"}
    if outcome.status not in FINAL_STATUSES:
        return {"table": dynamodb.table, "checked": False, "why": f"the job did not end ({outcome.status})"}
    return {"checked": True, **check_record(dynamodb, outcome.job_id, outcome.status)}

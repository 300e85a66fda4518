"""The zero-downtime prober: health, status read and result read of one completed job, every interval.

Every probe is a row in `runs/<id>/probe/probes.parquet` (rewritten atomically at least every 10
probes), so a Route 53 weight shift can be judged afterwards from the longest gap between good
answers. The prober judges nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import ConfigError, EnvironmentProblem
from harness.runstore import Run
from pavi_contract import api
from pavi_contract.admin import generated_payload

PART = "probe"
PROBES_FILE = "probes.parquet"
KINDS = ("health", "status", "result")
FLUSH_EVERY = 9  # probes; three rounds, under the promised 10
FLUSH_AFTER_S = 2.0  # a slow interval still reaches the disk often

PROBES_SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),  # epoch s when the request was sent
        pa.field("round", pa.int32(), nullable=False),  # 1-based, continues across calls on one run
        pa.field("kind", pa.string(), nullable=False),  # health | status | result
        pa.field("status", pa.int32(), nullable=False),  # HTTP status; 0 = no answer
        pa.field("latency_ms", pa.float64(), nullable=False),  # until the answer or the failure
        pa.field("ok", pa.bool_(), nullable=False),  # status 200
        pa.field("error", pa.string()),  # null when ok
    ]
)


@dataclass(frozen=True)
class ProbeOutcome:
    path: Path  # probes.parquet
    job_uuid: str
    job_created: bool
    rounds: int  # rounds this call made
    probes: int  # rows this call added
    not_ok: int  # rows this call added with ok false (a count, not a verdict)
    ended_by: str  # until | max_probes | stop (interrupted/error only reach run.json)
    started: float  # epoch s
    ended: float  # epoch s


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def write_probes(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace `path` with all rows, atomically: a reader never sees a torn file."""
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBES_SCHEMA), tmp)
    os.replace(tmp, path)


def read_probes(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist() if path.exists() else []


def _probe(client: httpx.Client, url: str, kind: str, round_no: int) -> dict[str, Any]:
    sent = time.time()
    start = time.perf_counter()
    status, error = 0, None
    try:
        answer = client.get(url)
        status = answer.status_code
        if status != 200:
            error = f"HTTP {status}: {answer.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    return {
        "t": sent,
        "round": round_no,
        "kind": kind,
        "status": status,
        "latency_ms": (time.perf_counter() - start) * 1000,
        "ok": status == 200,
        "error": error,
    }


def _completed_job(client: httpx.Client, api_url: str, payload: list[dict] | None, timeout_s: float) -> str:
    """Submit a small job and wait for it (bounded): the result probe needs a result that exists.

    Without a payload the target is asked for one (only the local stand-in has them), so this package
    never imports the stand-in's genome.
    """
    if payload is None:
        try:
            payload = generated_payload(api_url, 2, seed=1)
        except ConfigError as error:
            fix = "give --uuid of a completed job there (the probe reads its results)"
            raise ConfigError(error.problem, fix) from None
    fix = "pass job_uuid= of a completed job, or check the API URL"
    try:
        answer = client.post(f"{api_url}{api.SUBMIT}", json=payload)
        if answer.status_code != 201:
            raise EnvironmentProblem(f"cannot create the probe job: HTTP {answer.status_code}", fix)
        uuid = str(answer.json()["uuid"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = client.get(f"{api_url}{api.job(uuid)}").json().get("status")
            if status == api.COMPLETED:
                return uuid
            if status == api.FAILED:
                raise EnvironmentProblem(f"the probe job {uuid} failed", fix)
            time.sleep(0.1)
    except httpx.HTTPError as exc:
        raise EnvironmentProblem(f"cannot create the probe job at {api_url}: {exc}", fix) from None
    raise EnvironmentProblem(f"the probe job {uuid} did not complete within {timeout_s} s", fix)


def run_probe(
    run: Run,
    api_url: str,
    *,
    interval_s: float = 1.0,
    until: float | None = None,
    max_probes: int | None = None,
    job_uuid: str | None = None,
    timeout_s: float = 5.0,
    stop: threading.Event | None = None,
    payload: list[dict] | None = None,
    job_timeout_s: float = 300.0,
    on_round: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> ProbeOutcome:
    """Probe until `until` (epoch s), `max_probes` rounds (3 probes each) or `stop`, whichever first.

    Rows are appended to an existing probes.parquet, so a probe split into calls on one run is one
    table. Keep-alive is off: each probe opens a new connection (and resolves DNS again), as a new
    user would, so a weighted DNS shift is seen. Ctrl-C flushes, records `interrupted`, re-raises.
    `on_round(round, rows)` is called after each round (progress display, tests).
    """
    if until is None and max_probes is None:
        raise ConfigError("the probe needs an end", "give until= (epoch s) or max_probes= (rounds)")
    if interval_s <= 0 or (max_probes is not None and max_probes < 1):
        raise ConfigError("interval_s must be > 0 and max_probes >= 1", "fix the probe settings")
    api_url = api_url.rstrip("/")
    stop = stop or threading.Event()
    path = run.part_dir(PART) / PROBES_FILE
    rows = read_probes(path)
    first_round = max((row["round"] for row in rows), default=0) + 1
    started = time.time()
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=timeout_s, limits=limits, follow_redirects=False) as client:
        job_created = job_uuid is None
        if job_uuid is None:
            job_uuid = _completed_job(client, api_url, payload, job_timeout_s)
        urls = {
            "health": f"{api_url}{api.HEALTH}",
            "status": f"{api_url}{api.job(job_uuid)}",
            "result": f"{api_url}{api.alignment(job_uuid)}",
        }
        run.record_part(
            PART,
            status="running",
            api_url=api_url,
            interval_s=interval_s,
            timeout_s=timeout_s,
            until=_iso(until) if until is not None else None,
            max_probes=max_probes,
            job_uuid=job_uuid,
            job_created=job_created,
            started=_iso(started),
            file=f"{PART}/{PROBES_FILE}",
        )
        done, added, not_ok, unflushed = 0, 0, 0, 0
        ended_by = "interrupted"
        last_flush = time.monotonic()
        next_at = time.monotonic()
        try:
            while True:
                if stop.is_set():
                    ended_by = "stop"
                    break
                if until is not None and time.time() >= until:
                    ended_by = "until"
                    break
                if max_probes is not None and done >= max_probes:
                    ended_by = "max_probes"
                    break
                round_no = first_round + done
                new = [_probe(client, urls[kind], kind, round_no) for kind in KINDS]
                rows += new
                done += 1
                added += len(new)
                unflushed += len(new)
                not_ok += sum(not row["ok"] for row in new)
                if unflushed >= FLUSH_EVERY or time.monotonic() - last_flush >= FLUSH_AFTER_S:
                    write_probes(path, rows)
                    unflushed, last_flush = 0, time.monotonic()
                if on_round is not None:
                    on_round(round_no, new)
                # fixed rate; after an overrun start at once instead of bursting to catch up
                next_at = max(next_at + interval_s, time.monotonic())
                wait = next_at - time.monotonic()
                if until is not None:
                    wait = min(wait, max(0.0, until - time.time()))
                if wait > 0:
                    stop.wait(wait)
        except KeyboardInterrupt:
            raise
        except BaseException:
            ended_by = "error"
            raise
        finally:
            write_probes(path, rows)
            ended = time.time()
            run.record_part(
                PART,
                status=ended_by if ended_by in ("interrupted", "error") else "complete",
                ended_by=ended_by,
                ended=_iso(ended),
                rounds=first_round - 1 + done,
                probes=len(rows),
            )
    return ProbeOutcome(path, job_uuid, job_created, done, added, not_ok, ended_by, started, ended)

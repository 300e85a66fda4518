"""Runs the load part headless: seed jobs, Locust as subprocesses, CPU and target samples, run.json.

It measures and records; it never judges (the judge in `reports/` reads the run folder) and never
computes percentiles. Locust runs as separate processes because importing Locust monkey-patches
the importing process with gevent, and because its CPU must be measurable apart from ours.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any

import httpx
from rich.progress import BarColumn, Progress, TextColumn

from harness.config import LoadWorkload, PayloadSpec
from harness.errors import EnvironmentProblem
from harness.runstore import Run
from loadtests.budget import final_statuses, read_ledgers
from loadtests.sampling import CpuSampler, TargetSampler
from loadtests.settings import LoadSettings, read_payload_file
from pavi_contract import api
from pavi_contract.admin import generated_payload

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
OVERRUN_GRACE_S = 60.0
WORKER_CONNECT_WAIT_S = 30
SEED_TIMEOUT_S = 120.0
# Inline in PAVI_LOAD_SETTINGS up to this size (Linux refuses one variable over 128 KB), so the
# settings in run.json are self-contained for remote workers; larger payloads go by file.
INLINE_PAYLOAD_BYTES = 64_000
PAYLOAD_VARIANTS = 4  # generated payloads: a few seeds, so jobs differ as real users' do
SAMPLE_INTERVAL_S = 1.0
SAVE_SAMPLES_EVERY_S = 5.0


@dataclass(frozen=True)
class LoadOutcome:
    """Where the load part's files are and how Locust ended; judging is someone else's job."""

    load_dir: Path
    requests: Path  # folder of Parquet chunks
    events: Path
    host: Path
    target: Path | None  # None when the target has no /_pavi/stats (not the local stack)
    csv_prefix: Path
    html: Path
    exit_code: int | None  # None when Locust had to be killed
    seed_uuids: list[str] = field(default_factory=list)


def raise_open_file_limit() -> int:
    """Soft limit up to the hard limit: each user holds a connection, and children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (hard, 1_048_576, 65_536):
        if wanted == resource.RLIM_INFINITY or wanted <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            continue
    return soft


def build_payloads(spec: PayloadSpec, api_url: str) -> list[list[dict[str, Any]]]:
    """The payload file, or payloads the local stand-in at `api_url` generates for its own genome.

    A remote target never gets here without a payload file (`harness.config.require_payload_files`).
    """
    if spec.file is not None:
        return [read_payload_file(spec)]
    return [generated_payload(api_url, spec.entries, seed=seed) for seed in range(PAYLOAD_VARIANTS)]


@dataclass
class SeedJobs:
    """Seed jobs of one side: every POST sent counts against the job budget, answered or not."""

    completed: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    posts: int = 0


def create_seed_jobs(
    api_url: str,
    payloads: list[list[dict[str, Any]]],
    count: int,
    timeout_s: float = SEED_TIMEOUT_S,
    max_posts: int | None = None,
) -> SeedJobs:
    """Submit `count` jobs and wait for them, so readers read from the start.

    Bounded: at most 5 submit attempts per job (a faulty target answers some with errors), at most
    `max_posts` POSTs (the job budget), and `timeout_s` in all. Raises EnvironmentProblem only when
    the target cannot be reached at all.
    """
    seeds = SeedJobs()
    posts_allowed = count * 5 if max_posts is None else min(count * 5, max_posts)
    if count <= 0 or not payloads or posts_allowed <= 0:
        return seeds
    deadline = time.monotonic() + timeout_s
    pending: list[str] = []
    reached = False
    last_error: Exception | None = None
    with httpx.Client(base_url=api_url, timeout=10.0) as client:
        for attempt in range(posts_allowed):
            if len(pending) == count or time.monotonic() > deadline:
                break
            try:
                seeds.posts += 1
                answer = client.post(api.SUBMIT, json=payloads[attempt % len(payloads)])
                reached = True
                if answer.status_code == 201:
                    pending.append(answer.json()["uuid"])
            except httpx.HTTPError as error:
                last_error = error
                time.sleep(0.2)
        if not reached:
            raise EnvironmentProblem(
                f"cannot reach the target at {api_url}: {last_error}", "is the target up? (`stack status`)"
            )
        seeds.submitted = list(pending)
        while pending and time.monotonic() < deadline:
            for uuid in list(pending):
                try:
                    answer = client.get(api.job(uuid))
                    status = answer.json().get("status") if answer.status_code == 200 else None
                except (httpx.HTTPError, ValueError):
                    continue
                if status in api.FINISHED:
                    pending.remove(uuid)
                if status == api.COMPLETED:
                    seeds.completed.append(uuid)
            if pending:
                time.sleep(0.25)
    return seeds


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def locust_commands(
    load_dir: Path, api_url: str, users: int, spawn_rate: float, duration_s: float, workers: int
) -> tuple[list[str], list[list[str]]]:
    """The master (or single process) command and one command per worker."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
    main = [
        *base, "--headless", "-u", str(users), "-r", f"{spawn_rate:g}",
        "-t", f"{max(1, round(duration_s))}s", "--host", api_url,
        "--csv", str(load_dir / "locust"), "--csv-full-history", "--html", str(load_dir / "locust.html"),
        "--stop-timeout", "5", "--only-summary",
    ]  # fmt: skip
    if workers <= 0:
        return main, []
    port = _free_port()
    main += [
        "--master", "--expect-workers", str(workers), "--expect-workers-max-wait", str(WORKER_CONNECT_WAIT_S),
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
    ]  # fmt: skip
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    return main, [worker] * workers


def run_load(
    run: Run,
    api_url: str,
    workload: LoadWorkload,
    *,
    users: int | None = None,
    spawn_rate: float | None = None,
    duration_s: float | None = None,
    workers: int = 0,
    seed_jobs: int = 3,
    show_progress: bool = True,
    sides: dict[str, str] | None = None,
    max_jobs: int | None = None,
    looks: Sequence[float] = (),
    at_look: Callable[[float], str | None] | None = None,
) -> LoadOutcome:
    """Run Locust against `api_url` and leave raw samples in `runs/<id>/load/`.

    With `sides` (name -> API URL, e.g. blue and green) it is a canary load: every user alternates
    between the sides, the same payloads go to both, each side gets its own seed jobs, and every
    request row names its side; `api_url` is then only Locust's nominal --host.

    `max_jobs` bounds every job the run submits, per side, seed jobs first (None: unbounded).

    `looks` (seconds from the test's start) with `at_look`: a run that lasts until decided. Locust
    runs for `duration_s` at most; at each look run.json's `duration_s` becomes the look (the window
    judged so far) and `at_look` returns why to stop now, or None to go on.

    Files: requests.parquet/ (one row per request), events.json, progress.json, host.parquet,
    target.parquet (local stack only), payloads.json, jobs-<process>.json (the jobs each process
    submitted), Locust's CSV and HTML, locust*.log.
    """
    api_url = api_url.rstrip("/")
    users = users or workload.users
    spawn_rate = spawn_rate or workload.spawn_rate
    duration_s = duration_s or workload.duration
    open_files = raise_open_file_limit()
    load_dir = run.part_dir("load").resolve()

    payloads = build_payloads(workload.payload, api_url)
    payload_file = load_dir / "payloads.json"
    payload_file.write_text(json.dumps(payloads))  # also the record of what was submitted
    inline = payload_file.stat().st_size <= INLINE_PAYLOAD_BYTES
    sides = {side: url.rstrip("/") for side, url in (sides or {}).items()}
    budget_line = f"job budget: {'unbounded' if max_jobs is None else max_jobs} job(s)"
    budget_line += f" per side ({', '.join(sides)})" if sides else ""
    if show_progress:
        print(f"{budget_line}, seed jobs included", flush=True)
    seeding = {
        side: create_seed_jobs(url, payloads, seed_jobs, max_posts=max_jobs) for side, url in sides.items()
    }
    if not sides:
        seeding[""] = create_seed_jobs(api_url, payloads, seed_jobs, max_posts=max_jobs)
    side_seeds = {side: seed.completed for side, seed in seeding.items() if side}
    seeds = [] if sides else seeding[""].completed
    user_jobs = None if max_jobs is None else max(0, max_jobs - max(s.posts for s in seeding.values()))
    settings = LoadSettings.from_workload(
        workload,
        payloads=payloads if inline else [],
        payload_file=None if inline else str(payload_file),
        seed_uuids=seeds,
        seed_jobs=0,
        run_dir=str(run.path.resolve()),
        sides=sides,
        side_seed_uuids=side_seeds,
        max_jobs=user_jobs,
    )
    main_cmd, worker_cmds = locust_commands(load_dir, api_url, users, spawn_rate, duration_s, workers)
    locust_version = version("locust")
    run.record_part(
        "load",
        status="running",
        api_url=api_url,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s,
        workers=workers,
        think_time_s=list(settings.think_time),
        weights=settings.weights,
        payload_entries=[len(payload) for payload in payloads],
        seed_jobs_requested=seed_jobs,
        seed_uuids=seeds,
        max_jobs=max_jobs,
        sides=sides,
        side_seed_uuids=side_seeds,
        locust_command=main_cmd,
        locust_worker_command=worker_cmds[0] if worker_cmds else None,
        locust_version=locust_version,
        open_file_limit=open_files,
        pavi_load_settings=settings.model_dump_json(),  # what remote workers need in their environment
    )

    env = {**os.environ, **settings.to_env()}
    let_finish_s = 0.0
    logs: list[IO[bytes]] = []
    processes: dict[str, subprocess.Popen[bytes]] = {}
    started = time.time()
    looking = Looks(run, looks, at_look) if at_look is not None else None
    try:
        main_label = "locust-master" if workers else "locust"
        logs.append((load_dir / "locust.log").open("wb"))
        processes[main_label] = subprocess.Popen(
            main_cmd, env=env, stdout=logs[-1], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        for number, command in enumerate(worker_cmds, start=1):
            logs.append((load_dir / f"locust-worker-{number}.log").open("wb"))
            processes[f"locust-worker-{number}"] = subprocess.Popen(
                command, env=env, stdout=logs[-1], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        limit_s = duration_s + OVERRUN_GRACE_S + (WORKER_CONNECT_WAIT_S if workers else 0)
        sampled = "" if sides else api_url  # /_pavi/stats of one side would misdescribe a canary
        killed = _watch(processes, main_label, load_dir, sampled, duration_s, limit_s, show_progress, looking)
    except BaseException as error:  # Ctrl-C or a crash of ours: say so in run.json, keep what was measured
        # Ctrl-C reached Locust too (same process group) and it is writing its reports: let it finish
        let_finish_s = 15.0 if isinstance(error, KeyboardInterrupt) else 0.0
        run.record_part("load", status="interrupted", started=started, ended=time.time())
        raise
    finally:
        for process in processes.values():
            _stop(process, let_finish_s)
        for log in logs:
            log.close()

    exit_code = None if killed else processes[main_label].returncode
    if looking is not None:
        stopped = looking.stopped
        run.record_part(
            "load",
            duration_s=stopped[0] if stopped else duration_s,
            until_decided={
                "looks_s": list(looks), "looks_taken": looking.taken, "max_duration_s": duration_s,
                "stopped_at_s": stopped and stopped[0], "stop_reason": stopped and stopped[1],
            },
        )  # fmt: skip
    target_path = load_dir / "target.parquet"
    run.record_part("load", jobs=job_tally(load_dir, seeding, sides or {"": api_url}, max_jobs))
    run.record_part(
        "load",
        status="killed" if killed else "finished",
        exit_code=exit_code,
        worker_exit_codes=[p.returncode for label, p in processes.items() if label != main_label],
        started=started,
        ended=time.time(),
    )
    return LoadOutcome(
        load_dir=load_dir,
        requests=load_dir / "requests.parquet",
        events=load_dir / "events.json",
        host=load_dir / "host.parquet",
        target=target_path if target_path.exists() else None,
        csv_prefix=load_dir / "locust",
        html=load_dir / "locust.html",
        exit_code=exit_code,
        seed_uuids=seeds,
    )


def job_tally(
    load_dir: Path, seeding: dict[str, SeedJobs], urls: dict[str, str], max_jobs: int | None
) -> dict[str, dict[str, Any]]:
    """Per side: the budget, POSTs sent, jobs the API took, and their status once the load ended."""
    ledgers = read_ledgers(load_dir)
    tally: dict[str, dict[str, Any]] = {}
    for side, url in urls.items():
        seed = seeding.get(side, SeedJobs())
        users = ledgers.get(side, {"posts": 0, "uuids": []})
        uuids = [*seed.submitted, *users["uuids"]]  # type: ignore[misc]
        tally[side] = {
            "budget": max_jobs,
            "posts": seed.posts + int(users["posts"]),  # type: ignore[call-overload]
            "seed_posts": seed.posts,
            "submitted": len(uuids),
            **final_statuses(url, uuids),
        }
    return tally


def _watch(
    processes: dict[str, subprocess.Popen[bytes]],
    main_label: str,
    load_dir: Path,
    api_url: str,
    duration_s: float,
    limit_s: float,
    show_progress: bool,
    looking: Looks | None = None,
) -> bool:
    """Sample every second until Locust exits (or a look stops it); kill it past `limit_s`. True when
    it was killed."""
    cpu = CpuSampler({label: process.pid for label, process in processes.items()})
    target = TargetSampler(api_url)
    progress = _ProgressView(load_dir, duration_s) if show_progress else None
    start = time.monotonic()
    last_save = start
    killed = False
    try:
        while processes[main_label].poll() is None:
            if time.monotonic() - start > limit_s:
                killed = True
                break
            with suppress(subprocess.TimeoutExpired):  # a tick, or Locust's exit, whichever comes first
                processes[main_label].wait(SAMPLE_INTERVAL_S - (time.monotonic() - start) % SAMPLE_INTERVAL_S)
            cpu.sample()
            target.sample()
            if progress:
                progress.update()
            if time.monotonic() - last_save > SAVE_SAMPLES_EVERY_S:
                _save(cpu, target, load_dir)
                last_save = time.monotonic()
            if looking is not None and looking.due(load_dir):
                _save(cpu, target, load_dir)  # the look judges generator CPU too
                if looking.look():
                    break  # run_load's cleanup stops Locust (SIGINT: it writes its reports)
        if not killed:
            for label, process in processes.items():
                if label != main_label:
                    with suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=15)  # workers quit when the master tells them to
    finally:
        if progress:
            progress.update()
            progress.close()
        _save(cpu, target, load_dir)
        target.close()
    return killed


class Looks:
    """The looks of a run that lasts until decided: which is due, and the one that stopped it."""

    def __init__(self, run: Run, looks: Sequence[float], at_look: Callable[[float], str | None]) -> None:
        self.run = run
        self.looks = list(looks)
        self.at_look = at_look
        self.taken = 0
        self.stopped: tuple[float, str] | None = None
        self.test_start: float | None = None

    def due(self, load_dir: Path) -> bool:
        # the last look is the run's end: Locust's own -t stops it there, and the report judges it
        if self.taken >= len(self.looks) - 1:
            return False
        if self.test_start is None:
            with suppress(OSError, ValueError):
                self.test_start = json.loads((load_dir / "events.json").read_text()).get("test_start")
        # a look needs the recorder's last flush of samples before it
        return self.test_start is not None and time.time() - self.test_start >= self.looks[self.taken] + 2.5

    def look(self) -> bool:
        """Judge at the due look; True when the run should stop."""
        at = self.looks[self.taken]
        self.taken += 1
        self.run.record_part("load", duration_s=at)  # the window judged at this look
        reason = self.at_look(at)
        if reason is None:
            self.run.record_part("load", duration_s=self.looks[-1])
            return False
        self.stopped = (at, reason)
        return True


def _save(cpu: CpuSampler, target: TargetSampler, load_dir: Path) -> None:
    cpu.write(load_dir / "host.parquet")
    target.write(load_dir / "target.parquet")


def _stop(process: subprocess.Popen[bytes], let_finish_s: float = 0.0, grace_s: float = 10.0) -> None:
    """Wait `let_finish_s` for an exit already under way, then SIGINT (Locust writes its reports and
    exits cleanly), then SIGKILL."""
    with suppress(subprocess.TimeoutExpired):
        process.wait(let_finish_s)
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace_s), (signal.SIGKILL, 5.0)):
        try:
            process.send_signal(sig)
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


class _ProgressView:
    """A rich progress bar fed by `load/progress.json`, which the recorder rewrites every flush."""

    def __init__(self, load_dir: Path, duration_s: float) -> None:
        self.load_dir = load_dir
        self.duration_s = duration_s
        self.test_start: float | None = None
        self.progress = Progress(
            TextColumn("[bold]load"),
            BarColumn(),
            TextColumn("{task.completed:>4.0f}/{task.total:.0f} s"),
            TextColumn("{task.fields[info]}"),
        )
        self.task = self.progress.add_task("load", total=duration_s, info="starting Locust")
        self.progress.start()

    def _read(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.load_dir / name).read_text())
        except (OSError, ValueError):
            return {}

    def update(self) -> None:
        if self.test_start is None:
            self.test_start = self._read("events.json").get("test_start")
        elapsed = time.time() - self.test_start if self.test_start else 0.0
        state = self._read("progress.json")
        info = (
            f"{state.get('user_count', 0)} users  {state.get('requests', 0)} requests  "
            f"{state.get('failures', 0)} failures"
            if state
            else "starting Locust"
        )
        self.progress.update(self.task, completed=min(elapsed, self.duration_s), info=info)

    def close(self) -> None:
        self.progress.stop()

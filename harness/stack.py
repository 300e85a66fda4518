"""Start, stop and inspect local PAVI stacks (local_pavi.server) as background processes.

Each stack has a state file (`.pavi/stacks/<name>.json`: pid, port, URLs, faults, log) so that
`stack down` and `stack status` work from another shell, and commands whose target is `local` can
reuse a stack that is already up instead of starting a second one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3
import httpx

from harness.config import Faults, Target
from harness.errors import ConfigError, EnvironmentProblem
from harness.runstore import write_json_atomic

START_TIMEOUT_S = 90.0


def data_dir() -> Path:
    return Path(os.environ.get("PAVI_DATA_DIR", ".pavi")).resolve()


def _state_file(name: str) -> Path:
    return data_dir() / "stacks" / f"{name}.json"


@dataclass
class StackState:
    name: str
    pid: int
    port: int
    backend: str
    url: str
    log: str
    started: float = field(default_factory=time.time)
    faults: dict[str, float | bool] = field(default_factory=dict)
    # backend stepfunctions: endpoint_url, region, state_machine_arn, jobs_table, queues (moto server)
    aws: dict[str, object] = field(default_factory=dict)
    threading: str = "bounded"  # or "upstream" (local_pavi.app); the default reads older state files

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def web_url(self) -> str:
        return self.url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        answer = httpx.get(f"{url}/api/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json() == {"status": "up"}


def read_state(name: str) -> StackState | None:
    path = _state_file(name)
    if not path.is_file():
        return None
    return StackState(**json.loads(path.read_text()))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_stack(
    name: str, target: Target, faults: Faults | None = None, seed: int | None = None
) -> StackState:
    """Start a stack and wait until its API answers; raise with the log's tail if it does not."""
    if target.kind != "local":
        raise ConfigError(f"target {name!r} is not local", "`stack up` only starts targets with kind: local")
    if target.threading == "upstream" and target.backend != "inprocess":
        raise ConfigError(
            f"threading 'upstream' needs backend 'inprocess', not {target.backend!r}",
            "upstream's thread use is its API running the pipeline: use --backend inprocess",
        )
    if shutil.which("clustalo") is None:
        raise EnvironmentProblem(
            "Clustal Omega (clustalo) is not installed; the local stack's pipeline needs it",
            "run `make setup` (as root it installs Debian's clustalo), or `apt-get install clustalo`",
        )
    existing = read_state(name)
    if existing and _alive(existing.pid):
        raise EnvironmentProblem(
            f"stack {name!r} is already running (pid {existing.pid}, {existing.url})",
            f"use it, or stop it first with `pavi-validate stack down --name {name}`",
        )
    if not _port_free(target.port):
        raise EnvironmentProblem(
            f"port {target.port} on 127.0.0.1 is already in use",
            "stop what listens there, or set another `port:` for this target in scenarios.yaml",
        )
    faults = faults or target.faults
    root = data_dir()
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    log_path = root / "stacks" / f"{name}.log"
    command = [
        sys.executable, "-m", "local_pavi.server",
        "--port", str(target.port),
        "--data-dir", str(root),
        "--workers", str(target.pipeline_workers),
        "--backend", target.backend,
        "--threading", target.threading,
    ]  # fmt: skip
    for key, value in faults.model_dump().items():
        if isinstance(value, bool):  # a switch is a flag of its own
            command += [f"--{key.replace('_', '-')}"] if value else []
        else:
            command += [f"--{key.replace('_', '-')}", str(value)]
    if seed is not None:
        command += ["--seed", str(seed)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    state = StackState(
        name=name,
        pid=process.pid,
        port=target.port,
        backend=target.backend,
        threading=target.threading,
        url=f"http://127.0.0.1:{target.port}",
        log=str(log_path),
        faults=faults.model_dump(),
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvironmentProblem(
                f"the local stack exited during start-up (code {process.returncode}):\n{_tail(log_path)}",
                f"read {log_path}; `make setup` installs what the stack needs",
            )
        if healthy(state.url, timeout=1.0):
            if state.backend == "stepfunctions":
                state.aws = httpx.get(f"{state.url}/_pavi/stats", timeout=10.0).json()["aws"]
            write_json_atomic(_state_file(name), asdict(state))
            return state
        time.sleep(0.2)
    _terminate(process.pid)
    raise EnvironmentProblem(
        f"the local stack did not answer /api/health within {START_TIMEOUT_S:.0f} s:\n{_tail(log_path)}",
        f"read {log_path}",
    )


def stop_stack(name: str) -> StackState | None:
    state = read_state(name)
    if state is None:
        return None
    _terminate(state.pid)
    _state_file(name).unlink(missing_ok=True)
    return state


def _terminate(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the stack's process group (it may have clustalo children), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap our own child so it does not linger as a zombie
            if not _alive(pid):
                return
            time.sleep(0.05)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def all_states() -> list[StackState]:
    folder = data_dir() / "stacks"
    if not folder.is_dir():
        return []
    return [StackState(**json.loads(path.read_text())) for path in sorted(folder.glob("*.json"))]


def set_faults(url: str, **changes: float | bool) -> dict[str, float | bool]:
    """Change faults of a running stack through its admin route (`alter_alignment` is a bool)."""
    answer = httpx.put(f"{url}/_pavi/faults", json=changes, timeout=5.0)
    if answer.status_code != 200:
        raise ConfigError(
            f"the stack refused the faults: {answer.json().get('detail')}", "check names and ranges"
        )
    return answer.json()


@contextmanager
def local_stack(name: str, target: Target) -> Iterator[StackState]:
    """Use the stack that is already up, or start one for the duration of a command."""
    existing = read_state(name)
    if existing and _alive(existing.pid) and healthy(existing.url):
        yield existing
        return
    state = start_stack(name, target)
    try:
        yield state
    finally:
        stop_stack(name)


def local_aws_session(region: str) -> boto3.Session:
    """Fixed dummy credentials: a local stack's moto server accepts any, and real ones must never go there."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)

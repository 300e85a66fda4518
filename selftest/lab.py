"""The lab: the local stacks, the moto server and the dummy AWS environment the trials run on.

Everything listens on 127.0.0.1 at free ports. Stacks get names of their own (`selftest-<token>-main`,
`-sfn`, `-blue`, `-green`), so a stack a user started with `stack up`, or another self-test, is never
touched. They start together when the self-test begins and stop when it ends, whatever happens.
AWS clients see only dummy keys and the moto server's endpoint, never a profile or real credentials.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from types import TracebackType

import httpx

from harness import stack
from harness.config import AwsSettings, Target
from harness.errors import EnvironmentProblem
from harness.parts import Where
from local_pavi.sfn_backend import MotoServer

ROLES = {"main": "inprocess", "sfn": "stepfunctions", "blue": "inprocess", "green": "inprocess"}
REGION = "us-east-1"
# what could point boto3 at a real account or through a proxy; dropped for dummy keys and moto
AWS_ENV_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CE",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ENDPOINT_URL_ROUTE_53",
    "AWS_ENDPOINT_URL_S3",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def _problem(error: BaseException) -> EnvironmentProblem:
    if isinstance(error, EnvironmentProblem):
        return error
    return EnvironmentProblem(f"the self-test's lab did not start: {error}", "read the logs named above")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """Use as a context manager; `start(roles)` brings up the stacks the trials need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(3)
        self.stacks: dict[str, stack.StackState] = {}
        self.moto: MotoServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(ROLES) + 1, thread_name_prefix="selftest-lab")
        self._pending: dict[str, Future[stack.StackState]] = {}
        self._moto_pending: Future[None] | None = None

    # --- environment ---------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.root.mkdir(parents=True, exist_ok=True)
        dummy = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.root / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PAVI_AWS_PROFILE": "",  # empty: no profile, whatever the user's shell says
            "NO_PROXY": "127.0.0.1,localhost",
        }
        for name in (*dummy, *AWS_ENV_TO_DROP):
            self._saved_env[name] = os.environ.get(name)
        for name in AWS_ENV_TO_DROP:
            os.environ.pop(name, None)
        os.environ.update(dummy)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            for role in list(self._pending):  # started in the background and never used: stop them too
                with suppress(Exception):
                    self._wait(role)
            if self._moto_pending is not None:
                with suppress(Exception):
                    self._moto_pending.result()
            self._pool.shutdown(wait=True)
            for role in list(self.stacks):
                stack.stop_stack(self.stacks.pop(role).name)
            if self.moto is not None:
                self.moto.stop()
        finally:
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def start(self, roles: Collection[str], moto: bool, later: Collection[str] = ()) -> None:
        """Start the stacks in `roles` (and moto) now and wait for them; those in `later` start in the
        background (`state` waits for them). Raises EnvironmentProblem when one does not come up."""
        for role in ROLES:
            if (role in roles or role in later) and role not in self.stacks and role not in self._pending:
                self._pending[role] = self._pool.submit(self._start_stack, role)
        if moto and self.moto is None and self._moto_pending is None:
            self._moto_pending = self._pool.submit(self._start_moto)
        problems = []
        for role in [role for role in self._pending if role in roles]:
            try:
                self._wait(role)
            except Exception as error:  # every started stack must still be stopped by __exit__
                problems.append(error)
        if self._moto_pending is not None:
            try:
                self._moto_pending.result()
            except Exception as error:
                problems.append(error)
            self._moto_pending = None
        if problems:
            raise _problem(problems[0])

    def _wait(self, role: str) -> None:
        future = self._pending.pop(role)
        self.stacks[role] = future.result()

    def _start_stack(self, role: str, attempts: int = 5) -> stack.StackState:
        """Start one stack on a free port; another starter (moto, a parallel stack) may take the port
        between the probe and the bind, so a port found in use is replaced by a new one."""
        for attempt in range(attempts):
            target = Target(kind="local", port=free_port(), backend=ROLES[role], pipeline_workers=2)  # type: ignore[arg-type]
            try:
                return stack.start_stack(f"selftest-{self.token}-{role}", target, seed=8)
            except EnvironmentProblem as problem:
                if "already in use" not in problem.problem or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_moto(self) -> None:
        server = MotoServer(self.root / "moto.log")
        server.start()
        self.moto = server

    # --- what trials use -----------------------------------------------------------------------

    def state(self, role: str) -> stack.StackState:
        if role in self._pending:
            try:
                self._wait(role)
            except Exception as error:
                raise _problem(error) from None
        if role not in self.stacks:
            self.start({role}, moto=False)
        return self.stacks[role]

    def where(self, role: str) -> Where:
        state = self.state(role)
        target = Target(kind="local", port=state.port, backend=state.backend)  # type: ignore[arg-type]
        return Where(state.name, target, state.api_url, state.web_url)

    def clear_faults(self, role: str) -> None:
        """Every fault the stack knows back to off (numbers 0, switches false)."""
        url = self.state(role).url
        current = httpx.get(f"{url}/_pavi/faults", timeout=5.0).json()
        stack.set_faults(url, **{name: False if isinstance(v, bool) else 0 for name, v in current.items()})

    def set_faults(self, role: str, **faults: float | bool) -> None:
        if faults:
            stack.set_faults(self.state(role).url, **faults)

    @property
    def moto_url(self) -> str:
        if self.moto is None:
            self.start(set(), moto=True)
        assert self.moto is not None
        return self.moto.endpoint_url

    def moto_reset(self) -> None:
        httpx.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()

    def aws_where(self, api_url: str = "http://127.0.0.1:9") -> Where:
        """A remote target whose AWS calls all go to the moto server."""
        target = Target(
            kind="remote", api_url=api_url, aws=AwsSettings(region=REGION, endpoint_url=self.moto_url)
        )
        return Where("selftest-aws", target, api_url, api_url)

"""Where load may go: only to targets listed in scenarios.yaml, and only to a target that is PAVI's API.

A load test aimed at the wrong host is an attack on someone else's service, so the harness sends load
only to an origin (scheme, host, port) that scenarios.yaml names, or to a local stack the harness
itself started (its state file names the port). The preflight turns the usual misconfigurations (the
web UI's URL given as api_url, a proxy's HTML error page, nothing listening) into one clear message
before any load is sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from harness import stack
from harness.config import Scenarios
from harness.errors import ConfigError, EnvironmentProblem

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """scheme://host:port, lower-cased, with the scheme's default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{host}:{port}"


def listed_origins(scenarios: Scenarios) -> set[str]:
    """Every API and web origin of scenarios.yaml's targets, plus the local stacks now running."""
    origins = {origin(url) for target in scenarios.targets.values() for url in target.urls()}
    origins |= {origin(state.url) for state in stack.all_states()}
    return origins


def require_listed(url: str, scenarios: Scenarios) -> None:
    """Refuse load to an origin that scenarios.yaml does not list."""
    if origin(url) in listed_origins(scenarios):
        return
    raise ConfigError(
        f"refusing to send load to {url}: its host is not a target in scenarios.yaml",
        "add it under `targets:` (kind: remote, api_url: ...) if it is yours, then use --target NAME",
    )


def preflight(api_url: str, attempts: int = 3, timeout_s: float = 10.0) -> None:
    """GET /api/health must answer JSON (of any status: a faulty target is still worth measuring).

    Up to `attempts` tries, so one stray proxy page does not stop a run; the last answer is named.
    No answer at all fails at once.
    """
    url = f"{api_url.rstrip('/')}/api/health"
    problem: EnvironmentProblem | None = None
    for _ in range(attempts):
        try:
            answer = httpx.get(url, timeout=timeout_s)
        except httpx.HTTPError as error:
            raise EnvironmentProblem(
                f"cannot reach {url}: {type(error).__name__}: {error}",
                "is the target up, and is api_url right? (`pavi-validate stack status` for local stacks)",
            ) from None
        try:
            answer.json()
            return
        except ValueError:
            kind = answer.headers.get("content-type", "").split(";")[0].strip() or "no content type"
            start = " ".join(answer.text[:80].split())
            problem = EnvironmentProblem(
                f"{url} answered HTTP {answer.status_code} with {kind}, not JSON (it starts: {start!r})",
                "api_url must be PAVI's API (the one serving /api/health), not the web UI or a proxy page",
            )
    assert problem is not None
    raise problem

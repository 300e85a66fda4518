"""The local stand-in's own routes under `/_pavi` (a deployed PAVI has none).

Generated payloads name the stand-in's genome and coordinates, which mean nothing to a deployed
PAVI, so measuring parts ask the target itself for them: the stand-in answers, a deployed PAVI
answers 404 and the part is told to use a payload file instead. This keeps the stand-in's genome
out of every measuring package.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx

from harness.errors import ConfigError, EnvironmentProblem

PAYLOAD = "/_pavi/payload"
NO_GENERATED = (
    "give a payload file in PAVI's schema (payload: {file: my-payload.json}); "
    "docs/CONFIG.md says how to make one for a real genome"
)


def is_loopback(host: str | None) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): only such hosts may serve generated payloads
    or a stand-in's genome; any other name may resolve elsewhere."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def generated_payload(
    api_url: str, entries: int, *, seed: int = 0, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """A payload of `entries` transcripts of the stand-in's genome, identical for the same seed.

    Raises:
        ConfigError: the target is not the stand-in (404), or refuses `entries` (422).
        EnvironmentProblem: the target cannot be reached.
    """
    base = api_url.rstrip("/")
    try:
        answer = httpx.get(f"{base}{PAYLOAD}", params={"entries": entries, "seed": seed}, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise EnvironmentProblem(
            f"cannot ask {base} for a generated payload: {error}", "is the API up?"
        ) from None
    if answer.status_code == 404:
        raise ConfigError(f"{base} has no generated payloads: it is not the local stand-in", NO_GENERATED)
    if answer.status_code == 422:
        raise ConfigError(
            f"{base} cannot generate {entries} entries: {answer.text[:300]}", "use fewer entries"
        )
    if answer.status_code != 200:
        raise EnvironmentProblem(
            f"{base}{PAYLOAD} answered HTTP {answer.status_code}", "is the local stack healthy?"
        )
    body = answer.json()
    if not isinstance(body, list) or not body:
        raise EnvironmentProblem(
            f"{base}{PAYLOAD} did not answer a payload list", "is the local stack current?"
        )
    return body

"""Fault injection for the local stack: latency, 5xx answers, failing jobs, slow frames, altered results.

Off by default. Set at start (`stack up --latency-ms 200`) or while running through
`PUT /_pavi/faults`, so one stack can be healthy and faulty within one test.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from local_pavi.alignment import conservation

_CLUSTAL_ROW = re.compile(r"(\S+\s+)([A-Za-z*.\-]+)((?:\s+\d+)?\s*)")


@dataclass
class FaultSettings:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_ratio: float = 0.0
    drop_ratio: float = 0.0  # answers cut off after their headers: the client sees the connection drop
    pipeline_failure_ratio: float = 0.0
    pipeline_delay_ms: float = 0.0  # added to every job's alignment stage (a slower pipeline)
    slow_frame_ms: float = 0.0
    # a switch: every job's alignment gets one residue changed (a data inconsistency for `canary`)
    alter_alignment: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names or out-of-range values raise ValueError.

        A switch takes true/false or 1/0 (the admin route's JSON may give either).
        """
        known = {f.name: f for f in fields(self)}
        converted: dict[str, float | bool] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            if known[name].type in (bool, "bool"):
                if value not in (0, 1):  # True == 1 and False == 0 as well
                    raise ValueError(f"{name} is a switch: true/false or 1/0, got {value!r}")
                converted[name] = bool(value)
                continue
            number = float(value)
            if number < 0 or (name.endswith("ratio") and number > 1):
                raise ValueError(f"{name} must be >= 0 (and <= 1 for a ratio), got {value!r}")
            converted[name] = number
        for name, value in converted.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


class FaultInjector:
    """Pure ASGI middleware (BaseHTTPMiddleware would add its own latency under load) for `/api`."""

    def __init__(self, app: ASGIApp, faults: FaultSettings, rng: random.Random) -> None:
        self.app = app
        self.faults = faults
        self.rng = rng

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        faults = self.faults
        if faults.latency_ms or faults.latency_jitter_ms:
            jitter = self.rng.uniform(-faults.latency_jitter_ms, faults.latency_jitter_ms)
            await asyncio.sleep(max(0.0, faults.latency_ms + jitter) / 1000)
        if faults.error_ratio and self.rng.random() < faults.error_ratio:
            body = json.dumps({"detail": "Injected fault (local stack error_ratio)."}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(body)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if faults.drop_ratio and self.rng.random() < faults.drop_ratio:
            # headers promise a body that never comes; raising makes the server close the connection
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
                }
            )
            raise InjectedDrop("connection dropped mid-answer (local stack drop_ratio)")
        await self.app(scope, receive, send)


class InjectedDrop(ConnectionAbortedError):
    """Raised to make the server drop a connection on purpose (fault `drop_ratio`)."""


def alter_alignment(clustal: str) -> str:
    """The fault `alter_alignment`: the first residue of the first row becomes another amino acid.

    Deterministic (W, or G where it was W), and the text stays valid Clustal: same residue counts, and
    the changed column's conservation mark is worked out again. Text without a row comes back as it was.
    """
    lines = clustal.splitlines(keepends=True)
    rows: list[int] = []  # the first block's row lines (the header is line 0)
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() and not line[0].isspace():
            rows.append(index)
        elif rows:
            break
    found = [_CLUSTAL_ROW.fullmatch(lines[row].rstrip("\n")) for row in rows]
    if not found or found[0] is None:
        return clustal
    chunk = found[0].group(2)
    offset = next((i for i, residue in enumerate(chunk) if residue.isalpha()), None)
    if offset is None:
        return clustal
    column = found[0].start(2) + offset
    line = lines[rows[0]]
    lines[rows[0]] = line[:column] + ("G" if chunk[offset].upper() == "W" else "W") + line[column + 1 :]
    marks_at = rows[-1] + 1
    start = column - offset
    laid_out = all(match and match.start(2) == start and len(match.group(2)) > offset for match in found)
    if laid_out and marks_at < len(lines) and lines[marks_at].strip("\n") and lines[marks_at][0].isspace():
        residues = "".join(lines[row][column] for row in rows)
        text = lines[marks_at].rstrip("\n").ljust(column + 1)
        newline = "\n" if lines[marks_at].endswith("\n") else ""
        lines[marks_at] = text[:column] + conservation(residues) + text[column + 1 :] + newline
    return "".join(lines)

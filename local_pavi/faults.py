"""Fault injection for the local stack: latency, 5xx answers, failing jobs and slow frames.

Off by default. Set at start (`stack up --latency-ms 200`) or while running through
`PUT /_pavi/faults`, so one stack can be healthy and faulty within one test.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class FaultSettings:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_ratio: float = 0.0
    pipeline_failure_ratio: float = 0.0
    slow_frame_ms: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names or out-of-range values raise ValueError."""
        known = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            number = float(value)
            if number < 0 or (name.endswith("ratio") and number > 1):
                raise ValueError(f"{name} must be >= 0 (and <= 1 for a ratio), got {value!r}")
        for name, value in changes.items():
            setattr(self, name, float(value))

    def as_dict(self) -> dict[str, float]:
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
        await self.app(scope, receive, send)

"""Server-side latency of every `/api` request, so a benchmark can hold the client's numbers
against what the server itself measured (is the load generator adding latency of its own?).

Kept in memory, bounded, and read through `GET /_pavi/server-timing`; never used for verdicts.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_SAMPLES = 2_000_000


class ServerTimings:
    def __init__(self, limit: int = MAX_SAMPLES) -> None:
        self.samples: deque[tuple[float, float, str, int]] = deque(maxlen=limit)

    def since(self, start: float) -> dict[str, list]:
        rows = [row for row in list(self.samples) if row[0] >= start]
        return {
            "start": [row[0] for row in rows],
            "ms": [row[1] for row in rows],
            "path": [row[2] for row in rows],
            "status": [row[3] for row in rows],
        }


class ServerTimingMiddleware:
    """Outermost pure ASGI middleware: from the request's arrival to the last body byte sent."""

    def __init__(self, app: ASGIApp, timings: ServerTimings) -> None:
        self.app = app
        self.timings = timings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api"):
            await self.app(scope, receive, send)
            return
        wall = time.time()
        start = time.perf_counter()
        status = 0

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                elapsed = (time.perf_counter() - start) * 1000
                self.timings.samples.append((wall, elapsed, scope["path"], status))

        await self.app(scope, receive, timed_send)

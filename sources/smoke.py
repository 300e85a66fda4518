"""Deploy smoke evidence for "Amplify staging deploys": the web UI's /health and the API's /api/health.

Each check records status, latency, whether it answered 2xx within the time limit and, when an
expected version is given, whether that string appears in the body or the version header (so an
old deployment that still answers 200 is caught). An Amplify single-page app may answer 200 with
index.html for any path; an expected version is what tells a real health page from that.
Nothing is judged here; `ok` is a fact about one answer. File: `smoke.json`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.runstore import write_json_atomic

SMOKE_FILE = "smoke.json"
BODY_BYTES = 65536  # how much of a body is searched for the version


def check_url(
    url: str, *, timeout_s: float, expected_version: str | None = None, version_header: str = "x-version"
) -> dict[str, Any]:
    """GET `url` once; never raises: a failure is recorded in `error`."""
    record: dict[str, Any] = {
        "url": url,
        "status": None,
        "latency_ms": None,
        "ok": False,
        "error": None,
        "version_header": None,
        "version_found": None,
    }
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
            answer = client.get(url, headers={"cache-control": "no-cache"})
    except httpx.HTTPError as error:
        record["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        record["error"] = f"{type(error).__name__}: {error}"[:300]
        return record
    elapsed_s = time.perf_counter() - started
    record["status"] = answer.status_code
    record["latency_ms"] = round(elapsed_s * 1000, 3)
    header = answer.headers.get(version_header)
    record["version_header"] = header[:200] if header else None
    problems = []
    if not answer.is_success:
        problems.append(f"answered {answer.status_code}")
    if elapsed_s > timeout_s:
        problems.append(f"took {elapsed_s:.2f} s, over the {timeout_s:g} s limit")
    if expected_version is not None:
        found = expected_version in (header or "") or expected_version in answer.text[:BODY_BYTES]
        record["version_found"] = found
        if not found:
            problems.append(f"expected version {expected_version!r} not in the body or {version_header}")
    record["ok"] = not problems
    record["error"] = "; ".join(problems) or None
    return record


def smoke(
    web_url: str,
    api_url: str,
    *,
    timeout_s: float = 10.0,
    expected_version: str | None = None,
    version_header: str = "x-version",
    web_path: str = "/health",
    api_path: str = "/api/health",
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Both health checks; with `out_dir`, smoke.json is written there."""
    result = {
        "checked_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "timeout_s": timeout_s,
        "expected_version": expected_version,
        "checks": {
            name: check_url(
                base.rstrip("/") + path,
                timeout_s=timeout_s,
                expected_version=expected_version,
                version_header=version_header,
            )
            for name, base, path in (("web", web_url, web_path), ("api", api_url, api_path))
        },
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / SMOKE_FILE, result)
    return result

"""A small PAVI of our own that answers the way upstream's deployed API does, for tests of remote targets.

Read off upstream (alliance-genome/agr_pavi, api/src/main.py and seq_retrieval), not off our stand-in:
- no `/_pavi/...` routes: a deployed PAVI has no generated payloads and no stats;
- `POST /api/pipeline-job/` answers 201 `{"uuid", "status": "pending", "name": "pavi-job-<uuid>"}`, and
  every submit starts a pipeline (counted here, so a test can assert how many a run started);
- an alternative whose variant changes the start codon is *rejected*: absent from the alignment, and its
  seq-info entry carries upstream's error text; the job still completes. Which variant ids do that is
  the test's to say (`reject_variants`), since this server has no genome.
It never fetches `fasta_file_url`, so payloads may name real genomes, as real ones do.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid as uuidlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from local_pavi.alignment import format_clustal
from tests.support import free_port

START_CODON_ERROR = (
    "Reference start codon is different from alternative start codon. "
    "Alternative coding sequence rejected. No alternatives searched."
)
ROW_LENGTH = 48


@dataclass
class UpstreamLike:
    """What the server saw and how it behaves; tests read `submits` and `requests`."""

    url: str = ""
    reject_variants: set[str] = field(default_factory=set)
    job_seconds: float = 0.2
    drop_errors: bool = False  # a broken pipeline: rejected alts lose their seq-info error
    submits: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _row(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return "M" + "".join("ACDEFGHIKLMNPQRSTVWY"[byte % 20] for byte in digest * 2)[: ROW_LENGTH - 1]


def _results(body: list[dict[str, Any]], reject: set[str], drop_errors: bool) -> tuple[str, dict[str, Any]]:
    """Alignment and seq-info named as upstream's seq_retrieval names them."""
    rows: dict[str, str] = {}
    info: dict[str, Any] = {}
    for entry in body:
        base = entry["base_seq_name"]
        variants = list(entry.get("variant_ids") or [])
        if not variants:
            rows[base], info[base] = _row(base), {"name": base}
            continue
        ref, alt = f"{base}_ref", f"{base}{entry.get('alt_seq_name_suffix') or '_alt'}"
        rows[ref], info[ref] = _row(ref), {"name": ref}
        if reject & set(variants):
            info[alt] = {"name": alt} if drop_errors else {"name": alt, "error": START_CODON_ERROR}
        else:
            rows[alt], info[alt] = _row(alt), {"name": alt, "embedded_variants": variants}
    return format_clustal(rows), info


def create_app(state: UpstreamLike) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        with state.lock:
            state.requests[f"{request.method} {request.url.path}"] += 1
        return await call_next(request)

    def status_of(job: dict[str, Any]) -> str:
        return "completed" if time.monotonic() - job["submitted"] >= state.job_seconds else "running"

    def finished(uuid: str) -> dict[str, Any]:
        job = state.jobs.get(uuid)
        if job is None or status_of(job) != "completed":
            raise HTTPException(404, detail="File not found.")
        return job

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "up"}

    @app.post("/api/pipeline-job/", status_code=201)
    async def submit(body: list[dict[str, Any]]) -> dict[str, str]:
        uuid = str(uuidlib.uuid1())
        alignment, info = _results(body, state.reject_variants, state.drop_errors)
        with state.lock:
            state.submits += 1
            state.jobs[uuid] = {"submitted": time.monotonic(), "alignment": alignment, "info": info}
        return {"uuid": uuid, "status": "pending", "name": f"pavi-job-{uuid}"}

    @app.get("/api/pipeline-job/{uuid}")
    async def job(uuid: str) -> dict[str, str]:
        found = state.jobs.get(uuid)
        if found is None:
            raise HTTPException(404, detail="Job not found.")
        return {"uuid": uuid, "status": status_of(found), "name": f"pavi-job-{uuid}"}

    @app.get("/api/pipeline-job/{uuid}/result/alignment")
    async def alignment(uuid: str) -> PlainTextResponse:
        return PlainTextResponse(finished(uuid)["alignment"])

    @app.get("/api/pipeline-job/{uuid}/result/seq-info")
    async def seq_info(uuid: str) -> dict[str, Any]:
        return finished(uuid)["info"]

    return app


@contextmanager
def upstream_like(**settings: Any) -> Iterator[UpstreamLike]:
    """The server on a free 127.0.0.1 port, in a thread, for the `with` block."""
    state = UpstreamLike(**settings)
    port = free_port()
    state.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the upstream-like server did not start")
        time.sleep(0.05)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)

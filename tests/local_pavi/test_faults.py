"""Each fault knob of the local stack really changes what a client sees."""

from __future__ import annotations

import time

import httpx

from local_pavi.payload import generate_payload


def _health_latency_ms(client: httpx.Client, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        client.get("/api/health")
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def test_added_latency(pavi) -> None:
    baseline = sorted(_health_latency_ms(pavi.client, 10))[5]
    pavi.faults(latency_ms=150)
    slowed = _health_latency_ms(pavi.client, 10)
    assert min(slowed) >= 150
    assert sorted(slowed)[5] > baseline + 100


def test_error_ratio_gives_that_share_of_503(pavi) -> None:
    pavi.faults(error_ratio=0.3)
    statuses = [pavi.client.get("/api/health").status_code for _ in range(400)]
    assert set(statuses) == {200, 503}
    share = statuses.count(503) / len(statuses)
    # binomial(400, 0.3): standard deviation 0.023, so 0.2..0.4 fails by chance about once in 10^5 runs
    assert 0.2 < share < 0.4
    # the admin surface and the page are never faulted: the harness must be able to switch faults off
    assert all(pavi.client.get("/_pavi/faults").status_code == 200 for _ in range(50))


def test_pipeline_failure_ratio_fails_jobs(pavi) -> None:
    pavi.faults(pipeline_failure_ratio=1.0)
    uuid = pavi.submit(generate_payload(2, fasta_file_url=pavi.fasta_url()))
    assert pavi.wait(uuid)["status"] == "failed"
    assert "injected fault" in pavi.client.get(f"/api/pipeline-job/{uuid}/logs").text
    pavi.faults(pipeline_failure_ratio=0.0)
    uuid = pavi.submit(generate_payload(2, fasta_file_url=pavi.fasta_url()))
    assert pavi.wait(uuid)["status"] == "completed"


def test_fault_values_are_checked(pavi) -> None:
    assert pavi.client.put("/_pavi/faults", json={"error_ratio": 2}).status_code == 422
    assert pavi.client.put("/_pavi/faults", json={"nonsense": 1}).status_code == 422
    assert pavi.client.put("/_pavi/faults", json={"slow_frame_ms": 7}).json()["slow_frame_ms"] == 7


def test_server_timing_includes_injected_latency(pavi) -> None:
    import time as clock

    since = clock.time()
    pavi.faults(latency_ms=120)
    for _ in range(5):
        pavi.client.get("/api/health")
    timings = pavi.client.get("/_pavi/server-timing", params={"since": since}).json()
    health = [ms for ms, path in zip(timings["ms"], timings["path"], strict=True) if path == "/api/health"]
    assert len(health) == 5
    # the event loop's timer may wake a fraction of a millisecond early; unfaulted health takes ~1 ms
    assert min(health) >= 115

"""The fault `pipeline_delay_ms`: every job's alignment stage takes that much longer (the selftest's
slower baseline for `pipeline.duration_s reduced_by_pct_vs_baseline`)."""

from __future__ import annotations

from local_pavi.payload import generate_payload


def _alignment_s(pavi, seed: int) -> tuple[float, str]:
    uuid = pavi.submit(generate_payload(2, fasta_file_url=pavi.fasta_url(), seed=seed))
    assert pavi.wait(uuid)["status"] == "completed"
    timing = pavi.client.get(f"/_pavi/jobs/{uuid}").json()
    return float(timing["stages"]["alignment_s"]), pavi.client.get(f"/api/pipeline-job/{uuid}/logs").text


def test_pipeline_delay_lengthens_the_alignment_stage(pavi) -> None:
    try:
        healthy, _ = _alignment_s(pavi, seed=1)
        pavi.faults(pipeline_delay_ms=400)
        delayed, log = _alignment_s(pavi, seed=2)
    finally:
        pavi.faults(pipeline_delay_ms=0)  # tests/conftest.py's reset does not know this fault
    assert delayed >= 0.4
    assert delayed - healthy > 0.3
    assert "injected fault pipeline_delay_ms 400" in log

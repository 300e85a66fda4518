"""The local stack against PAVI's API contract and upstream's own expected behaviours, over real HTTP."""

from __future__ import annotations

import json
import uuid as uuidlib

from local_pavi.payload import generate_payload
from pavi_contract.clustal import parse_clustal

CLUSTAL_HEADER = "CLUSTAL O(1.2.4) multiple sequence alignment"


def test_health(pavi) -> None:
    answer = pavi.client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "up"}


def test_success_payload_completes_with_one_row_per_entry(pavi) -> None:
    payload = generate_payload(10, fasta_file_url=pavi.fasta_url(), seed=3)
    answer = pavi.client.post("/api/pipeline-job/", json=payload)
    assert answer.status_code == 201
    job = answer.json()
    assert set(job) == {"uuid", "status", "name"}
    assert job["status"] == "pending"
    assert job["name"] == f"pavi-job-{job['uuid']}"

    assert pavi.wait(job["uuid"])["status"] == "completed"

    alignment = pavi.client.get(f"/api/pipeline-job/{job['uuid']}/result/alignment")
    assert alignment.status_code == 200
    assert alignment.headers["content-type"].startswith("text/plain")
    assert alignment.text.startswith(CLUSTAL_HEADER)
    rows = parse_clustal(alignment.text)
    assert sorted(rows) == sorted(entry["base_seq_name"] for entry in payload)
    assert len({len(seq) for seq in rows.values()}) == 1, "aligned rows have equal length"

    seq_info = pavi.client.get(f"/api/pipeline-job/{job['uuid']}/result/seq-info")
    assert seq_info.status_code == 200
    assert seq_info.headers["content-type"] == "application/json"
    assert set(seq_info.json()) == set(rows)

    logs = pavi.client.get(f"/api/pipeline-job/{job['uuid']}/logs")
    assert logs.status_code == 200
    assert "completed" in logs.text


def test_invalid_payload_gets_422(pavi) -> None:
    missing_field = generate_payload(2, fasta_file_url=pavi.fasta_url())
    del missing_field[0]["seq_id"]
    for body in (missing_field, {"not": "a list"}, [{"unique_entry_id": 1}]):
        assert pavi.client.post("/api/pipeline-job/", json=body).status_code == 422
    not_json = pavi.client.post(
        "/api/pipeline-job/", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


def test_unknown_seq_id_fails_and_results_are_404(pavi) -> None:
    payload = generate_payload(2, fasta_file_url=pavi.fasta_url())
    payload[1]["seq_id"] = "chrUnknown"
    uuid = pavi.submit(payload)
    assert pavi.wait(uuid)["status"] == "failed"
    for route in ("alignment", "seq-info"):
        assert pavi.client.get(f"/api/pipeline-job/{uuid}/result/{route}").status_code == 404
    logs = pavi.client.get(f"/api/pipeline-job/{uuid}/logs")
    assert logs.status_code == 200
    assert "chrUnknown" in logs.text


def test_unknown_and_malformed_job_ids(pavi) -> None:
    unknown = uuidlib.uuid1()
    assert pavi.client.get(f"/api/pipeline-job/{unknown}").status_code == 404
    assert pavi.client.get(f"/api/pipeline-job/{unknown}").json() == {"detail": "Job not found."}
    assert pavi.client.get(f"/api/pipeline-job/{unknown}/result/alignment").status_code == 404
    assert pavi.client.get(f"/api/pipeline-job/{unknown}/result/seq-info").status_code == 404
    assert pavi.client.get(f"/api/pipeline-job/{unknown}/logs").status_code == 404
    assert pavi.client.get("/api/pipeline-job/not-a-uuid").status_code == 422


def test_logs_of_an_unfinished_job_get_400(pavi) -> None:
    # 40 entries keep Clustal Omega busy for a while, so the job is pending or running when asked
    uuid = pavi.submit(generate_payload(40, fasta_file_url=pavi.fasta_url(), seed=9))
    answer = pavi.client.get(f"/api/pipeline-job/{uuid}/logs")
    assert pavi.client.get(f"/api/pipeline-job/{uuid}").json()["status"] in ("pending", "running")
    assert answer.status_code == 400
    assert "not yet" in answer.json()["detail"]
    assert pavi.wait(uuid)["status"] == "completed"


def test_concurrent_submissions_all_complete(pavi) -> None:
    """Many jobs at once queue in the bounded pool; every one ends and none is lost."""
    uuids = [pavi.submit(generate_payload(3, fasta_file_url=pavi.fasta_url(), seed=s)) for s in range(12)]
    stats = pavi.client.get("/_pavi/stats").json()
    assert stats["in_flight"] >= 1
    assert [pavi.wait(u)["status"] for u in uuids] == ["completed"] * 12
    timings = pavi.client.get(f"/_pavi/jobs/{uuids[-1]}").json()
    assert set(timings["stages"]) == {"seq_retrieval_s", "alignment_s", "seq_info_s"}
    assert timings["submitted"] <= timings["started"] <= timings["finished"]


def test_result_page_routes(pavi) -> None:
    assert pavi.client.get("/result", follow_redirects=False).headers["location"] == "/submit"
    page = pavi.client.get("/result", params={"uuid": str(uuidlib.uuid1())})
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert pavi.client.get("/health").status_code == 200
    assert json.loads(pavi.client.get("/_pavi/faults").text)["slow_frame_ms"] == 0

"""The pure parts of the pipeline bench: checks, payload resolution, the poll schedule. No stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import PayloadSpec
from harness.errors import ConfigError
from local_pavi.alignment import format_clustal
from local_pavi.payload import generate_payload
from pavi_contract.payload import requested_names as expected_names
from pipeline_bench.checks import (
    NOT_CHECKED,
    check_expected_alignment,
    check_results_absent,
    failure_reason,
    rejected_sequences,
    run_checks,
)
from pipeline_bench.driver_api import PollSchedule
from pipeline_bench.drivers import JobOutcome
from pipeline_bench.payloads import JobPayload, PayloadPlan, read_payload_file

API = "http://127.0.0.1:9"
FASTA = f"{API}/genome/genome.fa"


def _payload(entries: int = 3, seed: int = 0) -> list[dict]:
    return generate_payload(entries, fasta_file_url=FASTA, seed=seed)


def _generate(entries: int, seed: int) -> list[dict]:
    return _payload(entries, seed)


REJECTED = (
    "Reference start codon is different from alternative start codon. Alternative coding sequence rejected."
)


def _alignment(names: list[str]) -> str:
    return format_clustal({name: "MKV-LA" for name in names})


def _completed(names: list[str]) -> JobOutcome:
    return JobOutcome(
        "id",
        "completed",
        1.0,
        alignment=_alignment(names),
        seq_info={name: {} for name in names},
        alignment_http=200,
        seq_info_http=200,
    )


def test_expected_names_follow_pavi_naming_of_variant_entries() -> None:
    body = [
        {"base_seq_name": "a_A-RA", "variant_ids": []},
        {"base_seq_name": "b_B-RA", "variant_ids": ["v1"]},
        {"base_seq_name": "c_C-RA", "variant_ids": ["v2"], "alt_seq_name_suffix": "_v2"},
    ]
    assert expected_names(body) == ["a_A-RA", "b_B-RA_ref", "b_B-RA_alt", "c_C-RA_ref", "c_C-RA_v2"]


def test_a_correct_job_passes_every_check() -> None:
    body = _payload()
    checks = run_checks(_completed(expected_names(body)), JobPayload(body, "generated:3", "completed"))
    assert [c.name for c in checks] == ["status", "alignment_clustal", "alignment_rows", "seq_info_names"]
    assert all(c.passed for c in checks), checks
    assert failure_reason(checks) is None


def _rows_and_info(outcome: JobOutcome, body: list[dict]) -> dict[str, str]:
    checks = run_checks(outcome, JobPayload(body, "x", "completed"))
    return {c.name: ("ok " if c.passed else "FAIL ") + c.detail for c in checks}


def test_a_lost_or_extra_row_fails_with_the_names() -> None:
    body = _payload()
    names = expected_names(body)
    lost = _completed(names[:-1])
    checks = _rows_and_info(lost, body)
    assert checks["alignment_rows"].startswith("FAIL 2 rows for 3 requested")
    assert names[-1] in checks["alignment_rows"]
    extra = _completed([*names, "stray"])
    checks = _rows_and_info(extra, body)
    assert checks["alignment_rows"].startswith("FAIL") and "unexpected stray" in checks["alignment_rows"]


def test_seq_info_must_name_exactly_the_aligned_and_rejected_sequences() -> None:
    body = _payload(2)
    names = expected_names(body)
    outcome = _completed(names)
    assert _rows_and_info(outcome, body)["seq_info_names"].startswith("ok")
    outcome.seq_info = {names[0]: {}}
    assert f"FAIL no info for {names[1]}" == _rows_and_info(outcome, body)["seq_info_names"]
    outcome.seq_info = {**{name: {} for name in names}, "ghost": {}}
    assert "neither aligned nor rejected ghost" in _rows_and_info(outcome, body)["seq_info_names"]


def _variant_body() -> list[dict]:
    body = _payload(2)
    body[1] |= {"variant_ids": ["1:g.100A>T"], "alt_seq_name_suffix": "_tm1"}
    return body


def test_an_alternative_rejected_with_an_error_is_a_success_and_is_named() -> None:
    """Upstream leaves out an alt whose variant changes the start codon and completes the job."""
    body = _variant_body()
    names = expected_names(body)
    alt = names[-1]
    assert alt.endswith("_tm1")
    outcome = _completed(names[:-1])
    outcome.seq_info = {name: {} for name in names[:-1]} | {alt: {"error": REJECTED}}
    checks = run_checks(outcome, JobPayload(body, "x", "completed"))
    assert all(c.passed for c in checks), checks
    assert alt in {c.name: c.detail for c in checks}["alignment_rows"]
    assert rejected_sequences(outcome, JobPayload(body, "x", "completed")) == {alt: REJECTED}


def test_a_sequence_absent_without_an_error_or_an_error_on_an_aligned_row_is_not_a_rejection() -> None:
    body = _variant_body()
    names = expected_names(body)
    silent = _completed(names[:-1])
    silent.seq_info = {name: {} for name in names}  # info for the alt, but no error: lost, not rejected
    checks = _rows_and_info(silent, body)
    assert "missing without an error in seq-info" in checks["alignment_rows"]
    assert "neither aligned nor rejected" in checks["seq_info_names"]
    aligned_with_error = _completed(names)
    aligned_with_error.seq_info = {name: {} for name in names} | {names[-1]: {"error": REJECTED}}
    assert all(v.startswith("ok") for v in _rows_and_info(aligned_with_error, body).values())
    assert rejected_sequences(aligned_with_error, JobPayload(body, "x", "completed")) == {}


def test_unparsable_alignment_fails_and_dependent_checks_say_not_checked() -> None:
    body = _payload()
    outcome = _completed(expected_names(body))
    outcome.alignment = "<html>gateway timeout</html>"
    checks = run_checks(outcome, JobPayload(body, "x", "completed"))
    failed = {c.name: c.detail for c in checks if not c.passed}
    assert failed["alignment_clustal"].startswith("not Clustal")
    assert failed["alignment_rows"].startswith(NOT_CHECKED)
    reason = failure_reason(checks)
    assert reason is not None and reason.startswith("alignment_clustal") and NOT_CHECKED not in reason


def test_a_job_that_did_not_complete_fails_on_its_status_alone() -> None:
    body = _payload()
    outcome = JobOutcome("id", "failed", 1.0, alignment_http=404, seq_info_http=404, log="ERROR: boom")
    checks = run_checks(outcome, JobPayload(body, "x", "completed", expected_alignment=b"CLUSTAL"))
    assert len(checks) == 5 and not any(c.passed for c in checks)
    assert all(c.detail == f"{NOT_CHECKED}job ended failed" for c in checks[1:])
    assert failure_reason(checks) == "status: failed (expected completed); log: ERROR: boom"


def test_completed_status_without_results_fails_the_result_checks() -> None:
    body = _payload()
    outcome = JobOutcome("id", "completed", 1.0, alignment_http=404, seq_info_http=500)
    failed = {c.name: c.detail for c in run_checks(outcome, JobPayload(body, "x", "completed"))}
    assert failed["alignment_clustal"] == "no alignment (HTTP 404)"
    assert failed["seq_info_names"] == "no seq-info (HTTP 500)"


def test_expected_alignment_compares_bytes_and_names_the_line() -> None:
    text = _alignment(["a", "b"])
    assert check_expected_alignment(text, text.encode()).passed
    changed = text.replace("MKV-LA", "MKV-LV", 1).encode()
    check = check_expected_alignment(text, changed)
    assert not check.passed and "line 4" in check.detail
    trailing = check_expected_alignment(text, text.encode() + b"\n")
    assert not trailing.passed and "end of text" in trailing.detail


def test_expected_failure_needs_failed_status_and_404_on_both_result_routes() -> None:
    payload = JobPayload(_payload(), "f.json", "failed")
    clean = JobOutcome("id", "failed", 1.0, alignment_http=404, seq_info_http=404)
    assert all(c.passed for c in run_checks(clean, payload))
    leaky = JobOutcome("id", "failed", 1.0, alignment_http=200, seq_info_http=404)
    assert not check_results_absent(leaky).passed
    completed = _completed(expected_names(payload.body))
    status = run_checks(completed, payload)[0]
    assert not status.passed and status.detail.startswith("completed (expected failed)")


def test_poll_schedule_starts_short_and_stays_capped_while_the_job_is_young() -> None:
    schedule = PollSchedule()
    waits, previous = [], None
    for _ in range(20):
        previous = schedule.next_interval(previous, elapsed_s=1.0)
        waits.append(previous)
    assert waits[0] == pytest.approx(0.05)
    assert waits == sorted(waits) and max(waits) == pytest.approx(schedule.fast_cap_s)
    assert schedule.next_interval(schedule.fast_cap_s, elapsed_s=61.0) > schedule.fast_cap_s
    assert schedule.next_interval(10.0, elapsed_s=600.0) == pytest.approx(1.0)


def test_generated_payloads_differ_by_job_and_repeat_for_the_same_seq() -> None:
    plan = PayloadPlan([PayloadSpec(entries=3), PayloadSpec(entries=5)], API, _generate)
    first, second, third = (plan.for_job(seq) for seq in (1, 2, 3))
    assert (first.source, second.source, third.source) == ("generated:3", "generated:5", "generated:3")
    assert len(first.body) == 3 and len(second.body) == 5
    assert first.body != third.body  # same spec, another seed
    assert plan.for_job(3).body == third.body  # a re-run job gets the same payload
    assert {entry["fasta_file_url"] for entry in first.body} == {FASTA}


def test_payload_file_and_expected_alignment_are_read_once(tmp_path: Path) -> None:
    file, expected = tmp_path / "p.json", tmp_path / "p.aln"
    file.write_text(json.dumps(_payload(2)))
    expected.write_bytes(b"CLUSTAL\n")
    plan = PayloadPlan([PayloadSpec(file=file, expected_alignment=expected)], API)
    expected.write_bytes(b"changed later\n")
    job = plan.for_job(7)
    assert job.source == str(file) and job.expected_alignment == b"CLUSTAL\n"
    assert plan.describe()[0]["entries"] == 2 and len(plan.describe()[0]["sha256"]) == 64


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"entries": []}', "top level is an object, not a list"),
        ("[]", "holds no entries"),
        ("[1]", "entry 1 is a number, not an object"),
        ("missing seq_id", "entry 2 lacks required field 'seq_id'"),
        ("regions as string", "entry 1 field 'exon_seq_regions' is a string, not a list"),
    ],
)
def test_bad_payload_file_names_the_file_and_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    body = _payload(2)
    if content == "missing seq_id":
        del body[1]["seq_id"]
        content = json.dumps(body)
    elif content == "regions as string":
        body[0]["exon_seq_regions"] = "1..30"
        content = json.dumps(body)
    path = tmp_path / "bad-payload.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_payload_file(path)
    assert str(path) in caught.value.problem and problem in caught.value.problem


def test_missing_files_and_impossible_specs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.json"):
        PayloadPlan([PayloadSpec(file=tmp_path / "nowhere.json")], API)
    with pytest.raises(ConfigError, match="needs a payload file"):
        PayloadPlan([PayloadSpec(entries=3, expected_alignment=tmp_path / "x.aln")], API, _generate)
    file = tmp_path / "p.json"
    file.write_text(json.dumps(_payload(2)))
    with pytest.raises(ConfigError, match=r"missing\.aln"):
        PayloadPlan([PayloadSpec(file=file, expected_alignment=tmp_path / "missing.aln")], API)
    with pytest.raises(ConfigError, match="expected to fail"):
        PayloadPlan([PayloadSpec(file=file, expect="failed", expected_alignment=file)], API)

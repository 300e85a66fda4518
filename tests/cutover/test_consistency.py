"""The blue/green data-consistency check: pure normalising and diffing, then real local stacks.

Two inprocess stacks (blue, green) serve the e2e tests; green's faults are switched at run time and
switched back after each test. The DynamoDB test compares the session's stepfunctions stack (moto)
with blue, as a canary compares the new infrastructure with today's.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.consistency import (
    CONSISTENCY_FILE,
    NOT_CHECKED,
    DynamoDbSettings,
    check_consistency,
    check_record,
    dynamodb_for,
    normalise_alignment,
    normalise_seq_info,
    unified_diff,
)
from harness import stack
from harness.config import Normalise, Target
from harness.errors import ConfigError, EnvironmentProblem
from local_pavi.alignment import format_clustal, parse_clustal
from local_pavi.faults import FaultSettings, alter_alignment
from local_pavi.genome import FASTA_NAME
from local_pavi.payload import generate_payload

CLUSTAL = (
    "CLUSTAL O(1.2.4) multiple sequence alignment\n"
    "\n"
    "\n"
    "geneA_t1      MKV-LLA\t6   \n"  # trailing blanks
    "GENEB-201     MKVALLA\t7\n"
    "              *** ***  \n"
    "\n"
    "\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- pure -------------------------------------------------------------------------------------------


def test_normalise_alignment_drops_ignored_lines_trailing_space_and_blank_tail() -> None:
    text = normalise_alignment(CLUSTAL, Normalise().alignment_ignore_lines)
    assert not text.startswith("CLUSTAL") and "CLUSTAL" not in text
    assert text.endswith("*** ***\n")  # trailing blanks and blank lines gone, one newline kept
    assert all(line == line.rstrip() for line in text.splitlines())
    assert normalise_alignment(CLUSTAL, []).startswith("CLUSTAL O(1.2.4)")
    other_version = CLUSTAL.replace("O(1.2.4)", "O(1.2.5)").replace("\t6   ", "\t6")
    assert normalise_alignment(other_version, [r"^CLUSTAL"]) == text
    assert normalise_alignment("\n\n", []) == ""


def test_normalise_seq_info_drops_keys_at_any_depth() -> None:
    info = {
        "geneA_t1": {"seq_length": 6, "created": "x", "embedded_variants": [{"id": "v1", "created": "y"}]},
        "created": "z",
    }
    assert normalise_seq_info(info, ["created"]) == {
        "geneA_t1": {"seq_length": 6, "embedded_variants": [{"id": "v1"}]}
    }
    assert info["created"] == "z"  # a copy: the input stays as it was
    assert normalise_seq_info(info, []) == info


def test_diff_is_labelled_readable_and_bounded() -> None:
    a = "".join(f"row{i} MKV\n" for i in range(300))
    assert unified_diff(a, a, "blue/u1/alignment", "green/u2/alignment") == ""
    b = a.replace("row7 MKV", "row7 MKW")
    diff = unified_diff(a, b, "blue/u1/alignment", "green/u2/alignment")
    lines = diff.splitlines()
    assert lines[:2] == ["--- blue/u1/alignment", "+++ green/u2/alignment"]
    assert "-row7 MKV" in lines and "+row7 MKW" in lines
    everything = "".join(f"row{i} XXX\n" for i in range(300))
    cut = unified_diff(a, everything, "a", "b", max_lines=50).splitlines()
    assert len(cut) == 51
    assert cut[-1] == "... 553 more diff lines cut (603 in all)"


def test_alter_alignment_changes_one_residue_and_stays_valid_clustal() -> None:
    rows = {"geneA_t1": "MKV-LLA" * 10, "GENEB-201": "MKVALLA" * 10, "c": "-KVALLW" * 10}
    original = format_clustal(rows)
    altered = alter_alignment(original)
    changed = [(a, b) for a, b in zip(original.splitlines(), altered.splitlines(), strict=True) if a != b]
    assert changed[0] == (original.splitlines()[3], altered.splitlines()[3])
    assert altered.splitlines()[3].startswith("geneA_t1       WKV-LLA")
    parsed = parse_clustal(altered)  # residue counts still right
    assert parsed["geneA_t1"] == "W" + rows["geneA_t1"][1:] and parsed["c"] == rows["c"]
    assert altered == format_clustal(parsed)  # the changed column's mark worked out again
    assert alter_alignment(altered) != altered and alter_alignment("CLUSTAL\n\n") == "CLUSTAL\n\n"
    assert alter_alignment(format_clustal({"x": "WW"})).splitlines()[3].startswith("x      GW")


def test_fault_switch_takes_true_false_and_one_zero() -> None:
    faults = FaultSettings()
    faults.update({"alter_alignment": 1.0})
    assert faults.alter_alignment is True
    faults.update({"alter_alignment": False, "error_ratio": 0.5})
    assert faults.as_dict()["alter_alignment"] is False and faults.error_ratio == 0.5
    with pytest.raises(ValueError, match="switch"):
        faults.update({"alter_alignment": 2})


def test_new_side_must_be_one_of_the_sides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="new side 'purple'"):
        check_consistency(
            {"blue": "http://127.0.0.1:1", "green": "http://127.0.0.1:2"}, [], new_side="purple",
            normalise=Normalise(), out_dir=tmp_path, timeout_s=1,
        )  # fmt: skip


# --- real stacks ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sides(pavi_data_dir: Path) -> Iterator[dict[str, str]]:
    """Two inprocess stacks on free ports: blue and green."""
    started: list[str] = []
    try:
        urls = {}
        for side in ("blue", "green"):
            name = f"pytest-{side}"
            urls[side] = stack.start_stack(name, Target(kind="local", port=free_port()), seed=1).url
            started.append(name)
        yield urls
    finally:
        for name in started:
            stack.stop_stack(name)


@pytest.fixture
def green_faults(sides: dict[str, str]) -> Iterator[str]:
    """Green's URL; its faults are switched off again after the test."""
    yield sides["green"]
    stack.set_faults(sides["green"], alter_alignment=False, pipeline_failure_ratio=0)


def _payloads(url: str, count: int, entries: int = 5) -> list[list[dict]]:
    return [
        generate_payload(entries, fasta_file_url=f"{url}/genome/{FASTA_NAME}", seed=seed)
        for seed in range(count)
    ]


def _check(sides: dict[str, str], payloads: list[list[dict]], out_dir: Path, **kwargs):
    return check_consistency(
        sides, payloads, new_side="blue", normalise=Normalise(), out_dir=out_dir, timeout_s=60, **kwargs
    )


@pytest.mark.e2e
def test_equal_stacks_give_no_mismatch(sides: dict[str, str], tmp_path: Path) -> None:
    seen: list[dict] = []
    outcome = _check(sides, _payloads(sides["blue"], 2), tmp_path, on_job=seen.append)
    assert (outcome.checked, outcome.compared, outcome.mismatches) == (2, 2, 0)
    document = json.loads((tmp_path / CONSISTENCY_FILE).read_text())
    assert document["sides"] == sides and document["new_side"] == "blue" and document["baseline"] == "green"
    assert document["normalise"] == {"alignment_ignore_lines": ["^CLUSTAL"], "seq_info_ignore_keys": []}
    assert document["dynamodb"] == NOT_CHECKED and document["stopped"] is None and document["ended"]
    assert (document["checked"], document["compared"], document["mismatches"]) == (2, 2, 0)
    assert document["jobs"] == seen == outcome.jobs
    for index, job in enumerate(document["jobs"]):
        assert job["payload"] == index and job["entries"] == 5
        assert set(job["jobs"]) == {"blue", "green"}
        assert all(side["status"] == "completed" and side["uuid"] for side in job["jobs"].values())
        assert job["jobs"]["blue"]["uuid"] != job["jobs"]["green"]["uuid"]
        assert job["alignment_equal"] is True and job["seq_info_equal"] is True and job["compared"] is True
        assert (job["mismatch"], job["reason"], job["diff"], job["dynamodb"]) == (
            False, "equal after normalising", "", NOT_CHECKED,
        )  # fmt: skip


@pytest.mark.e2e
def test_altered_alignment_on_one_side_is_a_mismatch_with_a_readable_diff(
    sides: dict[str, str], green_faults: str, tmp_path: Path
) -> None:
    assert stack.set_faults(green_faults, alter_alignment=True)["alter_alignment"] is True
    outcome = _check(sides, _payloads(sides["blue"], 1), tmp_path)
    assert (outcome.checked, outcome.compared, outcome.mismatches) == (1, 1, 1)
    job = json.loads((tmp_path / CONSISTENCY_FILE).read_text())["jobs"][0]
    assert job["mismatch"] is True and job["reason"] == "alignment differs"
    assert job["alignment_equal"] is False and job["seq_info_equal"] is True  # gaps unchanged
    green, blue = job["jobs"]["green"]["uuid"], job["jobs"]["blue"]["uuid"]
    lines = job["diff"].splitlines()
    assert lines[:2] == [f"--- green/{green}/alignment", f"+++ blue/{blue}/alignment"]
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line for line in lines if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == len(added) >= 1  # the first row (and maybe its block's conservation line)
    green_row, blue_row = removed[0][1:], added[0][1:]
    assert green_row.split()[0] == blue_row.split()[0]  # the same sequence on both sides
    changed = [(g, b) for g, b in zip(green_row, blue_row, strict=True) if g != b]
    assert len(changed) == 1 and changed[0][0] in "WG"  # one residue, changed on green


@pytest.mark.e2e
def test_a_job_failing_on_one_side_only_is_a_mismatch(
    sides: dict[str, str], green_faults: str, tmp_path: Path
) -> None:
    stack.set_faults(green_faults, pipeline_failure_ratio=1.0)
    outcome = _check(sides, _payloads(sides["blue"], 1, entries=2), tmp_path)
    job = outcome.jobs[0]
    assert outcome.mismatches == 1 and outcome.compared == 0 and job["compared"] is False
    assert job["reason"] == "statuses differ: blue completed, green failed"
    assert "injected fault" in job["jobs"]["green"]["error"]
    assert job["alignment_equal"] is None and job["diff"] == ""


@pytest.mark.e2e
def test_a_job_failing_everywhere_is_consistent_but_not_compared(
    sides: dict[str, str], tmp_path: Path
) -> None:
    payload = _payloads(sides["blue"], 1, entries=2)[0]
    payload[0]["seq_id"] = "chrUnknown"
    job = _check(sides, [payload], tmp_path).jobs[0]
    assert (job["mismatch"], job["compared"], job["reason"]) == (
        False,
        False,
        "every side failed: nothing compared",
    )
    assert all("chrUnknown" in side["error"] for side in job["jobs"].values())


@pytest.mark.e2e
def test_a_side_that_does_not_answer_is_an_environment_problem(sides: dict[str, str], tmp_path: Path) -> None:
    gone = {"blue": sides["blue"], "green": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(EnvironmentProblem, match=r"side 'green'.*does not answer"):
        _check(gone, _payloads(sides["blue"], 1), tmp_path)
    document = json.loads((tmp_path / CONSISTENCY_FILE).read_text())
    assert document["checked"] == 0 and "does not answer" in document["stopped"]


@pytest.mark.e2e
def test_dynamodb_records_agree_then_an_altered_record_is_reported(
    sfn_stack: stack.StackState, sides: dict[str, str], tmp_path: Path
) -> None:
    target = Target(kind="local", backend="stepfunctions", port=sfn_stack.port)
    dynamodb = dynamodb_for(sfn_stack.name, target)
    assert dynamodb is not None and dynamodb.table == "pavi-jobs"
    assert dynamodb_for("pytest-blue", Target(kind="local")) is None  # inprocess: jobs in memory
    canary = {"blue": sfn_stack.url, "green": sides["green"]}  # new infrastructure against today's
    outcome = _check(canary, _payloads(sfn_stack.url, 1, entries=3), tmp_path, dynamodb=dynamodb)
    job = outcome.jobs[0]
    assert outcome.mismatches == 0 and job["alignment_equal"] and job["seq_info_equal"], job
    record = job["dynamodb"]
    assert record["checked"] and record["agree"] and record["problem"] is None
    assert record["api_status"] == record["record_status"] == "completed"
    assert record["execution_arn"].endswith(job["jobs"]["blue"]["uuid"])
    assert json.loads((tmp_path / CONSISTENCY_FILE).read_text())["dynamodb"] == dynamodb.facts()

    uuid = job["jobs"]["blue"]["uuid"]
    dynamodb.client.update_item(
        TableName="pavi-jobs",
        Key={"jobId": {"S": uuid}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "running"}},
    )
    altered = check_record(dynamodb, uuid, "completed")
    assert altered["agree"] is False and altered["record_status"] == "running"
    assert altered["problem"] == "the API says 'completed' but the record in pavi-jobs says 'running'"
    dynamodb.client.delete_item(TableName="pavi-jobs", Key={"jobId": {"S": uuid}})
    assert check_record(dynamodb, uuid, "completed")["problem"] == f"no record for {uuid} in pavi-jobs"


def test_remote_target_without_state_machine_has_no_job_table() -> None:
    assert dynamodb_for("green", Target(kind="remote", api_url="https://pavi.example.org")) is None


@pytest.mark.usefixtures("aws_env")
def test_remote_target_reads_its_table_through_its_aws_settings(moto) -> None:
    target = Target(
        kind="remote",
        api_url="https://pavi.example.org",
        aws={"endpoint_url": moto.url},
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:pavi-pipeline",
        jobs_table="pavi-jobs-green",
    )
    dynamodb = dynamodb_for("green", target)
    assert dynamodb is not None and dynamodb.facts() == {"table": "pavi-jobs-green", "where": moto.url}
    dynamodb.client.create_table(
        TableName="pavi-jobs-green",
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.client.put_item(
        TableName="pavi-jobs-green",
        Item={"jobId": {"S": "j1"}, "status": {"S": "failed"}, "error": {"S": "x"}},
    )
    record = check_record(dynamodb, "j1", "failed")
    assert record["agree"] and record["record_error"] == "x" and record["execution_arn"] is None
    with pytest.raises(ConfigError, match=r"table pavi-jobs .*no such table"):
        check_record(DynamoDbSettings(dynamodb.client, "pavi-jobs", moto.url), "j1", "failed")

"""`GET /_pavi/payload`, the route behind pavi_contract.admin.generated_payload: measuring parts ask the
stand-in for payloads naming its genome instead of importing local_pavi."""

from __future__ import annotations

import httpx
import pytest

from harness.errors import ConfigError
from local_pavi.genome import FASTA_NAME, build_genome
from local_pavi.payload import generate_payload
from pavi_contract.admin import PAYLOAD, generated_payload


def test_generated_payload_names_the_requests_own_genome_url(pavi) -> None:
    payload = generated_payload(pavi.url, 5, seed=3)
    assert payload == generate_payload(5, fasta_file_url=pavi.fasta_url(), seed=3)
    assert {entry["fasta_file_url"] for entry in payload} == {f"{pavi.url}/genome/{FASTA_NAME}"}
    assert generated_payload(pavi.url, 5, seed=4) != payload

    # the URL follows the name the client used, and that name still reads the genome from memory
    by_name = pavi.url.replace("127.0.0.1", "localhost")
    named = httpx.get(f"{by_name}{PAYLOAD}", params={"entries": 2, "seed": 3}, timeout=30).json()
    assert {entry["fasta_file_url"] for entry in named} == {f"{by_name}/genome/{FASTA_NAME}"}
    assert pavi.wait(pavi.submit(named))["status"] == "completed"


@pytest.mark.parametrize("entries", [0, -1, len(build_genome().transcripts) + 1])
def test_entries_out_of_range_answer_422_naming_the_range(pavi, entries: int) -> None:
    maximum = len(build_genome().transcripts)
    answer = pavi.client.get(PAYLOAD, params={"entries": entries})
    assert answer.status_code == 422
    assert f"between 1 and {maximum}" in answer.json()["detail"]
    with pytest.raises(ConfigError, match=f"between 1 and {maximum}"):
        generated_payload(pavi.url, entries)


def test_entries_must_be_a_number(pavi) -> None:
    assert pavi.client.get(PAYLOAD, params={"entries": "ten"}).status_code == 422
    assert pavi.client.get(PAYLOAD).status_code == 422

from __future__ import annotations

from typing import Any

import pytest

from local_pavi.genome import Genome, build_genome
from local_pavi.payload import UNKNOWN_SEQ_ID, failing_payload, generate_payload, invalid_payload
from local_pavi.seq_retrieval import UnknownSequenceError, retrieve_protein
from pavi_contract.payload import REQUIRED_FIELDS as REQUIRED

URL = "http://localhost:8080/genome/genome.fa"


@pytest.fixture(scope="module")
def genome() -> Genome:
    return build_genome()


def schema_errors(entry: dict[str, Any]) -> list[str]:
    """The API's seq-region schema, checked by hand so this test does not depend on the API module."""
    errors = [
        f"{key} missing or not {kind.__name__}"
        for key, kind in REQUIRED.items()
        if not isinstance(entry.get(key), kind)
    ]
    for key in ("exon_seq_regions", "cds_seq_regions"):
        for region in entry.get(key) or []:
            if not isinstance(region, dict) or not {"start", "end"} <= region.keys():
                errors.append(f"{key} has a bad region {region!r}")
    return errors


def test_entries_have_every_schema_field_and_unique_ids(genome: Genome) -> None:
    payload = generate_payload(50, fasta_file_url=URL, seed=3, genome=genome)
    assert len(payload) == 50
    assert all(schema_errors(entry) == [] for entry in payload)
    assert all(entry["fasta_file_url"] == URL and entry["variant_ids"] == [] for entry in payload)
    ids = [entry["unique_entry_id"] for entry in payload]
    assert len(set(ids)) == 50 and ids == sorted(ids)
    assert len({entry["base_seq_name"] for entry in payload}) == 50


def test_regions_are_objects_written_start_after_end_on_the_minus_strand(genome: Genome) -> None:
    payload = generate_payload(len(genome.transcripts), fasta_file_url=URL, genome=genome)
    for entry in payload:
        regions = entry["exon_seq_regions"] + entry["cds_seq_regions"]
        forward = entry["seq_strand"] == "+"
        assert all((region["start"] <= region["end"]) == forward for region in regions)
        assert all(region["frame"] in (0, 1, 2) for region in entry["cds_seq_regions"])
    assert {entry["seq_strand"] for entry in payload} == {"+", "-"}


def test_every_transcript_retrieves_to_its_protein(genome: Genome) -> None:
    payload = generate_payload(len(genome.transcripts), fasta_file_url=URL, genome=genome)
    proteins = {f"{t.gene}_{t.name}": t.protein for t in genome.transcripts}
    for entry in payload:
        [sequence] = retrieve_protein(genome.chromosomes, entry)
        assert sequence.protein == proteins[entry["base_seq_name"]]


def test_same_seed_same_payload_and_other_seeds_differ(genome: Genome) -> None:
    first = generate_payload(10, fasta_file_url=URL, seed=1, genome=genome)
    assert first == generate_payload(10, fasta_file_url=URL, seed=1, genome=genome)
    others = [generate_payload(10, fasta_file_url=URL, seed=seed, genome=genome) for seed in range(2, 6)]
    assert any(other != first for other in others)


def family_of(entry: dict[str, Any], genome: Genome) -> str:
    name = entry["base_seq_name"].split("_", 1)[1]
    return next(family for family, names in genome.families.items() if name in names)


def test_small_payload_is_one_family_and_large_ones_use_the_fewest(genome: Genome) -> None:
    small = generate_payload(10, fasta_file_url=URL, seed=4, genome=genome)
    assert len({family_of(entry, genome) for entry in small}) == 1
    sizes = sorted(map(len, genome.families.values()), reverse=True)
    fewest = next(k for k in range(1, len(sizes) + 1) if sum(sizes[:k]) >= 500)
    large = generate_payload(500, fasta_file_url=URL, genome=genome)
    assert len({family_of(entry, genome) for entry in large}) == fewest


def test_too_many_entries_names_the_maximum(genome: Genome) -> None:
    maximum = len(genome.transcripts)
    with pytest.raises(ValueError, match=str(maximum)):
        generate_payload(maximum + 1, fasta_file_url=URL, genome=genome)
    with pytest.raises(ValueError):
        generate_payload(0, fasta_file_url=URL, genome=genome)


def test_failing_payload_is_valid_but_names_an_unknown_seq_id(genome: Genome) -> None:
    payload = failing_payload(fasta_file_url=URL, genome=genome)
    assert all(schema_errors(entry) == [] for entry in payload)
    assert payload[0]["seq_id"] == UNKNOWN_SEQ_ID
    with pytest.raises(UnknownSequenceError):
        retrieve_protein(genome.chromosomes, payload[0])


def test_invalid_payload_violates_the_schema() -> None:
    payload = invalid_payload()
    assert payload and all(schema_errors(entry) for entry in payload)

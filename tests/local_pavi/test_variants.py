"""Variants as upstream's seq_retrieval applies them: `<base>_ref` and `<base><suffix>`, a changed start
codon rejects the alternative (the job still completes), an id that cannot be resolved fails the job."""

from __future__ import annotations

from typing import Any

import pytest

from local_pavi.genome import Genome, Transcript, build_genome
from local_pavi.payload import generate_payload, missense_variant, start_codon_variant, with_variant
from local_pavi.seq_retrieval import START_CODON_CHANGED, retrieve_protein
from pavi_contract.clustal import parse_clustal
from pavi_contract.results import result_shape

URL = "http://127.0.0.1:1/genome/genome.fa"


@pytest.fixture(scope="module")
def genome() -> Genome:
    return build_genome()


def transcript_of(entry: dict[str, Any], genome: Genome) -> Transcript:
    return genome.transcript(entry["base_seq_name"].split("_", 1)[1])


def differences(first: str, second: str) -> int:
    return sum(a != b for a, b in zip(first, second, strict=True))


def test_with_variant_copies_the_entry_and_names_the_suffix(genome: Genome) -> None:
    [entry] = generate_payload(1, fasta_file_url=URL, genome=genome)
    changed = with_variant(entry, "1:g.5A>C", "_x")
    assert changed == {**entry, "variant_ids": ["1:g.5A>C"], "alt_seq_name_suffix": "_x"}
    assert entry["variant_ids"] == [] and "alt_seq_name_suffix" not in entry
    assert with_variant(entry, "1:g.5A>C")["alt_seq_name_suffix"] is None


def test_helpers_make_rejected_and_one_residue_alternatives_on_both_strands(genome: Genome) -> None:
    payload = generate_payload(60, fasta_file_url=URL, seed=2, genome=genome)
    assert {entry["seq_strand"] for entry in payload} == {"+", "-"}
    for entry in payload:
        transcript = transcript_of(entry, genome)
        ref, alt = retrieve_protein(genome.chromosomes, with_variant(entry, start_codon_variant(transcript)))
        assert ref.protein == transcript.protein and ref.info == {}
        assert (alt.protein, alt.info) == (None, {"error": START_CODON_CHANGED})

        variant_id = missense_variant(transcript)
        ref, alt = retrieve_protein(genome.chromosomes, with_variant(entry, variant_id, "_mis"))
        assert alt.name == f"{entry['base_seq_name']}_mis"
        assert alt.protein is not None and len(alt.protein) == len(ref.protein)
        assert differences(ref.protein, alt.protein) == 1
        [embedded] = alt.info["embedded_variants"]
        position = embedded["seq_start_pos"]
        assert embedded["variant_id"] == variant_id and position > 1
        assert ref.protein[position - 1] != alt.protein[position - 1]


def test_job_with_a_start_codon_and_a_missense_variant(pavi, genome: Genome) -> None:
    payload = generate_payload(3, fasta_file_url=pavi.fasta_url(), seed=11, genome=genome)
    rejected, missense, plain = payload
    payload = [
        with_variant(rejected, start_codon_variant(transcript_of(rejected, genome)), "_start"),
        with_variant(missense, missense_variant(transcript_of(missense, genome)), "_mis"),
        plain,
    ]
    uuid = pavi.submit(payload)
    assert pavi.wait(uuid)["status"] == "completed"
    rows = parse_clustal(pavi.client.get(f"/api/pipeline-job/{uuid}/result/alignment").text)
    info = pavi.client.get(f"/api/pipeline-job/{uuid}/result/seq-info").json()

    r, m = rejected["base_seq_name"], missense["base_seq_name"]
    assert sorted(rows) == sorted([f"{r}_ref", f"{m}_ref", f"{m}_mis", plain["base_seq_name"]])
    assert info[f"{r}_start"] == {"error": START_CODON_CHANGED}
    assert info[f"{r}_ref"] == {} and info[f"{m}_ref"] == {}
    ref_row, alt_row = rows[f"{m}_ref"].replace("-", ""), rows[f"{m}_mis"].replace("-", "")
    assert len(ref_row) == len(alt_row) and differences(ref_row, alt_row) == 1
    [embedded] = info[f"{m}_mis"]["embedded_variants"]
    column = embedded["alignment_start_pos"]
    assert rows[f"{m}_mis"][column - 1] != rows[f"{m}_ref"][column - 1]

    shape = result_shape(payload, rows, info)  # what the harness's checks hold the result against
    assert shape.rejected == {f"{r}_start": START_CODON_CHANGED}
    assert shape.rows_ok and shape.info_ok


@pytest.mark.parametrize("kind", ["unparsable", "ref base not the genome's"])
def test_job_with_an_unresolvable_variant_fails(pavi, genome: Genome, kind: str) -> None:
    payload = generate_payload(2, fasta_file_url=pavi.fasta_url(), seed=12, genome=genome)
    good = start_codon_variant(transcript_of(payload[0], genome))  # "<seq>:g.<pos>A>G" or "...T>C"
    ref, alt = good[-3], good[-1]
    wrong_ref = next(base for base in "ACGT" if base not in (ref, alt))
    variant_id = "rs12345" if kind == "unparsable" else f"{good[:-3]}{wrong_ref}>{alt}"
    payload[0] = with_variant(payload[0], variant_id)
    uuid = pavi.submit(payload)
    assert pavi.wait(uuid)["status"] == "failed"
    assert pavi.client.get(f"/api/pipeline-job/{uuid}/result/alignment").status_code == 404
    logs = pavi.client.get(f"/api/pipeline-job/{uuid}/logs").text
    assert variant_id in logs and "ERROR" in logs

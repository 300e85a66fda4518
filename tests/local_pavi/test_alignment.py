"""Alignment stage with the real Clustal Omega 1.2.4 (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_pavi.alignment import (
    CLUSTAL_HEADER,
    AlignmentError,
    aligned_seq_info,
    format_clustal,
    run_clustalo,
)
from local_pavi.genome import build_genome
from local_pavi.payload import generate_payload
from local_pavi.seq_retrieval import RetrievedSequence, format_fasta, retrieve_protein
from pavi_contract.clustal import parse_clustal

# Clustal Omega output in upstream's layout (two blocks, --resno counts, conservation lines), made
# from four small proteins of our own.
FIXTURE = (
    "CLUSTAL O(1.2.4) multiple sequence alignment\n"
    "\n"
    "\n"
    "kin-1_KIN1-RA          MSTEKLIRGAVLLAWQNPHDEYKTGRISVLFADLPSHECKWNGAITVYRDQLMPESFKTG\t60\n"
    "kin-2_KIN2-RA_ref      MSSEKLIRGAVLLAWQNPHDEYKTGRISVLFADLPSHEAKWNGAITVYRDQLMPESFKTG\t60\n"
    "kin-2_KIN2-RA_alt      MSSEKLIRGAVLLAWQNPHDEYKTGRISVLFADLPSHEAKWNGAITVYRDQLMPESFKTG\t60\n"
    "ptp-3_PTP3-RB          -MTEKLIRGSVLVAWENPQDEYRTGKVSVLFADLP-HECRWNGSLTVYRDQIMPESYKQG\t58\n"
    "                         :******:**:**:**:***:**::******** **.:***::******:****:* *\n"
    "\n"
    "kin-1_KIN1-RA          AVCW---\t64\n"
    "kin-2_KIN2-RA_ref      ALCWNRD\t67\n"
    "kin-2_KIN2-RA_alt      ALCWNRD\t67\n"
    "ptp-3_PTP3-RB          AVCW---\t62\n"
    "                       *:**   \n"
)


@pytest.fixture(scope="module")
def ten_sequences() -> list[RetrievedSequence]:
    genome = build_genome()
    payload = generate_payload(10, fasta_file_url="http://localhost/genome.fa", seed=7, genome=genome)
    return [sequence for entry in payload for sequence in retrieve_protein(genome.chromosomes, entry)]


@pytest.fixture(scope="module")
def ten_aligned(ten_sequences: list[RetrievedSequence], tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_clustalo(format_fasta(ten_sequences), tmp_path_factory.mktemp("clustalo"))


def test_clustalo_aligns_a_generated_payload(
    ten_sequences: list[RetrievedSequence], ten_aligned: str
) -> None:
    assert ten_aligned.splitlines()[0] == CLUSTAL_HEADER
    alignment = parse_clustal(ten_aligned)
    assert list(alignment) == [sequence.name for sequence in ten_sequences]  # input order, one row each
    assert [row.replace("-", "") for row in alignment.values()] == [s.protein for s in ten_sequences]


def test_run_clustalo_leaves_upstreams_file_names_in_the_workdir(tmp_path: Path) -> None:
    text = run_clustalo(">a\nMKVLAAGIVLLLS\n>b\nMKVLAGGIVLS\n", tmp_path)
    assert (tmp_path / "in.fa").exists()
    assert (tmp_path / "alignment-output.aln").read_text() == text


def test_format_clustal_reproduces_clustalo_byte_for_byte(ten_aligned: str) -> None:
    assert format_clustal(parse_clustal(ten_aligned)) == ten_aligned
    assert format_clustal(parse_clustal(FIXTURE)) == FIXTURE


def test_parse_fixture() -> None:
    alignment = parse_clustal(FIXTURE)
    assert list(alignment) == ["kin-1_KIN1-RA", "kin-2_KIN2-RA_ref", "kin-2_KIN2-RA_alt", "ptp-3_PTP3-RB"]
    assert {len(row) for row in alignment.values()} == {67}
    assert alignment["ptp-3_PTP3-RB"].startswith("-MTEK") and alignment["kin-1_KIN1-RA"].endswith("AVCW---")


def test_single_sequence_gets_a_clustal_file_written_by_hand(tmp_path: Path) -> None:
    protein = "M" + "KV" * 40
    text = run_clustalo(f">only_one desc\n{protein}\n", tmp_path)
    assert text == (tmp_path / "alignment-output.aln").read_text()
    lines = text.splitlines()
    assert lines[:3] == [CLUSTAL_HEADER, "", ""]
    assert lines[3] == f"only_one      {protein[:60]}\t60"
    assert lines[4] == " " * 14 + "*" * 60
    assert lines[-2:] == [f"only_one      {protein[60:]}\t81", " " * 14 + "*" * 21]
    assert parse_clustal(text) == {"only_one": protein}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "CLUSTAL"),
        (FIXTURE.replace("CLUSTAL O(1.2.4)", "MUSCLE (3.8)"), "CLUSTAL"),
        (FIXTURE.replace("\t67\n", "\t66\n", 1), "residue count"),
        (FIXTURE.replace("ptp-3_PTP3-RB          AVCW---\t62\n", ""), "same sequences"),
        (
            FIXTURE.replace(
                "ALCWNRD\t67\nkin-2_KIN2-RA_alt      ALCWNRD", "ALCWNRD\t67\nkin-2_KIN2-RA_alt      ALCWN"
            ),
            "count",
        ),
        (FIXTURE.replace("AVCW---\t64", "AVCW-\t64"), "length"),
        (FIXTURE.replace("kin-1_KIN1-RA          AVCW", "kin-1_KIN1-RA          AV1W"), "not a Clustal row"),
        ("CLUSTAL O(1.2.4) multiple sequence alignment\n\n\n", "no sequences"),
    ],
)
def test_malformed_clustal_raises(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_clustal(text)


def test_clustalo_failure_carries_its_stderr(tmp_path: Path) -> None:
    with pytest.raises(AlignmentError, match="0 residues"):
        run_clustalo(">empty\n\n>b\nMKVL\n", tmp_path)


def test_clustalo_timeout_raises(ten_sequences: list[RetrievedSequence], tmp_path: Path) -> None:
    with pytest.raises(AlignmentError, match="timed out"):
        run_clustalo(format_fasta(ten_sequences), tmp_path, timeout_s=0.001)


@pytest.mark.parametrize("fasta", ["", "MKVL\n"])
def test_no_sequences_raise(fasta: str, tmp_path: Path) -> None:
    with pytest.raises(AlignmentError, match="no sequences"):
        run_clustalo(fasta, tmp_path)


def test_duplicate_names_go_to_clustalo_not_the_single_sequence_writer(tmp_path: Path) -> None:
    text = run_clustalo(">a\nMKVLAAGIVLLLS\n>a\nMKVLAGGIVLS\n", tmp_path)
    assert text.count("\na ") == 2


def test_aligned_seq_info_sorts_names_and_places_variants_in_the_alignment() -> None:
    alignment = parse_clustal(FIXTURE)
    variant = {"variant_id": "v1", "seq_start_pos": 1, "seq_end_pos": 2}
    infos = {
        "ptp-3_PTP3-RB": {"embedded_variants": [variant]},
        "kin-2_KIN2-RA_ref": {},
        "kin-2_KIN2-RA_alt": {"error": "variant v1 not known to the local genome"},
        "kin-1_KIN1-RA": {},
        "failed-1_FAILED1-RA": {"error": "no sequence"},  # not aligned: kept as upstream keeps it
    }
    merged = aligned_seq_info(infos, alignment)
    assert list(merged) == sorted(infos)
    assert merged["ptp-3_PTP3-RB"]["embedded_variants"] == [
        {
            "alignment_end_pos": 3,
            "alignment_start_pos": 2,
            "seq_end_pos": 2,
            "seq_start_pos": 1,
            "variant_id": "v1",
        }
    ]
    assert list(merged["ptp-3_PTP3-RB"]["embedded_variants"][0]) == sorted(
        ["alignment_end_pos", "alignment_start_pos", *variant]
    )
    assert merged["failed-1_FAILED1-RA"] == {"error": "no sequence"}
    assert "alignment_start_pos" not in variant  # the input is not modified


def test_aligned_seq_info_of_a_generated_payload(
    ten_sequences: list[RetrievedSequence], ten_aligned: str
) -> None:
    infos = {sequence.name: sequence.info for sequence in ten_sequences}
    merged = aligned_seq_info(infos, parse_clustal(ten_aligned))
    assert merged == {name: {} for name in infos} and list(merged) == sorted(infos)

"""Sequence retrieval against two hand-made chromosomes whose protein is known: MAWKPD.

Plus strand "p" (1-based):  5'UTR 6-8, CDS 9-16 | intron 17-30 (GT..AG) | CDS 31-43 (ends TAA), 3'UTR 44-47
Minus strand "m" is its reverse complement, so exon 1 is 37-47 (CDS 37-44) and exon 2 is 6-22 (CDS 10-22).
"""

from __future__ import annotations

from typing import Any

import pytest

from local_pavi.seq_retrieval import (
    OVERLAPPING_VARIANTS,
    START_CODON_CHANGED,
    RegionError,
    RetrievedSequence,
    UnknownSequenceError,
    VariantError,
    format_fasta,
    retrieve_protein,
    translate,
)

PLUS = "TTTTT" + "GGGATGGCTTG" + "GTAAGTTTTTTCAG" + "GAAACCCGATTAACCCC" + "TTTTT"
MINUS = "AAAAAGGGGTTAATCGGGTTTCCTGAAAAAACTTACCAAGCCATCCCAAAAA"
CHROMOSOMES = {"p": PLUS, "m": MINUS}
PROTEIN = "MAWKPD"


def entry(**changes: Any) -> dict[str, Any]:
    base = {
        "unique_entry_id": "000_tst-1_TST1-RA",
        "base_seq_name": "tst-1_TST1-RA",
        "fasta_file_url": "http://localhost/genome.fa",
        "seq_id": "p",
        "seq_strand": "+",
        "exon_seq_regions": [{"start": 6, "end": 16}, {"start": 31, "end": 47}],
        "cds_seq_regions": [{"start": 9, "end": 16, "frame": 0}, {"start": 31, "end": 43, "frame": 1}],
        "variant_ids": [],
    }
    return base | changes


def minus_entry(**changes: Any) -> dict[str, Any]:
    """Written as PAVI writes minus-strand regions: start > end, in transcript order."""
    return (
        entry(
            seq_id="m",
            seq_strand="-",
            exon_seq_regions=[{"start": 47, "end": 37}, {"start": 22, "end": 6}],
            cds_seq_regions=[{"start": 44, "end": 37, "frame": 0}, {"start": 22, "end": 10, "frame": 1}],
        )
        | changes
    )


def protein(chromosomes: dict[str, str], item: dict[str, Any]) -> str:
    [sequence] = retrieve_protein(chromosomes, item)
    return sequence.protein


def test_minus_strand_fixture_is_the_reverse_complement_of_the_plus_one() -> None:
    complement = str.maketrans("ACGT", "TGCA")
    assert PLUS[::-1].translate(complement) == MINUS


def test_plus_strand_two_exon_gene_is_spliced_and_translated() -> None:
    assert retrieve_protein(CHROMOSOMES, entry()) == [RetrievedSequence("tst-1_TST1-RA", PROTEIN, {})]


def test_minus_strand_two_exon_gene_is_reverse_complemented_and_spliced() -> None:
    assert protein(CHROMOSOMES, minus_entry()) == PROTEIN


def test_minus_strand_regions_also_accepted_with_start_before_end_and_in_any_order() -> None:
    item = minus_entry(
        exon_seq_regions=["6..22", "37..47"],
        cds_seq_regions=[{"start": 10, "end": 22}, {"start": 37, "end": 44}],
    )
    assert protein(CHROMOSOMES, item) == PROTEIN


def test_plus_strand_accepts_start_after_end_strings_and_numeric_strings() -> None:
    item = entry(
        exon_seq_regions=["16..6", "31..47"],
        cds_seq_regions=[{"start": "16", "end": "9", "frame": "0"}, {"start": 43, "end": "31"}],
    )
    assert protein(CHROMOSOMES, item) == PROTEIN


def test_soft_masked_genome_translates_the_same() -> None:
    assert protein({"p": PLUS.lower()}, entry()) == PROTEIN


def test_frame_skips_bases_before_the_first_codon() -> None:
    # CDS starting one base early (the G before ATG): frame 1 skips it, frame 0 reads it.
    shifted = [{"start": 8, "end": 16, "frame": 1}, {"start": 31, "end": 43, "frame": 1}]
    assert protein(CHROMOSOMES, entry(cds_seq_regions=shifted)) == PROTEIN
    unframed = [{"start": 8, "end": 16}, {"start": 31, "end": 43}]
    # GAT GGC TTG GAA ACC CGA TTA + a trailing partial codon A, which is ignored
    assert protein(CHROMOSOMES, entry(cds_seq_regions=unframed)) == "DGLETRL"


def test_translation_stops_at_the_first_stop_codon() -> None:
    # CDS running into the 3' UTR: translation still ends at TAA.
    longer = [{"start": 9, "end": 16}, {"start": 31, "end": 52}]
    assert protein(CHROMOSOMES, entry(cds_seq_regions=longer)) == PROTEIN
    assert translate("ATGNNNTGGTAAATG") == "MXW"


def test_without_cds_regions_the_longest_orf_of_the_exons_is_translated() -> None:
    assert protein(CHROMOSOMES, minus_entry(cds_seq_regions=[])) == PROTEIN


def test_unknown_seq_id_raises_with_the_seq_id() -> None:
    with pytest.raises(UnknownSequenceError) as raised:
        retrieve_protein(CHROMOSOMES, entry(seq_id="FAILURE_TEST_SEQ_ID"))
    assert raised.value.seq_id == "FAILURE_TEST_SEQ_ID"
    assert isinstance(raised.value, ValueError)  # what the pipeline runner catches


@pytest.mark.parametrize(
    "regions",
    [
        [{"start": 9, "end": 16}, {"start": 31, "end": 53}],  # past the chromosome end
        [{"start": 0, "end": 16}],  # before position 1
    ],
)
def test_region_outside_the_chromosome_raises(regions: list[dict[str, int]]) -> None:
    with pytest.raises(RegionError, match="outside p"):
        retrieve_protein(CHROMOSOMES, entry(cds_seq_regions=regions))


@pytest.mark.parametrize(
    "changes",
    [
        {"exon_seq_regions": ["6-16"]},
        {"cds_seq_regions": [{"start": 9}]},
        {"cds_seq_regions": [{"start": "nine", "end": 16}]},
        {"cds_seq_regions": [{"start": 9, "end": 16, "frame": 3}]},
        {"cds_seq_regions": "9..16"},
        {"seq_strand": "up"},
        {"cds_seq_regions": [{"start": 41, "end": 43}]},  # TAA alone: no protein
    ],
)
def test_malformed_input_raises_region_error(changes: dict[str, Any]) -> None:
    with pytest.raises(RegionError):
        retrieve_protein(CHROMOSOMES, entry(**changes))


def test_variants_name_ref_and_alt_sequences_like_upstream() -> None:
    # m:40 is G on the genome: C (2nd base of codon 2, GCT -> GTT) on the minus-strand transcript
    sequences = retrieve_protein(
        CHROMOSOMES, minus_entry(variant_ids=["m:g.40G>A"], alt_seq_name_suffix="_yn32")
    )
    assert [(s.name, s.protein) for s in sequences] == [
        ("tst-1_TST1-RA_ref", PROTEIN),
        ("tst-1_TST1-RA_yn32", "MVWKPD"),
    ]
    assert sequences[0].info == {}
    assert sequences[1].info == {
        "embedded_variants": [
            {
                "variant_id": "m:g.40G>A",
                "genomic_seq_id": "m",
                "genomic_start_pos": 40,
                "genomic_end_pos": 40,
                "seq_length": 1,
                "genomic_ref_seq": "G",
                "genomic_alt_seq": "A",
                "seq_substitution_type": "substitution",
                "seq_start_pos": 2,
                "seq_end_pos": 2,
                "embedded_ref_seq_len": 1,
                "embedded_alt_seq_len": 1,
            }
        ]
    }
    default = retrieve_protein(CHROMOSOMES, entry(variant_ids=["p:g.12G>T"], alt_seq_name_suffix=None))
    assert default[1].name == "tst-1_TST1-RA_alt"
    assert default[1].protein == "MSWKPD"  # p:12 is the G of codon 2: GCT -> TCT


def test_a_changed_start_codon_rejects_the_alternative_as_upstream() -> None:
    for item in (entry(variant_ids=["p:g.9A>G"]), minus_entry(variant_ids=["m:g.44T>C"])):
        ref, alt = retrieve_protein(CHROMOSOMES, item)
        assert (ref.protein, ref.info) == (PROTEIN, {})
        assert alt.protein is None
        assert alt.info == {"error": START_CODON_CHANGED}
        assert format_fasta([ref, alt]) == f">{ref.name}\n{PROTEIN}\n"  # not aligned


def test_variants_outside_the_cds_or_on_another_sequence_change_nothing() -> None:
    # p:6 is 5' UTR; m:1 lies on another chromosome than the entry's
    _, alt = retrieve_protein(CHROMOSOMES, entry(variant_ids=["p:g.6G>C", "m:g.1A>C"]))
    assert (alt.protein, alt.info) == (PROTEIN, {"embedded_variants": []})


def test_a_variant_gaining_a_stop_shortens_the_alternative() -> None:
    # p:32 is the first A of AAA (codon 4, K): AAA -> TAA
    _, alt = retrieve_protein(CHROMOSOMES, entry(variant_ids=["p:g.32A>T"]))
    assert alt.protein == "MAW"
    assert alt.info["embedded_variants"][0]["seq_start_pos"] == 4  # the stop codon, one past the end


def test_two_variants_on_one_base_are_rejected_like_upstream() -> None:
    _, alt = retrieve_protein(CHROMOSOMES, entry(variant_ids=["p:g.12G>T", "p:g.12G>C"]))
    assert (alt.protein, alt.info) == (None, {"error": OVERLAPPING_VARIANTS})


@pytest.mark.parametrize(
    ("variant_id", "match"),
    [
        ("v1", "cannot be resolved offline"),
        ("p:g.12G>G", "by itself"),
        ("p:g.12del", "cannot be resolved offline"),
        ("p:g.12C>A", "has G at p:12, not C"),
        ("q:g.12G>A", "not in the genome"),
        ("p:g.999G>A", "outside p"),
    ],
)
def test_unresolvable_variant_ids_raise(variant_id: str, match: str) -> None:
    with pytest.raises(VariantError, match=match):
        retrieve_protein(CHROMOSOMES, entry(variant_ids=[variant_id]))


def test_format_fasta_writes_one_line_per_sequence() -> None:
    sequences = [RetrievedSequence("a", "MK"), RetrievedSequence("b", "MW")]
    assert format_fasta(sequences) == ">a\nMK\n>b\nMW\n"

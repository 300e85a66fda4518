"""PAVI job payloads (lists of seq-region objects) built from the local genome.

Transcripts come from as few gene families as possible, because related proteins keep Clustal Omega
fast (see `local_pavi.genome`).
"""

from __future__ import annotations

import copy
import random
from typing import Any

from local_pavi.genome import Genome, Span, Transcript, build_genome, cds_phases
from local_pavi.seq_retrieval import STANDARD_CODE, STOP, coding_sequence, reverse_complement

UNKNOWN_SEQ_ID = "FAILURE_TEST_SEQ_ID"  # the name upstream's pipeline-failure test payload uses


def _region(span: Span, strand: str) -> dict[str, int]:
    """Minus-strand regions are written start > end, as PAVI's UI sends them."""
    low, high = span
    return {"start": high, "end": low} if strand == "-" else {"start": low, "end": high}


def base_seq_name(transcript: Transcript) -> str:
    """`<gene>_<transcript>`, the shape of upstream's names (e.g. `Appl_Appl-RA`)."""
    return f"{transcript.gene}_{transcript.name}"


def entry_for(transcript: Transcript, *, unique_entry_id: str, fasta_file_url: str) -> dict[str, Any]:
    """One seq-region object for `transcript`; `alt_seq_name_suffix` is left out, as upstream does
    for entries without variants (it is optional)."""
    cds = [
        {**_region(span, transcript.strand), "frame": phase}
        for span, phase in zip(transcript.cds_regions, cds_phases(transcript.cds_regions), strict=True)
    ]
    return {
        "unique_entry_id": unique_entry_id,
        "base_seq_name": base_seq_name(transcript),
        "fasta_file_url": fasta_file_url,
        "seq_id": transcript.seq_id,
        "seq_strand": transcript.strand,
        "exon_seq_regions": [_region(span, transcript.strand) for span in transcript.exon_regions],
        "cds_seq_regions": cds,
        "variant_ids": [],
    }


def _pick(genome: Genome, entries: int, rng: random.Random) -> list[str]:
    """Whole families, largest first, then a seeded sample of one family that can hold the rest.

    That uses the fewest families possible; a small payload is one seeded family.
    """
    families = sorted(genome.families.items(), key=lambda item: (-len(item[1]), item[0]))
    picked: list[str] = []
    while families and entries - len(picked) > len(families[0][1]):
        picked += families.pop(0)[1]
    remaining = entries - len(picked)
    if remaining:
        _, names = rng.choice([family for family in families if len(family[1]) >= remaining])
        chosen = set(rng.sample(names, remaining))
        picked += [name for name in names if name in chosen]
    return picked


def generate_payload(
    entries: int, *, fasta_file_url: str, seed: int = 0, genome: Genome | None = None
) -> list[dict[str, Any]]:
    """A valid payload of `entries` transcripts, identical for the same seed.

    Raises:
        ValueError: `entries` is below 1 or above the number of transcripts in the genome.
    """
    genome = genome or build_genome()
    maximum = len(genome.transcripts)
    if not 1 <= entries <= maximum:
        raise ValueError(f"entries must be between 1 and {maximum} (the genome's transcripts), not {entries}")
    transcripts = [genome.transcript(name) for name in _pick(genome, entries, random.Random(seed))]
    width = max(3, len(str(entries - 1)))  # zero-padded so ids sort in payload order, as upstream's do
    return [
        entry_for(
            transcript,
            unique_entry_id=f"{i:0{width}d}_{base_seq_name(transcript)}",
            fasta_file_url=fasta_file_url,
        )
        for i, transcript in enumerate(transcripts)
    ]


def failing_payload(
    entries: int = 2, *, fasta_file_url: str, seed: int = 0, genome: Genome | None = None
) -> list[dict[str, Any]]:
    """Schema-valid, but its first entry names a `seq_id` the genome lacks, so the job must end `failed`."""
    payload = generate_payload(entries, fasta_file_url=fasta_file_url, seed=seed, genome=genome)
    payload[0]["seq_id"] = UNKNOWN_SEQ_ID
    return payload


def _variant_id(transcript: Transcript, genome: Genome, index: int, coding_alt: str) -> str:
    """HGVS id of the substitution that puts `coding_alt` at coding base `index` (genomic strand)."""
    entry = entry_for(transcript, unique_entry_id="variant", fasta_file_url="")
    coding = coding_sequence(genome.chromosomes, entry)
    position = coding.positions[index]
    ref = genome.chromosomes[transcript.seq_id][position - 1].upper()
    alt = coding_alt if transcript.strand == "+" else reverse_complement(coding_alt)
    return f"{transcript.seq_id}:g.{position}{ref}>{alt}"


def start_codon_variant(transcript: Transcript, genome: Genome | None = None) -> str:
    """A substitution of the start codon's first base (ATG -> GTG): upstream rejects such an alternative."""
    return _variant_id(transcript, genome or build_genome(), 0, "G")


def missense_variant(transcript: Transcript, genome: Genome | None = None) -> str:
    """A substitution in the second or a later codon that changes its amino acid (never to a stop), so
    the alternative is aligned and differs from the reference in exactly one residue.

    Raises:
        ValueError: no such substitution exists (a protein of one residue).
    """
    genome = genome or build_genome()
    entry = entry_for(transcript, unique_entry_id="variant", fasta_file_url="")
    dna = coding_sequence(genome.chromosomes, entry).dna
    for index in range(3, len(dna) - len(dna) % 3 - 3):  # not the start codon, not the last codon
        begin = index - index % 3
        codon = dna[begin : begin + 3]
        for base in "ACGT":
            changed = codon[: index % 3] + base + codon[index % 3 + 1 :]
            if STANDARD_CODE[codon] != STANDARD_CODE[changed] != STOP:
                return _variant_id(transcript, genome, index, base)
    raise ValueError(f"{transcript.name} has no codon a missense substitution can change")


def with_variant(entry: dict[str, Any], variant_id: str, suffix: str | None = None) -> dict[str, Any]:
    """A copy of `entry` asking for one alternative: `variant_ids` and `alt_seq_name_suffix` set."""
    changed = copy.deepcopy(entry)
    changed["variant_ids"] = [variant_id]
    changed["alt_seq_name_suffix"] = suffix
    return changed


def invalid_payload() -> list[dict[str, Any]]:
    """Violates the API schema (missing required fields, wrong types), so the API must answer 422."""
    return [
        {"name": "kin-1_KIN1-RA"},
        {
            "unique_entry_id": 7,
            "seq_id": "1",
            "seq_strand": "+",
            "exon_seq_regions": "2856..2932",
            "fasta_file_url": "http://localhost/genome.fa",
        },
    ]

"""PAVI pipeline stage 1 (sequence retrieval) for one payload entry, against an in-memory genome.

Mirrors what upstream's `seq_retrieval.py --output_type protein` produces for an entry: the spliced,
translated protein, named as upstream's `write_output` names it, plus the per-sequence info that ends
up in `aligned_seq_info.json`. Regions are 1-based and inclusive; either order of start/end is
accepted on both strands (PAVI writes minus-strand regions as start > end).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_BASES = "TCAG"
# NCBI translation table 1, codons enumerated in TCAG order (TTT, TTC, TTA, TTG, TCT, ...).
_TABLE_1 = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
STANDARD_CODE: dict[str, str] = {
    a + b + c: aa
    for (a, b, c), aa in zip(
        ((a, b, c) for a in _BASES for b in _BASES for c in _BASES), _TABLE_1, strict=True
    )
}
STOP = "*"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_RANGE_STRING = re.compile(r"\s*(\d+)\.\.(\d+)\s*")
_STRANDS = {"+": "+", "+1": "+", "pos": "+", "-": "-", "-1": "-", "neg": "-"}


class SeqRetrievalError(ValueError):
    """Base for retrieval failures; a ValueError so callers treating bad input generically catch it."""


class UnknownSequenceError(SeqRetrievalError):
    """The entry's `seq_id` is not a chromosome of the genome (the job must end `failed`)."""

    def __init__(self, seq_id: str) -> None:
        super().__init__(f"sequence {seq_id!r} not found in the genome FASTA")
        self.seq_id = seq_id


class RegionError(SeqRetrievalError):
    """A region is malformed, lies outside its chromosome, or yields no protein."""


@dataclass(frozen=True)
class Region:
    """One region normalised to start <= end; `frame` is the GFF phase (bases to skip), if given."""

    start: int
    end: int
    frame: int | None = None


@dataclass
class RetrievedSequence:
    """One sequence for the alignment input plus its entry in `aligned_seq_info.json`."""

    name: str
    protein: str
    info: dict[str, Any] = field(default_factory=dict)


def reverse_complement(dna: str) -> str:
    return dna.translate(_COMPLEMENT)[::-1]


def translate(dna: str) -> str:
    """Standard code, codon by codon until the first stop; a trailing partial codon is ignored.

    Codons with ambiguous bases become X (as Biopython does for N-containing codons).
    """
    protein: list[str] = []
    dna = dna.upper()
    for i in range(0, len(dna) - 2, 3):
        residue = STANDARD_CODE.get(dna[i : i + 3], "X")
        if residue == STOP:
            break
        protein.append(residue)
    return "".join(protein)


def _position(value: Any, what: str) -> int:
    # bool is an int subclass but never a position
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RegionError(f"{what} {value!r} is not an integer")
    try:
        return int(value)
    except ValueError:
        raise RegionError(f"{what} {value!r} is not an integer") from None


def parse_region(raw: Any) -> Region:
    """Accept `"start..end"` or `{"start", "end", "frame"?}` (ints or numeric strings), either order."""
    frame: int | None = None
    if isinstance(raw, str):
        match = _RANGE_STRING.fullmatch(raw)
        if match is None:
            raise RegionError(f"region {raw!r} is not formatted 'start..end'")
        start, end = int(match[1]), int(match[2])
    elif isinstance(raw, Mapping):
        if "start" not in raw or "end" not in raw:
            raise RegionError(f"region {raw!r} needs both 'start' and 'end'")
        start, end = _position(raw["start"], "start"), _position(raw["end"], "end")
        if raw.get("frame") is not None:
            frame = _position(raw["frame"], "frame")
            if frame not in (0, 1, 2):
                raise RegionError(f"frame {frame} of region {raw!r} is not 0, 1 or 2")
    else:
        raise RegionError(f"region {raw!r} is neither a 'start..end' string nor an object")
    return Region(min(start, end), max(start, end), frame)


def _ordered_regions(raw_regions: Any, strand: str, what: str) -> list[Region]:
    """Transcript order whatever the input order: ascending on '+', descending on '-' (as upstream)."""
    if not isinstance(raw_regions, list):
        raise RegionError(f"{what} must be a list of regions")
    regions = [parse_region(raw) for raw in raw_regions]
    return sorted(regions, key=lambda region: region.start, reverse=strand == "-")


def _cut(chromosome: str, seq_id: str, regions: Iterable[Region], strand: str) -> str:
    parts: list[str] = []
    for region in regions:
        if region.start < 1 or region.end > len(chromosome):
            raise RegionError(
                f"region {region.start}..{region.end} lies outside {seq_id} (1..{len(chromosome)})"
            )
        part = chromosome[region.start - 1 : region.end].upper()  # drop soft-masking
        parts.append(reverse_complement(part) if strand == "-" else part)
    return "".join(parts)


def longest_orf(dna: str) -> str:
    """Upstream's fallback without CDS regions: the longest complete ATG..stop ORF in any frame."""
    best = ""
    for frame in range(3):
        opened: int | None = None
        for i in range(frame, len(dna) - 2, 3):
            codon = dna[i : i + 3]
            if opened is None and codon == "ATG":
                opened = i
            elif opened is not None and STANDARD_CODE.get(codon) == STOP:
                if i + 3 - opened > len(best):
                    best = dna[opened : i + 3]
                opened = None
    return best


def _strand(entry: Mapping[str, Any]) -> str:
    strand = _STRANDS.get(str(entry.get("seq_strand")))
    if strand is None:
        raise RegionError(f"seq_strand {entry.get('seq_strand')!r} is not '+' or '-'")
    return strand


def _protein(chromosomes: Mapping[str, str], entry: Mapping[str, Any]) -> str:
    seq_id = str(entry["seq_id"])
    if seq_id not in chromosomes:
        raise UnknownSequenceError(seq_id)
    chromosome = chromosomes[seq_id]
    strand = _strand(entry)
    exons = _ordered_regions(entry.get("exon_seq_regions", []), strand, "exon_seq_regions")
    cds = _ordered_regions(entry.get("cds_seq_regions", []), strand, "cds_seq_regions")
    transcript = _cut(chromosome, seq_id, exons, strand)
    # Upstream translates from the first CDS part's frame; without CDS parts it takes the longest ORF.
    coding = _cut(chromosome, seq_id, cds, strand)[cds[0].frame or 0 :] if cds else longest_orf(transcript)
    protein = translate(coding)
    if not protein:
        raise RegionError(f"no protein for {entry.get('unique_entry_id')!r}: no codon before a stop codon")
    return protein


def retrieve_protein(chromosomes: Mapping[str, str], entry: Mapping[str, Any]) -> list[RetrievedSequence]:
    """All sequences one payload entry contributes to the alignment, in upstream's naming.

    Without variants: one sequence named `base_seq_name` with info `{}` (upstream's empty SeqInfo).
    With variants: `<base>_ref`, and `<base><alt_seq_name_suffix or "_alt">`. The local genome has no
    variant database, so variants are not applied: the alt sequence equals the reference and its info
    carries `{"error": "variant <id> not known to the local genome"}` (upstream reports per-sequence
    failures the same way, as an `error` key).

    Raises:
        UnknownSequenceError: `seq_id` is not in `chromosomes`.
        RegionError: malformed or out-of-range region, bad strand, or an empty translation.
    """
    protein = _protein(chromosomes, entry)
    base = str(entry["base_seq_name"])
    variant_ids = list(entry.get("variant_ids") or [])
    if not variant_ids:
        return [RetrievedSequence(base, protein, {})]
    suffix = entry.get("alt_seq_name_suffix") or "_alt"
    error = "; ".join(f"variant {variant_id} not known to the local genome" for variant_id in variant_ids)
    return [
        RetrievedSequence(f"{base}_ref", protein, {}),
        RetrievedSequence(f"{base}{suffix}", protein, {"error": error}),
    ]


def format_fasta(sequences: Iterable[RetrievedSequence]) -> str:
    """Alignment input as upstream's `write_output` writes it: one unwrapped line per sequence."""
    return "".join(f">{sequence.name}\n{sequence.protein}\n" for sequence in sequences)

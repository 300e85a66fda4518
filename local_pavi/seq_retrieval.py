"""PAVI pipeline stage 1 (sequence retrieval) for one payload entry, against an in-memory genome.

Mirrors what upstream's `seq_retrieval.py --output_type protein` produces for an entry: the spliced,
translated protein, named as upstream's `write_output` names it, plus the per-sequence info that ends
up in `aligned_seq_info.json`. Regions are 1-based and inclusive; either order of start/end is
accepted on both strands (PAVI writes minus-strand regions as start > end).

Variants: upstream resolves each id through the Alliance web API; the stand-in is offline, so it
resolves ids written as HGVS genomic substitutions on its own genome, `<seq_id>:g.<pos><ref>><alt>`
(1-based, plus strand), and applies them to the coding sequence as upstream's
`TranslatedSeqRegion.get_alt_sequence` does: a changed start codon rejects the alternative.
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
_HGVS_SUBSTITUTION = re.compile(
    r"(?P<seq_id>[^:\s]+):g\.(?P<position>[1-9]\d*)(?P<ref>[ACGT])>(?P<alt>[ACGT])"
)
CODON = 3
# upstream's texts (translated_seq_region.py, multipart_seq_region.py), so results compare equal
START_CODON_CHANGED = (
    "Reference start codon is different from alternative start codon. "
    "Alternative coding sequence rejected. No alternatives searched."
)
OVERLAPPING_VARIANTS = "fetch_alt_seq method does not support overlapping variants."


class SeqRetrievalError(ValueError):
    """Base for retrieval failures; a ValueError so callers treating bad input generically catch it."""


class UnknownSequenceError(SeqRetrievalError):
    """The entry's `seq_id` is not a chromosome of the genome (the job must end `failed`)."""

    def __init__(self, seq_id: str) -> None:
        super().__init__(f"sequence {seq_id!r} not found in the genome FASTA")
        self.seq_id = seq_id


class RegionError(SeqRetrievalError):
    """A region is malformed, lies outside its chromosome, or yields no protein."""


class VariantError(SeqRetrievalError):
    """A variant id the stand-in cannot resolve: unparsable, off the genome, or its ref base is not the
    genome's (upstream's `Variant.from_variant_id` fails then, and so does the job)."""


@dataclass(frozen=True)
class Region:
    """One region normalised to start <= end; `frame` is the GFF phase (bases to skip), if given."""

    start: int
    end: int
    frame: int | None = None


@dataclass(frozen=True)
class Variant:
    """A resolved single-base substitution; position and bases are genomic (plus strand)."""

    variant_id: str
    seq_id: str
    position: int
    ref: str
    alt: str


@dataclass(frozen=True)
class CodingSequence:
    """The DNA that is translated, with the genomic position of each of its bases (so variants map)."""

    dna: str
    positions: list[int]
    strand: str


@dataclass
class RetrievedSequence:
    """One sequence for the alignment input plus its entry in `aligned_seq_info.json`.

    `protein` None: rejected (upstream writes no FASTA record, only the info with its `error`).
    """

    name: str
    protein: str | None
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


def _positions(regions: Iterable[Region], strand: str) -> list[int]:
    """Genomic position of every base `_cut` returns, in the same (transcript) order."""
    positions: list[int] = []
    for region in regions:
        span = range(region.start, region.end + 1)
        positions += reversed(span) if strand == "-" else span
    return positions


def _longest_orf_span(dna: str) -> tuple[int, int]:
    """(begin, end) of the longest complete ATG..stop ORF in any frame; (0, 0) when there is none."""
    best = (0, 0)
    for frame in range(3):
        opened: int | None = None
        for i in range(frame, len(dna) - 2, 3):
            codon = dna[i : i + 3]
            if opened is None and codon == "ATG":
                opened = i
            elif opened is not None and STANDARD_CODE.get(codon) == STOP:
                if i + 3 - opened > best[1] - best[0]:
                    best = (opened, i + 3)
                opened = None
    return best


def longest_orf(dna: str) -> str:
    """Upstream's fallback without CDS regions: the longest complete ATG..stop ORF in any frame."""
    begin, end = _longest_orf_span(dna)
    return dna[begin:end]


def _strand(entry: Mapping[str, Any]) -> str:
    strand = _STRANDS.get(str(entry.get("seq_strand")))
    if strand is None:
        raise RegionError(f"seq_strand {entry.get('seq_strand')!r} is not '+' or '-'")
    return strand


def coding_sequence(chromosomes: Mapping[str, str], entry: Mapping[str, Any]) -> CodingSequence:
    """The entry's coding DNA: its CDS parts from the first part's frame on, or without CDS parts the
    longest ORF of its exons (as upstream translates)."""
    seq_id = str(entry["seq_id"])
    if seq_id not in chromosomes:
        raise UnknownSequenceError(seq_id)
    chromosome = chromosomes[seq_id]
    strand = _strand(entry)
    exons = _ordered_regions(entry.get("exon_seq_regions", []), strand, "exon_seq_regions")
    cds = _ordered_regions(entry.get("cds_seq_regions", []), strand, "cds_seq_regions")
    transcript = _cut(chromosome, seq_id, exons, strand)
    if cds:
        skip = cds[0].frame or 0
        return CodingSequence(
            _cut(chromosome, seq_id, cds, strand)[skip:], _positions(cds, strand)[skip:], strand
        )
    begin, end = _longest_orf_span(transcript)
    return CodingSequence(transcript[begin:end], _positions(exons, strand)[begin:end], strand)


def parse_variant_id(variant_id: str) -> Variant:
    """`<seq_id>:g.<pos><ref>><alt>` (an HGVS genomic substitution), the only form the stand-in knows."""
    match = _HGVS_SUBSTITUTION.fullmatch(variant_id.strip())
    if match is None:
        raise VariantError(
            f"variant {variant_id!r} cannot be resolved offline: the stand-in knows only HGVS genomic "
            "substitutions '<seq_id>:g.<pos><ref>><alt>'"
        )
    if match["ref"] == match["alt"]:
        raise VariantError(f"variant {variant_id!r} substitutes a base by itself")
    return Variant(variant_id, match["seq_id"], int(match["position"]), match["ref"], match["alt"])


def resolve_variant(chromosomes: Mapping[str, str], variant_id: str) -> Variant:
    """Parse `variant_id` and check it against the genome, as the Alliance API would know it."""
    variant = parse_variant_id(variant_id)
    chromosome = chromosomes.get(variant.seq_id)
    if chromosome is None:
        raise VariantError(f"variant {variant_id!r}: sequence {variant.seq_id!r} is not in the genome")
    if variant.position > len(chromosome):
        raise VariantError(f"variant {variant_id!r} lies outside {variant.seq_id} (1..{len(chromosome)})")
    base = chromosome[variant.position - 1].upper()
    if base != variant.ref:
        raise VariantError(
            f"variant {variant_id!r}: the genome has {base} at {variant.seq_id}:{variant.position}, "
            f"not {variant.ref}"
        )
    return variant


def _embedded(variant: Variant, index: int) -> dict[str, Any]:
    """Upstream's SeqEmbeddedVariant of a substitution, translated: its protein position (1-based)."""
    residue = index // CODON + 1
    return {
        "variant_id": variant.variant_id,
        "genomic_seq_id": variant.seq_id,
        "genomic_start_pos": variant.position,
        "genomic_end_pos": variant.position,
        "seq_length": 1,
        "genomic_ref_seq": variant.ref,
        "genomic_alt_seq": variant.alt,
        "seq_substitution_type": "substitution",
        "seq_start_pos": residue,
        "seq_end_pos": residue,
        "embedded_ref_seq_len": 1,
        "embedded_alt_seq_len": 1,
    }


def alternative_protein(coding: CodingSequence, variants: Iterable[Variant]) -> tuple[str | None, dict]:
    """The protein with `variants` embedded and its seq info, or (None, {"error": ...}) when upstream
    would reject it (start codon changed, overlapping variants, no codon left before a stop).

    Variants outside the coding sequence change nothing (upstream applies them to the CDS only).
    """
    index = {position: i for i, position in enumerate(coding.positions)}
    hits = sorted(((index[v.position], v) for v in variants if v.position in index), key=lambda hit: hit[0])
    if len({i for i, _ in hits}) < len(hits):
        return None, {"error": OVERLAPPING_VARIANTS}
    bases = list(coding.dna)
    for i, variant in hits:
        bases[i] = variant.alt if coding.strand == "+" else reverse_complement(variant.alt)
    alt = "".join(bases)
    if alt[:CODON] != coding.dna[:CODON]:
        return None, {"error": START_CODON_CHANGED}
    protein = translate(alt)
    if not protein:
        return None, {"error": "No open reading frame left in the alternative coding sequence."}
    orf_end = min(len(alt), (len(protein) + 1) * CODON)  # upstream trims to the ORF, stop codon included
    return protein, {"embedded_variants": [_embedded(v, i) for i, v in hits if i < orf_end]}


def _same_seq_id(variants: Iterable[Variant], seq_id: str) -> list[Variant]:
    return [variant for variant in variants if variant.seq_id == seq_id]


def retrieve_protein(chromosomes: Mapping[str, str], entry: Mapping[str, Any]) -> list[RetrievedSequence]:
    """All sequences one payload entry contributes, named and described as upstream's seq_retrieval.

    Without variants: one sequence named `base_seq_name` with info `{}` (upstream's empty SeqInfo).
    With variants: `<base>_ref` (info `{}`) and `<base><alt_seq_name_suffix or "_alt">`, whose info holds
    `embedded_variants` (protein positions) or, when rejected, only an `error` and no protein.

    Raises:
        UnknownSequenceError: `seq_id` is not in `chromosomes`.
        RegionError: malformed or out-of-range region, bad strand, or an empty translation.
        VariantError: a variant id cannot be resolved against `chromosomes`.
    """
    coding = coding_sequence(chromosomes, entry)
    variants = [resolve_variant(chromosomes, v) for v in dict.fromkeys(entry.get("variant_ids") or [])]
    protein = translate(coding.dna)
    if not protein:
        raise RegionError(f"no protein for {entry.get('unique_entry_id')!r}: no codon before a stop codon")
    base = str(entry["base_seq_name"])
    if not variants:
        return [RetrievedSequence(base, protein, {})]
    suffix = entry.get("alt_seq_name_suffix") or "_alt"
    alt, alt_info = alternative_protein(coding, _same_seq_id(variants, str(entry["seq_id"])))
    return [
        RetrievedSequence(f"{base}_ref", protein, {}),
        RetrievedSequence(f"{base}{suffix}", alt, alt_info),
    ]


def format_fasta(sequences: Iterable[RetrievedSequence]) -> str:
    """Alignment input as upstream's `write_output` writes it: one unwrapped line per sequence, none
    for a rejected one."""
    return "".join(f">{s.name}\n{s.protein}\n" for s in sequences if s.protein is not None)

"""A small deterministic genome for the local PAVI stand-in.

Genes come in families of paralogs mutated from a common ancestor, and families descend from a few
superfamily roots, because Clustal Omega's time explodes on unrelated sequences: here 500 related
proteins align in ~15-20 s on one thread, while just 200 random ones took 2 minutes.

Proteins are back-translated with random synonymous codons and split into exons with GT..AG introns,
on both strands; about a quarter of the genes have a second transcript (a skipped coding exon, or an
alternative first 5' UTR exon, which keeps the protein). Exon skipping can shorten an isoform's
protein below the 120-300 aa of the reference isoforms (to ~85 aa at least).

Coordinates are 1-based inclusive `(low, high)` tuples listed in transcript order, so on the minus
strand they descend; the payload writes those as start > end, as PAVI does.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from pathlib import Path

from local_pavi.seq_retrieval import STANDARD_CODE, STOP, reverse_complement

GENOME_VERSION = "local-pavi-genome-1"
SEED = 20_240_917
FASTA_NAME = "genome.fa"
TRANSCRIPTS_NAME = "transcripts.json"
LINE_WIDTH = 60

CHROMOSOME_WEIGHTS = {"1": 0.3, "2": 0.27, "3": 0.25, "X": 0.18}
# Genes per family, largest first: a 500-entry payload fits in a handful of families.
FAMILY_SIZES = (120, 90, 70, 50, 40, 30, 25, 20, 15, 12, 10, 8, 8, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2)
FAMILY_PREFIXES = (
    "kin", "ptp", "zfp", "gpr", "abc", "slc", "mfs", "hsp", "rab", "ras", "cyp", "ugt",
    "nhr", "col", "lec", "srx", "fbx", "btb", "tps", "ace", "dhs", "sdz", "mlt",
)  # fmt: skip
SUPERFAMILIES = 3
ROOT_LENGTH = (150, 270)
PROTEIN_LENGTH = (120, 300)
FAMILY_DIVERGENCE = 0.25  # substitution rate from superfamily root to family ancestor
PARALOG_DIVERGENCE = (0.05, 0.2)  # substitution rate from family ancestor to each gene
ALT_TRANSCRIPT_RATE = 0.25

# Approximate UniProt residue frequencies, so proteins look like proteins to Clustal's substitution matrix.
_AA_FREQUENCIES = {
    "A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75, "G": 7.07, "H": 2.27,
    "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86, "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08,
    "Y": 2.92, "V": 6.87,
}  # fmt: skip
_AMINO_ACIDS = tuple(_AA_FREQUENCIES)
_AA_WEIGHTS = tuple(_AA_FREQUENCIES.values())


def _synonymous_codons() -> dict[str, list[str]]:
    codons: dict[str, list[str]] = {}
    for codon, residue in STANDARD_CODE.items():
        codons.setdefault(residue, []).append(codon)
    return codons


_CODONS = _synonymous_codons()
# Byte value -> base, 77/51/51/77 of 256 for A/C/G/T: AT-rich like most animal genomes.
_BYTE_TO_BASE = bytes(b"A" * 77 + b"C" * 51 + b"G" * 51 + b"T" * 77)

Span = tuple[int, int]


@dataclass(frozen=True)
class Transcript:
    """One transcript; regions are (low, high) 1-based inclusive, in transcript order."""

    name: str
    gene: str
    seq_id: str
    strand: str
    exon_regions: list[Span]
    cds_regions: list[Span]
    protein: str


@dataclass(frozen=True)
class Genome:
    """Chromosome sequences, their transcripts, and which transcripts are paralogs of one family."""

    chromosomes: dict[str, str]
    transcripts: list[Transcript]
    families: dict[str, list[str]]  # family name -> transcript names, genes in family order

    def transcript(self, name: str) -> Transcript:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Transcript]:
        return {transcript.name: transcript for transcript in self.transcripts}


def cds_phases(cds_regions: Iterable[Span]) -> list[int]:
    """GFF phase of each CDS part: bases to skip before its first complete codon."""
    phases: list[int] = []
    coding = 0
    for low, high in cds_regions:
        phases.append(-coding % 3)
        coding += high - low + 1
    return phases


# --- proteins -------------------------------------------------------------------------------------


def _random_protein(rng: random.Random, length: int) -> str:
    return "M" + "".join(rng.choices(_AMINO_ACIDS, _AA_WEIGHTS, k=length - 1))


def _mutate(rng: random.Random, protein: str, substitution_rate: float, indels: int) -> str:
    """Substitutions then short indels; the start methionine and the length bounds are kept."""
    residues = [
        rng.choices(_AMINO_ACIDS, _AA_WEIGHTS)[0] if i and rng.random() < substitution_rate else residue
        for i, residue in enumerate(protein)
    ]
    low, high = PROTEIN_LENGTH
    for _ in range(indels):
        size = rng.randint(1, 5)
        at = rng.randint(1, len(residues) - size)
        if rng.random() < 0.5 and len(residues) - size >= low:
            del residues[at : at + size]
        elif len(residues) + size <= high:
            residues[at:at] = rng.choices(_AMINO_ACIDS, _AA_WEIGHTS, k=size)
    return "".join(residues)


def _family_proteins(rng: random.Random) -> list[list[str]]:
    roots = [_random_protein(rng, rng.randint(*ROOT_LENGTH)) for _ in range(SUPERFAMILIES)]
    families: list[list[str]] = []
    for index, size in enumerate(FAMILY_SIZES):
        ancestor = _mutate(rng, roots[index % SUPERFAMILIES], FAMILY_DIVERGENCE, rng.randint(2, 4))
        families.append(
            [_mutate(rng, ancestor, rng.uniform(*PARALOG_DIVERGENCE), rng.randint(0, 3)) for _ in range(size)]
        )
    return families


# --- genes ----------------------------------------------------------------------------------------


def _dna(rng: random.Random, length: int) -> str:
    # Random bytes mapped through a 256-entry table: ~50x faster than rng.choices per base.
    return rng.randbytes(length).translate(_BYTE_TO_BASE).decode()


def _intron(rng: random.Random) -> str:
    return "GT" + _dna(rng, rng.randint(56, 300)) + "AG"


def _back_translate(rng: random.Random, protein: str) -> str:
    return "".join(rng.choice(_CODONS[residue]) for residue in protein) + rng.choice(_CODONS[STOP])


def _cds_cuts(rng: random.Random, cds_length: int, exons: int) -> list[int]:
    """Exon boundaries inside the CDS, evenly spread with jitter so every part keeps some length."""
    step = cds_length / exons
    return [round(step * k + rng.uniform(-step / 4, step / 4)) for k in range(1, exons)]


@dataclass
class _Gene:
    """A gene laid out in transcript orientation: alternating exon/intron text, offsets from 0."""

    name: str
    family: str
    strand: str
    parts: list[str] = field(default_factory=list)
    exon_spans: list[Span] = field(default_factory=list)  # 0-based half-open, in `parts` text
    coding_spans: dict[int, Span] = field(default_factory=dict)  # exon index -> coding sub-span
    transcripts: list[tuple[list[int], str]] = field(default_factory=list)  # (exon indexes, protein)

    @property
    def length(self) -> int:
        return sum(map(len, self.parts))

    def add_exon(self, text: str, coding: Span | None = None) -> int:
        offset = self.length
        self.parts.append(text)
        self.exon_spans.append((offset, offset + len(text)))
        if coding is not None:
            self.coding_spans[len(self.exon_spans) - 1] = (offset + coding[0], offset + coding[1])
        return len(self.exon_spans) - 1


def _build_gene(rng: random.Random, name: str, family: str, protein: str) -> _Gene:
    gene = _Gene(name, family, rng.choice("+-"))
    cds = _back_translate(rng, protein)
    exons = rng.randint(2, 6)
    cuts = _cds_cuts(rng, len(cds), exons)
    alternative = rng.random() < ALT_TRANSCRIPT_RATE
    skipped: int | None = None
    if alternative and exons >= 3:
        # An in-frame skippable exon: both its boundaries on codon boundaries.
        skipped = rng.randint(1, exons - 2)
        cuts[skipped - 1] -= cuts[skipped - 1] % 3
        cuts[skipped] -= cuts[skipped] % 3
    first_utr = [_dna(rng, rng.randint(40, 200)) for _ in range(2 if alternative and skipped is None else 1)]
    utr5, utr3 = _dna(rng, rng.randint(10, 120)), _dna(rng, rng.randint(30, 250))

    leading = []
    for text in first_utr:
        leading.append(gene.add_exon(text))
        gene.parts.append(_intron(rng))
    bounds = [0, *cuts, len(cds)]
    coding_exons = []
    for k in range(exons):
        piece = cds[bounds[k] : bounds[k + 1]]
        before = utr5 if k == 0 else ""
        after = utr3 if k == exons - 1 else ""
        coding_exons.append(gene.add_exon(before + piece + after, (len(before), len(before) + len(piece))))
        if k < exons - 1:
            gene.parts.append(_intron(rng))

    gene.transcripts.append(([leading[0], *coding_exons], protein))
    if skipped is not None:
        kept = [index for k, index in enumerate(coding_exons) if k != skipped]
        alt_protein = protein[: bounds[skipped] // 3] + protein[bounds[skipped + 1] // 3 :]
        gene.transcripts.append(([leading[0], *kept], alt_protein))
    elif alternative:
        gene.transcripts.append(([leading[1], *coding_exons], protein))
    return gene


def _genomic(span: Span, strand: str, gene_start: int, gene_length: int) -> Span:
    """0-based half-open span in transcript orientation -> 1-based inclusive (low, high) on the chromosome."""
    begin, end = span
    if strand == "+":
        return gene_start + begin + 1, gene_start + end
    return gene_start + gene_length - end + 1, gene_start + gene_length - begin


def _place(gene: _Gene, seq_id: str, gene_start: int) -> list[Transcript]:
    length = gene.length
    transcripts = []
    for number, (exon_indexes, protein) in enumerate(gene.transcripts):
        exons = [_genomic(gene.exon_spans[i], gene.strand, gene_start, length) for i in exon_indexes]
        cds = [
            _genomic(gene.coding_spans[i], gene.strand, gene_start, length)
            for i in exon_indexes
            if i in gene.coding_spans
        ]
        symbol = gene.name.replace("-", "").upper()
        name = f"{symbol}-R{'AB'[number]}"
        transcripts.append(Transcript(name, gene.name, seq_id, gene.strand, exons, cds, protein))
    return transcripts


@cache
def build_genome() -> Genome:
    """The genome, identical on every call and every machine (fixed seed, `random.Random` only)."""
    rng = random.Random(SEED)
    genes = [
        _build_gene(rng, f"{FAMILY_PREFIXES[f]}-{g + 1}", FAMILY_PREFIXES[f], protein)
        for f, proteins in enumerate(_family_proteins(rng))
        for g, protein in enumerate(proteins)
    ]
    placement = list(genes)
    rng.shuffle(placement)
    seq_ids = rng.choices(list(CHROMOSOME_WEIGHTS), list(CHROMOSOME_WEIGHTS.values()), k=len(placement))

    chromosomes: dict[str, str] = {}
    by_gene: dict[str, list[Transcript]] = {}
    for seq_id in CHROMOSOME_WEIGHTS:
        parts = [_dna(rng, rng.randint(500, 3000))]
        offset = len(parts[0])
        for gene, chosen in zip(placement, seq_ids, strict=True):
            if chosen != seq_id:
                continue
            text = "".join(gene.parts)
            by_gene[gene.name] = _place(gene, seq_id, offset)
            spacer = _dna(rng, rng.randint(300, 2000))
            parts += [text if gene.strand == "+" else reverse_complement(text), spacer]
            offset += len(text) + len(spacer)
        chromosomes[seq_id] = "".join(parts)

    transcripts = sorted(
        (t for ts in by_gene.values() for t in ts),
        key=lambda t: (list(CHROMOSOME_WEIGHTS).index(t.seq_id), min(t.exon_regions)[0], t.name),
    )
    families: dict[str, list[str]] = {}
    for gene in genes:
        families.setdefault(gene.family, []).extend(t.name for t in by_gene[gene.name])
    return Genome(chromosomes, transcripts, families)


# --- files ----------------------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    """Readers (the API, parallel tests) never see half a file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o644)  # temporary files start private
    os.replace(handle.name, path)


def _fasta_and_index(chromosomes: dict[str, str]) -> tuple[str, str]:
    """FASTA wrapped at 60 columns and its samtools-faidx index (name, length, offset, bases, bytes)."""
    fasta: list[str] = []
    index: list[str] = []
    offset = 0
    for name, sequence in chromosomes.items():
        header = f">{name}\n"
        lines = [sequence[i : i + LINE_WIDTH] + "\n" for i in range(0, len(sequence), LINE_WIDTH)]
        index.append(f"{name}\t{len(sequence)}\t{offset + len(header)}\t{LINE_WIDTH}\t{LINE_WIDTH + 1}\n")
        fasta += [header, *lines]
        offset += len(header) + sum(map(len, lines))
    return "".join(fasta), "".join(index)


def _is_current(directory: Path) -> bool:
    fasta = directory / FASTA_NAME
    stamp = directory / TRANSCRIPTS_NAME
    if not (fasta.exists() and Path(f"{fasta}.fai").exists() and stamp.exists()):
        return False
    try:
        return json.loads(stamp.read_text()).get("genome_version") == GENOME_VERSION
    except (ValueError, AttributeError):
        return False


def write_genome(directory: Path) -> Path:
    """Write genome.fa, genome.fa.fai and transcripts.json; return the FASTA path.

    transcripts.json carries the GENOME_VERSION stamp and is written last, so files of the current
    version mean a complete earlier write and all work is skipped.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fasta_path = directory / FASTA_NAME
    if _is_current(directory):
        return fasta_path
    genome = build_genome()
    fasta, index = _fasta_and_index(genome.chromosomes)
    _atomic_write(fasta_path, fasta)
    _atomic_write(Path(f"{fasta_path}.fai"), index)
    manifest = {
        "genome_version": GENOME_VERSION,
        "chromosomes": {name: len(sequence) for name, sequence in genome.chromosomes.items()},
        "families": genome.families,
        "transcripts": [asdict(transcript) for transcript in genome.transcripts],
    }
    _atomic_write(directory / TRANSCRIPTS_NAME, json.dumps(manifest, indent=1) + "\n")
    return fasta_path


def parse_fasta(text: str) -> dict[str, str]:
    """Name (first word of the header) -> sequence, in file order."""
    sequences: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(">"):
            name = line[1:].split(maxsplit=1)[0] if line[1:].strip() else ""
            current = sequences.setdefault(name, [])
        elif current is not None:
            current.append(line.strip())
        elif line.strip():
            raise ValueError("FASTA text does not start with a '>' header")
    return {name: "".join(lines) for name, lines in sequences.items()}


def load_fasta(path: Path | str) -> dict[str, str]:
    return parse_fasta(Path(path).read_text())

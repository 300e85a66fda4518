from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from difflib import SequenceMatcher
from itertools import pairwise
from pathlib import Path
from statistics import mean

import pytest

from local_pavi.genome import (
    GENOME_VERSION,
    Genome,
    build_genome,
    cds_phases,
    load_fasta,
    parse_fasta,
    write_genome,
)
from local_pavi.seq_retrieval import reverse_complement


@pytest.fixture(scope="module")
def genome() -> Genome:
    return build_genome()


def test_build_is_cached_and_has_the_expected_shape(genome: Genome) -> None:
    assert build_genome() is genome
    assert list(genome.chromosomes) == ["1", "2", "3", "X"]
    assert all(50_000 < len(sequence) < 500_000 for sequence in genome.chromosomes.values())
    assert set("".join(genome.chromosomes.values())) == set("ACGT")
    assert len(genome.transcripts) >= 600
    assert {t.strand for t in genome.transcripts} == {"+", "-"}
    assert len({t.name for t in genome.transcripts}) == len(genome.transcripts)
    assert all(80 <= len(t.protein) <= 300 and t.protein.startswith("M") for t in genome.transcripts)


def test_genome_is_rebuilt_identically_and_its_content_is_pinned(genome: Genome) -> None:
    """Changing the genome must come with a new GENOME_VERSION: write_genome keeps files of the old one."""
    assert build_genome.__wrapped__() == genome
    digest = hashlib.sha256("".join(f">{k}\n{v}\n" for k, v in genome.chromosomes.items()).encode())
    assert (GENOME_VERSION, digest.hexdigest()[:16]) == ("local-pavi-genome-1", "83f354bb1aa90cd2")


def test_families_cover_every_transcript_and_include_large_ones(genome: Genome) -> None:
    members = [name for names in genome.families.values() for name in names]
    assert sorted(members) == sorted(t.name for t in genome.transcripts)
    assert len(genome.families) >= 10
    assert max(map(len, genome.families.values())) >= 100


def test_some_genes_have_two_transcripts_with_different_proteins(genome: Genome) -> None:
    per_gene = Counter(t.gene for t in genome.transcripts)
    assert set(per_gene.values()) == {1, 2}
    proteins: dict[str, set[str]] = {}
    for transcript in genome.transcripts:
        proteins.setdefault(transcript.gene, set()).add(transcript.protein)
    assert any(len(variants) == 2 for variants in proteins.values())  # exon skipping
    assert any(per_gene[gene] == 2 and len(variants) == 1 for gene, variants in proteins.items())  # UTR


def test_paralogs_are_related(genome: Genome) -> None:
    """Paralogs share most residues (mutated from one ancestor); random proteins share few."""
    first, *paralogs = (genome.transcript(name).protein for name in genome.families["kin"][:20])
    rng = random.Random(0)
    unrelated = ["".join(rng.choices("ACDEFGHIKLMNPQRSTVWY", k=len(first))) for _ in paralogs]

    def similarity(proteins: list[str]) -> float:
        return mean(SequenceMatcher(None, first, other, autojunk=False).ratio() for other in proteins)

    assert similarity(paralogs) > 0.6 > 0.3 > similarity(unrelated)


def test_regions_are_ordered_inside_exons_and_introns_are_gt_ag(genome: Genome) -> None:
    for t in genome.transcripts:
        chromosome = genome.chromosomes[t.seq_id]
        step = 1 if t.strand == "+" else -1
        assert all(low <= high for low, high in t.exon_regions + t.cds_regions)
        assert t.exon_regions == sorted(t.exon_regions)[::step]
        assert all(any(el <= cl and ch <= eh for el, eh in t.exon_regions) for cl, ch in t.cds_regions)
        genomic = sorted(t.exon_regions)
        for (_, left_end), (right_start, _) in pairwise(genomic):
            intron = chromosome[left_end : right_start - 1]
            if t.strand == "-":
                intron = reverse_complement(intron)
            assert intron[:2] == "GT" and intron[-2:] == "AG"


def test_cds_phases_follow_gff_semantics() -> None:
    assert cds_phases([(1, 8), (20, 32), (40, 45)]) == [0, 1, 0]
    assert cds_phases([(100, 190), (300, 310)]) == [0, 2]


def test_write_genome_writes_an_indexed_fasta_and_skips_when_current(tmp_path: Path, genome: Genome) -> None:
    fasta = write_genome(tmp_path)
    assert fasta == tmp_path / "genome.fa"
    assert load_fasta(fasta) == genome.chromosomes
    lines = fasta.read_text().splitlines()
    assert max(map(len, lines)) == 60

    raw = fasta.read_bytes()
    for row in (tmp_path / "genome.fa.fai").read_text().splitlines():
        name, length, offset, line_bases, line_bytes = row.split("\t")
        assert (int(line_bases), int(line_bytes)) == (60, 61)
        assert int(length) == len(genome.chromosomes[name])
        assert raw[int(offset) : int(offset) + 60].decode() == genome.chromosomes[name][:60]

    manifest = json.loads((tmp_path / "transcripts.json").read_text())
    assert manifest["genome_version"] == GENOME_VERSION
    assert len(manifest["transcripts"]) == len(genome.transcripts)

    stamp = fasta.stat().st_mtime_ns
    assert write_genome(tmp_path) == fasta
    assert fasta.stat().st_mtime_ns == stamp


def test_write_genome_rewrites_files_of_another_version(tmp_path: Path) -> None:
    (tmp_path / "genome.fa").write_text(">old\nACGT\n")
    (tmp_path / "genome.fa.fai").write_text("old\t4\t5\t4\t5\n")
    (tmp_path / "transcripts.json").write_text('{"genome_version": "old"}')
    write_genome(tmp_path)
    assert "old" not in load_fasta(tmp_path / "genome.fa")


def test_parse_fasta_takes_the_first_word_and_rejects_headerless_text() -> None:
    assert parse_fasta(">a desc\nMK\nVL\n\n>b\nW\n") == {"a": "MKVL", "b": "W"}
    with pytest.raises(ValueError):
        parse_fasta("MKVL\n")

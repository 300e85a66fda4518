"""Time PAVI's pipeline on a 500-entry payload: retrieval, then Clustal Omega (run by hand, not a test).

Usage: python bench/align_500.py [entries] [threads]

Measured on the 2-core dev box: 500 sequences (6 families, 511 columns) in 14-20 s with one thread.
Keep threads=1 on a busy machine: with 2 threads under load one run took 144 s (OpenMP oversubscribed).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from local_pavi.alignment import run_clustalo
from local_pavi.genome import build_genome
from local_pavi.payload import generate_payload
from local_pavi.seq_retrieval import format_fasta, retrieve_protein
from pavi_contract.clustal import parse_clustal


def main(entries: int = 500, threads: int = 1) -> None:
    started = time.perf_counter()
    genome = build_genome()
    payload = generate_payload(entries, fasta_file_url="file:///genome.fa", genome=genome)
    sequences = [sequence for entry in payload for sequence in retrieve_protein(genome.chromosomes, entry)]
    prepared = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        clustal = run_clustalo(format_fasta(sequences), Path(workdir), threads=threads)
    aligned = time.perf_counter()
    alignment = parse_clustal(clustal)
    families = len({entry["base_seq_name"].split("-")[0] for entry in payload})
    columns = len(next(iter(alignment.values())))
    print(f"{len(alignment)} sequences from {families} families, {columns} columns")
    print(f"genome + payload + retrieval: {prepared - started:.2f} s")
    print(f"clustalo ({threads} thread): {aligned - prepared:.1f} s")


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:3]))

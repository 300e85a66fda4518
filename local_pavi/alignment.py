"""PAVI pipeline stages 2 and 3: Clustal Omega alignment and `aligned_seq_info.json`.

Clustal Omega refuses to align a single sequence ("nothing to align"), which upstream's pipeline
would fail on; the stand-in instead writes that one-row alignment itself, in Clustal Omega's own
layout, so a one-transcript job still gives the UI something to draw.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_pavi.genome import parse_fasta
from pavi_contract.clustal import parse_clustal as parse_clustal  # re-export for callers not yet moved
from pavi_contract.clustal import residue_count

CLUSTALO = "clustalo"
CLUSTAL_HEADER = "CLUSTAL O(1.2.4) multiple sequence alignment"
INPUT_FILE = "in.fa"
OUTPUT_FILE = "alignment-output.aln"
BLOCK_WIDTH = 60
NAME_PADDING = 6  # clustalo pads names to the longest name + 6
GAP = "-"
# Clustal's residue groups behind the ':' (strong) and '.' (weak) conservation marks. Clustal Omega
# 1.2.4 never counts P towards its STPA group, so that group acts as STA (checked against its output).
STRONG_GROUPS = tuple(map(frozenset, ("STA", "NEQK", "NHQK", "NDEQ", "QHRK", "MILV", "MILF", "HY", "FYW")))
WEAK_GROUPS = tuple(
    map(frozenset, ("CSA", "ATV", "SAG", "STNK", "STA", "SGND", "SNDEQK", "NDEQHK", "NEQHRK", "FVLIM", "HFY"))
)


class AlignmentError(RuntimeError):
    """Clustal Omega failed or timed out; the message carries its stderr."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(f"{message}: {stderr.strip()}" if stderr.strip() else message)
        self.stderr = stderr


def run_clustalo(fasta_text: str, workdir: Path, threads: int = 1, timeout_s: float | None = None) -> str:
    """Align `fasta_text` in `workdir` (in.fa -> alignment-output.aln) and return the Clustal text.

    Raises:
        AlignmentError: no sequences, clustalo missing, failing or slower than `timeout_s`.
    """
    records = sum(line.startswith(">") for line in fasta_text.splitlines())
    if not records:
        raise AlignmentError("no sequences to align")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / INPUT_FILE).write_text(fasta_text)
    output = workdir / OUTPUT_FILE
    if records == 1:
        output.write_text(format_clustal(parse_fasta(fasta_text)))
        return output.read_text()
    command = [
        CLUSTALO,
        "-i",
        INPUT_FILE,
        "--outfmt=clustal",
        "--resno",
        f"--threads={threads}",
        "-o",
        OUTPUT_FILE,
        "--force",
    ]
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise AlignmentError(f"{CLUSTALO} is not installed") from None
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode() if isinstance(expired.stderr, bytes) else expired.stderr or ""
        raise AlignmentError(f"{CLUSTALO} timed out after {timeout_s} s", stderr) from None
    if done.returncode != 0 or not output.exists():
        raise AlignmentError(f"{CLUSTALO} exited with {done.returncode}", done.stderr)
    return output.read_text()


def conservation(column: str) -> str:
    """Clustal's mark for one alignment column: '*' identical, ':' strong, '.' weak group, else ' '.

    A gap belongs to no group, so a column with a gap scores ' ' unless every row has the gap.
    """
    residues = set(column.upper())
    if len(residues) == 1:
        return "*"
    if any(residues <= group for group in STRONG_GROUPS):
        return ":"
    if any(residues <= group for group in WEAK_GROUPS):
        return "."
    return " "


def format_clustal(alignment: Mapping[str, str]) -> str:
    """Clustal text laid out as Clustal Omega 1.2.4 writes it with --resno (names padded to the
    longest + 6, 60 columns per block, a tab and the residue count, then the conservation line)."""
    if not alignment:
        raise AlignmentError("no sequences to align")
    lengths = {len(row) for row in alignment.values()}
    if len(lengths) != 1 or not lengths.pop():
        raise AlignmentError("alignment rows must be non-empty and of equal length")
    width = max(map(len, alignment)) + NAME_PADDING
    length = len(next(iter(alignment.values())))
    marks = "".join(conservation("".join(column)) for column in zip(*alignment.values(), strict=True))
    counts = dict.fromkeys(alignment, 0)
    blocks: list[str] = []
    for begin in range(0, length, BLOCK_WIDTH):
        lines = []
        for name, row in alignment.items():
            chunk = row[begin : begin + BLOCK_WIDTH]
            counts[name] += residue_count(chunk)
            lines.append(f"{name.ljust(width)}{chunk}\t{counts[name]}\n")
        lines.append(" " * width + marks[begin : begin + BLOCK_WIDTH] + "\n")
        blocks.append("".join(lines))
    return f"{CLUSTAL_HEADER}\n\n\n" + "\n".join(blocks)


def _alignment_position(row: str, position: int) -> int:
    """1-based residue position -> 1-based alignment column; one past the end maps past the last residue
    (upstream's rule, for variants that extend a sequence)."""
    columns = [column for column, residue in enumerate(row, start=1) if residue != GAP]
    if 1 <= position <= len(columns):
        return columns[position - 1]
    if position == len(columns) + 1:
        last = columns[-1] if columns else 0
        return last + 1 if len(row) > last else last
    raise ValueError(f"position {position} lies outside a sequence of {len(columns)} residues")


def _sorted_maps(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted_maps(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_maps(item) for item in value]
    return value


def aligned_seq_info(seq_infos: Mapping[str, Mapping[str, Any]], alignment: Mapping[str, str]) -> dict:
    """The content of `aligned_seq_info.json`: every sequence's info, maps sorted by key as upstream
    sorts them; embedded variants of aligned sequences gain `alignment_start_pos`/`alignment_end_pos`.

    Sequences missing from the alignment keep their info (upstream keeps failed retrievals' errors).
    """
    merged = copy.deepcopy(dict(seq_infos))
    for name, row in alignment.items():
        for variant in merged.get(name, {}).get("embedded_variants") or []:
            variant["alignment_start_pos"] = _alignment_position(row, variant["seq_start_pos"])
            variant["alignment_end_pos"] = _alignment_position(row, variant["seq_end_pos"])
    return _sorted_maps(merged)

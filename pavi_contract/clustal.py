"""Clustal text, the alignment format PAVI's result route serves and its web UI (clustal-js) parses."""

from __future__ import annotations

import re

GAP = "-"
_ROW = re.compile(r"(\S+)\s+([A-Za-z*.\-]+)(?:\s+(\d+))?\s*")


def residue_count(chunk: str) -> int:
    """Clustal Omega's --resno counts letters only: neither gaps nor a translated stop '*'."""
    return sum(character.isalpha() for character in chunk)


def parse_clustal(text: str) -> dict[str, str]:
    """Name -> gapped row, in file order, from Clustal text (conservation lines are skipped).

    Raises:
        ValueError: no CLUSTAL header, a malformed row, blocks naming different sequences, a wrong
            residue count, or rows of unequal length.
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("CLUSTAL"):
        raise ValueError("not Clustal text: the first line must start with 'CLUSTAL'")
    rows: dict[str, list[str]] = {}
    block: list[str] = []
    blocks: list[list[str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line[0].isspace():  # blank separators and conservation lines
            if block:
                blocks.append(block)
                block = []
            continue
        match = _ROW.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number} is not a Clustal row: {line!r}")
        name, chunk, count = match.groups()
        if name in block:
            raise ValueError(f"line {number}: {name!r} appears twice in one block")
        block.append(name)
        rows.setdefault(name, []).append(chunk)
        if count is not None and int(count) != sum(map(residue_count, rows[name])):
            raise ValueError(f"line {number}: residue count {count} does not match the row of {name!r}")
    if block:
        blocks.append(block)
    if not rows:
        raise ValueError("Clustal text holds no sequences")
    if any(names != blocks[0] for names in blocks):
        raise ValueError("Clustal blocks do not all list the same sequences in the same order")
    alignment = {name: "".join(chunks) for name, chunks in rows.items()}
    if len({len(row) for row in alignment.values()}) != 1:
        raise ValueError("Clustal rows differ in length")
    return alignment

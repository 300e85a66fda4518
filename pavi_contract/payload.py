"""PAVI job payloads: upstream's `Pipeline_seq_region` schema, payload files, the names a payload asks for.

A payload is a JSON list of seq-region objects. Files are read once and checked by every part that
submits jobs, so a typo fails the command before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

# Upstream's Pipeline_seq_region: every field required except alt_seq_name_suffix.
REQUIRED_FIELDS: dict[str, type] = {
    "unique_entry_id": str,
    "base_seq_name": str,
    "seq_id": str,
    "seq_strand": str,
    "exon_seq_regions": list,
    "cds_seq_regions": list,
    "fasta_file_url": str,
    "variant_ids": list,
}
FIX = "a payload file is a JSON list of PAVI seq-region objects (see docs/CONFIG.md)"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def read_payload_file(path: Path) -> list[dict[str, Any]]:
    """A payload file's entries, checked against upstream's schema.

    Raises:
        ConfigError: the file is missing or unreadable, not JSON, not a non-empty list of objects,
            or an entry lacks a required field or has one of the wrong type.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"payload file {path}: cannot be read ({error.strerror or error})", FIX) from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"payload file {path}: not JSON ({error})", FIX) from None
    if not isinstance(body, list):
        raise ConfigError(f"payload file {path}: the top level is {_kind(body)}, not a list", FIX)
    if not body:
        raise ConfigError(f"payload file {path}: the list holds no entries", FIX)
    for number, entry in enumerate(body, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"payload file {path}: entry {number} is {_kind(entry)}, not an object", FIX)
        for name, kind in REQUIRED_FIELDS.items():
            if name not in entry:
                raise ConfigError(f"payload file {path}: entry {number} lacks required field {name!r}", FIX)
            if not isinstance(entry[name], kind):
                raise ConfigError(
                    f"payload file {path}: entry {number} field {name!r} is {_kind(entry[name])}, "
                    f"not {'a list' if kind is list else 'a string'}",
                    FIX,
                )
    return body


def requested_names(body: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sequence names a payload asks for, as upstream's seq_retrieval names its output.

    One per entry (`base_seq_name`), or two for an entry with variant_ids: `<base>_ref` and
    `<base><alt_seq_name_suffix or "_alt">`.
    """
    names: list[str] = []
    for entry in body:
        base = str(entry["base_seq_name"])
        if entry.get("variant_ids"):
            names += [f"{base}_ref", f"{base}{entry.get('alt_seq_name_suffix') or '_alt'}"]
        else:
            names.append(base)
    return names


def fasta_file_urls(body: Iterable[Mapping[str, Any]]) -> set[str]:
    """The genome FASTA files a payload names (a deployed PAVI downloads each)."""
    return {str(entry.get("fasta_file_url")) for entry in body}

"""What a completed PAVI job's results must hold, as upstream's pipeline shapes them.

Upstream's seq_retrieval may *reject* a sequence and still complete the job: an alternative whose
variant changes the start codon (or a reference it cannot translate) is left out of the alignment,
and its seq-info entry carries an `"error"` (the web UI lists it under failures). So the alignment
holds the requested sequences less the rejected ones, and seq-info holds exactly the aligned and the
rejected. Anything else (a requested sequence gone without an error, a row nobody asked for, seq-info
for a sequence neither aligned nor rejected, an aligned row without seq-info) is a broken result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pavi_contract.payload import requested_names

ERROR_KEY = "error"  # upstream's SeqInfo.error: why a sequence was not retrieved


@dataclass(frozen=True)
class ResultShape:
    """A completed job's results held against its payload; `problems` empty means as PAVI shapes them."""

    requested: list[str]
    aligned: list[str]
    rejected: dict[str, str] = field(default_factory=dict)  # name -> the pipeline's error text
    missing: list[str] = field(default_factory=list)  # requested, not aligned, no error
    unexpected_rows: list[str] = field(default_factory=list)  # aligned, not requested (or twice)
    info_unaligned: list[str] = field(default_factory=list)  # seq-info for neither aligned nor rejected
    info_missing: list[str] = field(default_factory=list)  # aligned, but no seq-info entry

    @property
    def rows_ok(self) -> bool:
        return not self.missing and not self.unexpected_rows

    @property
    def info_ok(self) -> bool:
        return not self.info_unaligned and not self.info_missing


def error_of(info: Any) -> str | None:
    """The entry's rejection reason, if it carries one (a non-empty string under `error`)."""
    if isinstance(info, Mapping) and isinstance(info.get(ERROR_KEY), str) and info[ERROR_KEY].strip():
        return str(info[ERROR_KEY])
    return None


def result_shape(
    body: Iterable[Mapping[str, Any]], rows: Iterable[str], seq_info: Mapping[str, Any] | None
) -> ResultShape:
    """Classify every name of payload, alignment and seq-info (`seq_info` None: not fetched)."""
    requested = requested_names(body)
    aligned = list(rows)
    info = dict(seq_info or {})
    wanted, got = Counter(requested), Counter(aligned)
    absent = [name for name in (wanted - got).elements()]
    rejected = {name: error for name in absent if (error := error_of(info.get(name))) is not None}
    return ResultShape(
        requested=requested,
        aligned=aligned,
        rejected=rejected,
        missing=[name for name in absent if name not in rejected],
        unexpected_rows=list((got - wanted).elements()),
        info_unaligned=sorted(set(info) - set(aligned) - set(rejected)),
        info_missing=sorted(set(aligned) - set(info)) if seq_info is not None else [],
    )

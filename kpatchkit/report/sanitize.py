"""What a published report must never carry: non-finite numbers in JSON, characters XML forbids,
and numbers that are not numbers in a chart.

Review records can come from anywhere (a hand-edited review.json, a run that measured nothing);
the report files are validated by other tools, so the edges clean them here, and say what they
changed instead of failing the whole report.
"""

from __future__ import annotations

import math
import re
from typing import Any

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 accepts (forbidden characters dropped)."""
    return _XML_BAD.sub("", str(value))


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (NaN, Infinity, text, None)."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def finite(obj: Any, path: str = "$", notes: list[str] | None = None, *,
           nul: bool = False) -> tuple[Any, list[str]]:
    """A JSON-ready copy of ``obj`` with NaN/Infinity replaced by null; notes name where.

    ``nul=True`` also drops NUL characters from strings (KCIDB's string patterns forbid them).
    """
    notes = [] if notes is None else notes
    if isinstance(obj, float) and not math.isfinite(obj):
        notes.append(f"{path}: {obj} is not a number JSON can carry; written as null")
        return None, notes
    if nul and isinstance(obj, str) and "\0" in obj:
        return obj.replace("\0", ""), notes
    if isinstance(obj, dict):
        return {(k.replace("\0", "") if nul else k): finite(v, f"{path}.{k}", notes, nul=nul)[0]
                for k, v in obj.items()}, notes
    if isinstance(obj, (list, tuple)):
        return [finite(v, f"{path}[{i}]", notes, nul=nul)[0] for i, v in enumerate(obj)], notes
    return obj, notes

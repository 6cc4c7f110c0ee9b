"""A kernel tree's version, from its top Makefile."""

from __future__ import annotations

import re

_FIELD = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)", re.M)


def makefile_version(text: str) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from a top Makefile's text (the fields it sets)."""
    vals = dict(_FIELD.findall(text))
    return ".".join(v for v in (vals.get("VERSION"), vals.get("PATCHLEVEL"),
                                vals.get("SUBLEVEL")) if v)


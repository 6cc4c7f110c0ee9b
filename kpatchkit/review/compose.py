"""The fetch -> apply chain that commands other than ``review`` need (``analyze --patch``,
``run --series``): one helper, so they apply a series exactly as a review does."""

from __future__ import annotations

from pathlib import Path

from kpatchkit.apply import apply_series
from kpatchkit.fetch import load_series
from kpatchkit.records.applied import Applied
from kpatchkit.records.tree import TreeInfo


def fetch_and_apply(source: str, tree: TreeInfo, *, msgid: str | None = None,
                    compile: bool = False) -> Applied:
    """Read SOURCE (anything ``fetch`` reads) and apply it to ``tree`` (cached like apply)."""
    series = load_series(source, msgid=msgid, tree_path=Path(tree.path))
    return apply_series(series, tree, compile=compile)

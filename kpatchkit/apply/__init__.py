"""kpatchkit.apply: apply (and port) a series to a kernel tree.

Public API: ``apply_series(series, tree, *, prereqs=(), compile=True) -> Applied``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpatchkit.records.applied import Applied
    from kpatchkit.records.series import Series
    from kpatchkit.records.tree import TreeInfo

__all__ = ["apply_series"]


def apply_series(series: Series, tree: TreeInfo, *, prereqs: list[Series] = (),
                 compile: bool = True) -> Applied:
    """Apply ``series`` to ``tree``; see ``kpatchkit.apply.engine.apply_series``."""
    from kpatchkit.apply.engine import apply_series as _apply

    return _apply(series, tree, prereqs=prereqs, compile=compile)

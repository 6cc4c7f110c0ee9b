"""kpatchkit.gentests: render COW-write KVM selftests for a tree's selftest library.

Library API (used by the run and review stages)::

    render_scenarios(tree: TreeInfo, out_dir: Path, scenarios: list[str] | None = None)
        -> list[GeneratedTest]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep `import kpatchkit.gentests` cheap (Jinja2 loads on first use)
    from pathlib import Path

    from kpatchkit.records.gentests import GeneratedTest
    from kpatchkit.records.tree import TreeInfo


def render_scenarios(tree: TreeInfo, out_dir: Path,
                     scenarios: list[str] | None = None) -> list[GeneratedTest]:
    """Render the scenarios (all by default) for ``tree``; see ``render.render_scenarios``."""
    from kpatchkit.gentests.render import render_scenarios as _render

    return _render(tree, out_dir, scenarios)


__all__ = ["render_scenarios"]

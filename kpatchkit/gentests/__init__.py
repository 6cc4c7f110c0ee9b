"""kpatchkit.gentests: render COW-write KVM selftests for a tree's selftest library.

Library API (used by the run and review stages)::

    render_scenarios(tree: TreeInfo, out_dir: Path, scenarios: list[str] | None = None)
        -> list[GeneratedTest]
    write_upstream_patch(tree: TreeInfo, tests: list[GeneratedTest | dict], dest: Path) -> Path
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


def write_upstream_patch(tree: TreeInfo, tests: list, dest: Path) -> Path:
    """Write rendered ``tests`` (records or their JSON) as a patch to ``tree``'s selftests."""
    from pathlib import Path

    from kpatchkit.gentests.probe import probe_tree
    from kpatchkit.gentests.upstream import upstream_patch
    from kpatchkit.records.gentests import GeneratedTest

    records = [t if isinstance(t, GeneratedTest) else GeneratedTest.from_json(t) for t in tests]
    headers = {Path(h) for t in records for h in t.headers}
    if len(headers) != 1:
        raise ValueError(f"the tests must share one helper header, not {sorted(headers)}")
    dest.write_text(upstream_patch(Path(tree.path), probe_tree(Path(tree.path)), records,
                                   headers.pop()))
    return dest


__all__ = ["render_scenarios", "write_upstream_patch"]

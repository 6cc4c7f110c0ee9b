"""Build glue: compile rendered tests as static binaries inside the tree's selftest build.

The shared service ``kpatchkit.kernel.selftests.build_selftests`` does the work (the tree's own
Makefile, CFLAGS and libkvm objects, after ``make headers_install``, cached by tree and source
contents); this module only maps ``GeneratedTest`` records onto it.
"""

from __future__ import annotations

from pathlib import Path

from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.tree import TreeInfo


def build_tests(tree: TreeInfo, tests: list[GeneratedTest],
                commit: str | None = None) -> dict[str, Path]:
    """Compile ``tests`` against ``tree``'s selftest library (at ``commit``, default its head).

    Returns {test name: static binary}. Raises ``KpatchkitError`` with the compiler's message
    when a test does not build.
    """
    from kpatchkit.kernel.selftests import build_selftests

    extra = {t.name: Path(t.c_path) for t in tests}
    return build_selftests(Path(tree.path), commit or tree.head, tests=[], extra_sources=extra)

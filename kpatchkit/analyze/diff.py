"""Differential mode: label findings new/fixed/unchanged and list the calls a patch adds."""

from __future__ import annotations

import difflib
from collections import defaultdict

from kpatchkit.analyze.checks import strip_lines
from kpatchkit.records.findings import CallContext, FileAnalysis, Finding


def _key(f: Finding) -> tuple[str, str, str]:
    # As smatch's new_bugs.pl: same check, same function, same message without line numbers.
    return (f.check, f.function, strip_lines(f.message))


def label_findings(base: FileAnalysis, head: FileAnalysis) -> list[Finding]:
    """Head findings labelled new/unchanged plus base-only ones labelled fixed."""
    pool: dict[tuple, list[Finding]] = defaultdict(list)
    for f in base.findings:
        pool[_key(f)].append(f)
    out: list[Finding] = []
    for f in head.findings:
        same = pool.get(_key(f))
        g = Finding.from_json(f.to_json())
        if same:
            same.pop(0)
            g.status = "unchanged"
        else:
            g.status = "new"
        out.append(g)
    for rest in pool.values():
        for f in rest:
            g = Finding.from_json(f.to_json())
            g.status = "fixed"
            out.append(g)
    order = {"new": 0, "fixed": 1, "unchanged": 2}
    out.sort(key=lambda f: (order[f.status], f.file, f.line))
    return out


def added_lines(base_src: str, head_src: str) -> set[int]:
    """1-based head line numbers inserted or replaced by the change."""
    a = base_src.splitlines()
    b = head_src.splitlines()
    lines: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            lines.update(range(j1 + 1, j2 + 1))
    return lines


def added_calls(head: FileAnalysis, base_src: str, head_src: str) -> list[CallContext]:
    """Calls (and returns) on lines the patch added, with the context they run in."""
    added = added_lines(base_src, head_src)
    internal = {"__kpk_iter_cond", "__kpk_iter_next", "__kpk_asm"}
    out = [c for c in head.calls if c.line in added and c.call not in internal]
    out.sort(key=lambda c: (c.line, c.call))
    return out

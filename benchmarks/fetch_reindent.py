#!/usr/bin/env python3
"""How well fetch's re-indenter restores collapsed kernel C, against a naive baseline.

Usage: benchmarks/fetch_reindent.py TREE_DIR [SUBDIR ...]
(default subdirs: arch/x86/kvm/mmu virt/kvm). Every line of every .c file is stripped of its
indentation, then re-indented (a) by kpatchkit.fetch.cindent and (b) by brace depth alone; the
script prints the byte-identical share of each and their ratio, plus lines per second.
Whole files are harder than hunks: nothing re-synchronises the state along the way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kpatchkit.fetch.cindent import CIndenter


def naive(lines: list[str]) -> list[str]:
    depth, out = 0, []
    for line in lines:
        s = line.strip()
        level = depth - 1 if s.startswith("}") else depth
        out.append("\t" * max(level, 0) + s if s else "")
        depth = max(depth + s.count("{") - s.count("}"), 0)
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    tree = Path(argv[0])
    subdirs = argv[1:] or ["arch/x86/kvm/mmu", "virt/kvm"]
    files = sorted(f for d in subdirs for f in (tree / d).glob("*.c"))
    total = ours = base = 0
    t0 = time.perf_counter()
    for f in files:
        lines = f.read_text(errors="replace").split("\n")
        ind = CIndenter(0)
        got = [ind.feed(x) for x in lines]
        ours += sum(a == b.rstrip() for a, b in zip(got, lines, strict=True))
        total += len(lines)
    elapsed = time.perf_counter() - t0
    for f in files:
        lines = f.read_text(errors="replace").split("\n")
        base += sum(a == b.rstrip() for a, b in zip(naive(lines), lines, strict=True))
    print(f"files: {len(files)}, lines: {total}")
    print(f"cindent byte-identical: {ours / total:.4f}")
    print(f"brace-depth baseline:   {base / total:.4f}")
    print(f"ratio cindent/baseline: {ours / max(base, 1):.3f}")
    print(f"speed: {total / elapsed:.0f} lines/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

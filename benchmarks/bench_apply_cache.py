#!/usr/bin/env python3
"""Benchmark: a cold ``apply`` of the reference series to Debian's 6.1 vs the same apply again.

Cold = this series' apply cache entry (worktree, branch, applied.json) removed first; the tree
itself (``tree add``) and kbuild's object cache stay, as on any machine that applied something
before. Prints both times and the ratio warm/cold (target: warm takes seconds, ratio < 0.1).
Also times ``tree add`` of an already-added tarball (target: < 1 s).

The cold apply makes a fresh 75k-file worktree unless the tree already has
$KPATCHKIT_APPLY_WORKTREES (default 3) apply worktrees, in which case the least recently used one
is recycled (measured on 2 loaded cores: fresh 26-36 s, recycled 4 s).

    python3 benchmarks/bench_apply_cache.py [--no-compile]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kpatchkit.apply import am, engine, store  # noqa: E402
from kpatchkit.apply.base import resolve_base  # noqa: E402
from kpatchkit.fetch import load_series  # noqa: E402
from kpatchkit.trees import sources  # noqa: E402

SERIES = ROOT.parent / "shared" / "fixtures" / "lore" / "series.mbox"
TARBALL = "/usr/src/linux-source-6.1.tar.xz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    t0 = time.monotonic()
    tree = sources.materialise(TARBALL, "deb61")
    readd = time.monotonic() - t0
    series = load_series(str(SERIES), tree_path=tree.path)
    base = resolve_base(tree, series, series.patches)
    entry = store.entry(engine._series_key(tree, base.commit, series.patches))
    if (entry / "applied.json").exists():
        import json

        old = json.loads((entry / "applied.json").read_text())
        am.remove_worktree(tree.path, Path(old["worktree"]), old["branch"])
    shutil.rmtree(entry, ignore_errors=True)

    t0 = time.monotonic()
    cold = engine.apply_series(series, tree, compile=not args.no_compile)
    cold_s = time.monotonic() - t0
    t0 = time.monotonic()
    warm = engine.apply_series(series, tree, compile=not args.no_compile)
    warm_s = time.monotonic() - t0
    assert warm.cached and warm.patched_commit == cold.patched_commit
    print(f"tree add (already added): {readd:.2f} s")
    print(f"apply cold: {cold_s:.1f} s ({cold.result}, compile "
          f"{cold.compile.status if cold.compile else '-'})")
    print(f"apply warm: {warm_s:.2f} s (cached={warm.cached})")
    print(f"ratio warm/cold: {warm_s / cold_s:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

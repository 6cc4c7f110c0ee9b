#!/usr/bin/env python3
"""Benchmark: ``kpatchkit analyze`` on base + patched tdp_mmu.c vs ``sparse`` on the same two.

Both are run in this script on Debian's 6.1 (kernel_src/deb61, any point release) and its
hand port of the series (made here from ../shared/fixtures/lore, in a temporary shared
clone). sparse gets the tree's own compile flags (kbuild's command after make prepare, as
``make C=1`` would run it).
Prints the times and the ratio analyze/sparse; the target is <= 1/3.

    python3 benchmarks/bench_analyze.py [--repeat N] [--real]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "analyze"))

from analyze_helpers import TDP, deb61_repo, ported_repo  # noqa: E402

from kpatchkit.analyze import analyze_diff, analyze_file  # noqa: E402
from kpatchkit.analyze.source import SourceView  # noqa: E402
from kpatchkit.cache import cache_dir  # noqa: E402

# kbuild's CHECKFLAGS for x86-64 (Makefile: CHECKFLAGS + arch/x86/Makefile).
CHECKFLAGS = ["-D__linux__", "-Dlinux", "-D__STDC__", "-Dunix", "-D__unix__", "-Wbitwise",
              "-Wno-return-void", "-Wno-unknown-attribute", "-D__x86_64__", "--arch=x86_64",
              "-mlittle-endian", "-m64"]


def sparse_argv(argv: list[str], src: str, iquote: str) -> list[str]:
    """kbuild's gcc argv turned into the sparse run ``make C=1`` does, on ``src``."""
    out = ["sparse", *CHECKFLAGS, "-iquote", iquote]
    skip = False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a in ("-c",) or a.startswith("-Wp,-MMD") or a.endswith(TDP):
            continue
        out.append(a)
    return out + [src]


def time_sparse(repo: Path, revs: list[str], repeat: int) -> tuple[float, list[str]]:
    from kpatchkit.kernel import kbuild

    # The flags (and generated headers) of deb61's prepared build; the two versions' own
    # arch/x86/kvm/mmu files come first via -iquote.
    build = kbuild.prepared_build(deb61_repo(), revs[0])
    argv = kbuild.object_command(build, TDP[:-2] + ".o")
    runs = []
    warnings: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        srcs = []
        for i, rev in enumerate(revs):
            d = Path(tmp) / str(i)
            d.mkdir()
            view = SourceView(repo, rev)
            for name in subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", rev,
                                        "arch/x86/kvm/mmu/"], capture_output=True,
                                       text=True).stdout.split():
                if name.endswith((".c", ".h")):
                    (d / Path(name).name).write_text(view.read(name) or "")
            srcs.append((str(d / "tdp_mmu.c"), str(d)))
        for _ in range(repeat):
            t0 = time.perf_counter()
            for src, iq in srcs:
                proc = subprocess.run(sparse_argv(argv, src, iq), cwd=build.obj,
                                      capture_output=True, text=True)
                warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln] \
                    if src == srcs[0][0] else warnings
            runs.append(time.perf_counter() - t0)
    return statistics.median(runs), warnings


def time_analyze(repo: Path, revs: list[str], mode: str, repeat: int) -> float:
    """analyze_diff(base, head): both versions, labelling and the added-call table."""
    analyze_diff(repo, revs[0], revs[1], [TDP], mode)  # warm the parse cache
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        diff = analyze_diff(repo, revs[0], revs[1], [TDP], mode)
        runs.append(time.perf_counter() - t0)
        assert not diff.new and diff.added_calls
    return statistics.median(runs)


def time_cold(repo: Path, revs: list[str], repeat: int) -> float:
    """Both versions without the parse cache (front end included)."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for rev in revs:
            analyze_file(repo, TDP, rev, mode="fast", use_cache=False)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--real", action="store_true", help="also time real-header mode")
    args = ap.parse_args()
    if True:  # the clone lives in the cache so real mode's prepared build is reused
        ported = ported_repo(cache_dir("bench") / "ported-deb61")
        revs = [ported.base, ported.head]
        sparse_s, warns = time_sparse(ported.path, revs, args.repeat)
        fast_warm = time_analyze(ported.path, revs, "fast", args.repeat)
        fast_cold = time_cold(ported.path, revs, max(1, args.repeat // 2))
        print(f"sparse (base + patched):              {sparse_s:7.3f} s  "
              f"({len(warns)} warnings on base, e.g. {warns[:1]})")
        print(f"analyze fast, warm (base + patched):  {fast_warm:7.3f} s  "
              f"ratio {fast_warm / sparse_s:.3f}")
        print(f"analyze fast, no cache:               {fast_cold:7.3f} s  "
              f"ratio {fast_cold / sparse_s:.3f}")
        if args.real:
            real_warm = time_analyze(ported.path, revs, "real", args.repeat)
            print(f"analyze real, warm (base + patched):  {real_warm:7.3f} s  "
                  f"ratio {real_warm / sparse_s:.3f}")
        ratio = fast_warm / sparse_s
        print(f"RATIO analyze/sparse = {ratio:.3f} (target <= 0.333): "
              f"{'OK' if ratio <= 1 / 3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

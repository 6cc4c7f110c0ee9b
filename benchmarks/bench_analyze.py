#!/usr/bin/env python3
"""Benchmark: ``kpatchkit analyze`` on base + patched tdp_mmu.c vs ``sparse`` on the same two.

Both are run in this script on Debian's 6.1 (kernel_src/deb61, any point release) and its
hand port of the series (made here from ../shared/fixtures/lore, in a temporary shared
clone). sparse gets the tree's own compile flags (kbuild's command after make prepare, as
``make C=1`` would run it).
Prints the times and the ratio analyze/sparse; the target is <= 1/3.
``--corpus`` runs both on every entry of tests/analyze/data/real_bugs.toml (real KVM bugs
re-introduced into the tree, comment-stated classes, correct refactors) and prints bugs found,
false alarms and time side by side: a bug counts for sparse when the edited file gets a
warning the unchanged file does not have, for kpatchkit when the expected check is reported in
the expected function; any new warning/finding on a refactor is a false alarm. Both first see
the unchanged file (untimed: sparse's reference warnings; kpatchkit's base analysis, which
fills its per-function results, as a review analyses the base first). kpatchkit runs
findings-only (contexts=False, the added-call table is not built; the findings are the same).
"cold": no parse cache, no per-function results; "warm" (the timed figure): the parse cache
holds the version and the per-function results hold only the unchanged file's, so the edited
function and the callers whose callee summaries changed are analysed again. Every warm result
is checked against the cold one.

    python3 benchmarks/bench_analyze.py [--repeat N] [--real] [--corpus]
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

from analyze_helpers import TDP, corpus, deb61_repo, ported_repo  # noqa: E402

from kpatchkit.analyze import analyze_diff, analyze_file, engine  # noqa: E402
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
        if a in ("-c",) or a.startswith("-Wp,-MMD") or a.endswith(".c"):
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


def _sparse_warnings(argv: list[str], obj_dir: Path, files: dict[str, str], target: str,
                     base: Path) -> tuple[set[str], float]:
    """sparse on ``target`` with ``files`` (name -> text) overriding the tree's mmu/ files."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name in base.iterdir():
            (d / name.name).write_bytes(name.read_bytes())
        for name, text in files.items():
            (d / Path(name).name).write_text(text)
        t0 = time.perf_counter()
        proc = subprocess.run(sparse_argv(argv, str(d / Path(target).name), str(d)),
                              cwd=obj_dir, capture_output=True, text=True)
        took = time.perf_counter() - t0
    # Line numbers move with the edit: compare warnings by their text only.
    return ({ln.split(": ", 2)[-1] for ln in proc.stderr.splitlines() if "warning" in ln
             or "error" in ln}, took)


def run_corpus() -> int:
    """kpatchkit vs sparse on the real-bug corpus (same edited versions for both)."""
    from kpatchkit.analyze.api import source_of
    from kpatchkit.kernel import kbuild

    repo = deb61_repo()
    bugs, refactors = corpus()
    build = kbuild.prepared_build(repo, "HEAD")
    argvs = {f: kbuild.object_command(build, f[:-2] + ".o")
             for f in {e.file for e in bugs + refactors}}
    rows = []
    cold: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "mmu"
        base.mkdir()
        view = SourceView(repo, "HEAD")
        for name in subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", "HEAD",
                                    "arch/x86/kvm/mmu/"], capture_output=True,
                                   text=True).stdout.split():
            if name.endswith((".c", ".h")):
                (base / Path(name).name).write_text(view.read(name) or "")
        clean = {f: _sparse_warnings(argvs[f], build.obj, {}, f, base)[0] for f in argvs}
        engine.memo_restore(None)
        for f in argvs:  # the base side: per-function results of the unchanged files
            analyze_file(repo, f, "HEAD", contexts=False)
        base_results = engine.memo_snapshot()
        for entry in bugs + refactors:
            text, line = entry.apply(source_of(repo, entry.file, "HEAD"))
            warns, sp_t = _sparse_warnings(argvs[entry.file], build.obj, {entry.file: text},
                                           entry.file, base)
            engine.memo_restore(None)
            t0 = time.perf_counter()
            ref = analyze_file(repo, entry.file, "HEAD", overlay={entry.file: text},
                               use_cache=False, contexts=False)
            cold.append(time.perf_counter() - t0)
            analyze_file(repo, entry.file, "HEAD", overlay={entry.file: text},
                         contexts=False)  # the parse cache now holds this version
            engine.memo_restore(base_results)
            t0 = time.perf_counter()
            res = analyze_file(repo, entry.file, "HEAD", overlay={entry.file: text},
                               contexts=False)
            kp_t = time.perf_counter() - t0
            assert [(f.check, f.function, f.line, f.message) for f in res.findings] == \
                [(f.check, f.function, f.line, f.message) for f in ref.findings], entry.name
            new_sp = warns - clean[entry.file]
            hit = any((f.check, f.function) == (entry.check, entry.function)
                      for f in res.findings) if entry.check else False
            rows.append((entry, bool(new_sp), hit, len(res.findings), sp_t, kp_t,
                         sorted(new_sp)[:1]))
    print(f"{'entry':44} {'kind':8} {'sparse':8} {'kpatchkit':24} ")
    for e, sp, hit, nf, sp_t, kp_t, example in rows:
        kind = "bug" if e.check else "refactor"
        if e.check:
            sp_s = "found" if sp else "missed"
            kp_s = f"found ({e.check})" if hit else "missed"
        else:
            sp_s = "FALSE" if sp else "silent"
            kp_s = "FALSE" if nf else "silent"
        print(f"{e.name:44} {kind:8} {sp_s:8} {kp_s:24} sparse {sp_t:5.2f}s  kpk {kp_t:5.2f}s"
              f"  {example[0][:70] if example else ''}")
    nb = sum(1 for r in rows if r[0].check)
    sp_found = sum(1 for r in rows if r[0].check and r[1])
    kp_found = sum(1 for r in rows if r[0].check and r[2])
    sp_fa = sum(1 for r in rows if not r[0].check and r[1])
    kp_fa = sum(1 for r in rows if not r[0].check and r[3])
    sp_total = sum(r[4] for r in rows)
    kp_total = sum(r[5] for r in rows)
    both = all(r[2] for r in rows if r[0].check and r[1])
    print(f"SCORE sparse:    {sp_found}/{nb} bugs, {sp_fa} false alarm(s), {sp_total:.1f} s")
    print(f"SCORE kpatchkit: {kp_found}/{nb} bugs, {kp_fa} false alarm(s), {kp_total:.1f} s "
          f"warm (ratio {kp_total / sp_total:.3f}); {sum(cold):.1f} s cold "
          f"(ratio {sum(cold) / sp_total:.3f}); every "
          f"sparse-found bug also found: {both}")
    ok = both and kp_fa < max(sp_fa, 1) and kp_total <= sp_total / 3
    print(f"CORPUS {'OK' if ok else 'MISSED'}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--real", action="store_true", help="also time real-header mode")
    ap.add_argument("--corpus", action="store_true",
                    help="kpatchkit vs sparse on the real-bug corpus")
    args = ap.parse_args()
    if args.corpus:
        return run_corpus()
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

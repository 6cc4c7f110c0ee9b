#!/usr/bin/env python3
"""Cost per patch: the README's review, cold and warm, then a second real series on the warm tree.

On one machine in one run (each review a fresh ``python -m kpatchkit review`` process):

1. cold:  the README's main command on an empty cache: ``tree add`` from Debian's tarball and
          the review of the reference series (``$KPATCHKIT_CACHE`` and
          ``$KPATCHKIT_KERNEL_SRC`` are new folders under --out; both times are printed);
2. warm:  the same series again (every stage stored: the 1 s case);
3. next:  a second real series on the warm tree (default
          ../shared/fixtures/kvm-mmu-mails/02-applies-reused-pages-lru.eml, which applies to
          6.1.192): the base kernel's results come from the run results cache, the patched
          kernel is built (about 12 s) and its tests run in one guest per core;
4. check: the same second series with no reuse at all (``--no-cache``, ``KPATCHKIT_RUN_REUSE=0``)
          to show the same verdict and the same per-test results (leave out with --no-check).

Prints each time, the ratio next/cold, whether "next" is under the 2 minute target, and
whether next and check agree.

    python3 benchmarks/bench_review_next_patch.py [--tree deb61] [--cache DIR | --warm-cache]
        [--series MBOX] [--next EML] [--out DIR] [--no-check] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "fixtures"
TARGET_SECONDS = 120.0


def review(source: Path, tree: str, out: Path, env: dict[str, str], *extra: str
           ) -> tuple[float, dict]:
    """Run one review; return (wall seconds, review.json)."""
    cmd = [sys.executable, "-m", "kpatchkit", "review", str(source), "--tree", tree,
           "-o", str(out), *extra]
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    start, load = time.monotonic(), os.getloadavg()[0]
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    data = json.loads((out / "review.json").read_text()) if (out / "review.json").is_file() \
        else {}
    # The machines are shared: the load says how much of the 2 cores this review had.
    print(f"  exit {proc.returncode}, {seconds:.1f}s; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after", file=sys.stderr, flush=True)
    return seconds, data


def per_test(data: dict) -> list[tuple[str, str, str]]:
    """(kernel, test, result) for every test the run stage reported."""
    return [(r.get("kernel"), r.get("test"), r.get("result"))
            for r in (data.get("run") or {}).get("results") or []]


def reused(data: dict) -> dict[str, dict | None]:
    """kernel name -> reused_from."""
    return {k.get("name"): k.get("reused_from")
            for k in (data.get("run") or {}).get("kernels") or []}


def built(data: dict) -> dict[str, bool | None]:
    """kernel name -> whether its image came from the build cache (True) or was built."""
    return {k.get("name"): k.get("build_cached")
            for k in (data.get("run") or {}).get("kernels") or []}


def verdict(data: dict) -> tuple[str, int]:
    v = data.get("verdict") or {}
    return v.get("status", "?"), v.get("exit_code", -1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", default="deb61")
    ap.add_argument("--series", type=Path, default=SHARED / "lore" / "series.mbox")
    ap.add_argument("--next", type=Path,
                    default=SHARED / "kvm-mmu-mails" / "02-applies-reused-pages-lru.eml")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--cache", type=Path, help="cache folder for the cold review (must be "
                                                  "empty or absent; default: a new temp folder)")
    group.add_argument("--warm-cache", action="store_true",
                       help="use the existing cache: no cold review (its line says so)")
    ap.add_argument("--tarball", type=Path, default=Path("/usr/src/linux-source-6.1.tar.xz"),
                    help="the tree's source for the cold 'tree add'")
    ap.add_argument("--out", type=Path, help="where the four run folders go (default: temp)")
    ap.add_argument("--no-check", action="store_true", help="skip the no-reuse comparison")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-next-patch-"))
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if not args.warm_cache:
        cache = args.cache or out / "cache"
        if cache.exists() and any(cache.iterdir()):
            ap.error(f"{cache} is not empty: a cold review needs an empty cache")
        # Fully cold, like the README's main command on a fresh machine: the tree too, in a
        # kernel_src/ of its own (kernel_src/NAME points into the cache; apply's branches live
        # in the tree's repository, so a shared tree would mix two caches' branches).
        env["KPATCHKIT_CACHE"] = str(cache)
        env["KPATCHKIT_KERNEL_SRC"] = str(out / "kernel_src")
    env.pop("KPATCHKIT_RUN_REUSE", None)
    cores = env.get("KPATCHKIT_JOBS") or str(os.cpu_count())
    print(f"{cores} cores; load average {os.getloadavg()[0]:.1f}; out {out}", file=sys.stderr)

    times: dict[str, float] = {}
    if not args.warm_cache:
        cmd = [sys.executable, "-m", "kpatchkit", "tree", "add", args.tree, "--from",
               str(args.tarball)]
        print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
        start = time.monotonic()
        subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)
        times["tree_add"] = time.monotonic() - start
    times["cold_review"], cold = review(args.series, args.tree, out / "cold", env)
    times["cold"] = times.get("tree_add", 0.0) + times["cold_review"]
    times["warm"], warm = review(args.series, args.tree, out / "warm", env)
    times["next"], nxt = review(args.next, args.tree, out / "next", env)
    check = None
    if not args.no_check:
        times["check"], check = review(args.next, args.tree, out / "check",
                                       {**env, "KPATCHKIT_RUN_REUSE": "0"}, "--no-cache")

    cold_label = "cold (warm cache given)" if args.warm_cache else "cold (tree add + review)"
    print(f"{cold_label:24s} {times['cold']:8.1f}s  verdict {verdict(cold)}"
          + (f"; tree add {times['tree_add']:.1f}s, review {times['cold_review']:.1f}s"
             if "tree_add" in times else ""))
    print(f"{'warm re-review':24s} {times['warm']:8.1f}s  ratio to cold "
          f"{times['warm'] / times['cold']:.4f}")
    base_src = reused(nxt).get("base")
    print(f"{'next series, warm tree':24s} {times['next']:8.1f}s  ratio to cold "
          f"{times['next'] / times['cold']:.3f}  "
          f"{'under' if times['next'] < TARGET_SECONDS else 'OVER'} {TARGET_SECONDS:.0f}s; "
          f"verdict {verdict(nxt)}; base "
          + (f"reused from run {base_src['run']} ({base_src['date']})" if base_src
             else "run again")
          # A "next" whose patched image was already built measures less than a new series.
          + f"; patched kernel {'from the build cache' if built(nxt).get('patched') else 'built'}")
    for s in nxt.get("stages") or []:
        print(f"    {s.get('name'):10s} {s.get('status'):8s} {s.get('seconds', 0):7.1f}s")
    same = None
    if check is not None:
        same = verdict(check) == verdict(nxt) and per_test(check) == per_test(nxt)
        print(f"{'next without reuse':24s} {times['check']:8.1f}s  verdict {verdict(check)}; "
              f"same verdict and per-test results as with reuse: {same}")
        if not same:
            diff = [(a, b) for a, b in zip(per_test(nxt), per_test(check), strict=False)
                    if a != b]
            print(f"    differences (reuse, no reuse): {diff[:10]}")
    if args.json:
        args.json.write_text(json.dumps({"seconds": times, "cores": cores,
                                         "ratio_next_cold": times["next"] / times["cold"],
                                         "base_reused_from": base_src, "same": same,
                                         "verdicts": {"cold": verdict(cold),
                                                      "next": verdict(nxt),
                                                      "check": verdict(check or {})}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

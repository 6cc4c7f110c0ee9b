#!/usr/bin/env python3
"""Scale the boot family toward the commit message's configuration (8 vCPUs, 16 GB).

Steps up vCPUs, L2 memory and the data the L2 guest reads through swiotlb, one step at a time,
on the base and the patched kernel, and stops at the first step the machine cannot do, saying
why (not enough free memory for the test VM, a step that exceeded its time budget, the outer
QEMU crashing). Prints per step: faults saved per boot (mean ± combined standard error), the
base's retried faults, the ratio saved/claimed and saved/retried, and seconds per L2 boot.

    python3 benchmarks/bench_boot_full.py --tree deb61 --series ../shared/fixtures/lore/series.mbox
        [--steps 1x512:16,2x1024:32,4x2048:64,8x2048:64,8x4096:64,8x16384:64]
        [--firmware seabios,ovmf] [--repeats 3] [--budget 5400] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kpatchkit.claims.boot import BootConfig, run_boot_family  # noqa: E402
from kpatchkit.claims.claims import load_claims  # noqa: E402
from kpatchkit.claims.l2kernel import build_l2_kernel  # noqa: E402

# The test-VM kernels of 'kpatchkit run' without --debug (lockdep slows nested boots a lot).
FRAGMENTS = ["kvm-base", "vendor-amd", "selftests"]
CLAIMED = {c["firmware"]: c["claimed"] for c in load_claims()["claim"]
           if c["id"].endswith("-boot")}


def mem_available_mb() -> int:
    """MemAvailable of this machine in MB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def kernels(tree_spec: str, series_path: str | None) -> tuple[Path, str, dict[str, Path]]:
    """Base and patched test-VM images (kbuild, cached), and the tree repo/commit."""
    from kpatchkit.kernel.kbuild import build_image
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree(tree_spec)
    out = {"base": build_image(tree.path, tree.head, FRAGMENTS).path}
    if series_path:
        from kpatchkit.apply import apply_series
        from kpatchkit.fetch import load_series

        applied = apply_series(load_series(series_path, tree_path=tree.path), tree,
                               compile=False)
        if not applied.patched_commit:
            raise SystemExit(f"the series did not apply to {tree_spec}")
        out["patched"] = build_image(tree.path, applied.patched_commit, FRAGMENTS).path
    return tree.path, tree.head, out


def parse_steps(text: str) -> list[tuple[int, int, int]]:
    """``VCPUSxMEM_MB:DATA_MB,...`` -> [(vcpus, mem_mb, data_mb)]."""
    steps = []
    for item in text.split(","):
        size, _, data = item.partition(":")
        vcpus, _, mem = size.partition("x")
        steps.append((int(vcpus), int(mem), int(data or 16)))
    return steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", default="deb61")
    ap.add_argument("--series", default=str(REPO.parent / "shared/fixtures/lore/series.mbox"))
    ap.add_argument("--steps", default="1x512:16,2x1024:32,4x2048:64,8x2048:64,8x4096:64,"
                    "8x16384:64")
    ap.add_argument("--firmware", default="seabios,ovmf")
    ap.add_argument("--thp", default="never,always")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=int, default=5400, help="stop starting steps after this")
    ap.add_argument("--json", help="write all step results here")
    args = ap.parse_args()

    repo, commit, kimages = kernels(args.tree, args.series)
    l2 = build_l2_kernel(repo, commit).path
    t_start = time.monotonic()
    rows, stopped = [], "all steps done"
    for vcpus, mem, data in parse_steps(args.steps):
        cfg = BootConfig(firmwares=tuple(args.firmware.split(",")),
                         thp=tuple(args.thp.split(",")), vcpus=vcpus, mem_mb=mem,
                         repeats=args.repeats, data_mb=data, l1_smp=min(2, vcpus),
                         diskless_repeats=1)
        need = cfg.l1_memory() + 512  # QEMU's own TCG buffers on the host
        if mem_available_mb() < need:
            stopped = (f"stopped before {vcpus}x{mem}MB: the test VM needs ~{need} MB, the "
                       f"machine has {mem_available_mb()} MB available")
            break
        elapsed = time.monotonic() - t_start
        if elapsed > args.budget:
            stopped = f"stopped before {vcpus}x{mem}MB: time budget {args.budget}s used up"
            break
        print(f"== step {vcpus} vCPU, {mem} MB, {data} MB read", file=sys.stderr, flush=True)
        res = run_boot_family(kimages, l2, cfg)
        step = {"vcpus": vcpus, "mem_mb": mem, "data_mb": data, "seconds": res.seconds,
                "comparisons": [c.to_json() for c in res.comparisons],
                "infra": [e.to_json() for e in res.infra],
                "claims": [v.to_json() for v in res.claims]}
        rows.append(step)
        for c in res.comparisons:
            d, r = c.faults_saved_per_boot, c.base_retried
            if d is None:
                print(f"{vcpus}x{mem}MB {c.firmware:8} THP {c.thp:6} {c.guest:12} no data "
                      f"({c.failed} failed)")
                continue
            claimed = CLAIMED.get(c.firmware)
            ratio = f"{d.mean / claimed:.3f}" if claimed and c.guest != "diskless" else "-"
            per = f"{d.mean / r.mean:.2f}" if r and r.mean else "-"
            boot_s = [s.seconds for s in res.samples if s.firmware == c.firmware
                      and s.thp == c.thp and s.guest == c.guest and s.status == "ok"]
            print(f"{vcpus}x{mem}MB {c.firmware:8} THP {c.thp:6} {c.guest:12} saved "
                  f"{d.mean:8.1f} ± {d.stdev:6.1f}  base retried {r.mean if r else 0:8.1f}  "
                  f"saved/claimed {ratio}  saved/retried {per}  "
                  f"{sum(boot_s) / max(1, len(boot_s)):.0f} s/boot", flush=True)
        crashes = [e for e in res.infra if e.kind != "outer-exit"]
        if not res.comparisons or all(c.faults_saved_per_boot is None
                                      for c in res.comparisons):
            stopped = (f"stopped at {vcpus}x{mem}MB: no boot completed on both kernels "
                       f"({'; '.join(e.kind + ': ' + e.detail for e in res.infra[:3])})")
            break
        if crashes:
            print(f"   infrastructure: {len(crashes)} event(s): "
                  + "; ".join(f"{e.kind} ({e.kernel})" for e in crashes), flush=True)
    print(stopped)
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": rows, "stopped": stopped}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End to end: the test VM boots, QEMU inside it boots the L2 guest, stats come back.

Real kernels (kbuild, cached), real QEMU; no fake results. Slow: marked ``vm`` (and ``build``,
``tree``: the first run builds the test-VM and L2 kernels).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kpatchkit.claims import outer
from kpatchkit.claims.boot import BootConfig, make_plan

pytestmark = [pytest.mark.vm, pytest.mark.build, pytest.mark.tree]


@pytest.fixture(scope="module")
def images() -> dict[str, Path]:
    from kpatchkit.claims.l2kernel import build_l2_kernel
    from kpatchkit.kernel.kbuild import build_image
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree("deb61")
    # The run stage's default (non-debug) test-VM kernel: lockdep makes nested boots ~5x slower.
    frags = ["kvm-base", "vendor-amd", "selftests"]
    return {"base": build_image(tree.path, tree.head, frags).path,
            "l2": build_l2_kernel(tree.path, tree.head).path}


def _qemus_in(workdir: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(workdir) in line]


def test_hung_test_vm_is_killed_with_its_process_group(images: dict[str, Path],
                                                       tmp_path: Path) -> None:
    from kpatchkit.claims.l2payload import build_payload

    payload = build_payload(images["l2"], data_mb=1)
    plan = [outer.PlanItem("seabios", "never", 1, 128, "diskless", 1, 60)]
    t0 = time.monotonic()
    rc, results, _console, _err = outer._run_once(images["base"], payload.overlay, plan,
                                                  tmp_path, mem_mb=1024, smp=1, timeout=5)
    assert rc is None and time.monotonic() - t0 < 30
    assert "KPK-BOOT " not in results
    assert _qemus_in(tmp_path) == []


def test_swiotlb_ide_boot_reports_stats_and_more_retries_than_diskless(
        images: dict[str, Path]) -> None:
    from kpatchkit.claims.boot import run_boot_family

    cfg = BootConfig(firmwares=("seabios",), thp=("never",), repeats=1, diskless_repeats=1,
                     mem_mb=256, data_mb=8)
    assert [p.guest for p in make_plan(cfg)] == ["diskless", "ide-swiotlb"]
    res = run_boot_family({"base": images["base"]}, images["l2"], cfg)
    assert res.infra == [], res.infra
    by_guest = {s.guest: s for s in res.samples}
    assert set(by_guest) == {"diskless", "ide-swiotlb"}
    for s in by_guest.values():
        assert s.status == "ok", s
        assert s.stats["pf_taken"] > 1000 and s.stats["pf_fixed"] > 0
        assert s.retried is not None and s.retried >= 0
    # Measured (6.1.192): 8 MB read through swiotlb leaves ~350 retried faults on the base
    # kernel (many of the page-cache pages were already written during boot), a diskless boot 3.
    assert by_guest["ide-swiotlb"].retried > 100 + 10 * by_guest["diskless"].retried

"""End to end: real kernels built from Debian's 6.1.192 (cached), booted in QEMU (TCG), running
the tree's own KVM selftests. Slow the first time (a kernel build is 4-5 minutes on 2 cores);
warm runs reuse the cached images, selftests and initramfs."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtest_git import commit_with_edit

from kpatchkit.guest import qemu
from kpatchkit.guest.initramfs import GuestTest, build_initramfs
from kpatchkit.guest.lists import select_tests, upstream_tests
from kpatchkit.guest.prepare import KernelSpec
from kpatchkit.kernel import kbuild, selftests
from kpatchkit.run import reuse
from kpatchkit.run.suite import exit_code, run_suite

pytestmark = [pytest.mark.tree, pytest.mark.build, pytest.mark.vm]

FEW = ["set_memory_region_test", "demand_paging_test", "kvm_binary_stats_test",
       # passes only with the guest's RAM on a 64-page boundary (tests/run/test_guest_memory.py)
       "access_tracking_perf_test",
       "svm_vmcall_test"]


@pytest.fixture(scope="module")
def tree():
    from kpatchkit.trees.registry import resolve_tree

    return resolve_tree("deb61")


def _qemus_of(run_dir: Path) -> list[int]:
    """PIDs of processes whose command line mentions ``run_dir`` (our QEMUs)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmd and str(run_dir) in cmd:
            pids.append(int(proc.name))
    return pids


def test_base_debug_kernel_runs_upstream_tests_without_splats(tree, tmp_path):
    upstream, known = upstream_tests(tree.version)
    tests = select_tests(upstream, FEW)
    report = run_suite(tree.name, [KernelSpec("base", tree.path, tree.head)], tests,
                       accel="tcg", debug=True, known=known, work_dir=tmp_path,
                       use_cache=False)  # boot it, whatever the results cache holds
    (kernel,) = report.kernels
    data = report.to_json()
    assert data["accel"] == "tcg"
    assert {"name", "commit", "config_hash", "build_seconds"} <= set(data["kernels"][0])
    assert kernel.outcome == "ok", kernel.detail
    assert kernel.splats == [], [s.title for s in kernel.splats]
    assert [(r.test, r.result) for r in report.results] == [(t, "pass") for t in FEW]
    stats = {r.test: r.stats for r in report.results}
    assert stats["demand_paging_test"].get("pf_taken", 0) > 0  # debugfs sampled while running
    assert exit_code(report) == 0
    assert _qemus_of(tmp_path) == []


def test_broken_variant_gives_a_classified_splat_naming_the_function(tree, tmp_path):
    broken = commit_with_edit(
        tree.path, tree.head, "arch/x86/kvm/mmu/tdp_mmu.c",
        "tdp_mmu_for_each_pte(iter, mmu, fault->gfn, fault->gfn + 1) {\n",
        "tdp_mmu_for_each_pte(iter, mmu, fault->gfn, fault->gfn + 1) {\n\t\tcond_resched();\n")
    tests = select_tests(upstream_tests(tree.version)[0], ["demand_paging_test"])
    report = run_suite(tree.name, [KernelSpec("patched", tree.path, broken)], tests,
                       accel="tcg", debug=True, work_dir=tmp_path, use_cache=False)
    (kernel,) = report.kernels
    kinds = {s.kind for s in kernel.splats}
    assert "sleep_in_atomic" in kinds, [s.title for s in kernel.splats]
    splat = next(s for s in kernel.splats if s.kind == "sleep_in_atomic")
    assert splat.location.startswith("arch/x86/kvm/mmu/tdp_mmu.c:")
    assert splat.function == "kvm_tdp_mmu_map"
    assert splat.test == "demand_paging_test"
    assert report.results[0].splats, "the splat is attached to the test that ran"
    assert exit_code(report) == 1
    assert _qemus_of(tmp_path) == []


HANG_C = r"""
#include <unistd.h>
#include <stdio.h>
int main(void) { printf("waiting forever\n"); fflush(stdout); for (;;) pause(); }
"""


def test_test_timeout_hang_and_panic_are_reported(tree, tmp_path):
    src = tmp_path / "kpatchkit_sleeper.c"
    src.write_text(HANG_C)
    extras = {"kpatchkit_sleeper": src}
    base = [KernelSpec("base", tree.path, tree.head)]

    # 1. A test that overruns its own timeout is killed by the guest; the VM goes on.
    tests = [GuestTest("kpatchkit_sleeper", "kpatchkit_sleeper", timeout=5),
             *select_tests(upstream_tests(tree.version)[0], ["kvm_binary_stats_test"])]
    rep = run_suite(tree.name, base, tests, extra_sources=extras, accel="tcg", debug=True,
                    work_dir=tmp_path / "t1")
    assert [(r.test, r.result) for r in rep.results] == [
        ("kpatchkit_sleeper", "timeout"), ("kvm_binary_stats_test", "pass")]
    assert "waiting forever" in rep.results[0].output

    # 2. A guest that stops making progress is killed by the host at its deadline.
    tests = [GuestTest("kpatchkit_sleeper", "kpatchkit_sleeper", timeout=3600)]
    rep = run_suite(tree.name, base, tests, extra_sources=extras, accel="tcg", debug=True,
                    work_dir=tmp_path / "t2", vm_timeout=45)
    (k,) = rep.kernels
    assert k.outcome == "hang" and "kpatchkit_sleeper" in k.detail
    assert rep.results[0].result == "timeout"
    assert 40 <= k.seconds < 90
    assert exit_code(rep) == 1
    assert _qemus_of(tmp_path / "t2") == []

    # 3. A kernel that panics (init exits at once) is reported with the panic line.
    rep = run_suite(tree.name, base, tests, extra_sources=extras, accel="tcg", debug=True,
                    work_dir=tmp_path / "t3", append_extra="rdinit=/bin/busybox")
    (k,) = rep.kernels
    assert k.outcome == "panic"
    assert k.detail.startswith("Kernel panic - not syncing: Attempted to kill init!")
    assert any(s.kind == "panic" for s in k.splats)
    assert rep.results[0].result == "error"
    assert _qemus_of(tmp_path) == []


def test_no_qemu_survives_a_killed_kpatchkit(tree, tmp_path):
    """SIGKILL the process running the VM (no finally runs): QEMU must die with it."""
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "kpatchkit_sleeper.c"
    src.write_text(HANG_C)
    img = kbuild.build_image(tree.path, tree.head)
    bins = selftests.build_selftests(tree.path, tree.head, [], {"kpatchkit_sleeper": src})
    initrd = build_initramfs([GuestTest("kpatchkit_sleeper", "kpatchkit_sleeper", [], 600)],
                             bins)
    code = ("import sys; from pathlib import Path; from kpatchkit.guest import qemu; "
            "qemu.run_vm(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), accel='tcg', "
            "test_timeouts={})")
    child = subprocess.Popen([sys.executable, "-c", code, str(img.path), str(initrd),
                              str(tmp_path / "vm")])
    deadline = time.monotonic() + 60
    while not _qemus_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _qemus_of(tmp_path), "QEMU never started"
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while _qemus_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _qemus_of(tmp_path) == []


def test_a_second_run_of_the_same_base_is_served_from_the_results_cache(tree, tmp_path,
                                                                       monkeypatch):
    """Real kernel, real guests: the first run boots (in two guests, one per core) and stores;
    the second boots nothing and says which run its results come from."""
    store = tmp_path / "results-cache"
    monkeypatch.setattr(reuse, "_entry", lambda key: store / key)  # an empty cache for this test
    upstream, known = upstream_tests(tree.version)
    tests = select_tests(upstream, ["kvm_binary_stats_test", "cpuid_test", "set_sregs_test"])
    base = [KernelSpec("base", tree.path, tree.head)]
    first = run_suite(tree.name, base, tests, accel="tcg", debug=True, known=known,
                      work_dir=tmp_path / "first", jobs=2)
    (k1,) = first.kernels
    assert k1.outcome == "ok" and k1.reused_from is None and len(k1.guests) == 2
    assert [(r.test, r.result) for r in first.results] == [(t.name, "pass") for t in tests]
    assert (store / k1.result_key / "result.json").is_file()

    booted = []
    monkeypatch.setattr(qemu, "run_vm", lambda *a, **kw: booted.append(a))
    second = run_suite(tree.name, base, tests, accel="tcg", debug=True, known=known,
                       work_dir=tmp_path / "second", jobs=2)
    (k2,) = second.kernels
    assert booted == []
    assert k2.reused_from["run"] == "first" and k2.reused_from["key"] == k1.result_key
    assert [(r.test, r.result, r.stats) for r in second.results] == \
        [(r.test, r.result, r.stats) for r in first.results]
    assert Path(k2.console_log).read_text() == Path(k1.console_log).read_text()

    # Another QEMU option (the kernel command line): not the same results, the base boots.
    monkeypatch.undo()
    monkeypatch.setattr(reuse, "_entry", lambda key: store / key)
    third = run_suite(tree.name, base, tests, accel="tcg", debug=True, known=known,
                      work_dir=tmp_path / "third", jobs=2, append_extra="nokaslr")
    assert third.kernels[0].reused_from is None and third.kernels[0].outcome == "ok"

"""Collecting one VM's logs into per-test results (the results-channel format of data/init.sh)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kpatchkit.guest.collect import collect
from kpatchkit.guest.compare import compare_kernels
from kpatchkit.guest.initramfs import GuestTest, find_busybox, render_init, render_list
from kpatchkit.guest.qemu import VmOutcome
from kpatchkit.records.results import KernelRun, RunReport
from kpatchkit.records.results import TestResult as Result  # not "Test*": pytest would collect it
from kpatchkit.run.suite import exit_code

RESULTS = """\
KPATCHKIT-RESULTS-BEGIN\r
# kpatchkit-guest kernel=6.1.192+ cpus=1 tdp_mmu=Y
TAP version 13
1..4
# kpatchkit-begin kpatchkit_cow_anon_thp_off
    TAP version 13
    1..1
    # kpatchkit-stat phase=read pf_taken=1025 pf_fixed=1025 pf_spurious=0 exits=1100
    # kpatchkit-stat phase=write_after_read pf_taken=2048 pf_fixed=1024 pf_spurious=0 exits=2100
    # kpatchkit-metric faults_per_cow_write=2.000
    ok 1 cow write after read
# kpatchkit-stats kpatchkit_cow_anon_thp_off seconds=3.51 exit=0 pf_taken=3073 pf_fixed=2049
ok 1 kpatchkit_cow_anon_thp_off
# kpatchkit-begin smm_test
    smm_test: no SMM support
# kpatchkit-stats smm_test seconds=0.20 exit=4
ok 2 smm_test # SKIP exit 4 (KSFT_SKIP)
# kpatchkit-begin svm_nested_soft_inject_test
    ==== Test Assertion Failure ====
# kpatchkit-stats svm_nested_soft_inject_test seconds=1.00 exit=254
not ok 3 svm_nested_soft_inject_test # exit=254
# kpatchkit-begin dirty_log_test
    Test iterations: 3
"""

CONSOLE = """\
[    1.0] Run /init as init process
[    5.0] kpatchkit: begin dirty_log_test
[    9.0] Kernel panic - not syncing: Fatal exception
"""


def _vm(tmp_path: Path, status: str) -> VmOutcome:
    (tmp_path / "results.log").write_text(RESULTS)
    (tmp_path / "console.log").write_text(CONSOLE)
    return VmOutcome(console=tmp_path / "console.log", results=tmp_path / "results.log",
                     returncode=0, seconds=10.0, boot_seconds=1.0, status=status)


TESTS = [GuestTest("kpatchkit_cow_anon_thp_off", "kpatchkit_cow_anon_thp_off"),
         GuestTest("smm_test", "smm_test"),
         GuestTest("svm_nested_soft_inject_test", "svm_nested_soft_inject_test"),
         GuestTest("dirty_log_test", "dirty_log_test", ["-i", "3"]),
         GuestTest("kvm_create_max_vcpus", "kvm_create_max_vcpus")]


def test_collect_outcomes_metrics_stats_and_panic(tmp_path):
    results, splats, panic = collect("base", TESTS, _vm(tmp_path, "died"),
                                     {"svm_nested_soft_inject_test": "no nRIP save in TCG"})
    by = {r.test: r for r in results}
    cow = by["kpatchkit_cow_anon_thp_off"]
    assert cow.result == "pass" and cow.seconds == 3.51 and cow.exit_code == 0
    assert cow.faults_per_cow_write == 2.0 and cow.to_json()["faults_per_cow_write"] == 2.0
    assert cow.phases["write_after_read"]["pf_taken"] == 2048
    assert cow.stats == {"pf_taken": 3073, "pf_fixed": 2049}
    assert by["smm_test"].result == "skip" and "faults_per_cow_write" not in \
        by["smm_test"].to_json()
    soft = by["svm_nested_soft_inject_test"]
    assert soft.result == "fail" and soft.known == "no nRIP save in TCG"
    dirty = by["dirty_log_test"]  # running when the kernel panicked
    assert dirty.result == "error" and "Fatal exception" in dirty.output
    assert [s.test for s in dirty.splats] == ["dirty_log_test"]
    assert by["kvm_create_max_vcpus"].result == "error"
    assert "not run" in by["kvm_create_max_vcpus"].output
    assert panic == "Kernel panic - not syncing: Fatal exception"
    assert [s.kind for s in splats] == ["panic"]


def test_a_hung_vm_marks_the_running_test_timeout(tmp_path):
    results, _, _ = collect("patched", TESTS, _vm(tmp_path, "timeout"))
    assert [r.result for r in results] == ["pass", "skip", "fail", "timeout", "error"]


def test_guest_files_render(tmp_path):
    init = render_init(["pf_taken", "pf_fixed"])
    assert 'STATS="pf_taken pf_fixed"' in init and "@STATS@" not in init
    (tmp_path / "init").write_text(init)
    busybox = find_busybox()
    assert subprocess.run([str(busybox), "sh", "-n", str(tmp_path / "init")]).returncode == 0
    assert render_list(TESTS[3:4]) == "dirty_log_test|180|dirty_log_test -i 3\n"


def test_compare_preexisting_and_slow_timeouts():
    rep = RunReport(tree="t", accel="tcg", kernels=[
        KernelRun("base", "a", "h", 1.0), KernelRun("patched", "b", "h", 1.0)])
    rep.results = [
        Result("base", "both_fail", "fail"), Result("patched", "both_fail", "fail"),
        Result("base", "slow", "pass", seconds=950, timeout=1000),
        Result("patched", "slow", "timeout", timeout=1000),
        Result("base", "quick", "pass", seconds=10, timeout=1000),
        Result("patched", "quick", "timeout", timeout=1000),
        Result("base", "broken", "pass"), Result("patched", "broken", "fail")]
    compare_kernels(rep, set())
    by = {(r.kernel, r.test): r for r in rep.results}
    assert by["base", "both_fail"].preexisting and by["patched", "both_fail"].preexisting
    assert by["patched", "slow"].known.startswith("inconclusive")
    assert by["patched", "quick"].known is None
    assert rep.summary["new_failures"] == ["patched:quick", "patched:broken"]
    assert exit_code(rep) == 1
    rep.results = [r for r in rep.results if r.test in ("both_fail", "slow")]
    compare_kernels(rep, set())
    assert exit_code(rep) == 0
    rep.kernels[0].outcome = "hang"  # the reference kernel hung: infrastructure, exit 3
    assert exit_code(rep) == 3
    rep.kernels[0].outcome, rep.kernels[1].outcome = "ok", "panic"
    assert exit_code(rep) == 1


def test_init_clock_survives_uptimes_below_one_second(tmp_path):
    """now() in the guest init: '0.98' once became octal '098' and killed init (real 6.1 boot)."""
    init = render_init(["pf_taken"])
    now_def = next(line for line in init.splitlines() if line.startswith("now()"))
    uptime = tmp_path / "uptime"
    script = now_def.replace("/proc/uptime", str(uptime)) + "\nnow\n"
    busybox = find_busybox()
    for text, hundredths in [("0.98 1.00", 98), ("0.09 0.10", 9), ("12.34 5", 1234),
                             ("1.00 2", 100), ("0.00 0", 0)]:
        uptime.write_text(text + "\n")
        out = subprocess.run([str(busybox), "sh", "-c", script], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == str(hundredths), (text, out)

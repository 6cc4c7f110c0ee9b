"""The splat classifier on console-log snippets in the format the 6.1 kernel prints them
(kernel/sched/core.c __might_resched, kernel/locking/lockdep.c, kernel/panic.c __warn/panic).
The end-to-end test (test_run_vm.py) checks the same classifier on a real broken kernel."""

from __future__ import annotations

from pathlib import Path

from kpatchkit.guest.splats import classify_line, find_splats

BOOT = """\
[    0.000000] Linux version 6.1.192 (kpatchkit@kpatchkit) #1 SMP
[    0.112233] rcu: RCU lockdep checking is enabled.
[    0.120000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    0.130000] ... MAX_LOCKDEP_SUBCLASSES:  8
[    1.000000] Run /init as init process
"""

SLEEP = """\
[   12.000001] kpatchkit: begin demand_paging_test
[   12.501234] BUG: sleeping function called from invalid context at arch/x86/kvm/mmu/tdp_mmu.c:1210
[   12.501240] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 88, name: demand_paging_t
[   12.501245] preempt_count: 1, expected: 0
[   12.501247] RCU nest depth: 0, expected: 0
[   12.501250] 1 lock held by demand_paging_t/88:
[   12.501255]  #0: ffffc90000155a58 (&kvm->mmu_lock){++++}-{2:2}, at: kvm_tdp_mmu_map+0x3f/0x6a0
[   12.501260] Preemption disabled at:
[   12.501262] [<ffffffff8104d2c3>] kvm_tdp_mmu_map+0x83/0x6a0
[   12.501270] CPU: 0 PID: 88 Comm: demand_paging_t Not tainted 6.1.192 #1
[   12.501272] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996)
[   12.501274] Call Trace:
[   12.501275]  <TASK>
[   12.501276]  ? dump_stack_lvl+0x45/0x5e
[   12.501280]  ? __might_resched.cold+0xd6/0xeb
[   12.501283]  ? kvm_tdp_mmu_map+0x2c6/0x6a0
[   12.501286]  ? direct_page_fault+0x2f1/0x3a0
[   12.501288]  ? kvm_mmu_page_fault+0x8d/0x6b0
[   12.501290]  </TASK>
[   13.000000] kpatchkit: end demand_paging_test
"""

RCU = """\
[    5.100000] kpatchkit: begin set_memory_region_test
[    5.200000]
[    5.200001] =============================
[    5.200002] WARNING: suspicious RCU usage
[    5.200003] 6.1.192 #1 Not tainted
[    5.200004] -----------------------------
[    5.200005] arch/x86/kvm/mmu/tdp_mmu.c:640 suspicious rcu_dereference_check() usage!
[    5.200006]
[    5.200006] other info that might help us debug this:
[    5.200007]
[    5.200008] rcu_scheduler_active = 2, debug_locks = 1
[    5.200009] 1 lock held by set_memory_regi/77:
[    5.200020] Call Trace:
[    5.200021]  <TASK>
[    5.200022]  dump_stack_lvl+0x45/0x5e
[    5.200023]  lockdep_rcu_suspicious+0x14c/0x160
[    5.200024]  tdp_mmu_zap_leafs+0x1ad/0x230
[    5.200025]  kvm_tdp_mmu_zap_leafs+0x55/0x80
[    5.200026]  </TASK>
"""

CIRCULAR = """\
[   20.000000] ======================================================
[   20.000001] WARNING: possible circular locking dependency detected
[   20.000002] 6.1.192 #1 Not tainted
[   20.000003] ------------------------------------------------------
[   20.000004] dirty_log_test/90 is trying to acquire lock:
[   20.000005] ffff888003a1c0b8 (&kvm->slots_lock){+.+.}-{3:3}, at: kvm_vm_ioctl+0x1d2/0xf80
[   20.000006]
[   20.000006] but task is already holding lock:
[   20.000007] ffffc900001a5a58 (&kvm->mmu_lock){++++}-{2:2}, at: kvm_mmu_zap_all+0x22/0x150
[   20.000020] stack backtrace:
[   20.000021] Call Trace:
[   20.000022]  <TASK>
[   20.000023]  dump_stack_lvl+0x45/0x5e
[   20.000024]  check_noncircular+0xfe/0x110
[   20.000025]  __lock_acquire+0x1121/0x1ef0
[   20.000026]  lock_acquire+0xc2/0x2b0
[   20.000027]  __mutex_lock+0x8a/0x7e0
[   20.000028]  kvm_mmu_zap_all+0x42/0x150
[   20.000029]  </TASK>
"""

WARN_PANIC = """\
[   30.000000] ------------[ cut here ]------------
[30.0] WARNING: CPU: 1 PID: 95 at arch/x86/kvm/mmu/tdp_mmu.c:455 handle_changed_spte+0x6a1/0x730
[   30.000002] Modules linked in:
[   30.000003] RIP: 0010:handle_changed_spte+0x6a1/0x730
[   30.000004] ---[ end trace 0000000000000000 ]---
[   31.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kvm_page_table_:101]
[   31.000001] RIP: 0010:tdp_iter_next+0x20/0x130
[   32.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[   32.000001] RIP: 0010:kvm_tdp_mmu_zap_sp+0x11/0x60
[   33.000000] BUG: KASAN: use-after-free in tdp_mmu_free_sp_rcu_callback+0x21/0x40
[   34.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009
[   34.000001] ---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009 ]---
"""


def test_boot_lines_are_not_splats():
    assert find_splats(BOOT) == []
    assert classify_line("RCU lockdep checking is enabled.") is None


def test_sleeping_function_names_location_function_and_test():
    (s,) = find_splats(BOOT + SLEEP)
    assert s.kind == "sleep_in_atomic"
    assert s.location == "arch/x86/kvm/mmu/tdp_mmu.c:1210"
    assert s.function == "kvm_tdp_mmu_map"  # machinery frames skipped, even with '?' frames
    assert s.test == "demand_paging_test"
    assert s.time == 12.501234
    assert "preempt_count: 1" in s.text


def test_suspicious_rcu_usage():
    (s,) = find_splats(RCU)
    assert s.kind == "suspicious_rcu"
    assert s.location == "arch/x86/kvm/mmu/tdp_mmu.c:640"
    assert s.function == "tdp_mmu_zap_leafs"
    assert s.test == "set_memory_region_test"


def test_circular_locking():
    (s,) = find_splats(CIRCULAR)
    assert s.kind == "lockdep_circular"
    assert s.function == "kvm_mmu_zap_all"
    assert s.test is None


def test_warning_lockup_bug_kasan_panic():
    kinds = [(s.kind, s.function, s.location) for s in find_splats(WARN_PANIC)]
    assert kinds == [
        ("warning", "handle_changed_spte", "arch/x86/kvm/mmu/tdp_mmu.c:455"),
        ("soft_lockup", "tdp_iter_next", None),
        ("bug", "kvm_tdp_mmu_zap_sp", None),
        ("kasan", "tdp_mmu_free_sp_rcu_callback", None),
        ("panic", None, None),
    ]


def test_splats_after_end_marker_are_not_attributed():
    log = SLEEP + "[   14.0] kpatchkit: end demand_paging_test\n" + CIRCULAR
    splats = find_splats(log)
    assert [s.test for s in splats] == ["demand_paging_test", None]


REAL = Path(__file__).with_name("data") / "console-6.1.192-cond-resched-in-rcu.log"


def test_real_log_of_a_cond_resched_inside_rcu_read_lock():
    """Console of our debug 6.1.192 kernel with cond_resched() added in kvm_tdp_mmu_map()'s
    tdp_mmu_for_each_pte() walk (captured from test_run_vm's broken variant)."""
    splats = find_splats(REAL.read_text())
    assert [(s.kind, s.location, s.function, s.test, s.count) for s in splats] == [
        ("suspicious_rcu", "include/linux/rcupdate.h:417", "kvm_tdp_mmu_map",
         "demand_paging_test", 1),
        ("sleep_in_atomic", "arch/x86/kvm/mmu/tdp_mmu.c:1137", "kvm_tdp_mmu_map",
         "demand_paging_test", 2),
    ]
    assert "Illegal context switch in RCU read-side critical section" in splats[0].text
    assert len(find_splats(REAL.read_text(), fold=False)) == 3

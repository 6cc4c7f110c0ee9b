"""The analyzer's checks: stable ids (JSON, SARIF ruleId, the differential's matching), names and
what each means. A record shared by analyze (which emits them) and report (which shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """A check kind: stable id, short name and what it means."""

    id: str
    name: str
    description: str


CHECKS: dict[str, Check] = {c.id: c for c in [
    Check("rcu-unlock-unbalanced", "RCU unlock without lock",
          "rcu_read_unlock() on a path where no rcu_read_lock() is held"),
    Check("rcu-leak", "RCU read lock leaked at return",
          "a return path keeps rcu_read_lock() held while other paths release it"),
    Check("rcu-outside-read-side", "RCU access outside a read-side section",
          "rcu_dereference() or an RCU-protected page-table walk without rcu_read_lock()"),
    Check("sleep-in-atomic", "sleeping call in atomic context",
          "a call that may sleep while a spinning lock (incl. kvm->mmu_lock, an rwlock on "
          "x86) is held, or with preemption/IRQs disabled"),
    Check("sleep-in-rcu", "sleeping call inside an RCU read-side section",
          "a call that may sleep between rcu_read_lock() and rcu_read_unlock()"),
    Check("lock-requirement", "lock requirement not met",
          "a lockdep assertion, iterator or callee needs kvm->mmu_lock in a mode (read/write/"
          "held) that the path does not hold"),
    Check("lock-imbalance", "lock imbalance",
          "a lock is released in the wrong mode, or return paths disagree on what is held"),
    Check("double-lock", "double lock", "a lock is acquired while already held"),
    Check("double-unlock", "double unlock", "a lock is released while not held"),
    Check("rcu-address-space", "plain use of an __rcu pointer",
          "an __rcu pointer (tdp_ptep_t, an __rcu field) dereferenced, cast, assigned or "
          "passed as a plain pointer without rcu_dereference() or an __rcu-aware accessor"),
    Check("unguarded-write", "guarded data written without its lock",
          "state that must be written under mmu_lock held for write, or under an inner lock "
          "when mmu_lock is held for read, written on a path that holds neither"),
    Check("order-violation", "protocol ordering violated",
          "an event that must precede another (a TLB flush before RCU is dropped, a zap before "
          "rcu_barrier) comes after it, or is missing before it on a path"),
    Check("yield-in-walk", "yielding inside a non-yield-safe walk",
          "mmu_lock/RCU may be dropped inside a walk (for_each_tdp_mmu_root) that needs them "
          "held across the whole loop"),
]}

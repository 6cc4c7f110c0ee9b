"""The analyzer's checks: stable ids (JSON, SARIF ruleId, the differential's matching), names and
what each means. A record shared by analyze (which emits them) and report (which shows them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CheckId(StrEnum):
    """The stable id of each check: the one place the id strings are spelt.

    A member is its id string (it compares, hashes, formats and JSON-encodes as it), so records
    read back from JSON match the members; records written keep plain strings.
    """

    RCU_UNLOCK_UNBALANCED = "rcu-unlock-unbalanced"
    RCU_LEAK = "rcu-leak"
    RCU_OUTSIDE_READ_SIDE = "rcu-outside-read-side"
    SLEEP_IN_ATOMIC = "sleep-in-atomic"
    SLEEP_IN_RCU = "sleep-in-rcu"
    LOCK_REQUIREMENT = "lock-requirement"
    LOCK_IMBALANCE = "lock-imbalance"
    DOUBLE_LOCK = "double-lock"
    DOUBLE_UNLOCK = "double-unlock"
    RCU_ADDRESS_SPACE = "rcu-address-space"
    UNGUARDED_WRITE = "unguarded-write"
    ORDER_VIOLATION = "order-violation"
    YIELD_IN_WALK = "yield-in-walk"


@dataclass(frozen=True)
class Check:
    """A check kind: stable id, short name and what it means."""

    id: CheckId
    name: str
    description: str


CHECKS: dict[CheckId, Check] = {c.id: c for c in [
    Check(CheckId.RCU_UNLOCK_UNBALANCED, "RCU unlock without lock",
          "rcu_read_unlock() on a path where no rcu_read_lock() is held"),
    Check(CheckId.RCU_LEAK, "RCU read lock leaked at return",
          "a return path keeps rcu_read_lock() held while other paths release it"),
    Check(CheckId.RCU_OUTSIDE_READ_SIDE, "RCU access outside a read-side section",
          "rcu_dereference() or an RCU-protected page-table walk without rcu_read_lock()"),
    Check(CheckId.SLEEP_IN_ATOMIC, "sleeping call in atomic context",
          "a call that may sleep while a spinning lock (incl. kvm->mmu_lock, an rwlock on "
          "x86) is held, or with preemption/IRQs disabled"),
    Check(CheckId.SLEEP_IN_RCU, "sleeping call inside an RCU read-side section",
          "a call that may sleep between rcu_read_lock() and rcu_read_unlock()"),
    Check(CheckId.LOCK_REQUIREMENT, "lock requirement not met",
          "a lockdep assertion, iterator or callee needs kvm->mmu_lock in a mode (read/write/"
          "held) that the path does not hold"),
    Check(CheckId.LOCK_IMBALANCE, "lock imbalance",
          "a lock is released in the wrong mode, or return paths disagree on what is held"),
    Check(CheckId.DOUBLE_LOCK, "double lock", "a lock is acquired while already held"),
    Check(CheckId.DOUBLE_UNLOCK, "double unlock", "a lock is released while not held"),
    Check(CheckId.RCU_ADDRESS_SPACE, "plain use of an __rcu pointer",
          "an __rcu pointer (tdp_ptep_t, an __rcu field) dereferenced, cast, assigned or "
          "passed as a plain pointer without rcu_dereference() or an __rcu-aware accessor"),
    Check(CheckId.UNGUARDED_WRITE, "guarded data written without its lock",
          "state that must be written under mmu_lock held for write, or under an inner lock "
          "when mmu_lock is held for read, written on a path that holds neither"),
    Check(CheckId.ORDER_VIOLATION, "protocol ordering violated",
          "an event that must precede another (a TLB flush before RCU is dropped, a zap before "
          "rcu_barrier) comes after it, or is missing before it on a path"),
    Check(CheckId.YIELD_IN_WALK, "yielding inside a non-yield-safe walk",
          "mmu_lock/RCU may be dropped inside a walk (for_each_tdp_mmu_root) that needs them "
          "held across the whole loop"),
]}

"""The transfer functions of the lock/RCU primitives (data/primitives.toml): acquire and
release of mmu_lock and spinlocks, rcu_read_lock/unlock and rcu_dereference, preemption and
IRQ toggles, lockdep assertions, sleeping and yielding calls, and the page-table iterators
(data/iterators.toml) with the locks they require.
"""

from __future__ import annotations

from kpatchkit.analyze.cfg import Event, Node
from kpatchkit.analyze.lockstate import (
    RCU_CAP,
    RELEASE,
    Cond,
    Req,
    State,
    add_step,
    refine,
    replaced,
    with_fact,
)
from kpatchkit.analyze.needs import NeedChecks
from kpatchkit.records.checks import CheckId


class PrimitiveEvents(NeedChecks):
    """Events that are kernel primitives or iterators the knowledge base describes."""

    def lock_of(self, ev: Event, prim: dict) -> str:
        if prim.get("lock") == "mmu_lock":
            return "mmu_lock"
        idx = prim.get("lock_arg", 0)
        arg = ev.args[idx] if idx < len(ev.args) else ""
        return "mmu_lock" if self.is_mmu(arg) else arg.replace(" ", "")

    def apply_prim(self, ev: Event, prim: dict, node: Node, st: State, tr: tuple,
                   trylock: bool = False):
        op = prim["op"]
        line = ev.line
        if op in ("acquire", "trylock"):
            if op == "trylock" and not trylock:
                return [(st, tr)]
            return self.acquire(ev, prim, line, st, tr)
        if op == "release":
            return self.release(ev, prim, line, st, tr)
        if op == "rcu_lock":
            st2 = replaced(st, rcu=min(st.rcu + 1, RCU_CAP), rcu_own=True)
            return [(st2, add_step(tr, line, st2, self.base, ev.name))]
        if op == "rcu_unlock":
            if st.rcu_own and st.rcu <= 0 and self.base is None:
                # This path already balanced its own rcu_read_lock(): one unlock too many.
                self.report(CheckId.RCU_UNLOCK_UNBALANCED, line, f"{ev.name}() after this path "
                            "already released its rcu_read_lock()", tr, st)
            elif st.rcu <= 0 and self.base is None and any(ln < line for ln in self.own_rcu):
                # The function opens the read side itself (above), but this path skipped it.
                first = next(ln for ln in self.own_rcu if ln < line)
                self.report(CheckId.RCU_UNLOCK_UNBALANCED, line, f"{ev.name}() on a path that "
                            f"did not take this function's rcu_read_lock() (line {first})", tr, st)
            else:
                self.need_rcu(1, line, st, tr, CheckId.RCU_UNLOCK_UNBALANCED,
                              f"{ev.name}() without a matching rcu_read_lock()", ev.name)
            st2 = replaced(st, rcu=max(st.rcu - 1, -RCU_CAP))
            return [(st2, add_step(tr, line, st2, self.base, ev.name))]
        if op == "rcu_deref":
            self.need_rcu(1, line, st, tr, CheckId.RCU_OUTSIDE_READ_SIDE,
                          f"{ev.name}() outside an RCU read-side section", ev.name)
            return [(st, tr)]
        if op in ("preempt_off", "irq_off"):
            attr = "preempt" if op == "preempt_off" else "irq"
            st2 = replaced(st, **{attr: min(getattr(st, attr) + 1, RCU_CAP)})
            return [(st2, add_step(tr, line, st2, self.base, ev.name))]
        if op in ("preempt_on", "irq_on"):
            attr = "preempt" if op == "preempt_on" else "irq"
            st2 = replaced(st, **{attr: max(getattr(st, attr) - 1, -RCU_CAP)})
            return [(st2, add_step(tr, line, st2, self.base, ev.name))]
        if op == "assert":
            if ev.guarded:
                return [(st, tr)]
            return self.apply_assert(ev, prim, line, st, tr)
        if op == "yield":
            mode = prim["mode"]
            self.need_mmu(mode, line, st, tr, CheckId.LOCK_REQUIREMENT,
                          f"{ev.name}() needs mmu_lock held for {mode}", ev.name, None)
            self.sleep_point("yield", line, st, tr, node, ev.name, "dropped")
            return [(st, tr)]
        if op == "sleep":
            gfp_idx = prim.get("sleeps_if_gfp_arg")
            extra: Cond = frozenset()
            if gfp_idx is not None:
                arg = ev.args[gfp_idx] if gfp_idx < len(ev.args) else ""
                val = self.eval_arg(arg, st, "gfp")
                if val is False or val is None:
                    return [(st, tr)]
                if isinstance(val, str):
                    extra = frozenset({(val, "gfp", True)})
            self.sleep_point("sleep", line, st, tr, node, ev.name, None, extra)
            return [(st, tr)]
        return [(st, tr)]

    def acquire(self, ev: Event, prim: dict, line: int, st: State, tr: tuple):
        lock = self.lock_of(ev, prim)
        irq = 1 if prim.get("irq") else 0
        if lock == "mmu_lock":
            mode = prim["mode"] if prim["mode"] in ("read", "write") else "write"
            if st.eff in ("read", "write"):
                self.report(CheckId.DOUBLE_LOCK, line, f"{ev.name}(mmu_lock) while mmu_lock is "
                            f"already held for {st.eff}", tr, st)
            elif st.eff == "E":
                self.lift(Req("mmu", "none", self.param_cond(st), CheckId.DOUBLE_LOCK,
                              f"{ev.name}(mmu_lock) needs mmu_lock not held",
                              ((self.cfg.name, line, ev.name),)))
                st = replaced(st, assumed="none")
            st2 = replaced(st, mmu=mode, irq=st.irq + irq)
        else:
            if lock in st.spins:
                self.report(CheckId.DOUBLE_LOCK, line, f"{ev.name}({lock}) while {lock} is already "
                            "held", tr, st)
            st2 = replaced(st, spins=st.spins | {lock}, released=st.released - {lock},
                           irq=st.irq + irq)
        return [(st2, add_step(tr, line, st2, self.base, ev.name))]

    def release(self, ev: Event, prim: dict, line: int, st: State, tr: tuple):
        lock = self.lock_of(ev, prim)
        irq = 1 if prim.get("irq") else 0
        if lock == "mmu_lock":
            mode = prim["mode"] if prim["mode"] in ("read", "write") else "write"
            if st.eff == "none":
                self.report(CheckId.DOUBLE_UNLOCK, line, f"{ev.name}(mmu_lock) while mmu_lock is "
                            "not held", tr, st)
            elif st.eff in ("read", "write") and st.eff != mode:
                self.report(CheckId.LOCK_IMBALANCE, line, f"{ev.name}(mmu_lock) but mmu_lock is "
                            f"held for {st.eff}", tr, st)
            elif st.eff == "E":
                self.lift(Req("mmu", mode, self.param_cond(st), RELEASE,
                              f"{ev.name}(mmu_lock) needs mmu_lock held for {mode}",
                              ((self.cfg.name, line, ev.name),)))
                st = replaced(st, assumed=mode)
            st2 = replaced(st, mmu="none", irq=st.irq - irq)
        else:
            if lock not in st.spins and lock in st.released:
                self.report(CheckId.DOUBLE_UNLOCK, line, f"{ev.name}({lock}) while {lock} is not "
                            "held", tr, st)
            st2 = replaced(st, spins=st.spins - {lock}, released=st.released | {lock},
                           irq=st.irq - irq)
        return [(st2, add_step(tr, line, st2, self.base, ev.name))]

    def apply_assert(self, ev: Event, prim: dict, line: int, st: State, tr: tuple):
        if "requires_by_arg" in prim:
            idx = prim["requires_by_arg"]
            val = self.eval_arg(ev.args[idx] if idx < len(ev.args) else "", st)
            return self.by_arg_need(val, ev, line, st, tr, CheckId.LOCK_REQUIREMENT,
                                    f"{ev.name}()")
        lock = self.lock_of(ev, prim)
        need = prim["requires"]
        if lock != "mmu_lock":
            return [(st, tr)]
        self.need_mmu(need, line, st, tr, CheckId.LOCK_REQUIREMENT,
                      f"{ev.name}(mmu_lock) requires mmu_lock "
                      f"{'not held' if need == 'not_held' else 'held for ' + need}",
                      ev.name, None)
        return [(refine(st, need), tr)]

    def by_arg_need(self, val, ev: Event, line: int, st: State, tr: tuple, check: CheckId,
                    what: str):
        """A requirement of read (argument true) or write (argument false)."""
        if val is True or val is False:
            need = "read" if val else "write"
            self.need_mmu(need, line, st, tr, check, f"{what} requires mmu_lock held for "
                          f"{need}", ev.name, None)
            return [(refine(st, need), tr)]
        if isinstance(val, str):  # the caller's own parameter: split on it
            out = []
            for b in (True, False):
                s = with_fact(st, val, b)
                need = "read" if b else "write"
                self.need_mmu(need, line, s, tr, check, f"{what} requires mmu_lock held for "
                              f"{need}", ev.name, None)
                out.append((refine(s, need), tr))
            return out
        self.need_mmu("held", line, st, tr, check, f"{what} requires mmu_lock held",
                      ev.name, None)
        return [(st, tr)]

    def apply_iter(self, ev: Event, node: Node, st: State, tr: tuple):
        info = self.kb.iterators.get(ev.name)
        out = [(st, tr)]
        if info is None:
            return out
        if info.get("rcu"):
            self.need_rcu(1, ev.line, st, tr, CheckId.RCU_OUTSIDE_READ_SIDE,
                          f"{ev.name}() walks RCU-protected page tables outside "
                          "rcu_read_lock()", ev.name)
        if "mmu_lock" in info:
            need = info["mmu_lock"]
            self.need_mmu(need, ev.line, st, tr, CheckId.LOCK_REQUIREMENT,
                          f"{ev.name}() requires mmu_lock held for {need}", ev.name, None)
            out = [(refine(st, need), tr)]
        elif "mmu_lock_by_arg" in info:
            idx = info["mmu_lock_by_arg"]
            val = self.eval_arg(ev.args[idx] if idx < len(ev.args) else "", st)
            out = self.by_arg_need(val, ev, ev.line, st, tr, CheckId.LOCK_REQUIREMENT,
                                   f"{ev.name}()")
        return out


"""The return paths: what the function's exits disagree on or leak (RCU, spinlocks, mmu_lock),
checked against a concrete entry or against each other, and the exit effects and merged needs
that make up the function's summary.
"""

from __future__ import annotations

from kpatchkit.analyze.lockstate import Effect, Req
from kpatchkit.analyze.needs import NeedChecks
from kpatchkit.records.checks import CheckId


class ExitChecks(NeedChecks):
    """Checks and summary effects at the function's returns."""

    # ---- exits --------------------------------------------------------------------------
    def finish(self) -> None:
        if self.concrete:
            self.check_exits_concrete()
        else:
            self.check_exits_consistent()
        self.summary.reqs = _merge_modes(self.summary.reqs, self.cfg.name)
        # A return reported as leaking is left out of the summary (when other returns remain)
        # so the bug is reported once, where it is, not again in every caller.
        leaking = {ln for (check, ln, _m) in self.findings
                   if check in (CheckId.RCU_LEAK, CheckId.LOCK_IMBALANCE)}
        exits = [e for e in self.exits if e[1] not in leaking] or self.exits
        effects: dict[tuple, Effect] = {}
        for st, line, _tr in exits:
            mmu = "E" if st.rel == "same" else st.mmu
            eff = Effect(self.param_cond(st), mmu, st.rcu, st.spins, st.preempt, st.irq,
                         line)
            effects.setdefault((eff.cond, eff.mmu, eff.rcu, eff.spins, eff.preempt, eff.irq),
                               eff)
        self.summary.effects = list(effects.values())

    def check_exits_concrete(self) -> None:
        entry = {s.mmu for s in self.entry_states}
        for st, line, tr in self.exits:
            if self.base is not None and st.rcu > 0:
                self.report(CheckId.RCU_LEAK, line, "returns with rcu_read_lock() still held", tr,
                            st)
            if st.eff not in entry:
                self.report(CheckId.LOCK_IMBALANCE, line, f"returns with mmu_lock {st.mmu} but was "
                            f"entered with it {'/'.join(sorted(entry))}", tr, st)
            if st.spins:
                self.report(CheckId.LOCK_IMBALANCE, line, "returns with "
                            + ", ".join(sorted(st.spins)) + " still held", tr, st)

    def check_exits_consistent(self) -> None:
        for st, line, tr in self.exits:
            for other, oline, _ in self.exits:
                if st.rcu > other.rcu and st.rcu > 0:
                    self.report(CheckId.RCU_LEAK, line,
                                "returns with rcu_read_lock() held here but released on the "
                                f"return at line {oline}", tr, st)
                if st.spins - other.spins:
                    locks = ", ".join(sorted(st.spins - other.spins))
                    self.report(CheckId.LOCK_IMBALANCE, line,
                                f"returns with {locks} held here but released on the return "
                                f"at line {oline}", tr, st)
                if st.rel != other.rel and st.rel != "same":
                    what = "released" if st.rel == "none" else f"held for {st.rel}"
                    was = "unchanged" if other.rel == "same" else other.rel
                    self.report(CheckId.LOCK_IMBALANCE, line,
                                f"returns with mmu_lock {what} here but {was} on the return "
                                f"at line {oline}", tr, st)




def _merge_modes(reqs: list[Req], function: str) -> list[Req]:
    """Read on some paths and write on others, under one condition, means "held".

    An assertion refines its path, so one path never lifts both modes; both under the same
    condition come from paths told apart by something callers cannot see (6.12's
    mmu_free_root_page() asserts read for a TDP MMU root, write for a shadow one). Demanding
    either mode of every caller would be wrong, demanding the lock is not.
    """
    modes: dict[tuple, set] = {}
    for r in reqs:
        if r.kind == "mmu" and r.need in ("read", "write"):
            modes.setdefault((r.cond, r.check), set()).add(r.need)
    both = {key for key, needs in modes.items() if needs == {"read", "write"}}
    if not both:
        return reqs
    out, done = [], set()
    for r in reqs:
        key = (r.cond, r.check)
        if r.kind != "mmu" or r.need not in ("read", "write") or key not in both:
            out.append(r)
        elif key not in done:
            done.add(key)
            out.append(Req("mmu", "held", r.cond, r.check,
                           f"{function}() requires mmu_lock held (for read on some of its "
                           "paths, for write on others)", r.chain[:1]))
    return out

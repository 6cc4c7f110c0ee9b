"""What every event of the dataflow shares: one function's analysis state, its findings, and
the checks of a need at one point of a path (mmu_lock mode, RCU depth, guarded writes, sleeping
or yielding). A need the path cannot decide (the caller's state) is lifted into the function's
summary for its callers instead; a need the path contradicts is reported.
"""

from __future__ import annotations

import re

from kpatchkit.analyze.cfg import FunctionCFG, Node
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.lockstate import (
    RELEASE,
    SATISFIES,
    CallSite,
    Cond,
    RawFinding,
    Req,
    SleepPoint,
    State,
    Summary,
    describe,
    roots_of,
    via_text,
)
from kpatchkit.analyze.protocols import Guards, Orders
from kpatchkit.records.checks import CheckId


class NeedChecks:
    """One function's analysis from one kind of entry: its state and the need checks."""

    def __init__(self, cfg: FunctionCFG, kb: Knowledge, summaries: dict[str, Summary],
                 entry_states: list[State] | None, rcu_base: int | None,
                 iterators: set[str]) -> None:
        self.cfg = cfg
        self.kb = kb
        self.summaries = summaries
        self.concrete = entry_states is not None
        self.entry_states = entry_states or [State()]
        self.base = rcu_base
        self.iterators = iterators
        self.summary = Summary(cfg.name, cfg.params)
        self.findings: dict[tuple, RawFinding] = {}
        self.callsites: dict[tuple, CallSite] = {}
        self.exits: list[tuple[State, int, tuple]] = []
        # States in which in-file functions passed as handlers run (for their contexts).
        self.indirect: dict[str, set[State]] = {}
        self._mmu_re = re.compile(kb.mmu_lock_match)
        self.guards = Guards(kb.guards, cfg.file)
        self.orders = Orders(kb.orders, cfg.file, cfg.name, cfg.calls)
        # Lines where this function takes rcu_read_lock() itself.
        self.own_rcu = sorted(e.line for e in cfg.calls
                              if kb.prims.get(e.name, {}).get("op") == "rcu_lock")

    # ---- helpers ------------------------------------------------------------------------
    def is_mmu(self, arg: str) -> bool:
        return bool(self._mmu_re.search(arg.strip().rstrip(")")))

    def tracked(self, var: str) -> bool:
        return bool(var) and var not in self.cfg.addr_taken

    def entry_param(self, var: str) -> bool:
        """A parameter never reassigned: a fact on it is a fact on the caller's argument."""
        return var in self.cfg.params and var not in self.cfg.assigned

    def param_cond(self, st: State) -> Cond:
        """The path's facts restricted to parameters (the summary's condition)."""
        out = set()
        for v, b in st.facts:
            if self.entry_param(v):
                out.add((v, "b", b))
            elif not v.isidentifier() and roots_of(v) and all(self.entry_param(r)
                                                            for r in roots_of(v)):
                out.add((v, "t", b))
        return frozenset(out)

    def report(self, check: CheckId, line: int, message: str, trace: tuple, st: State,
               evidence: str = "") -> None:
        key = (check, line, message)
        if key not in self.findings:
            steps = [(ln, describe(*sb) if isinstance(sb, tuple) else sb, note)
                     for ln, sb, note in trace] + [(line, describe(st, self.base), message)]
            if evidence:
                # The contract or rule and its kernel source (SARIF: properties.evidence).
                steps.append((line, "evidence", evidence))
            self.findings[key] = RawFinding(check, self.cfg.name, line, message, steps)

    def eval_arg(self, arg: str, st: State, pred: str = "b") -> bool | str | None:
        """Evaluate a call argument: True/False, a caller parameter name, or None."""
        a = arg.strip()
        while a.startswith("(") and a.endswith(")"):
            a = a[1:-1].strip()
        if pred == "gfp":
            if any(flag in a for flag in self.kb.gfp.get("sleeps", [])):
                return True
            if any(flag in a for flag in self.kb.gfp.get("atomic", [])):
                return False
            # `gfp |= __GFP_ZERO` keeps the caller's reclaim bits: any gfp parameter counts.
            return a if a in self.cfg.params else None
        if a in ("true", "1"):
            return True
        if a in ("false", "0", "NULL"):
            return False
        neg = a.startswith("!")
        name = a[1:].strip() if neg else a
        if re.fullmatch(r"[A-Za-z_]\w*", name):
            known = st.fact(name) if self.tracked(name) else None
            if known is not None:
                return known != neg
            if self.entry_param(name) and not neg:
                return name
        return None

    # ---- requirements and sleep points ----------------------------------------------------
    def lift(self, req: Req) -> None:
        for r in self.summary.reqs:
            if (r.kind, r.need, r.cond, r.check, r.chain[:1]) == (
                    req.kind, req.need, req.cond, req.check, req.chain[:1]):
                return
        self.summary.reqs.append(req)

    def need_mmu(self, need: str, line: int, st: State, tr: tuple, check: str, message: str,
                 what: str, chain: tuple | None) -> None:
        chain = chain or ((self.cfg.name, line, what),)
        if st.eff == "E":
            self.lift(Req("mmu", need, self.param_cond(st), check, message, chain))
            return
        if st.eff in SATISFIES[need]:
            return
        if check == RELEASE:
            check = CheckId.DOUBLE_UNLOCK if st.eff == "none" else CheckId.LOCK_IMBALANCE
        held = "not held" if st.eff == "none" else f"held for {st.eff}"
        self.report(check, line, f"{message}, but here mmu_lock is {held}"
                    + via_text(chain, self.cfg.name), tr, st)

    def need_rcu(self, depth: int, line: int, st: State, tr: tuple, check: CheckId, message: str,
                 what: str, chain: tuple | None = None) -> None:
        own = chain is None and check == CheckId.RCU_OUTSIDE_READ_SIDE
        chain = chain or ((self.cfg.name, line, what),)
        have = st.rcu
        if own and self.base is None and have < depth and self.own_rcu \
                and not st.rcu_own and min(self.own_rcu) > line:
            # Used before the function's own read-side section starts.
            self.report(check, line, f"{message}: the read-side section starts only at line "
                        f"{min(self.own_rcu)}", tr, st)
            return
        if self.base is not None:
            if self.base + have >= depth:
                return
            self.report(check, line, message + via_text(chain, self.cfg.name), tr, st)
            return
        if have >= depth:
            return
        self.lift(Req("rcu", depth - have, self.param_cond(st), check, message, chain))

    def sleep_point(self, kind: str, line: int, st: State, tr: tuple, node: Node, what: str,
                    mmu_at: str | None, extra: Cond = frozenset(),
                    chain: tuple | None = None, callee_atomic: bool = False,
                    callee_rcu: int = 0) -> None:
        chain = chain or ((self.cfg.name, line, what),)
        mmu = mmu_at or st.mmu
        if mmu == "dropped":
            mmu_eff = "none"
        elif mmu == "E":
            mmu_eff = st.eff
        else:
            mmu_eff = mmu
        rcu = st.rcu + callee_rcu
        if kind == "yield":
            for walk, wline, _args in node.walks:
                info = self.kb.iterators.get(walk, {})
                if info.get("yield_safe") is False:
                    self.report(CheckId.YIELD_IN_WALK, line,
                                f"{what}() may drop mmu_lock/RCU inside {walk}() (line "
                                f"{wline}), which is not yield-safe"
                                + via_text(chain, self.cfg.name), tr, st)
        atomic = callee_atomic or bool(st.spins) or st.preempt > 0 or st.irq > 0
        verb = "may drop the lock and reschedule" if kind == "yield" else "may sleep"
        if self.base is not None and self.base + rcu > 0 or self.base is None and rcu > 0:
            self.report(CheckId.SLEEP_IN_RCU, line, f"{what}() {verb} inside an RCU read-side "
                        "section" + via_text(chain, self.cfg.name), tr, st)
            if self.base is None and rcu > 0:
                # The function's own RCU section (a sleep or a yield): reported here, not
                # again in every caller.
                return
        elif atomic or mmu_eff in ("read", "write"):
            held = (f"mmu_lock held for {mmu_eff}" if mmu_eff in ("read", "write")
                    else "a spinlock held or preemption/IRQs off")
            self.report(CheckId.SLEEP_IN_ATOMIC, line, f"{what}() {verb} with {held}"
                        + via_text(chain, self.cfg.name), tr, st)
        cond = self.param_cond(st) | extra
        self.summary.sleeps.append(SleepPoint(kind, cond, rcu, mmu if mmu != "E" else st.mmu,
                                              atomic, chain))

    def need_guard(self, gid: str, line: int, st: State, tr: tuple, what: str,
                   chain: tuple | None) -> None:
        """A write of guarded state: mmu_lock for write, or the inner lock, must be held."""
        chain = chain or ((self.cfg.name, line, what),)
        if self.guards.held(gid, st.eff, st.spins):
            return
        rule = self.guards.rule_text(gid)
        if st.eff == "E":
            self.lift(Req("guard", gid, self.param_cond(st), CheckId.UNGUARDED_WRITE,
                          f"{what}: {rule}", chain))
            return
        held = "not held" if st.eff == "none" else f"held for {st.eff}"
        self.report(CheckId.UNGUARDED_WRITE, line,
                    f"{chain[-1][2]} with mmu_lock {held} and {self.guards.lock_name(gid)} not "
                    f"held: {rule}" + via_text(chain, self.cfg.name), tr, st,
                    evidence=f"guard {gid}: {self.kb.guards[gid]['source']}")

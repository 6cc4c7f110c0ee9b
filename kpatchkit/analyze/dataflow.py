"""Path-sensitive lock-state dataflow over one function's CFG, with call-graph summaries.

State (per path): kvm->mmu_lock in {E, none, read, write} where E is "whatever the caller
holds" (symbolic entry), the RCU read-side depth *relative to entry*, spinlocks taken here,
preemption/IRQ-off depth, and boolean facts about untouched variables learnt from branches.

A function is analysed with a symbolic entry to produce its :class:`Summary` (what it needs
from the caller, how it changes the state, where it sleeps or yields), bottom-up over the
call graph, so a caller's call site is checked against its callee's needs. Entry points with
a calling contract (data/contracts.toml) are analysed again from that concrete state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from kpatchkit.analyze.cfg import Event, FunctionCFG, Node
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.protocols import Guards, Orders

RCU_CAP = 4
MAX_STATES = 256
TRACE_LEN = 14

# A condition on the function's parameters: (param name, predicate, value).
# predicate "b": the parameter's truth value; "gfp": the gfp_t parameter allows sleeping.
Cond = frozenset


class State(NamedTuple):
    """The lock state on one path (a tuple: cheap to hash; the trace travels beside it)."""

    mmu: str = "E"
    rcu: int = 0
    spins: frozenset = frozenset()
    released: frozenset = frozenset()
    preempt: int = 0
    irq: int = 0
    facts: frozenset = frozenset()
    assumed: str = ""  # with mmu == "E": what asserts/releases showed the caller holds
    rcu_own: bool = False  # this path took rcu_read_lock() itself
    seen: frozenset = frozenset()  # ordering-rule events on this path (protocols.Orders)

    @property
    def eff(self) -> str:
        """mmu_lock as far as known: the assumption stands in for the caller's state."""
        return self.assumed if self.mmu == "E" and self.assumed else self.mmu

    @property
    def rel(self) -> str:
        """mmu_lock at exit relative to entry: 'same' or the state the function left."""
        return "same" if self.mmu == "E" or self.mmu == self.assumed else self.mmu

    def fact(self, var: str) -> bool | None:
        """The known truth value of ``var`` on this path, if any."""
        if (var, True) in self.facts:
            return True
        if (var, False) in self.facts:
            return False
        return None


@dataclass
class Req:
    """Something the function needs from its caller's state at entry."""

    kind: str  # mmu | rcu | guard
    need: str | int  # mmu: read|write|held|none ; rcu: minimal entry depth; guard: its id
    cond: Cond
    check: str
    message: str
    chain: tuple  # ((function, line, note), ...) from this function down to the primitive


@dataclass
class SleepPoint:
    """A point where the function (or a callee) may sleep or yield."""

    kind: str  # sleep | yield
    cond: Cond
    rcu: int  # RCU depth relative to entry at that point
    mmu: str  # E | none | read | write | dropped
    atomic: bool  # the function itself holds a spinlock / disabled preemption or IRQs there
    chain: tuple


@dataclass
class Effect:
    """One class of exit: how mmu_lock / RCU / the rest look on return, relative to entry."""

    cond: Cond
    mmu: str
    rcu: int
    spins: frozenset
    preempt: int
    irq: int
    line: int


@dataclass
class Summary:
    """What callers need to know about a function defined in the analysed file."""

    name: str
    params: list[str]
    reqs: list[Req] = field(default_factory=list)
    sleeps: list[SleepPoint] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # Calls through a function-pointer parameter (kvm_tdp_mmu_handle_gfn's `handler`):
    # (parameter, state at the call, line). A caller passing an in-file function there gets
    # that function's needs checked at this state.
    pcalls: list[tuple[str, State, int]] = field(default_factory=list)


@dataclass
class RawFinding:
    """A finding before it becomes a record."""

    check: str
    function: str
    line: int
    message: str
    trace: list[tuple[int, str, str]]


@dataclass
class CallSite:
    """States observed at one call (for the added-call table)."""

    function: str
    call: str
    line: int
    states: set = field(default_factory=set)
    walks: tuple = ()
    kind: str = "call"
    args: list = field(default_factory=list)


def describe(st: State, base: int | None) -> str:
    """Short human form of a state, e.g. ``mmu_lock=write rcu=1``."""
    mmu = st.eff if st.eff != "E" else "caller's"
    if base is None:
        rcu = f"entry{st.rcu:+d}" if st.rcu else "entry"
    else:
        rcu = str(base + st.rcu)
    parts = [f"mmu_lock={mmu}", f"rcu={rcu}"]
    if st.spins:
        parts.append("spin=" + ",".join(sorted(st.spins)))
    if st.preempt > 0:
        parts.append("preempt_off")
    if st.irq > 0:
        parts.append("irqs_off")
    facts = [f"{v}={'T' if b else 'F'}" for v, b in sorted(st.facts)]
    if facts:
        parts.append("[" + " ".join(facts) + "]")
    return " ".join(parts)


_SATISFIES = {
    "read": {"read"},
    "write": {"write"},
    "held": {"read", "write"},
    "none": {"none"},
    "not_held": {"none"},
}


class FunctionAnalysis:
    """Run the dataflow for one function from one kind of entry."""

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
            elif not v.isidentifier() and _roots(v) and all(self.entry_param(r)
                                                            for r in _roots(v)):
                out.add((v, "t", b))
        return frozenset(out)

    def report(self, check: str, line: int, message: str, trace: tuple, st: State,
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

    # ---- the worklist -------------------------------------------------------------------
    def run(self) -> FunctionAnalysis:
        cfg = self.cfg
        seen: dict[int, dict[State, tuple]] = {nid: {} for nid in cfg.nodes}
        work: list[tuple[int, State, tuple]] = []
        for st in self.entry_states:
            work.append((cfg.entry, st, ()))
        while work:
            nid, st, trace = work.pop()
            bucket = seen[nid]
            if st in bucket:
                continue
            if len(bucket) >= MAX_STATES:
                st = _replace(st, facts=frozenset())
                if st in bucket:
                    continue
            bucket[st] = trace
            node = cfg.nodes[nid]
            for succ, st2, tr2 in self.transfer(node, st, trace):
                if st2 not in seen[succ]:
                    work.append((succ, st2, tr2))
        self.finish()
        return self

    def transfer(self, node: Node, st: State, trace: tuple):
        if node.kind == "exit":
            return
        if node.kind == "return":
            # The return's own expression runs first.
            states = self.run_events(node, [(st, trace)])
            for s, tr in states:
                self.exits.append((s, node.line, tr))
            return
        states = self.run_events(node, [(st, trace)])
        if node.kind == "branch" and node.cond is not None:
            kind = node.cond[0]
            t, f = node.succ
            for s, tr in states:
                if kind in ("var", "text") and self.tracked(node.cond[1]):
                    var = node.cond[1]
                    known = s.fact(var)
                    if known is not False:
                        s2 = _with_fact(s, var, True)
                        yield t, s2, _step(tr, node.line, s2, self.base, f"if ({var})")
                    if known is not True:
                        s2 = _with_fact(s, var, False)
                        yield f, s2, _step(tr, node.line, s2, self.base, f"if (!{var})")
                elif kind == "trylock":
                    ev = node.cond[1]
                    for s2, tr2 in self.apply_prim(ev, self.kb.prims[ev.name], node, s, tr,
                                                   trylock=True):
                        yield t, s2, tr2
                    yield f, s, tr
                else:
                    yield t, s, tr
                    yield f, s, tr
            return
        for s, tr in states:
            for succ in node.succ:
                yield succ, s, tr

    def run_events(self, node: Node, states: list[tuple[State, tuple]]):
        for ev in node.events:
            nxt: list[tuple[State, tuple]] = []
            for st, tr in states:
                if ev.kind not in ("assign", "store"):
                    self.note_call(ev, node, st)
                nxt.extend(self.apply_event(ev, node, st, tr))
            # Dedupe, keeping the first trace.
            uniq: dict[State, tuple] = {}
            for s, tr in nxt:
                uniq.setdefault(s, tr)
            states = list(uniq.items())
        return states

    def note_call(self, ev: Event, node: Node, st: State) -> None:
        key = (ev.name, ev.line)
        site = self.callsites.get(key)
        if site is None:
            site = self.callsites[key] = CallSite(self.cfg.name, ev.name, ev.line,
                                                  walks=node.walks, kind=ev.kind,
                                                  args=list(ev.args))
        site.states.add(st)

    # ---- events -------------------------------------------------------------------------
    def apply_event(self, ev: Event, node: Node, st: State, tr: tuple):
        if ev.kind == "assign":
            var, value = ev.args
            word = re.compile(rf"\b{re.escape(var)}\b")
            facts = frozenset(f for f in st.facts if f[0] != var and not (
                not f[0].isidentifier() and word.search(f[0])))
            if value in ("true", "1"):
                facts |= {(var, True)}
            elif value in ("false", "0", "NULL"):
                facts |= {(var, False)}
            return [(_replace(st, facts=facts), tr)] if facts != st.facts else [(st, tr)]
        if self.orders and ev.kind != "store":
            st = self.apply_orders(ev, st, tr)
        if ev.kind == "store":
            for gid in self.guards.for_store(ev.args[0]):
                self.need_guard(gid, ev.line, st, tr, f"writes {ev.args[0]}", None)
            return [(st, tr)]
        for gid in self.guards.for_call(ev.name, ev.args):
            self.need_guard(gid, ev.line, st, tr, f"{ev.name}({', '.join(ev.args)})", None)
        if ev.kind == "iter":
            return self.apply_iter(ev, node, st, tr)
        prim = self.kb.prims.get(ev.name)
        if prim is not None:
            return self.apply_prim(ev, prim, node, st, tr)
        summ = self.summaries.get(ev.name)
        if summ is not None and summ.name != self.cfg.name:
            return self.apply_summary(ev, summ, node, st, tr)
        if self.entry_param(ev.name):
            rec = (ev.name, st, ev.line)
            if rec not in self.summary.pcalls:
                self.summary.pcalls.append(rec)
        return [(st, tr)]

    def apply_orders(self, ev: Event, st: State, tr: tuple) -> State:
        seen, broken = self.orders.step(ev.name, ev.line, st.seen)
        for v in broken:
            self.report("order-violation", ev.line, v.message, tr, st,
                        evidence=f"rule {v.rule}: {v.source}")
        return _replace(st, seen=seen) if seen != st.seen else st

    def need_guard(self, gid: str, line: int, st: State, tr: tuple, what: str,
                   chain: tuple | None) -> None:
        """A write of guarded state: mmu_lock for write, or the inner lock, must be held."""
        chain = chain or ((self.cfg.name, line, what),)
        if self.guards.held(gid, st.eff, st.spins):
            return
        rule = self.guards.rule_text(gid)
        if st.eff == "E":
            self.lift(Req("guard", gid, self.param_cond(st), "unguarded-write",
                          f"{what}: {rule}", chain))
            return
        held = "not held" if st.eff == "none" else f"held for {st.eff}"
        self.report("unguarded-write", line,
                    f"{chain[-1][2]} with mmu_lock {held} and {self.guards.lock_name(gid)} not "
                    f"held: {rule}" + _via(chain, self.cfg.name), tr, st,
                    evidence=f"guard {gid}: {self.kb.guards[gid]['source']}")

    def apply_handlers(self, ev: Event, summ: Summary, node: Node, st: State, tr: tuple):
        """Check in-file functions passed to ``summ``'s function-pointer parameters."""
        for pname, inner, pline in summ.pcalls:
            idx = summ.params.index(pname)
            arg = ev.args[idx].strip().lstrip("&").strip() if idx < len(ev.args) else ""
            handler = self.summaries.get(arg)
            if handler is None or arg == self.cfg.name:
                continue
            mmu = st.mmu if inner.mmu == "E" else inner.mmu
            assumed = st.assumed if inner.mmu == "E" else inner.assumed
            composed = _replace(st, mmu=mmu, assumed=assumed,
                                rcu=max(-RCU_CAP, min(RCU_CAP, st.rcu + inner.rcu)),
                                spins=st.spins | inner.spins, preempt=st.preempt + inner.preempt,
                                irq=st.irq + inner.irq)
            self.indirect.setdefault(arg, set()).add(composed)
            via = ((summ.name, pline, f"{pname}={arg}"),)
            self.apply_summary(Event(arg, [], ev.line), handler, node, composed, tr,
                               via=via, report_as=ev.name)

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
            st2 = _replace(st, rcu=min(st.rcu + 1, RCU_CAP), rcu_own=True)
            return [(st2, _step(tr, line, st2, self.base, ev.name))]
        if op == "rcu_unlock":
            if st.rcu_own and st.rcu <= 0 and self.base is None:
                # This path already balanced its own rcu_read_lock(): one unlock too many.
                self.report("rcu-unlock-unbalanced", line, f"{ev.name}() after this path "
                            "already released its rcu_read_lock()", tr, st)
            elif st.rcu <= 0 and self.base is None and any(ln < line for ln in self.own_rcu):
                # The function opens the read side itself (above), but this path skipped it.
                first = next(ln for ln in self.own_rcu if ln < line)
                self.report("rcu-unlock-unbalanced", line, f"{ev.name}() on a path that did not "
                            f"take this function's rcu_read_lock() (line {first})", tr, st)
            else:
                self.need_rcu(1, line, st, tr, "rcu-unlock-unbalanced",
                              f"{ev.name}() without a matching rcu_read_lock()", ev.name)
            st2 = _replace(st, rcu=max(st.rcu - 1, -RCU_CAP))
            return [(st2, _step(tr, line, st2, self.base, ev.name))]
        if op == "rcu_deref":
            self.need_rcu(1, line, st, tr, "rcu-outside-read-side",
                          f"{ev.name}() outside an RCU read-side section", ev.name)
            return [(st, tr)]
        if op in ("preempt_off", "irq_off"):
            attr = "preempt" if op == "preempt_off" else "irq"
            st2 = _replace(st, **{attr: min(getattr(st, attr) + 1, RCU_CAP)})
            return [(st2, _step(tr, line, st2, self.base, ev.name))]
        if op in ("preempt_on", "irq_on"):
            attr = "preempt" if op == "preempt_on" else "irq"
            st2 = _replace(st, **{attr: max(getattr(st, attr) - 1, -RCU_CAP)})
            return [(st2, _step(tr, line, st2, self.base, ev.name))]
        if op == "assert":
            if ev.guarded:
                return [(st, tr)]
            return self.apply_assert(ev, prim, line, st, tr)
        if op == "yield":
            mode = prim["mode"]
            self.need_mmu(mode, line, st, tr, "lock-requirement",
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
                self.report("double-lock", line, f"{ev.name}(mmu_lock) while mmu_lock is "
                            f"already held for {st.eff}", tr, st)
            elif st.eff == "E":
                self.lift(Req("mmu", "none", self.param_cond(st), "double-lock",
                              f"{ev.name}(mmu_lock) needs mmu_lock not held",
                              ((self.cfg.name, line, ev.name),)))
                st = _replace(st, assumed="none")
            st2 = _replace(st, mmu=mode, irq=st.irq + irq)
        else:
            if lock in st.spins:
                self.report("double-lock", line, f"{ev.name}({lock}) while {lock} is already "
                            "held", tr, st)
            st2 = _replace(st, spins=st.spins | {lock}, released=st.released - {lock},
                           irq=st.irq + irq)
        return [(st2, _step(tr, line, st2, self.base, ev.name))]

    def release(self, ev: Event, prim: dict, line: int, st: State, tr: tuple):
        lock = self.lock_of(ev, prim)
        irq = 1 if prim.get("irq") else 0
        if lock == "mmu_lock":
            mode = prim["mode"] if prim["mode"] in ("read", "write") else "write"
            if st.eff == "none":
                self.report("double-unlock", line, f"{ev.name}(mmu_lock) while mmu_lock is "
                            "not held", tr, st)
            elif st.eff in ("read", "write") and st.eff != mode:
                self.report("lock-imbalance", line, f"{ev.name}(mmu_lock) but mmu_lock is "
                            f"held for {st.eff}", tr, st)
            elif st.eff == "E":
                self.lift(Req("mmu", mode, self.param_cond(st), "release",
                              f"{ev.name}(mmu_lock) needs mmu_lock held for {mode}",
                              ((self.cfg.name, line, ev.name),)))
                st = _replace(st, assumed=mode)
            st2 = _replace(st, mmu="none", irq=st.irq - irq)
        else:
            if lock not in st.spins and lock in st.released:
                self.report("double-unlock", line, f"{ev.name}({lock}) while {lock} is not "
                            "held", tr, st)
            st2 = _replace(st, spins=st.spins - {lock}, released=st.released | {lock},
                           irq=st.irq - irq)
        return [(st2, _step(tr, line, st2, self.base, ev.name))]

    def apply_assert(self, ev: Event, prim: dict, line: int, st: State, tr: tuple):
        if "requires_by_arg" in prim:
            idx = prim["requires_by_arg"]
            val = self.eval_arg(ev.args[idx] if idx < len(ev.args) else "", st)
            return self.by_arg_need(val, ev, line, st, tr, "lock-requirement",
                                    f"{ev.name}()")
        lock = self.lock_of(ev, prim)
        need = prim["requires"]
        if lock != "mmu_lock":
            return [(st, tr)]
        self.need_mmu(need, line, st, tr, "lock-requirement",
                      f"{ev.name}(mmu_lock) requires mmu_lock "
                      f"{'not held' if need == 'not_held' else 'held for ' + need}",
                      ev.name, None)
        return [(_refine(st, need), tr)]

    def by_arg_need(self, val, ev: Event, line: int, st: State, tr: tuple, check: str,
                    what: str):
        """A requirement of read (argument true) or write (argument false)."""
        if val is True or val is False:
            need = "read" if val else "write"
            self.need_mmu(need, line, st, tr, check, f"{what} requires mmu_lock held for "
                          f"{need}", ev.name, None)
            return [(_refine(st, need), tr)]
        if isinstance(val, str):  # the caller's own parameter: split on it
            out = []
            for b in (True, False):
                s = _with_fact(st, val, b)
                need = "read" if b else "write"
                self.need_mmu(need, line, s, tr, check, f"{what} requires mmu_lock held for "
                              f"{need}", ev.name, None)
                out.append((_refine(s, need), tr))
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
            self.need_rcu(1, ev.line, st, tr, "rcu-outside-read-side",
                          f"{ev.name}() walks RCU-protected page tables outside "
                          "rcu_read_lock()", ev.name)
        if "mmu_lock" in info:
            need = info["mmu_lock"]
            self.need_mmu(need, ev.line, st, tr, "lock-requirement",
                          f"{ev.name}() requires mmu_lock held for {need}", ev.name, None)
            out = [(_refine(st, need), tr)]
        elif "mmu_lock_by_arg" in info:
            idx = info["mmu_lock_by_arg"]
            val = self.eval_arg(ev.args[idx] if idx < len(ev.args) else "", st)
            out = self.by_arg_need(val, ev, ev.line, st, tr, "lock-requirement",
                                   f"{ev.name}()")
        return out

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
        if st.eff in _SATISFIES[need]:
            return
        if check == "release":
            check = "double-unlock" if st.eff == "none" else "lock-imbalance"
        held = "not held" if st.eff == "none" else f"held for {st.eff}"
        self.report(check, line, f"{message}, but here mmu_lock is {held}"
                    + _via(chain, self.cfg.name), tr, st)

    def need_rcu(self, depth: int, line: int, st: State, tr: tuple, check: str, message: str,
                 what: str, chain: tuple | None = None) -> None:
        own = chain is None and check == "rcu-outside-read-side"
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
            self.report(check, line, message + _via(chain, self.cfg.name), tr, st)
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
                    self.report("yield-in-walk", line,
                                f"{what}() may drop mmu_lock/RCU inside {walk}() (line "
                                f"{wline}), which is not yield-safe" + _via(chain, self.cfg.name),
                                tr, st)
        atomic = callee_atomic or bool(st.spins) or st.preempt > 0 or st.irq > 0
        verb = "may drop the lock and reschedule" if kind == "yield" else "may sleep"
        if self.base is not None and self.base + rcu > 0 or self.base is None and rcu > 0:
            self.report("sleep-in-rcu", line, f"{what}() {verb} inside an RCU read-side "
                        "section" + _via(chain, self.cfg.name), tr, st)
            if self.base is None and rcu > 0:
                # The function's own RCU section (a sleep or a yield): reported here, not
                # again in every caller.
                return
        elif atomic or mmu_eff in ("read", "write"):
            held = (f"mmu_lock held for {mmu_eff}" if mmu_eff in ("read", "write")
                    else "a spinlock held or preemption/IRQs off")
            self.report("sleep-in-atomic", line, f"{what}() {verb} with {held}"
                        + _via(chain, self.cfg.name), tr, st)
        cond = self.param_cond(st) | extra
        self.summary.sleeps.append(SleepPoint(kind, cond, rcu, mmu if mmu != "E" else st.mmu,
                                              atomic, chain))

    # ---- calls to functions of this file --------------------------------------------------
    def bind(self, cond: Cond, summ: Summary, ev: Event, st: State):
        """Map a callee condition to the caller: (False) | (True, caller cond) | (None, ...)."""
        out: set = set()
        unknown = False
        for pname, pred, val in cond:
            if pred == "t":
                v = self.eval_text(pname, summ, ev, st)
                if v is None:
                    unknown = True
                elif isinstance(v, str):
                    out.add((v, "t", val))
                elif v != val:
                    return False, frozenset(), False
                continue
            if pname not in summ.params:
                continue
            idx = summ.params.index(pname)
            arg = ev.args[idx] if idx < len(ev.args) else ""
            v = self.eval_arg(arg, st, pred)
            if v is None:
                unknown = True
            elif isinstance(v, str):
                out.add((v, pred, val))
            elif v != val:
                return False, frozenset(), False
        return True, frozenset(out), unknown

    def eval_text(self, text: str, summ: Summary, ev: Event, st: State) -> bool | str | None:
        """A callee's predicate text in the caller's frame: known, liftable text, or None."""
        mapping = {}
        for root in _roots(text):
            if root not in summ.params:
                return None
            idx = summ.params.index(root)
            arg = ev.args[idx].strip() if idx < len(ev.args) else ""
            if not arg:
                return None
            mapping[root] = arg if arg.isidentifier() else f"({arg})"
        new = _ROOT.sub(lambda m: mapping.get(m.group(1), m.group(1)), text)
        known = st.fact(new)
        if known is not None:
            return known
        roots = _roots(new)
        if roots and all(self.entry_param(r) for r in roots):
            return new
        return None

    def apply_summary(self, ev: Event, summ: Summary, node: Node, st: State, tr: tuple,
                      via: tuple = (), report_as: str = ""):
        line = ev.line
        if summ.pcalls and not via:
            self.apply_handlers(ev, summ, node, st, tr)
        name = report_as or ev.name
        refined = st
        for req in summ.reqs:
            ok, cond, unknown = self.bind(req.cond, summ, ev, st)
            if not ok:
                continue
            need = req.need
            if unknown and req.kind == "mmu" and need in ("read", "write"):
                need = "held"
            chain = ((self.cfg.name, line, name),) + via + req.chain
            s = st
            for v, pred, b in cond:
                if pred in ("b", "t"):
                    s = _with_fact(s, v, b)
            if req.kind == "guard":
                self.need_guard(req.need, line, s, tr, req.message.split(":")[0], chain)
            elif req.kind == "mmu":
                if cond and st.eff == "E":
                    self.lift(Req("mmu", need, self.param_cond(s), req.check, req.message,
                                  chain))
                else:
                    self.need_mmu(need, line, s, tr, req.check, req.message, ev.name, chain)
                    if not cond and req.check == "lock-requirement":
                        # Holding the callee's need is now assumed on this path, so a later
                        # contradicting need is reported here, not lifted.
                        refined = _refine(refined, need)
            else:
                self.need_rcu(int(need), line, s, tr, req.check, req.message, ev.name, chain)
        for sp in summ.sleeps:
            ok, cond, unknown = self.bind(sp.cond, summ, ev, st)
            if not ok:
                continue
            if unknown and any(p == "gfp" for _, p, _ in sp.cond):
                continue
            chain = ((self.cfg.name, line, name),) + via + sp.chain
            extra = frozenset(c for c in cond if c[1] == "gfp")
            s = st
            for v, pred, b in cond:
                if pred in ("b", "t"):
                    s = _with_fact(s, v, b)
            self.sleep_point(sp.kind, line, s, tr, node, ev.name, sp.mmu, extra, chain,
                             sp.atomic, sp.rcu)
        st = refined
        out = []
        effects = summ.effects or [Effect(frozenset(), "E", 0, frozenset(), 0, 0, line)]
        for eff in effects:
            ok, cond, _unknown = self.bind(eff.cond, summ, ev, st)
            if not ok:
                continue
            s = st
            for v, pred, b in cond:
                if pred in ("b", "t"):
                    s = _with_fact(s, v, b)
            mmu = s.mmu if eff.mmu == "E" else eff.mmu
            s = _replace(s, mmu=mmu, rcu=max(-RCU_CAP, min(RCU_CAP, s.rcu + eff.rcu)),
                         spins=s.spins | eff.spins, preempt=s.preempt + eff.preempt,
                         irq=s.irq + eff.irq)
            changed = eff.mmu != "E" or eff.rcu or eff.spins or eff.preempt or eff.irq
            out.append((s, _step(tr, line, s, self.base, ev.name) if changed else tr))
        return out or [(st, tr)]

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
                   if check in ("rcu-leak", "lock-imbalance")}
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
                self.report("rcu-leak", line, "returns with rcu_read_lock() still held", tr,
                            st)
            if st.eff not in entry:
                self.report("lock-imbalance", line, f"returns with mmu_lock {st.mmu} but was "
                            f"entered with it {'/'.join(sorted(entry))}", tr, st)
            if st.spins:
                self.report("lock-imbalance", line, "returns with "
                            + ", ".join(sorted(st.spins)) + " still held", tr, st)

    def check_exits_consistent(self) -> None:
        for st, line, tr in self.exits:
            for other, oline, _ in self.exits:
                if st.rcu > other.rcu and st.rcu > 0:
                    self.report("rcu-leak", line,
                                "returns with rcu_read_lock() held here but released on the "
                                f"return at line {oline}", tr, st)
                if st.spins - other.spins:
                    locks = ", ".join(sorted(st.spins - other.spins))
                    self.report("lock-imbalance", line,
                                f"returns with {locks} held here but released on the return "
                                f"at line {oline}", tr, st)
                if st.rel != other.rel and st.rel != "same":
                    what = "released" if st.rel == "none" else f"held for {st.rel}"
                    was = "unchanged" if other.rel == "same" else other.rel
                    self.report("lock-imbalance", line,
                                f"returns with mmu_lock {what} here but {was} on the return "
                                f"at line {oline}", tr, st)


# A variable read in a predicate text: not a field (after . or ->), not a called name.
_ROOT = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)\b(?!\s*\()")


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


def _roots(text: str) -> set[str]:
    """Variables a predicate text reads."""
    return {m.group(1) for m in _ROOT.finditer(text)
            if m.group(1) not in ("NULL", "true", "false", "sizeof")}


def _with_fact(st: State, var: str, val: bool) -> State:
    return _replace(st, facts=st.facts | {(var, val)})


def _replace(st: State, **kw) -> State:
    return st._replace(**kw)


def _refine(st: State, need: str) -> State:
    """After an assertion passes, the path holds what it asserted."""
    if st.mmu == "E" and not st.assumed and need in ("read", "write"):
        return _replace(st, assumed=need)
    if st.mmu == "E" and not st.assumed and need in ("none", "not_held"):
        return _replace(st, assumed="none")
    return st


def _step(tr: tuple, line: int, st: State, base: int | None, note: str) -> tuple:
    # States are described only when a finding is reported (most traces are dropped).
    step = (line, (st, base), note)
    return (tr + (step,))[-TRACE_LEN:]


def _via(chain: tuple, own: str) -> str:
    """' (via f() line N -> g() line M)' for requirements coming from callees."""
    hops = [f"{fn}():{line} {what}()" for fn, line, what in chain[1:]]
    return f" (via {' -> '.join(hops)})" if hops else ""

"""Path-sensitive lock-state dataflow over one function's CFG, with call-graph summaries.

State (per path): kvm->mmu_lock in {E, none, read, write} where E is "whatever the caller
holds" (symbolic entry), the RCU read-side depth *relative to entry*, spinlocks taken here,
preemption/IRQ-off depth, and boolean facts about untouched variables learnt from branches.

A function is analysed with a symbolic entry to produce its :class:`Summary` (what it needs
from the caller, how it changes the state, where it sleeps or yields), bottom-up over the
call graph, so a caller's call site is checked against its callee's needs. Entry points with
a calling contract (data/contracts.toml) are analysed again from that concrete state.

The parts: lockstate (the lattice and the summary records), needs (the checks of a need at a
point), primitives (lock/RCU primitives and iterators), callees (in-file callees' summaries),
exits (return-path checks and summary effects); this module runs the worklist and dispatches
each event to them.
"""

from __future__ import annotations

import re

from kpatchkit.analyze.callees import CalleeEvents
from kpatchkit.analyze.cfg import Event, Node
from kpatchkit.analyze.exits import ExitChecks
from kpatchkit.analyze.lockstate import MAX_STATES, CallSite, State, add_step, replaced, with_fact
from kpatchkit.analyze.primitives import PrimitiveEvents
from kpatchkit.records.checks import CheckId


class FunctionAnalysis(PrimitiveEvents, CalleeEvents, ExitChecks):
    """Run the dataflow for one function from one kind of entry."""

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
                st = replaced(st, facts=frozenset())
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
                        s2 = with_fact(s, var, True)
                        yield t, s2, add_step(tr, node.line, s2, self.base, f"if ({var})")
                    if known is not True:
                        s2 = with_fact(s, var, False)
                        yield f, s2, add_step(tr, node.line, s2, self.base, f"if (!{var})")
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
            return [(replaced(st, facts=facts), tr)] if facts != st.facts else [(st, tr)]
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
            self.report(CheckId.ORDER_VIOLATION, ev.line, v.message, tr, st,
                        evidence=f"rule {v.rule}: {v.source}")
        return replaced(st, seen=seen) if seen != st.seen else st


"""Calls to functions of the analysed file: a callee's summary (its needs, sleep points and
exit effects) bound to the call's arguments and checked or lifted in the caller's state, and
in-file functions passed as handlers to a callee's function-pointer parameters.
"""

from __future__ import annotations

from kpatchkit.analyze.cfg import Event, Node
from kpatchkit.analyze.lockstate import (
    RCU_CAP,
    ROOT,
    Cond,
    Effect,
    Req,
    State,
    Summary,
    add_step,
    refine,
    replaced,
    roots_of,
    with_fact,
)
from kpatchkit.analyze.needs import NeedChecks
from kpatchkit.records.checks import CheckId


class CalleeEvents(NeedChecks):
    """Events that call a function whose summary the file's analysis already has."""

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
            composed = replaced(st, mmu=mmu, assumed=assumed,
                                rcu=max(-RCU_CAP, min(RCU_CAP, st.rcu + inner.rcu)),
                                spins=st.spins | inner.spins, preempt=st.preempt + inner.preempt,
                                irq=st.irq + inner.irq)
            self.indirect.setdefault(arg, set()).add(composed)
            via = ((summ.name, pline, f"{pname}={arg}"),)
            self.apply_summary(Event(arg, [], ev.line), handler, node, composed, tr,
                               via=via, report_as=ev.name)

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
        for root in roots_of(text):
            if root not in summ.params:
                return None
            idx = summ.params.index(root)
            arg = ev.args[idx].strip() if idx < len(ev.args) else ""
            if not arg:
                return None
            mapping[root] = arg if arg.isidentifier() else f"({arg})"
        new = ROOT.sub(lambda m: mapping.get(m.group(1), m.group(1)), text)
        known = st.fact(new)
        if known is not None:
            return known
        roots = roots_of(new)
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
                    s = with_fact(s, v, b)
            if req.kind == "guard":
                self.need_guard(req.need, line, s, tr, req.message.split(":")[0], chain)
            elif req.kind == "mmu":
                if cond and st.eff == "E":
                    self.lift(Req("mmu", need, self.param_cond(s), req.check, req.message,
                                  chain))
                else:
                    self.need_mmu(need, line, s, tr, req.check, req.message, ev.name, chain)
                    if not cond and req.check == CheckId.LOCK_REQUIREMENT:
                        # Holding the callee's need is now assumed on this path, so a later
                        # contradicting need is reported here, not lifted.
                        refined = refine(refined, need)
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
                    s = with_fact(s, v, b)
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
                    s = with_fact(s, v, b)
            mmu = s.mmu if eff.mmu == "E" else eff.mmu
            s = replaced(s, mmu=mmu, rcu=max(-RCU_CAP, min(RCU_CAP, s.rcu + eff.rcu)),
                         spins=s.spins | eff.spins, preempt=s.preempt + eff.preempt,
                         irq=s.irq + eff.irq)
            changed = eff.mmu != "E" or eff.rcu or eff.spins or eff.preempt or eff.irq
            out.append((s, add_step(tr, line, s, self.base, ev.name) if changed else tr))
        return out or [(st, tr)]

"""Per-file driver: front end -> CFGs -> bottom-up summaries -> findings and call contexts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kpatchkit.analyze.cfg import FunctionCFG
from kpatchkit.analyze.checks import fingerprint
from kpatchkit.analyze.dataflow import FunctionAnalysis
from kpatchkit.analyze.knowledge import Knowledge
from kpatchkit.analyze.lockstate import CallSite, RawFinding, State, Summary
from kpatchkit.cache import content_hash
from kpatchkit.records.checks import CheckId
from kpatchkit.records.findings import CallContext, Finding, TraceStep


@dataclass
class EngineResult:
    """Findings plus the call contexts of every call of every analysed function."""

    findings: list[Finding]
    calls: list[CallContext]
    functions: list[str]


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's SCCs, callees before callers."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# Per-function results by content, in this process (findings-only runs, contexts=False):
# key -> (first line when stored, summary with lines relative to their functions, its
# fingerprint, findings). A key is the function's shape (lines relative to its first), how it
# is entered, the knowledge and the fingerprints of the summaries it reads, so an edit
# re-analyses the edited function and only the callers whose callee summaries changed.
_MEMO: dict[str, tuple] = {}
_MEMO_MAX = 50_000


def memo_snapshot() -> dict:
    """The per-function results held now (to restore a base-only state)."""
    return dict(_MEMO)


def memo_restore(snapshot: dict | None = None) -> None:
    """Hold exactly ``snapshot`` (nothing when None)."""
    _MEMO.clear()
    _MEMO.update(snapshot or {})


def _shift(chain: tuple, starts: dict[str, int], sign: int) -> tuple:
    return tuple((fn, line + sign * starts.get(fn, 0), what) for fn, line, what in chain)


def _moved(summ: Summary, starts: dict[str, int], sign: int) -> Summary:
    """``summ`` with its lines made relative to (sign -1) or absolute from (+1) ``starts``."""
    own = starts.get(summ.name, 0) * sign
    return Summary(
        summ.name, summ.params,
        reqs=[dataclasses.replace(r, chain=_shift(r.chain, starts, sign)) for r in summ.reqs],
        sleeps=[dataclasses.replace(sp, chain=_shift(sp.chain, starts, sign))
                for sp in summ.sleeps],
        effects=[dataclasses.replace(e, line=e.line + own) for e in summ.effects],
        pcalls=[(p, st, line + own) for p, st, line in summ.pcalls])


class _Memo:
    """The memo as one analyze_cfgs run uses it."""

    def __init__(self, by_name: dict, graph: dict, kb: Knowledge, iterators: set[str]) -> None:
        self.by_name = by_name
        self.graph = graph
        self.starts = {n: c.line for n, c in by_name.items()}
        self.env = content_hash(kb.digest(), repr(sorted(iterators)))
        # Where every function starts: findings (their messages and traces name lines of
        # callees too) are reused only when nothing in the file moved.
        self.layout = content_hash(repr(sorted(self.starts.items())))
        self.fps: dict[str, str] = {}

    def key(self, name: str, how: str) -> str:
        deps = sorted((d, self.fps.get(d, "?")) for d in self.graph[name] if d != name)
        return content_hash(self.env, self.by_name[name].shape, how, repr(deps))

    def get(self, key: str, name: str, record: bool = True) -> tuple[Summary, list] | None:
        hit = _MEMO.get(key)
        if hit is None:
            return None
        layout, rel, fp, findings = hit
        if findings and layout != self.layout:
            return None  # messages name lines: re-run where anything moved
        if record:
            self.fps[name] = fp
        return _moved(rel, self.starts, +1), findings

    def put(self, key: str, name: str, summ: Summary, findings: list,
            record: bool = True) -> None:
        rel = _moved(summ, self.starts, -1)
        fp = content_hash(repr(rel))
        if record:
            self.fps[name] = fp
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()  # a long-lived process: start afresh rather than grow
        _MEMO[key] = (self.layout, rel, fp, findings)


def _contract_entries(contract: dict, cfg: FunctionCFG) -> tuple[list[State], int]:
    rcu = int(contract.get("rcu", 0))
    if "mmu_lock_by_arg" in contract:
        idx = contract["mmu_lock_by_arg"]
        name = cfg.params[idx] if idx < len(cfg.params) else ""
        if name:
            return [State(mmu="read", facts=frozenset({(name, True)})),
                    State(mmu="write", facts=frozenset({(name, False)}))], rcu
    # "read|write": callers hold either mode (both are analysed).
    return [State(mmu=m) for m in contract.get("mmu_lock", "none").split("|")], rcu


def analyze_cfgs(cfgs: list[FunctionCFG], kb: Knowledge, file: str,
                 iterators: set[str], contexts: bool = True, addr: list = ()) -> EngineResult:
    """Run summaries bottom-up, then contract analyses, then caller-context propagation.

    ``contexts=False`` skips the call-context table (findings only: the base side of a diff).
    """
    by_name = {c.name: c for c in cfgs}
    # A function passed as an argument (a handler) is summarised before its receiver's caller.
    graph = {c.name: {e.name for e in c.calls if e.name in by_name}
             | {a.lstrip("&").strip() for e in c.calls for a in e.args
                if a.lstrip("&").strip() in by_name} for c in cfgs}
    summaries: dict[str, Summary] = {}
    raw: dict[tuple, object] = {}
    concrete: dict[str, list[FunctionAnalysis]] = {}

    memo = None if contexts else _Memo(by_name, graph, kb, iterators)
    for comp in _sccs(graph):
        recursive = len(comp) > 1 or comp[0] in graph[comp[0]]
        if memo is not None and not recursive:
            name = comp[0]
            key = memo.key(name, "summary")
            hit = memo.get(key, name)
            if hit is None:
                fa = FunctionAnalysis(by_name[name], kb, summaries, None, None, iterators).run()
                hit = (fa.summary, list(fa.findings.values()))
                memo.put(key, name, *hit)
            summaries[name] = hit[0]
            for f in hit[1]:
                raw.setdefault((f.check, f.function, f.line), f)
            continue
        last: dict[str, FunctionAnalysis] = {}
        for _round in range(3 if recursive else 1):
            for name in comp:
                fa = FunctionAnalysis(by_name[name], kb, summaries, None, None, iterators).run()
                summaries[name] = fa.summary
                last[name] = fa
        # Callees' summaries were final when each ran (bottom-up), so the last run's findings
        # stand; a recursive component got extra rounds to settle.
        for fa in last.values():
            for f in fa.findings.values():
                raw.setdefault((f.check, f.function, f.line), f)
            if memo is not None:
                # Recursive components are not memoised; their summaries are fingerprinted
                # so their callers can be.
                memo.fps[fa.cfg.name] = content_hash(repr(_moved(fa.summary, memo.starts, -1)))

    # Entry points with a calling contract: analysed from their concrete entry state.
    for cfg in cfgs:
        contract = kb.contracts.get(cfg.name)
        if contract is None:
            continue
        states, rcu = _contract_entries(contract, cfg)
        if memo is not None:
            # The function's own summary is read too (a recursive call).
            key = content_hash(memo.key(cfg.name, f"contract {contract!r}"),
                               memo.fps.get(cfg.name, "?"))
            hit = memo.get(key, cfg.name, record=False)
            if hit is None:
                fa = FunctionAnalysis(cfg, kb, summaries, states, rcu, iterators).run()
                hit = (fa.summary, list(fa.findings.values()))
                memo.put(key, cfg.name, *hit, record=False)
            for f in hit[1]:
                raw.setdefault((f.check, f.function, f.line), f)
            continue
        fa = FunctionAnalysis(cfg, kb, summaries, states, rcu, iterators).run()
        concrete.setdefault(cfg.name, []).append(fa)
        for f in fa.findings.values():
            raw.setdefault((f.check, f.function, f.line), f)

    # Callers' concrete call-site states become concrete entries of callees (contexts only:
    # any problem there was already reported at the caller's call site).
    contracted = set(concrete)
    seen_entries: dict[str, dict] = {}
    for comp in reversed(_sccs(graph)) if contexts else []:
        # Recursive components (handle_removed_pt <-> handle_changed_spte) need a few rounds.
        for _round in range(3 if len(comp) > 1 else 1):
            changed = False
            for name in comp:
                if name in contracted:
                    continue
                entries = _caller_entries(name, by_name[name], concrete)
                if not entries or entries == seen_entries.get(name):
                    continue
                seen_entries[name] = entries
                changed = True
                concrete[name] = [
                    FunctionAnalysis(by_name[name], kb, summaries, sorted(states, key=repr),
                                     base, iterators).run()
                    for base, states in entries.items()]
            if not changed:
                break

    # Plain uses of __rcu pointers (the front end's address-space pass).
    for a in addr:
        raw.setdefault((CheckId.RCU_ADDRESS_SPACE, a.function, a.line), RawFinding(
            CheckId.RCU_ADDRESS_SPACE, a.function, a.line, a.message,
            [(a.line, "evidence", a.evidence)]))
    findings = [_finding(f, file) for f in raw.values()]
    findings.sort(key=lambda f: (f.line, f.check))
    flagged = {(f.function, f.line) for f in findings}
    calls = _contexts(cfgs, kb, summaries, concrete, iterators, flagged) if contexts else []
    return EngineResult(findings, calls, [c.name for c in cfgs])


def _caller_entries(name: str, callee: FunctionCFG,
                    concrete: dict[str, list[FunctionAnalysis]]) -> dict[int, set[State]]:
    """Concrete entry states of ``name`` from its analysed callers' call sites, by RCU depth."""
    entries: dict[int, set[State]] = {}
    for caller, fas in concrete.items():
        if caller == name:
            continue
        for fa in fas:
            for st in fa.indirect.get(name, ()):
                if st.mmu != "E":
                    entries.setdefault((fa.base or 0) + st.rcu, set()).add(
                        State(mmu=st.mmu, preempt=max(st.preempt, 0), irq=max(st.irq, 0)))
            for site in fa.callsites.values():
                if site.call != name:
                    continue
                for st in site.states:
                    if st.mmu == "E":
                        continue
                    base = (fa.base or 0) + st.rcu
                    # Boolean arguments the caller knows become the callee's facts, so
                    # `shared` stays tied to the lock mode it came with.
                    facts = set()
                    for pname, arg in zip(callee.params, site.args, strict=False):
                        val = fa.eval_arg(arg, st)
                        if isinstance(val, bool) and pname:
                            facts.add((pname, val))
                    entries.setdefault(base, set()).add(
                        State(mmu=st.mmu, preempt=max(st.preempt, 0), irq=max(st.irq, 0),
                              facts=frozenset(facts)))
    return entries


def _finding(f: RawFinding, file: str) -> Finding:
    # The record holds the id as a plain string (as read back from JSON), not the CheckId.
    return Finding(
        id=fingerprint(f.check, f.function, f.message), check=str(f.check), function=f.function,
        file=file, line=f.line, message=f.message,
        trace=[TraceStep(line, state, note) for line, state, note in f.trace],
    )


def context_of(states: set[State], base: int | None, walks: tuple) -> dict:
    """The lock context of a call site, merged over its paths."""
    mmu = sorted({("caller's" if s.mmu == "E" else s.mmu) for s in states})
    if base is None:
        rcu = sorted({f"entry{s.rcu:+d}" if s.rcu else "entry" for s in states})
    else:
        rcu = sorted({base + s.rcu for s in states})
    spins = sorted({lock for s in states for lock in s.spins})
    return {
        "mmu_lock": "|".join(mmu),
        "rcu": rcu[0] if len(rcu) == 1 else rcu,
        "spinlocks": spins,
        "preempt_off": any(s.preempt > 0 for s in states),
        "irqs_off": any(s.irq > 0 for s in states),
        "walks": [w[0] for w in walks],
    }


def needs_of(name: str, kb: Knowledge, summaries: dict[str, Summary]) -> list[str]:
    """What a call needs from its context, in words (for the added-call table)."""
    out: list[str] = []
    prim = kb.prims.get(name)
    info = kb.iterators.get(name)
    if prim is not None:
        op = prim["op"]
        if op == "assert":
            need = prim.get("requires") or f"read/write by argument {prim.get('requires_by_arg')}"
            out.append(f"mmu_lock {need}")
        elif op in ("release", "yield"):
            out.append(f"lock held ({prim.get('mode')})")
        elif op == "rcu_unlock":
            out.append("RCU read-side (to release)")
        elif op in ("acquire", "rcu_lock"):
            out.append("lock not already held" if op == "acquire" else "")
        elif op == "rcu_deref":
            out.append("RCU read-side")
        elif op == "sleep":
            out.append("may sleep: no spinlock/RCU")
    elif info is not None:
        if "mmu_lock" in info:
            out.append(f"mmu_lock {info['mmu_lock']}")
        if "mmu_lock_by_arg" in info:
            out.append(f"mmu_lock read/write by argument {info['mmu_lock_by_arg']}")
        if info.get("rcu"):
            out.append("RCU read-side")
    elif name in summaries:
        summ = summaries[name]
        for req in summ.reqs:
            cond = " ".join(f"{'' if v else '!'}{p}" for p, _pred, v in sorted(req.cond))
            if req.kind == "mmu":
                what = f"mmu_lock {req.need}"
            elif req.kind == "guard":
                lock = kb.guards[req.need]["lock"].rstrip("$")
                what = f"guarded write ({req.need}: mmu_lock write or {lock})"
            else:
                what = "RCU read-side"
            via = req.chain[-1]
            text = f"{what}{' if ' + cond if cond else ''} ({via[0]}:{via[1]} {via[2]}())"
            if text not in out:
                out.append(text)
        if any(sp.kind == "sleep" for sp in summ.sleeps):
            out.append("may sleep")
        if any(sp.kind == "yield" for sp in summ.sleeps):
            out.append("may yield mmu_lock")
    return [n for n in out if n]


def _contexts(cfgs, kb, summaries, concrete, iterators, flagged) -> list[CallContext]:
    out: list[CallContext] = []
    for cfg in cfgs:
        fas = concrete.get(cfg.name)
        if not fas:
            fas = [FunctionAnalysis(cfg, kb, summaries, None, None, iterators).run()]
        merged: dict[tuple, tuple[CallSite, set, int | None]] = {}
        for fa in fas:
            for key, site in fa.callsites.items():
                cur = merged.get(key)
                if cur is None:
                    merged[key] = (site, set(site.states), fa.base)
                else:
                    cur[1].update(site.states)
        for (name, line), (site, states, base) in sorted(merged.items(), key=lambda kv: kv[0][1]):
            ctx = context_of(states, base, site.walks)
            ctx["paths"] = len(states)
            needs = needs_of(name, kb, summaries)
            ctx["needs"] = needs
            verdict = "FINDING here" if (cfg.name, line) in flagged else (
                "requirements met" if needs else "no lock requirement")
            out.append(CallContext(cfg.name, name, line, ctx, note=verdict))
        exits: dict[int, tuple[set, int | None]] = {}
        for fa in fas:
            for st, line, _tr in fa.exits:
                exits.setdefault(line, (set(), fa.base))[0].add(st)
        entry_mmu = {s.mmu for fa in fas for s in fa.entry_states}
        for line, (states, base) in sorted(exits.items()):
            ctx = context_of(states, base, ())
            ctx["paths"] = len(states)
            balanced = all(
                (s.mmu in entry_mmu or s.rel == "same") and s.rcu == 0 and not s.spins
                for s in states)
            if (cfg.name, line) in flagged:
                note = "FINDING here"
            elif balanced:
                took = any(s.rcu_own for s in states)
                note = ("returns with the entry lock state: balanced" if took else
                        "returns before taking anything (entry lock state): harmless")
            else:
                note = "returns with a changed lock state (see the function's contract)"
            out.append(CallContext(cfg.name, "return", line, ctx, note=note))
    return out

"""The dataflow's lattice and what it produces: the per-path lock state, a function's summary
(needs, sleep points, exit effects), raw findings and call sites, and the small pure helpers
on states and traces that every part of the analysis shares.

State (per path): kvm->mmu_lock in {E, none, read, write} where E is "whatever the caller
holds" (symbolic entry), the RCU read-side depth *relative to entry*, spinlocks taken here,
preemption/IRQ-off depth, and boolean facts about untouched variables learnt from branches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from kpatchkit.records.checks import CheckId

RCU_CAP = 4
MAX_STATES = 256
TRACE_LEN = 14

# A condition on the function's parameters: (param name, predicate, value).
# predicate "b": the parameter's truth value; "gfp": the gfp_t parameter allows sleeping.
Cond = frozenset

# Req.check of a lifted unlock of mmu_lock: not a check of its own; at the caller it is
# reported as a double unlock or a lock imbalance, as the caller's state says (need_mmu).
RELEASE = "release"


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
    check: str  # a CheckId, or RELEASE
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

    check: CheckId
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


# A need (kind "mmu") -> the path states of mmu_lock that meet it.
SATISFIES = {
    "read": {"read"},
    "write": {"write"},
    "held": {"read", "write"},
    "none": {"none"},
    "not_held": {"none"},
}

# A variable read in a predicate text: not a field (after . or ->), not a called name.
ROOT = re.compile(r"(?<![.>\w])([A-Za-z_]\w*)\b(?!\s*\()")


def roots_of(text: str) -> set[str]:
    """Variables a predicate text reads."""
    return {m.group(1) for m in ROOT.finditer(text)
            if m.group(1) not in ("NULL", "true", "false", "sizeof")}


def with_fact(st: State, var: str, val: bool) -> State:
    """``st`` knowing that ``var`` is ``val`` on this path."""
    return replaced(st, facts=st.facts | {(var, val)})


def replaced(st: State, **kw) -> State:
    """``st`` with the fields ``kw`` changed."""
    return st._replace(**kw)


def refine(st: State, need: str) -> State:
    """After an assertion passes, the path holds what it asserted."""
    if st.mmu == "E" and not st.assumed and need in ("read", "write"):
        return replaced(st, assumed=need)
    if st.mmu == "E" and not st.assumed and need in ("none", "not_held"):
        return replaced(st, assumed="none")
    return st


def add_step(tr: tuple, line: int, st: State, base: int | None, note: str) -> tuple:
    """The trace ``tr`` with one step more (the last TRACE_LEN steps are kept)."""
    # States are described only when a finding is reported (most traces are dropped).
    step = (line, (st, base), note)
    return (tr + (step,))[-TRACE_LEN:]


def via_text(chain: tuple, own: str) -> str:
    """' (via f() line N -> g() line M)' for requirements coming from callees."""
    hops = [f"{fn}():{line} {what}()" for fn, line, what in chain[1:]]
    return f" (via {' -> '.join(hops)})" if hops else ""

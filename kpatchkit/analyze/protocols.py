"""Guarded-data contracts and ordering rules (data/guards.toml, data/orders.toml) as the
dataflow asks about them: which events write guarded state, whether a path holds its lock,
and which ordering rules an event steps."""

from __future__ import annotations

import re
from dataclasses import dataclass


def _applies(entry: dict, file: str, function: str | None = None) -> bool:
    files = entry.get("files")
    functions = entry.get("functions")
    if files and not any(file.endswith(f) for f in files):
        return False
    if functions and function is not None and function not in functions:
        return False
    return True


class Guards:
    """The guards of one file: match writes, judge a path's locks."""

    def __init__(self, guards: dict, file: str) -> None:
        self.guards = {gid: g for gid, g in guards.items() if _applies(g, file)}
        self._stores = {gid: [re.compile(rx) for rx in g.get("stores", [])]
                        for gid, g in self.guards.items()}
        self._args = {gid: re.compile(g["args"]) for gid, g in self.guards.items()
                      if g.get("args")}
        self._locks = {gid: re.compile(g["lock"]) for gid, g in self.guards.items()}

    def for_store(self, lvalue: str) -> list[str]:
        """Guards whose state the store to ``lvalue`` writes."""
        text = lvalue.replace(" ", "")
        return [gid for gid, rxs in self._stores.items() if any(rx.search(text) for rx in rxs)]

    def for_call(self, name: str, args: list[str]) -> list[str]:
        """Guards whose state a call modifies (a helper, or a list operation on the list)."""
        out = []
        for gid, g in self.guards.items():
            if name in g.get("helpers", []):
                out.append(gid)
            elif name in g.get("calls", []) and any(
                    self._args[gid].search(a.replace(" ", "")) for a in args):
                out.append(gid)
        return out

    def held(self, gid: str, mmu: str, spins: frozenset) -> bool:
        """Does a path with mmu_lock ``mmu`` and these spinlocks hold what ``gid`` needs?"""
        g = self.guards[gid]
        return mmu == g["mmu"] or any(self._locks[gid].search(s) for s in spins)

    def lock_name(self, gid: str) -> str:
        return self.guards[gid]["lock"].rstrip("$")

    def rule_text(self, gid: str) -> str:
        g = self.guards[gid]
        return (f"{g['what']} must be written under mmu_lock held for {g['mmu']}, or under "
                f"{self.lock_name(gid)} when mmu_lock is held for read")


@dataclass(frozen=True)
class Violation:
    """An ordering rule broken at ``line``; ``other`` is the event it is ordered against."""

    rule: str
    line: int
    message: str
    source: str


class Orders:
    """The ordering rules that apply to one function."""

    def __init__(self, orders: dict, file: str, function: str, calls: list) -> None:
        self.rules = {rid: o for rid, o in orders.items() if _applies(o, file, function)}
        # Lines of every call in the function, to name an event that is not on the path.
        self.lines: dict[str, list[int]] = {}
        for ev in calls:
            self.lines.setdefault(ev.name, []).append(ev.line)
        names = set(self.lines)
        self.rules = {rid: o for rid, o in self.rules.items()
                      if names & set(o["then"]) or names & set(o["first"])}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def step(self, name: str, line: int, seen: frozenset) -> tuple[frozenset, list[Violation]]:
        """The path's ordering memory after event ``name``, and what it breaks."""
        out: list[Violation] = []
        for rid, o in self.rules.items():
            if name in o.get("reset", []):
                seen = frozenset(s for s in seen if s[0] != rid)
            strict = o.get("strict", False)
            if name in o["first"]:
                if strict:
                    seen = seen | {(rid, name, line)}
                else:
                    for _rid, then, tline in sorted(s for s in seen if s[0] == rid):
                        out.append(Violation(rid, line, f"{name}() at line {line} comes after "
                                             f"{then}() at line {tline} on this path: {name}() "
                                             f"must precede {then}()", o["source"]))
            if name in o["then"]:
                if strict:
                    if not any(s[0] == rid for s in seen):
                        firsts = [f"{f}() at line {ln}" for f in o["first"]
                                  for ln in self.lines.get(f, []) if ln != line]
                        where = (f" ({', '.join(firsts)} does not precede it on this path)"
                                 if firsts else "")
                        out.append(Violation(rid, line, f"{name}() at line {line} runs without "
                                             f"{' or '.join(f + '()' for f in o['first'])} "
                                             f"before it{where}", o["source"]))
                else:
                    seen = seen | {(rid, name, line)}
        return seen, out

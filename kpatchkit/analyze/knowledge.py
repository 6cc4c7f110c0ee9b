"""Kernel knowledge for the analyzer, read from data/*.toml (one cached loader).

Each file loads through ``kpatchkit.knowledge.load_toml`` against its schema below (what the
analyzer reads: ``[...]`` keys required, ``.get`` keys optional, lock modes and ops as enums,
regexes compiled, every entry's kernel ``source`` cited); a broken file is a ``KnowledgeError``
naming the file and the key path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpatchkit.knowledge import ListOf, OneOf, Opt, Regex, TableOf, Tagged, Where, load_toml

DATA = Path(__file__).with_name("data")


def _cited(schema: Any, *checks: Any) -> Where:
    """``schema`` (a table with ``source``), its ``source`` not blank, then ``checks``."""
    def check(entry: dict) -> tuple[str, str] | None:
        if not entry["source"].strip():
            return "source", "every entry cites its kernel source (it is blank)"
        return next((bad for c in checks if (bad := c(entry))), None)
    return Where(schema, check)


def _indexes(*keys: str) -> Any:
    """Argument indexes (``ev.args[i]``) and depths are 0 or more."""
    def check(entry: dict) -> tuple[str, str] | None:
        for key in keys:
            if key in entry and entry[key] < 0:
                return key, f"must be 0 or more, got {entry[key]}"
        return None
    return check


def _one_of(*keys: str) -> Any:
    """At most one of ``keys`` (the readers would take the first silently)."""
    def check(entry: dict) -> tuple[str, str] | None:
        given = [k for k in keys if k in entry]
        if len(given) > 1:
            return given[1], f"give {' or '.join(keys)}, not both"
        return None
    return check


# primitives.toml: the op chooses the fields (primitives.apply_prim and its helpers).
_LOCK = {"lock": Opt(OneOf("mmu_lock")), "lock_arg": Opt(int)}  # lock_of(): which lock
_PRIM_OPS: dict[str, dict] = {
    **{op: {"mode": OneOf("read", "write", "spin"), "irq": Opt(bool), **_LOCK, "source": str}
       for op in ("acquire", "release", "trylock")},
    "yield": {"mode": OneOf("read", "write"), "source": str},  # need_mmu(mode)
    "assert": {"requires": Opt(OneOf("read", "write", "held", "not_held")),
               "requires_by_arg": Opt(int), **_LOCK, "source": str},
    "sleep": {"sleeps_if_gfp_arg": Opt(int), "source": str},
    **{op: {"source": str} for op in ("rcu_lock", "rcu_unlock", "rcu_deref", "preempt_off",
                                      "preempt_on", "irq_off", "irq_on")},
}


def _assert_needs(entry: dict) -> tuple[str, str] | None:
    if entry["op"] == "assert" and not ("requires" in entry) ^ ("requires_by_arg" in entry):
        return "requires", "an assert gives requires or requires_by_arg (one of them)"
    return None


PRIMITIVES = {
    "mmu_lock": Opt(_cited({"match": Opt(Regex()), "source": str})),
    "prim": Opt(TableOf(_cited(Tagged("op", _PRIM_OPS), _assert_needs,
                               _indexes("lock_arg", "requires_by_arg", "sleeps_if_gfp_arg")))),
    "gfp": Opt(_cited({"sleeps": Opt(ListOf(str)), "atomic": Opt(ListOf(str)), "source": str})),
    "predicates": Opt(_cited({"names": Opt(ListOf(str)), "source": str})),
}

# iterators.toml: primitives.apply_iter, engine.needs_of, the yield-in-walk check.
ITERATORS = {
    "iterator": Opt(TableOf(_cited(
        {"mmu_lock": Opt(OneOf("read", "write", "held")), "mmu_lock_by_arg": Opt(int),
         "rcu": Opt(bool), "yield_safe": Opt(bool), "source": str},
        _one_of("mmu_lock", "mmu_lock_by_arg"), _indexes("mmu_lock_by_arg")))),
}

_ENTRY_MODES = ("none", "read", "write")


def _entry_modes(entry: dict) -> tuple[str, str] | None:
    """engine._contract_entries: ``mmu_lock`` is a mode or several joined by ``|``."""
    for mode in entry.get("mmu_lock", "none").split("|"):
        if mode not in _ENTRY_MODES:
            return "mmu_lock", (f"{mode!r} is not one of {', '.join(_ENTRY_MODES)} (or several "
                                "joined by |)")
    return None


# contracts.toml: engine._contract_entries.
CONTRACTS = {
    "entry": Opt(TableOf(_cited(
        {"mmu_lock": Opt(str), "mmu_lock_by_arg": Opt(int), "rcu": Opt(int), "source": str},
        _entry_modes, _one_of("mmu_lock", "mmu_lock_by_arg"),
        _indexes("mmu_lock_by_arg", "rcu")))),
}

_MACRO = re.compile(r"[A-Za-z_]\w*(\((\s*[A-Za-z_]\w*\s*,)*\s*([A-Za-z_]\w*|\.\.\.)?\s*\))?")


def _names(pattern: re.Pattern, what: str) -> Any:
    def check(table: dict) -> tuple[str, str] | None:
        bad = next((k for k in table if not pattern.fullmatch(k)), None)
        if bad is None:
            return None
        return (bad if re.fullmatch(r"[A-Za-z0-9_-]+", bad) else f'"{bad}"'), f"not {what}"
    return check


# stubs.toml: stubs.stub_header, build_unit, _macros; frontend (the cache's dependencies).
STUBS = {
    "typedefs": Opt(ListOf(str)),
    "typedef_headers": Opt(ListOf(str)),
    "iterator_headers": Opt(ListOf(str)),
    "iterators": Opt(ListOf(str)),
    "macros": Opt(Where(TableOf(str), _names(_MACRO, "a macro name (NAME or NAME(params))"))),
    "defines": Opt(Where(TableOf(str), _names(re.compile(r"[A-Za-z_]\w*"), "a macro name"))),
}

# rcu.toml: frontend (headers), addrspace (the accessors' names).
RCU = _cited({
    "headers": Opt(ListOf(str)),
    "source": str,  # where the annotation comes from
    "accessor": Opt(TableOf(_cited({"takes_rcu_args": Opt(ListOf(int)), "source": str}))),
})


def _guard_writes(g: dict) -> tuple[str, str] | None:
    """protocols.Guards: a guard sees writes by stores, calls or helpers; calls need args."""
    if not (g.get("stores") or g.get("calls") or g.get("helpers")):
        return "stores", "a guard needs stores, calls or helpers"
    if g.get("calls") and not g.get("args"):
        return "args", "calls need an args regex"
    return None


# guards.toml: protocols.Guards, needs.need_guard, engine.needs_of.
GUARDS = {
    "guard": Opt(TableOf(_cited(
        {"what": str, "mmu": OneOf("write"), "lock": Regex(), "source": str,
         "stores": Opt(ListOf(Regex())), "calls": Opt(ListOf(str)), "args": Opt(Regex()),
         "helpers": Opt(ListOf(str)), "files": Opt(ListOf(str))},
        _guard_writes))),
}


def _scoped(o: dict) -> tuple[str, str] | None:
    if not (o.get("functions") or o.get("files")):
        return "functions", "give functions or files (where the rule applies)"
    return None


# orders.toml: protocols.Orders.
ORDERS = {
    "order": Opt(TableOf(_cited(
        {"first": ListOf(str, min=1), "then": ListOf(str, min=1), "strict": Opt(bool),
         "reset": Opt(ListOf(str)), "functions": Opt(ListOf(str)), "files": Opt(ListOf(str)),
         "source": str},
        _scoped))),
}

SCHEMAS = {"primitives.toml": PRIMITIVES, "iterators.toml": ITERATORS,
           "contracts.toml": CONTRACTS, "stubs.toml": STUBS, "rcu.toml": RCU,
           "guards.toml": GUARDS, "orders.toml": ORDERS}


def data_file(name: str) -> dict:
    """One data file (``primitives.toml``...), checked against its schema."""
    return load_toml(DATA / name, SCHEMAS[name])


@dataclass(frozen=True)
class Knowledge:
    """Primitives, iterators, entry contracts, stubs, __rcu accessors, guarded data and
    ordering rules, as loaded."""

    prims: dict = field(default_factory=dict)
    iterators: dict = field(default_factory=dict)
    contracts: dict = field(default_factory=dict)
    stubs: dict = field(default_factory=dict)
    gfp: dict = field(default_factory=dict)
    mmu_lock_match: str = "mmu_lock$"
    predicates: frozenset = frozenset()
    accessors: dict = field(default_factory=dict)  # __rcu-stripping accessors (rcu.toml)
    rcu_headers: tuple = ()
    guards: dict = field(default_factory=dict)  # lock-protected data (guards.toml)
    orders: dict = field(default_factory=dict)  # ordering rules (orders.toml)

    def keep_names(self) -> set[str]:
        """Macro names the override header must keep as calls."""
        return set(self.prims)

    def digest(self) -> str:
        """Content hash of the data files (part of every cache key)."""
        from kpatchkit.cache import content_hash

        return content_hash(*(p.read_bytes() for p in sorted(DATA.glob("*.toml"))))


@functools.cache
def load() -> Knowledge:
    """Load every data file once per process."""
    prims = data_file("primitives.toml")
    rcu = data_file("rcu.toml")
    return Knowledge(
        prims=prims.get("prim", {}),
        iterators=data_file("iterators.toml").get("iterator", {}),
        contracts=data_file("contracts.toml").get("entry", {}),
        stubs=data_file("stubs.toml"),
        gfp=prims.get("gfp", {}),
        mmu_lock_match=prims.get("mmu_lock", {}).get("match", "mmu_lock$"),
        predicates=frozenset(prims.get("predicates", {}).get("names", [])),
        accessors=rcu.get("accessor", {}),
        rcu_headers=tuple(rcu.get("headers", [])),
        guards=data_file("guards.toml").get("guard", {}),
        orders=data_file("orders.toml").get("order", {}),
    )

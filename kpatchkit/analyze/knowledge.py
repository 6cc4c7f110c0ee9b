"""Kernel knowledge for the analyzer, read from data/*.toml (one cached loader)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).with_name("data")


def _load(name: str) -> dict:
    with open(DATA / name, "rb") as fh:
        return tomllib.load(fh)


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


class SchemaError(ValueError):
    """A data file entry that does not follow its documented schema."""


def _check(kind: str, name: str, entry: dict, required: dict, optional: dict) -> None:
    for key, typ in required.items():
        if not isinstance(entry.get(key), typ):
            raise SchemaError(f"{kind}.{name}: '{key}' is required ({typ.__name__})")
    for key, value in entry.items():
        typ = required.get(key) or optional.get(key)
        if typ is None:
            raise SchemaError(f"{kind}.{name}: unknown key '{key}'")
        if not isinstance(value, typ):
            raise SchemaError(f"{kind}.{name}: '{key}' must be {typ.__name__}")
    if not str(entry.get("source", "")).strip():
        raise SchemaError(f"{kind}.{name}: every entry cites its kernel source")


def validate_guards(guards: dict) -> dict:
    """guards.toml: each guard names what it protects, a way to see a write, the lock(s)."""
    import re

    for name, g in guards.items():
        _check("guard", name, g, {"what": str, "mmu": str, "lock": str, "source": str},
               {"stores": list, "calls": list, "args": str, "helpers": list, "files": list})
        if g["mmu"] not in ("write",):
            raise SchemaError(f"guard.{name}: mmu must be 'write'")
        if not (g.get("stores") or g.get("calls") or g.get("helpers")):
            raise SchemaError(f"guard.{name}: needs stores, calls or helpers")
        if g.get("calls") and not g.get("args"):
            raise SchemaError(f"guard.{name}: calls need an args regex")
        for rx in [g["lock"], g.get("args", ""), *g.get("stores", [])]:
            re.compile(rx)
    return guards


def validate_orders(orders: dict) -> dict:
    """orders.toml: event A before event B, scoped to functions or files."""
    for name, o in orders.items():
        _check("order", name, o, {"first": list, "then": list, "source": str},
               {"strict": bool, "reset": list, "functions": list, "files": list})
        if not (o.get("functions") or o.get("files")):
            raise SchemaError(f"order.{name}: give functions or files")
    return orders


def validate_accessors(acc: dict) -> dict:
    """rcu.toml: each accessor cites where it strips the annotation."""
    for name, a in acc.items():
        _check("accessor", name, a, {"source": str}, {"takes_rcu_args": list})
    return acc


@functools.cache
def load() -> Knowledge:
    """Load every data file once per process."""
    prims = _load("primitives.toml")
    rcu = _load("rcu.toml")
    return Knowledge(
        prims=prims.get("prim", {}),
        iterators=_load("iterators.toml").get("iterator", {}),
        contracts=_load("contracts.toml").get("entry", {}),
        stubs=_load("stubs.toml"),
        gfp=prims.get("gfp", {}),
        mmu_lock_match=prims.get("mmu_lock", {}).get("match", "mmu_lock$"),
        predicates=frozenset(prims.get("predicates", {}).get("names", [])),
        accessors=validate_accessors(rcu.get("accessor", {})),
        rcu_headers=tuple(rcu.get("headers", [])),
        guards=validate_guards(_load("guards.toml").get("guard", {})),
        orders=validate_orders(_load("orders.toml").get("order", {})),
    )

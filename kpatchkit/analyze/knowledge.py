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
    """Primitives, iterators, entry contracts and stub definitions, as loaded."""

    prims: dict = field(default_factory=dict)
    iterators: dict = field(default_factory=dict)
    contracts: dict = field(default_factory=dict)
    stubs: dict = field(default_factory=dict)
    gfp: dict = field(default_factory=dict)
    mmu_lock_match: str = "mmu_lock$"
    predicates: frozenset = frozenset()

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
    prims = _load("primitives.toml")
    return Knowledge(
        prims=prims.get("prim", {}),
        iterators=_load("iterators.toml").get("iterator", {}),
        contracts=_load("contracts.toml").get("entry", {}),
        stubs=_load("stubs.toml"),
        gfp=prims.get("gfp", {}),
        mmu_lock_match=prims.get("mmu_lock", {}).get("match", "mmu_lock$"),
        predicates=frozenset(prims.get("predicates", {}).get("names", [])),
    )

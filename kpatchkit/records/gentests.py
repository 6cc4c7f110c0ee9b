"""What ``gen-tests`` produces: rendered KVM selftests and the expectations that judge them.

The output contract with the run stage (kept exact, parsed from each test's TAP output):

* ``# kpatchkit-stat phase=NAME pf_taken=N pf_fixed=N pf_spurious=N exits=N`` once per phase;
* ``# kpatchkit-metric faults_per_cow_write=X.XXX`` for scenarios with a fault expectation
  (TDP faults in the write phase divided by the pages written).

``expectations`` is ``{metric: {"base": bound, "patched": bound}, "kind": ..., "control": bool}``
where a bound is ``{"min": x, "max": y}`` (either may be missing); ``kind`` is ``claim`` (the
patch's claim: base and patched must differ as stated), ``control`` (must be equal on both) or
``correctness`` (no metric: the TAP results alone decide).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpatchkit.records.base import Record

STAT_RE = re.compile(
    r"^# kpatchkit-stat phase=(?P<phase>\S+)((?: \w+=-?\d+)+)\s*$", re.M)
METRIC_RE = re.compile(r"^# kpatchkit-metric (?P<name>\w+)=(?P<value>-?[0-9.]+)\s*$", re.M)


@dataclass
class SelftestLib(Record):
    """What a tree's ``tools/testing/selftests/kvm`` library offers, as probed from its text."""

    tree_version: str
    arch_dir: str  # "x86_64" (<= 6.13) or "x86"
    stats_api: str  # "vcpu_get_stat" (token macro), "stats_fd" (library readers) or "raw"
    guest_assert: str  # "printf" (__GUEST_ASSERT(cond, fmt, ...)) or "nargs" (GUEST_ASSERT_N)
    ucall_init: str  # "auto" (vm_create does it) or "explicit" (test calls ucall_init(vm, NULL))
    vcpu_stats: list[str] = field(default_factory=list)  # x86 vCPU stat names of the tree's KVM
    features: dict[str, bool] = field(default_factory=dict)  # every probed feature, by name
    evidence: dict[str, str] = field(default_factory=dict)  # feature -> "file:line" it came from


@dataclass
class GeneratedTest(Record):
    """One rendered selftest: its C source and how to judge its results."""

    name: str  # binary/test name, e.g. "kpatchkit_cow_anon_thp_off"
    c_path: Path  # the rendered C file
    scenario: str  # scenario id from kselftests/scenarios.toml
    expectations: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    phases: list[str] = field(default_factory=list)  # phases printed as kpatchkit-stat lines
    metric_phase: str | None = None  # the phase whose pf_taken the metric divides
    pages: int = 0
    vcpus: int = 1
    timeout: int = 120  # seconds the run stage should allow (TCG guest)
    kconfig: list[str] = field(default_factory=list)  # guest kernel options the test wants
    args: list[str] = field(default_factory=list)  # command-line arguments to run it with
    tree_version: str = ""
    headers: list[Path] = field(default_factory=list)  # local headers it includes (cow_util.h)


def parse_tap_stats(text: str) -> dict[str, dict[str, int]]:
    """Read the ``kpatchkit-stat`` lines of a test's TAP output: {phase: {stat: value}}."""
    out: dict[str, dict[str, int]] = {}
    for m in STAT_RE.finditer(text):
        pairs = dict(kv.split("=", 1) for kv in m.group(2).split())
        out[m.group("phase")] = {k: int(v) for k, v in pairs.items()}
    return out


def parse_tap_metrics(text: str) -> dict[str, float]:
    """Read the ``kpatchkit-metric`` lines of a test's TAP output: {name: value}."""
    return {m.group("name"): float(m.group("value")) for m in METRIC_RE.finditer(text)}


def within(bound: dict[str, float] | None, value: float) -> bool:
    """True when ``value`` lies inside ``{"min", "max"}`` (missing ends are open)."""
    if not bound:
        return True
    lo, hi = bound.get("min"), bound.get("max")
    return (lo is None or value >= lo) and (hi is None or value <= hi)

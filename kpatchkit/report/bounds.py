"""Expected values: a scenario's expectations (gen-tests data) and ``--expect`` as ``Bound``s.

An expectation is data someone wrote (kselftests/scenarios.toml, ``--expect``, a hand-written
record), so several spellings are accepted; each dict spelling is read through a record here,
never key by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kpatchkit.errors import KpatchkitError
from kpatchkit.records.base import Record
from kpatchkit.records.review import Bound

METRIC = "faults_per_cow_write"
# Names the expectation data may use for the two kernels.
_KERNEL_ALIASES = {
    "base": "base", "unpatched": "base", "without": "base", "before": "base", "baseline": "base",
    "patched": "patched", "with": "patched", "after": "patched", "head": "patched",
}
_DEFAULT_TOL = 0.1  # relative tolerance for a bare "about X"


@dataclass
class BoundSpec(Record):
    """The dict spelling of one expected value: ``{min, max}`` (or ge/gte, le/lte), or about a
    value (approx/about/value) within ``tol``/``tolerance`` (else ``rel_tol`` of it, else 10%).
    The list spelling of expectations adds which ``kernel`` and ``metric`` it is for."""

    min: float | None = None
    ge: float | None = None
    gte: float | None = None
    max: float | None = None
    le: float | None = None
    lte: float | None = None
    approx: float | None = None
    about: float | None = None
    value: float | None = None
    tol: float | None = None
    tolerance: float | None = None
    rel_tol: float = _DEFAULT_TOL
    kernel: str = ""
    metric: str = ""  # "": the metric asked for

    def bound(self) -> Bound | None:
        """The range this spec gives (None when it gives none)."""
        lo = _first(self.min, self.ge, self.gte)
        hi = _first(self.max, self.le, self.lte)
        approx = _first(self.approx, self.about, self.value)
        if approx is not None:
            tol = _first(self.tol, self.tolerance)
            if tol is None:
                tol = abs(float(approx)) * float(self.rel_tol)
            lo = float(approx) - float(tol) if lo is None else lo
            hi = float(approx) + float(tol) if hi is None else hi
        if lo is None and hi is None:
            return None
        return Bound(min=None if lo is None else float(lo), max=None if hi is None else float(hi))


@dataclass
class ScenarioKind(Record):
    """What kind of check a scenario's expectations declare (records/gentests.py's contract:
    ``kind`` claim | control | correctness, and ``control``); the metric keys are read by
    ``parse_expectations``."""

    kind: str = ""
    control: bool = False

    @property
    def is_control(self) -> bool:
        """Expected equal on both kernels."""
        return self.control or self.kind == "control"


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def parse_bound(spec: Any) -> Bound | None:
    """Read one expected value: a number (about), "<= x", "~x", {"min","max"}, {"approx","tol"}."""
    if spec is None or isinstance(spec, bool):
        return None
    if isinstance(spec, (int, float)):
        lo, hi = spec * (1 - _DEFAULT_TOL), spec * (1 + _DEFAULT_TOL)
        return Bound(min=round(lo, 4), max=round(hi, 4))
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(<=|>=|<|>|~|≈|=|==)?\s*([0-9.]+)\s*", spec)
        if not m:
            return None
        op, val = m.group(1) or "~", float(m.group(2))
        if op in ("<=", "<"):
            return Bound(max=val)
        if op in (">=", ">"):
            return Bound(min=val)
        return parse_bound(val)
    if isinstance(spec, dict):
        return BoundSpec.from_json(spec).bound()
    return None


def parse_expectations(exp: Any, metric: str = METRIC) -> dict[str, Bound]:
    """Return {"base": Bound, "patched": Bound} for ``metric`` from a scenario's expectations.

    Accepted shapes: ``{kernel: {metric: spec}}``, ``{metric: {kernel: spec}}``,
    ``{"base_" + metric: spec}`` and a list of ``{"kernel", "metric", ...bound}`` entries.
    """
    out: dict[str, Bound] = {}
    if isinstance(exp, list):
        for item in exp:
            if not isinstance(item, dict):
                continue
            spec = BoundSpec.from_json(item)
            kernel = _KERNEL_ALIASES.get(str(spec.kernel).lower())
            bound = spec.bound()
            if (spec.metric or metric) == metric and kernel and bound:
                out[kernel] = bound
        return out
    if not isinstance(exp, dict):
        return out
    for key, val in exp.items():
        k = str(key).lower()
        if k in _KERNEL_ALIASES and isinstance(val, dict) and metric in val:
            bound = parse_bound(val[metric])
            if bound:
                out[_KERNEL_ALIASES[k]] = bound
        elif k == metric and isinstance(val, dict):
            for kk, spec in val.items():
                kernel = _KERNEL_ALIASES.get(str(kk).lower())
                bound = parse_bound(spec)
                if kernel and bound:
                    out[kernel] = bound
        else:
            for alias, kernel in _KERNEL_ALIASES.items():
                if k in (f"{alias}_{metric}", f"{metric}_{alias}"):
                    bound = parse_bound(val)
                    if bound:
                        out[kernel] = bound
    return out


def scenario_kind(exp: Any) -> ScenarioKind:
    """The kind a scenario's expectations declare (nothing for a list spelling)."""
    return ScenarioKind.from_json(exp) if isinstance(exp, dict) else ScenarioKind()


def parse_expect(items: list[str] | dict[str, Any] | None) -> dict[str, Bound]:
    """``--expect SCENARIO=VALUE`` (repeatable) as {scenario: Bound} for the patched kernel.

    VALUE is a number of faults per COW write (about it, within 10%), or "<=x", ">=x", "~x".
    Bad syntax is a KpatchkitError (exit 2); which scenarios exist is the caller's check.
    """
    pairs = list(items.items()) if isinstance(items, dict) else []
    for item in items if isinstance(items, list) else []:
        name, sep, value = str(item).partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+", name.strip()):
            raise KpatchkitError(f"--expect {item!r}: give SCENARIO=VALUE, "
                                 "e.g. cow_anon_thp_off=1.0")
        pairs.append((name.strip(), value.strip()))
    out: dict[str, Bound] = {}
    for name, value in pairs:
        bound = parse_bound(value) if isinstance(value, str) else None
        if bound is None:
            raise KpatchkitError(f"--expect {name}={value}: VALUE must be faults per COW write, "
                                 "a number such as 1.0 or a bound such as '<=1.05'")
        out[name] = bound
    return out

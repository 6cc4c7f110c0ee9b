"""A TAP 13/14 parser (version line, plan, test points with directives, diagnostics, YAML blocks,
indented subtests, ``Bail out!``) plus kpatchkit's metric lines.

The kselftest harness prints TAP 13 with nested plans prefixed by ``# ``; TAP 14 nests subtests
by four spaces. Both parse into :class:`TapDocument`. Generated tests report measurements as
diagnostics (a contract with gen-tests)::

    # kpatchkit-metric faults_per_cow_write=2.000
    # kpatchkit-stat phase=write_after_read pf_taken=2048 pf_fixed=1024
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_VERSION = re.compile(r"^TAP version (\d+)\s*$")
_PLAN = re.compile(r"^1\.\.(\d+)(?:\s*#\s*(.*))?$")
_POINT = re.compile(
    r"^(?P<not>not )?ok\b(?:\s+(?P<num>\d+))?(?:\s*-?\s*(?P<desc>[^#]*?))?\s*"
    r"(?:#\s*(?P<rest>.*))?$")
_DIRECTIVE = re.compile(r"^(SKIP|TODO)\S*\s*(.*)$", re.I)
_BAIL = re.compile(r"^Bail out!\s*(.*)$")
_METRIC = re.compile(r"^kpatchkit-metric\s+([A-Za-z0-9_.:-]+)=(\S+)")
_STAT = re.compile(r"^kpatchkit-stat\s+(.*)$")
_KV = re.compile(r"([A-Za-z0-9_.:-]+)=(\S+)")


@dataclass
class TapPoint:
    """One ``ok``/``not ok`` line with what belongs to it."""

    number: int
    ok: bool
    description: str
    directive: str = ""  # "SKIP", "TODO" or "" (case-normalised)
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)  # '# ' lines before this point
    yaml: list[str] = field(default_factory=list)
    subtests: TapDocument | None = None

    @property
    def outcome(self) -> str:
        """pass / fail / skip (TODO failures count as pass, as TAP says)."""
        if self.directive == "SKIP":
            return "skip"
        if self.ok or self.directive == "TODO":
            return "pass"
        return "fail"


@dataclass
class TapDocument:
    """A parsed TAP stream."""

    version: int | None = None
    planned: int | None = None
    points: list[TapPoint] = field(default_factory=list)
    bailed: str | None = None
    trailing: list[str] = field(default_factory=list)  # diagnostics after the last point

    @property
    def complete(self) -> bool:
        """The plan was seen and every planned point arrived (no bail out)."""
        return (self.bailed is None and self.planned is not None
                and len(self.points) >= self.planned)


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def parse_metrics(lines: list[str]) -> tuple[dict[str, float | str], dict[str, dict]]:
    """Metrics and per-phase stats from diagnostic lines (with or without the leading ``#``)."""
    metrics: dict[str, float | str] = {}
    phases: dict[str, dict] = {}
    for raw in lines:
        line = raw.strip().lstrip("#").strip()
        if m := _METRIC.match(line):
            metrics[m.group(1)] = _number(m.group(2))
        elif m := _STAT.match(line):
            kv = dict(_KV.findall(m.group(1)))
            phase = kv.pop("phase", "default")
            phases.setdefault(phase, {}).update({k: _number(v) for k, v in kv.items()})
    return metrics, phases


def parse(text: str) -> TapDocument:
    """Parse TAP text (``\\r`` tolerated; unknown lines are kept as diagnostics)."""
    return _parse([ln.rstrip("\r") for ln in text.splitlines()])


def _parse(lines: list[str]) -> TapDocument:
    doc = TapDocument()
    pending: list[str] = []
    sub: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    "):  # TAP 14 subtest (or YAML continuation handled below)
            sub.append(line[4:])
            i += 1
            continue
        stripped = line.strip()
        if m := _VERSION.match(stripped):
            doc.version = doc.version or int(m.group(1))
        elif (m := _PLAN.match(stripped)) and doc.planned is None:
            doc.planned = int(m.group(1))
        elif m := _BAIL.match(stripped):
            doc.bailed = m.group(1)
        elif m := _POINT.match(stripped):
            rest = (m.group("rest") or "").strip()
            d = _DIRECTIVE.match(rest)
            point = TapPoint(
                number=int(m.group("num") or len(doc.points) + 1),
                ok=not m.group("not"),
                description=(m.group("desc") or "").strip(),
                directive=d.group(1).upper() if d else "",
                reason=d.group(2).strip() if d else rest,
                diagnostics=pending)
            if sub:
                point.subtests = _parse(sub)
            pending, sub = [], []
            # A YAML block follows a point, indented by two spaces.
            if i + 1 < len(lines) and lines[i + 1].strip() == "---":
                i += 2
                while i < len(lines) and lines[i].strip() != "...":
                    point.yaml.append(lines[i])
                    i += 1
            doc.points.append(point)
        elif stripped.startswith("#") or stripped:
            pending.append(stripped)
        i += 1
    doc.trailing = pending
    return doc

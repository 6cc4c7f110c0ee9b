"""Kernel splats recognised in a console log and classified with ``data/splats.toml``.

A splat is a header line (lockdep, RCU, might_sleep, WARNING, BUG, KASAN, panic, lockups) plus
the lines that belong to it (up to the end of its call trace or ``---[ end trace``). Each gets a
``kind``, its ``title``, a source ``location`` (``file:line``) when the kernel printed one, the
``function`` at fault (from the header, ``RIP:``, or the first call-trace frame that is not the
reporting machinery, preferring KVM's code) and the ``test`` whose begin/end markers
(``kpatchkit: begin NAME`` written to /dev/kmsg by the guest's init) enclose it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from kpatchkit.knowledge import ListOf, Regex, load_toml
from kpatchkit.records.results import Splat

DATA = Path(__file__).with_name("data") / "splats.toml"
SCHEMA = {
    "splat": ListOf({"kind": str, "pattern": Regex()}, min=1),  # in order: first match wins
    "trace": {"ignore": ListOf(Regex()), "prefer": ListOf(Regex())},
    "not_splats": {"lines": ListOf(Regex())},
}
_TS = re.compile(r"^\s*(?:<\d+>)?\[\s*(\d+\.\d+)\]\s?")
_FRAME = re.compile(r"^\s*(\?\s+)?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
_RIP = re.compile(r"^RIP: [0-9a-f]+:([A-Za-z_][\w.]*)\+0x")
_LOCATION = re.compile(r"((?:arch|kernel|mm|virt|include|lib|drivers|fs)/[\w/.-]+\.[ch]:\d+)")
_MARK = re.compile(r"^kpatchkit: (begin|end) (\S+)")
_END = re.compile(r"^(---\[ end trace|---\[ end Kernel panic|</TASK>)")


@functools.cache
def _rules() -> tuple[list[tuple[str, re.Pattern]], list[re.Pattern], list[re.Pattern],
                      list[re.Pattern]]:
    data = load_toml(DATA, SCHEMA)
    rules = [(s["kind"], re.compile(s["pattern"])) for s in data["splat"]]
    ignore = [re.compile(p) for p in data["trace"]["ignore"]]
    prefer = [re.compile(p) for p in data["trace"]["prefer"]]
    benign = [re.compile(p) for p in data["not_splats"]["lines"]]
    return rules, ignore, prefer, benign


def _strip(line: str) -> tuple[float | None, str]:
    line = line.rstrip("\r\n")
    if m := _TS.match(line):
        return float(m.group(1)), line[m.end():]
    return None, line


def classify_line(line: str) -> tuple[str, re.Match] | None:
    """The splat kind a (timestamp-free) console line starts, or None."""
    rules, _, _, benign = _rules()
    text = line.strip()
    if any(b.search(text) for b in benign):
        return None
    for kind, pattern in rules:
        if m := pattern.search(text):
            return kind, m
    return None


def _pick_function(frames: list[tuple[bool, str]]) -> str | None:
    _, ignore, prefer, _ = _rules()
    useful = [(unsure, f) for unsure, f in frames if not any(p.search(f) for p in ignore)]
    # Reliable frames first (the guess unwinder marks every frame with '?').
    for pool in ([f for u, f in useful if not u], [f for _, f in useful]):
        for name in pool:
            if any(p.search(name) for p in prefer):
                return name
    return useful[0][1] if useful else None


def find_splats(log: str, *, max_lines: int = 120, fold: bool = True) -> list[Splat]:
    """Every splat in a console log, in order, attributed to the test running at the time.

    With ``fold`` repeats of the same (kind, location, function, test) are counted on the first
    (the kernel rate-limits might_sleep splats to one a second, so a loop prints dozens).
    """
    lines = log.splitlines()
    out: list[Splat] = []
    current: str | None = None
    i = 0
    while i < len(lines):
        ts, text = _strip(lines[i])
        mark = _MARK.match(text.strip())
        if mark:
            current = mark.group(2) if mark.group(1) == "begin" else None
            i += 1
            continue
        hit = classify_line(text)
        if not hit:
            i += 1
            continue
        kind, m = hit
        groups = m.groupdict()
        body = [text.strip()]
        frames: list[tuple[bool, str]] = []
        rip = None
        location = groups.get("location")
        j = i + 1
        in_trace = False
        while j < len(lines) and j - i < max_lines:
            _, nxt = _strip(lines[j])
            s = nxt.strip()
            if classify_line(s) or _MARK.match(s):
                break
            body.append(s)
            if s.startswith("Call Trace:"):
                in_trace = True
            if fm := _FRAME.match(s):
                frames.append((bool(fm.group(1)), fm.group(2)))
            if (rm := _RIP.match(s)) and rip is None:
                rip = rm.group(1)
            if location is None and (lm := _LOCATION.search(s)) and not in_trace:
                location = lm.group(1)
            j += 1
            if _END.match(s) and (in_trace or s.startswith("---[")):
                break
        function = groups.get("function") or rip or _pick_function(frames)
        out.append(Splat(kind=kind, title=text.strip(), location=location, function=function,
                         test=current, time=ts, frames=[f for _, f in frames[:16]],
                         text="\n".join(body)))
        i = j
    return _fold(out) if fold else out


def _fold(splats: list[Splat]) -> list[Splat]:
    first: dict[tuple, Splat] = {}
    out = []
    for s in splats:
        key = (s.kind, s.location, s.function, s.test)
        if key in first:
            first[key].count += 1
        else:
            first[key] = s
            out.append(s)
    return out

"""API-drift rules (``data/drift.toml``): which apply to a target, and rewriting added lines.

A rule is data: the old spelling (regex), the new one, and probes run on the target's own source
(struct members, function definitions and their parameters) that decide whether it applies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.kernel import cfunc
from kpatchkit.knowledge import ListOf, Opt, Regex, Tagged, load_toml

DATA = Path(__file__).with_name("data") / "drift.toml"
_FILES = ListOf(str, min=1)
_STRUCT = {"struct": str, "member": str, "files": _FILES}
# What probe() reads of each ``[[rule.when]]``, chosen by its ``probe``.
_WHEN = Tagged("probe", {
    "struct-lacks-member": _STRUCT,
    "struct-has-member": _STRUCT,
    "function-absent": {"function": str, "files": _FILES},
    "function-params": {"function": str, "files": _FILES, "params": Regex()},
})
SCHEMA = {"rule": Opt(ListOf({"id": str, "uses": str, "becomes": str, "old": Regex(), "new": str,
                              "source": str, "when": Opt(ListOf(_WHEN))}))}

Reader = Callable[[str], "str | None"]  # path in the tree -> text (None if absent)


@dataclass
class Rule:
    """One drift rule from the data file."""

    id: str
    uses: str
    becomes: str
    old: re.Pattern
    new: str
    source: str
    when: list[dict] = field(default_factory=list)


@functools.cache
def load_rules(path: Path = DATA) -> tuple[Rule, ...]:
    """The rules of a drift data file (cached)."""
    data = load_toml(path, SCHEMA)
    return tuple(Rule(id=r["id"], uses=r["uses"], becomes=r["becomes"], old=re.compile(r["old"]),
                      new=r["new"], source=" ".join(r.get("source", "").split()),
                      when=r.get("when", [])) for r in data.get("rule", []))


def rules_digest(path: Path = DATA) -> str:
    """Text identifying the rule set (for cache keys)."""
    return path.read_text()


def _struct_members(text: str, struct: str) -> set[str] | None:
    m = re.search(rf"^struct\s+{re.escape(struct)}\s*\{{(.*?)^\}};", text, re.S | re.M)
    if not m:
        return None
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", m.group(1), flags=re.S)
    members = set()
    for decl in body.split(";"):
        decl = decl.strip()
        if not decl or decl.startswith("#"):
            continue
        name = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*(?::\s*\d+)?\s*$", decl)
        if name:
            members.add(name.group(1))
    return members


def _params(text: str, function: str) -> str | None:
    span = cfunc.find_function(text, function)
    if span is None:
        return None
    header = " ".join(text.splitlines()[span.start - 1:span.body_start - 1])
    m = re.search(rf"\b{re.escape(function)}\s*\((.*)\)", header)
    return " ".join(m.group(1).split()) if m else None


def _defines(text: str, function: str) -> bool:
    if cfunc.find_function(text, function) is not None:
        return True
    return re.search(rf"^#\s*define\s+{re.escape(function)}\b", text, re.M) is not None


def probe(cond: dict, read: Reader) -> tuple[bool, str]:
    """Evaluate one ``when`` condition on the target; returns (holds, what was seen)."""
    kind = cond["probe"]
    texts = [(f, read(f)) for f in cond.get("files", [])]
    texts = [(f, t) for f, t in texts if t is not None]
    where = ", ".join(f for f, _ in texts) or "(files absent)"
    if kind in ("struct-lacks-member", "struct-has-member"):
        for f, t in texts:
            members = _struct_members(t, cond["struct"])
            if members is not None:
                has = cond["member"] in members
                seen = (f"struct {cond['struct']} in {f} "
                        f"{'has' if has else 'lacks'} member '{cond['member']}'")
                return (has if kind == "struct-has-member" else not has), seen
        return False, f"struct {cond['struct']} not found in {where}"
    if kind == "function-absent":
        found = [f for f, t in texts if _defines(t, cond["function"])]
        if found:
            return False, f"{cond['function']}() is defined in {found[0]}"
        return bool(texts), f"{cond['function']}() is not defined in {where}"
    if kind == "function-params":
        for f, t in texts:
            params = _params(t, cond["function"])
            if params is not None:
                ok = re.search(cond["params"], params) is not None
                return ok, f"{cond['function']}({params}) in {f}"
        return False, f"{cond['function']}() not defined in {where}"
    raise ValueError(f"unknown drift probe {kind!r}")


@dataclass
class Verdict:
    """Whether a rule applies to a target, with the probe evidence."""

    rule: Rule
    applies: bool
    evidence: list[str]


def applicable(read: Reader, rules: tuple[Rule, ...] | None = None) -> list[Verdict]:
    """Probe every rule against the target tree (``read`` gives a file's text)."""
    verdicts = []
    for rule in rules if rules is not None else load_rules():
        results = [probe(c, read) for c in rule.when]
        verdicts.append(Verdict(rule, all(ok for ok, _ in results),
                                [seen for _, seen in results]))
    return verdicts


def rewrite_line(line: str, rules: list[Rule]) -> tuple[str, list[str]]:
    """Apply ``rules`` to one line; returns the new line and the ids of rules that changed it."""
    used = []
    for rule in rules:
        new, n = rule.old.subn(rule.new, line)
        if n:
            used.append(rule.id)
            line = new
    return line, used

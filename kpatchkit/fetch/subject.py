"""Parse a patch mail's subject: reply markers, ``[PATCH RFC v3 2/5]`` prefixes, the title.

The grammar (which words are flags, how versions and counters look) is data in
``data/subject.toml`` so list-specific prefixes can be added without code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from kpatchkit.knowledge import ListOf, Regex, load_toml

DATA = Path(__file__).with_name("data") / "subject.toml"
SCHEMA = {
    "reply_prefixes": ListOf(str, min=1),
    "patch_words": ListOf(str, min=1),
    "flag_words": ListOf(str),  # documentation: a word that is no version or counter is kept
    "version_regex": Regex(),
    "counter_regex": Regex(),
}


@dataclass
class Subject:
    """What a subject line says about its mail."""

    title: str  # the subject without reply markers and [..] groups
    raw: str
    is_reply: bool = False
    is_patch: bool = False  # a [PATCH ...] group was present
    prefixes: list[str] = field(default_factory=list)  # every word seen inside [...]
    version: int = 1
    index: int | None = None
    total: int | None = None


@cache
def _grammar() -> dict:
    data = load_toml(DATA, SCHEMA)
    words = "|".join(map(re.escape, data["reply_prefixes"]))
    data["_reply"] = re.compile(r"^\s*(?:(?:" + words + r")\s*(?:\[\d+\])?\s*:\s*)+", re.I)
    data["_version"] = re.compile(data["version_regex"], re.I)
    data["_counter"] = re.compile(data["counter_regex"])
    data["_patch"] = {w.upper() for w in data["patch_words"]}
    return data


def parse_subject(raw: str) -> Subject:
    """Split ``raw`` into reply marker, bracketed prefixes and title."""
    g = _grammar()
    text = " ".join(raw.split())  # unfold header continuation whitespace
    subj = Subject(title=text, raw=raw)
    m = g["_reply"].match(text)
    if m:
        subj.is_reply = True
        text = text[m.end():]
    # Any number of leading [...] groups: "[RFC][PATCH v2 1/3]".
    while True:
        m = re.match(r"\s*\[([^\]]*)\]\s*", text)
        if not m:
            break
        text = text[m.end():]
        _read_group(m.group(1), subj, g)
    subj.title = text.strip()
    return subj


def _read_group(group: str, subj: Subject, g: dict) -> None:
    words = [w for w in re.split(r"[\s,]+", group) if w]
    for word in words:
        upper = word.upper()
        if upper in g["_patch"] or upper.startswith("PATCH"):
            subj.is_patch = True
        vm = g["_version"].match(word)
        cm = g["_counter"].match(word)
        if vm:
            subj.version = _number(vm.group(1))
            if upper.startswith("PATCH"):
                subj.prefixes.append("PATCH")
            subj.prefixes.append(f"v{subj.version}")
        elif cm:
            subj.index, subj.total = _number(cm.group(1)), _number(cm.group(2))
        else:
            subj.prefixes.append(word)


def _number(digits: str) -> int:
    """int(digits), saturating: a 5,000-digit counter is 'too many' (the series_parts limit
    says so), not a ValueError from int()'s own digit limit."""
    return int(digits) if len(digits) <= 12 else 10**12

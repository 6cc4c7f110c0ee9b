"""Upstream commit statements and stable maintainers' FAILED notices.

A backport states the upstream commit it carries (``commit X upstream.``,
``[ Upstream commit X ]``, ``(cherry picked from commit X)``); a "FAILED: patch ... failed to
apply" notice embeds the original commit as ``git format-patch`` writes it, after a marker line.
The spellings and the marker are data in ``data/upstream.toml``.

Also here: in-body ``From:``/``Date:``/``Subject:`` headers at the top of a text, which is how
both the embedded commit and ``git send-email`` (sender != author) carry the real author.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kpatchkit.knowledge import ListOf, Regex, load_toml

_INBODY_KEYS = ("from", "date", "subject")
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z-]*):[ \t]*(.*)$")
DATA = Path(__file__).with_name("data") / "upstream.toml"
SCHEMA = {
    "sha": Regex(),
    "spelling": ListOf({"name": str, "regex": Regex("sha")}, min=1),
    "failed_notice": {"marker": Regex(), "from_line": Regex("sha"),
                      "tree_in_subject": Regex("tree"), "tree_in_body": Regex("tree")},
}


@dataclass
class EmbeddedCommit:
    """The original commit a FAILED notice carries."""

    sha: str | None  # from the 'From <sha> Mon Sep 17 00:00:00 2001' line
    headers: dict[str, str]  # 'from', 'date', 'subject' (unfolded, RFC 2047 decoded)
    text: str  # the embedded body: commit message, trailers, diff


@cache
def _rules() -> dict:
    data = load_toml(DATA, SCHEMA)
    sha = data["sha"]

    def rx(pattern: str) -> re.Pattern[str]:
        return re.compile(pattern.replace("{sha}", sha))

    data["_spellings"] = [rx(s["regex"]) for s in data["spelling"]]
    notice = data["failed_notice"]
    data["_marker"] = rx(notice["marker"])
    data["_from_line"] = rx(notice["from_line"])
    data["_tree_subject"] = rx(notice["tree_in_subject"])
    data["_tree_body"] = rx(notice["tree_in_body"])
    return data


def find_upstream_commit(message: str) -> str | None:
    """The upstream commit a commit message states (first statement wins), lower-cased; None
    when it states none. Only whole-line spellings count, never an id mentioned in prose."""
    spellings = _rules()["_spellings"]
    for line in message.split("\n"):
        s = line.strip()
        for pattern in spellings:
            m = pattern.match(s)
            if m:
                return m.group("sha").lower()
    return None


def split_failed_notice(text: str) -> tuple[str, str] | None:
    """(the notice's own prose, the embedded mail) when ``text`` is a FAILED notice."""
    marker = _rules()["_marker"]
    lines = text.split("\n")
    for k, line in enumerate(lines):
        if marker.match(line.strip()):
            return "\n".join(lines[:k]), "\n".join(lines[k + 1:])
    return None


def stable_tree(subject: str, prose: str) -> str | None:
    """The stable tree a notice names ('5.10-stable'), from its subject, else its prose."""
    r = _rules()
    m = r["_tree_subject"].search(" ".join(subject.split())) or r["_tree_body"].search(
        " ".join(prose.split()))
    return m.group("tree") if m else None


def _decode(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return value


def leading_headers(text: str, keys: tuple[str, ...] = _INBODY_KEYS
                    ) -> tuple[dict[str, str], str]:
    """In-body header lines (``keys``, lower-case) at the top of ``text``, as git mailinfo
    reads them; continuation lines unfold. Returns the headers and the rest of the text, or
    ({}, text) when the text does not open with such a block followed by a blank line."""
    lines = text.split("\n")
    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    found: dict[str, str] = {}
    last = None
    while k < len(lines) and lines[k].strip():
        line = lines[k]
        if last is not None and line[:1] in (" ", "\t"):
            found[last] += " " + line.strip()
            k += 1
            continue
        m = _HEADER_LINE.match(line)
        if not m or m.group(1).lower() not in keys or m.group(1).lower() in found:
            return {}, text
        last = m.group(1).lower()
        found[last] = m.group(2).strip()
        k += 1
    if not found or k >= len(lines):
        return {}, text
    headers = {key: _decode(" ".join(value.split())) for key, value in found.items()}
    return headers, "\n".join(lines[k + 1:])


def embedded_commit(mail: str) -> EmbeddedCommit:
    """Read the original commit out of what follows a FAILED notice's marker line."""
    lines = mail.split("\n")
    k = 0
    while k < len(lines) and not lines[k].strip():
        k += 1
    sha = None
    if k < len(lines):
        m = _rules()["_from_line"].match(lines[k].strip())
        if m:
            sha = m.group("sha").lower()
            k += 1
    rest = "\n".join(lines[k:])
    headers, body = leading_headers(rest)
    return EmbeddedCommit(sha=sha, headers=headers, text=body if headers else rest)


def author_of(value: str) -> tuple[str, str]:
    """(name, address) of a From: value; the name falls back to the address's user part."""
    name, addr = email.utils.parseaddr(value)
    if not addr:
        return value.strip(), ""
    return name or addr.split("@")[0], addr

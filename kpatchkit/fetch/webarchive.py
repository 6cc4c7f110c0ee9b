"""Text copied from a web archive page (like the lkml.iu.edu seed) -> a damaged ``Patch``.

The page shapes (navigation noise, header layout, obfuscation, date formats) are data in
``data/archives.toml``; this module only applies them.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
from datetime import datetime
from functools import cache
from pathlib import Path

from kpatchkit.fetch.diffparse import find_diff_start
from kpatchkit.fetch.mailparse import patch_from_text
from kpatchkit.knowledge import ListOf, OneOf, Opt, Regex, TableOf, Where, load_toml
from kpatchkit.records.series import Patch

_HEADER_RE = re.compile(r"^([A-Za-z][A-Za-z-]*):\s*(.*)$")
# "[...PATCH": the class excludes '[' too, so each '[' is scanned up to the next bracket only
# (with [^\]]* a line of many '[' is rescanned from each: quadratic).
_PATCH_GROUP_RE = re.compile(r"\[[^\[\]]*PATCH", re.I)
_PAGE_MAIL_RE = re.compile(r"^(?:From|Subject):|\[[^\[\]]*PATCH", re.M | re.I)
DATA = Path(__file__).with_name("data") / "archives.toml"
SCHEMA = {
    "hidden_domain": Regex(),
    "date_formats": ListOf(str),
    # header name (lower case) -> the key _split_page() files it under
    "headers": TableOf(OneOf("subject", "from", "date", "message_id", "in_reply_to", "to", "cc",
                             "list")),
    "shape": ListOf({"name": str, "noise": ListOf(Regex())}),
    "deobfuscate": ListOf({"pattern": Regex(), "replace": str, "only_without_at": Opt(bool)}),
    "timezones": Where(TableOf(str), lambda t: next(
        ((k, f"{v!r} is no UTC offset like '-0500'") for k, v in t.items()
         if not re.fullmatch(r"[+-]\d{4}", v)), None)),
}


@cache
def shapes() -> dict:
    """The archive shapes from data/archives.toml, with regexes compiled."""
    data = load_toml(DATA, SCHEMA)
    data["_noise"] = [re.compile(p) for s in data["shape"] for p in s["noise"]]
    data["_deob"] = [(re.compile(d["pattern"]), d["replace"], d.get("only_without_at", False))
                     for d in data["deobfuscate"]]
    data["_hidden"] = re.compile(data["hidden_domain"])
    return data


_TAG_NAME_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9:-]{0,40})")
_WS_RE = re.compile(r"\s+")


class _TextOfHtml:
    """Visible text of a saved archive page: <pre> kept verbatim, block tags end lines.

    A small tokenizer of its own rather than ``html.parser``: on an unterminated attribute
    the stdlib parser rescans the rest of the page at every ``<`` (minutes for a page of a few
    hundred kilobytes). Every scan here moves forward, so the work is linear in the page.
    """

    _BLOCK = {"br", "p", "div", "tr", "li", "pre", "h1", "h2", "h3", "h4", "hr", "table", "ul"}
    _SKIP = {"script", "style", "head", "title"}
    _RAW = {"script", "style"}  # their text is not markup: skip to the closing tag

    def __init__(self) -> None:
        self.out: list[str] = []
        self.pre = 0
        self.skip = 0

    def feed(self, markup: str) -> None:
        lower = markup.lower()
        i, n = 0, len(markup)
        while i < n:
            lt = markup.find("<", i)
            if lt < 0:
                self.handle_data(html.unescape(markup[i:]))
                return
            if lt > i:
                self.handle_data(html.unescape(markup[i:lt]))
            if markup.startswith("<!--", lt):
                end = markup.find("-->", lt + 4)
                i = n if end < 0 else end + 3
                continue
            m = _TAG_NAME_RE.match(markup, lt)
            if not m:
                if markup.startswith(("<!", "<?"), lt):  # doctype, processing instruction
                    end = markup.find(">", lt)
                    i = n if end < 0 else end + 1
                else:
                    self.handle_data("<")  # a '<' in text ("a < b")
                    i = lt + 1
                continue
            end = _tag_end(markup, m.end())
            if end < 0:  # unterminated tag: the rest is what a reader would see as text
                self.handle_data(html.unescape(markup[lt:]))
                return
            tag = m.group(1).lower()
            if markup[lt + 1] == "/":
                self.handle_endtag(tag)
                i = end + 1
                continue
            self.handle_starttag(tag)
            i = end + 1
            if tag in self._RAW and not markup[end - 1] == "/":
                close = lower.find("</" + tag, i)
                i = n if close < 0 else close

    def close(self) -> None:
        """Nothing is buffered: feed() handles the whole page."""

    def handle_starttag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip += 1
        if tag in self._BLOCK:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skip:
            self.skip -= 1
        if tag == "pre" and self.pre:
            self.pre -= 1
        if tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip or not data:
            return
        if not self.pre:
            # outside <pre> a browser collapses whitespace runs and drops them at a line's
            # start: exactly the damage whitespace.py repairs later
            data = _WS_RE.sub(" ", data)
            if not self.out or self.out[-1].endswith("\n"):
                data = data.lstrip()
            if not data:
                return
        self.out.append(data)


def _tag_end(markup: str, j: int) -> int:
    """Index of the '>' that ends the tag whose attributes start at ``j`` (quoted values may
    hold '>'), or -1 when the tag never ends. Each search position only moves forward."""
    gt = dq = sq = -2  # cached next positions (-2: not searched yet)
    n = len(markup)
    while True:
        if gt < j:
            gt = markup.find(">", j)
            if gt < 0:
                return -1
        if dq < j and dq != -1:
            dq = markup.find('"', j)
        if sq < j and sq != -1:
            sq = markup.find("'", j)
        quotes = [q for q in (dq, sq) if 0 <= q < gt]
        if not quotes:
            return gt
        q = min(quotes)
        close = markup.find(markup[q], q + 1)
        if close < 0:
            return -1  # an unterminated attribute value
        j = close + 1
        if j >= n:
            return -1


def html_to_text(markup: str) -> str:
    """The text a reader would copy from an archive page saved as HTML."""
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.out).replace("\xa0", " ")
    return "\n".join(line.rstrip() if line.strip() else "" for line in text.split("\n"))


def is_html(data: bytes) -> bool:
    """A saved web page rather than text."""
    head = data[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in head[:200]


def looks_like_archive_text(text: str) -> bool:
    """A page copy: no RFC 822 header block first, but a diff and a subject/From somewhere."""
    head = text[:4000]
    return find_diff_start(text) is not None and bool(_PAGE_MAIL_RE.search(head))


def deobfuscate(text: str) -> str:
    """Undo the reversible address obfuscations (``user () domain ! com``)."""
    had_at = "@" in text
    for rx, rep, only_without_at in shapes()["_deob"]:
        if not (only_without_at and had_at):
            text = rx.sub(rep, text)
    return text


def normalise_date(value: str) -> str:
    """An RFC 2822 date for ``value`` if one of the known formats parses it, else ``value``."""
    value = value.strip()
    if not value:
        return value
    try:
        if email.utils.parsedate_tz(value):
            return value
    except (TypeError, ValueError):
        pass
    data = shapes()
    zone = "+0000"
    head, _, last = value.rpartition(" ")  # no regex: "\s+X$" searched is quadratic
    if head.strip() and last in data["timezones"]:
        zone = data["timezones"][last]
        value = head.rstrip()
    for fmt in data["date_formats"]:
        try:
            dt = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return dt.strftime("%a, %d %b %Y %H:%M:%S ") + zone
    return value


def _split_page(text: str) -> tuple[dict, str]:
    """Header values and the body of a page."""
    data = shapes()
    lines = text.replace("\r\n", "\n").split("\n")
    meta: dict = {}
    body_at = 0
    seen_header = False
    for k, line in enumerate(lines[:60]):
        s = line.strip()
        if any(rx.match(s) for rx in data["_noise"]):
            body_at = k + 1
            continue
        hm = _HEADER_RE.match(s)
        key = data["headers"].get(hm.group(1).lower()) if hm else None
        if key:
            meta.setdefault(key, hm.group(2).strip())
            seen_header = True
            body_at = k + 1
            continue
        if not s:
            if seen_header or "subject" in meta:
                body_at = k + 1
            continue
        if not seen_header and "subject" not in meta and _PATCH_GROUP_RE.search(s):
            meta["subject"] = s  # hypermail: the subject alone on the first line
            body_at = k + 1
            continue
        break
    body = lines[body_at:]
    # Page chrome after the mail (navigation at the bottom) goes too; the diff is kept whole.
    while body and (not body[-1].strip() or any(rx.match(body[-1].strip())
                                                  for rx in data["_noise"])):
        body.pop()
    return meta, "\n".join(body) + "\n"


def _restore_mail_text(body: str) -> str:
    """Undo damage outside the diff: diffstat lines lost their space, '-- ' became '--'."""
    out = []
    start = find_diff_start(body)
    head, diff = (body[:start], body[start:]) if start is not None else (body, "")
    for line in head.split("\n"):
        if re.match(r"^\S.*\|\s+(\d+|Bin)", line) or re.match(r"^\d+ files? changed", line):
            line = " " + line
        out.append(line)
    return "\n".join(out) + diff


def patch_from_archive_text(text: str, *, source: str) -> tuple[Patch, list[str]]:
    """Parse a page copy; returns the (unrepaired, damage-flagged) patch and warnings."""
    data = shapes()
    meta, body = _split_page(text)
    body = _restore_mail_text(body)
    warnings: list[str] = []
    name, addr = email.utils.parseaddr(deobfuscate(meta.get("from", "")))
    if not addr and meta.get("from"):
        name = meta["from"].strip()
    if not addr or "@" not in addr:
        # The page hides the address; the author's own Signed-off-by usually carries it.
        for who, where in _signers(body):
            if not name or who.lower() == name.lower():
                name, addr = name or who, deobfuscate(where)
                break
    if addr and data["_hidden"].search(addr):
        warnings.append(f"the archive hides the author's address ({addr}); kept as shown")
    digest = hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]
    mid = (re.findall(r"<([^<>\s]+)>", deobfuscate(meta.get("message_id", ""))) or [""])[0]
    meta_out = {
        "subject": meta.get("subject", ""),
        "author": name,
        "email": addr,
        "date": normalise_date(meta.get("date", "")),
        "message_id": mid or f"{digest}@webarchive.invalid",
        "in_reply_to": (re.findall(r"<([^<>\s]+)>", deobfuscate(meta.get("in_reply_to", "")))
                        or [None])[0],
        "references": [],
    }
    patch = patch_from_text(meta_out, body, source=source, lenient=True)
    if not mid:
        warnings.append("the archive page shows no Message-ID; a stand-in id was made up")
    return patch, warnings


def _signers(body: str):
    """(name, address) of each 'Signed-off-by: Name <address>' line, without a regex (the
    one this replaces backtracked cubically over a long line of blanks)."""
    for line in body.split("\n"):
        if not line.startswith("Signed-off-by:"):
            continue
        rest = line[len("Signed-off-by:"):]
        lt = rest.find("<")
        gt = rest.find(">", lt + 1) if lt >= 0 else -1
        who = rest[:lt].strip() if lt >= 0 else ""
        if who and gt > lt + 1:
            yield who, rest[lt + 1:gt]

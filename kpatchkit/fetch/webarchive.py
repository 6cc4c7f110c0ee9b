"""Text copied from a web archive page (like the lkml.iu.edu seed) -> a damaged ``Patch``.

The page shapes (navigation noise, header layout, obfuscation, date formats) are data in
``data/archives.toml``; this module only applies them.
"""

from __future__ import annotations

import email.utils
import hashlib
import html.parser
import re
import tomllib
from datetime import datetime
from functools import cache
from importlib import resources

from kpatchkit.fetch.diffparse import find_diff_start
from kpatchkit.fetch.mailparse import patch_from_text
from kpatchkit.records.series import Patch

_HEADER_RE = re.compile(r"^([A-Za-z][A-Za-z-]*):\s*(.*)$")


@cache
def shapes() -> dict:
    """The archive shapes from data/archives.toml, with regexes compiled."""
    data = tomllib.loads(
        resources.files("kpatchkit.fetch").joinpath("data/archives.toml").read_text())
    data["_noise"] = [re.compile(p) for s in data["shape"] for p in s["noise"]]
    data["_deob"] = [(re.compile(d["pattern"]), d["replace"], d.get("only_without_at", False))
                     for d in data["deobfuscate"]]
    data["_hidden"] = re.compile(data["hidden_domain"])
    return data


class _TextOfHtml(html.parser.HTMLParser):
    """Visible text of a saved archive page: <pre> kept verbatim, block tags end lines."""

    _BLOCK = {"br", "p", "div", "tr", "li", "pre", "h1", "h2", "h3", "h4", "hr", "table", "ul"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pre = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
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
        if self.skip:
            return
        if not self.pre:
            # outside <pre> a browser collapses whitespace runs and drops them at a line's
            # start: exactly the damage whitespace.py repairs later
            data = re.sub(r"\s+", " ", data)
            if not self.out or self.out[-1].endswith("\n"):
                data = data.lstrip()
            if not data:
                return
        self.out.append(data)


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
    return find_diff_start(text) is not None and bool(
        re.search(r"^(From|Subject):|\[[^\]]*PATCH", head, re.M | re.I))


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
    m = re.search(r"\s+([A-Z]{3,4})$", value)
    if m and m.group(1) in data["timezones"]:
        zone = data["timezones"][m.group(1)]
        value = value[: m.start()]
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
        if not seen_header and "subject" not in meta and re.search(r"\[[^\]]*PATCH", s, re.I):
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
        for m in re.finditer(r"^Signed-off-by:\s*(.+?)\s*<([^>]+)>", body, re.M):
            if not name or m.group(1).strip().lower() == name.lower():
                name, addr = name or m.group(1).strip(), deobfuscate(m.group(2))
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

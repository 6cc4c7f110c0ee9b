"""One mail -> one ``Patch`` record (cover letters and replies too).

Uses the stdlib ``email`` package with ``policy.default``: RFC 2047 headers, quoted-printable and
base64 bodies, charsets and CRLF are its job. This module splits the decoded text into commit
message, trailers, diffstat, diff and ``base-commit:``.
"""

from __future__ import annotations

import email
import email.utils
import re
from email import policy
from email.message import EmailMessage

from kpatchkit.errors import KpatchkitError
from kpatchkit.fetch import limits
from kpatchkit.fetch.diffparse import find_diff_start, parse_diff, render_files
from kpatchkit.fetch.subject import parse_subject
from kpatchkit.fetch.upstream import (
    author_of,
    embedded_commit,
    find_upstream_commit,
    leading_headers,
    split_failed_notice,
    stable_tree,
)
from kpatchkit.fetch.whitespace import is_damaged, repair_files
from kpatchkit.records.series import Patch

_TRAILER_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]):\s+(\S.*)$")
_DIFFSTAT_RE = re.compile(r"^\s*\S.*\|\s+(\d+|Bin)|^\s*\d+ files? changed")
_BASE_RE = re.compile(r"^base-commit:\s*([0-9a-f]{7,40})\s*$", re.M)
_PATCH_SUFFIXES = (".patch", ".diff")


def message_from_bytes(data: bytes) -> EmailMessage:
    """Parse raw mail bytes (CRLF or LF) with the modern policy."""
    data = data.replace(b"\r\n", b"\n")
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a malformed header must not become a traceback
        # The structured parse failed: fall back to the raw, unparsed header text.
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
    return " ".join(str(value or "").split())


def _ids(value: str) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", value) or ([value.strip("<> ")] if value.strip() else [])


def _author(msg: EmailMessage) -> tuple[str, str]:
    raw = _header(msg, "From")
    try:
        addrs = msg["From"].addresses  # type: ignore[union-attr]
        if addrs:
            return addrs[0].display_name or addrs[0].username, addrs[0].addr_spec
    except Exception:  # noqa: BLE001
        pass
    name, addr = email.utils.parseaddr(raw)
    return name or raw, addr


def _sender(msg: EmailMessage) -> str:
    """The From header as 'Name <addr>' (or just the address when it has no name)."""
    name, addr = email.utils.parseaddr(_header(msg, "From"))
    if not addr:
        return _header(msg, "From")
    return f"{name} <{addr}>" if name else addr


def _part_text(part: EmailMessage) -> str | None:
    """Decoded text of a leaf part, or None when it is binary."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        content = payload
    if isinstance(content, bytes):
        if b"\0" in content[:8192]:
            return None
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            content = content.decode("latin-1")
        if sum(1 for c in content[:8192] if ord(c) < 32 and c not in "\n\t\r\f") > 8:
            return None
    if not isinstance(content, str):
        return None
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    params = {k.lower(): str(v).lower() for k, v in part.get_params() or []}
    if params.get("format") == "flowed":
        text = unflow(text, delsp=params.get("delsp") == "yes")
    return text


def unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed (space-stuffing and soft line breaks) as mail clients like
    Thunderbird send it; trailing blanks the sender had to drop stay dropped."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffed
        if line.endswith(" ") and line != "-- ":
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


def body_texts(msg: EmailMessage) -> tuple[str, list[str], list[str]]:
    """(main text, text attachments that may hold a diff, names of binary attachments)."""
    main, attachments, binary = None, [], []
    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    limits.check("mime_parts", len(parts), "the mail")
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        name = part.get_filename() or ""
        is_patchy = name.endswith(_PATCH_SUFFIXES) or ctype in (
            "text/x-patch", "text/x-diff", "application/x-patch", "application/x-diff")
        if ctype.startswith("text/") or is_patchy or ctype == "application/octet-stream":
            text = _part_text(part)
            if text is None:
                binary.append(name or ctype)
                continue
            if ctype == "text/html":
                continue
            if main is None and ctype == "text/plain" and not part.is_attachment():
                main = text
            else:
                attachments.append(text)
        else:
            binary.append(name or ctype)
    return main or "", attachments, binary


def split_trailers(message: str) -> tuple[str, list[list[str]]]:
    """Separate the final trailer paragraph (Signed-off-by: ...) from the commit message."""
    lines = message.rstrip("\n").split("\n")
    end = len(lines)
    start = end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    block = lines[start:end]
    pairs = [_TRAILER_RE.match(x) for x in block]
    if not block or not any(pairs) or not all(m or x.startswith((" ", "[", "(")) for m, x in
                                              zip(pairs, block, strict=True)):
        return message.strip("\n"), []
    trailers = [[m.group(1), m.group(2).strip()] for m in pairs if m]
    return "\n".join(lines[:start]).strip("\n"), trailers


def patch_from_text(meta: dict, text: str, *, source: str, lenient: bool = False,
                    attachments: list[str] | None = None) -> Patch:
    """Build a Patch from header values (``meta``) and the decoded body ``text``.

    A stable maintainer's FAILED notice becomes the original commit it embeds (with
    ``notice`` set); an in-body ``From:``/``Date:`` (sender is not the author) names the author.
    """
    notice = split_failed_notice(text)
    if notice is not None:
        return _patch_from_notice(meta, *notice, source=source, lenient=lenient,
                                  attachments=attachments)
    inbody, rest = leading_headers(text, ("from", "date"))
    if inbody:
        meta, text = {**meta, **_meta_of(inbody)}, rest
    subj = parse_subject(meta.get("subject", ""))
    for n in (subj.total, subj.index):
        if n is not None:  # before anything lists the parts a subject promises
            limits.check("series_parts", n, f"{source}: subject '{subj.raw[:60]}'")
    p = Patch(
        subject=subj.title, raw_subject=subj.raw, author=meta.get("author", ""),
        email=meta.get("email", ""), date=meta.get("date", ""),
        message_id=meta.get("message_id", ""), in_reply_to=meta.get("in_reply_to"),
        references=meta.get("references", []), prefixes=subj.prefixes, version=subj.version,
        index=subj.index if subj.index is not None else (1 if subj.is_patch else 0),
        total=subj.total if subj.total is not None else (1 if subj.is_patch else 0),
        source=source,
    )
    p.is_reply = subj.is_reply
    p.is_patch_subject = subj.is_patch
    start = find_diff_start(text)
    diff_text = text[start:] if start is not None else ""
    head = text[:start] if start is not None else text
    if start is None:
        for att in attachments or []:
            a_start = find_diff_start(att)
            if a_start is not None:
                diff_text = att[a_start:]
                break
    bm = _BASE_RE.search(text)
    p.base_commit = bm.group(1) if bm else None
    head_lines = head.split("\n")
    sep = next((k for k, x in enumerate(head_lines) if x.rstrip() == "---"), None)
    message = "\n".join(head_lines[:sep]) if sep is not None else head
    notes = "\n".join(head_lines[sep + 1:]) if sep is not None else ""
    p.body, p.trailers = split_trailers(message)
    p.upstream_commit = find_upstream_commit(message)
    p.diffstat = "\n".join(x for x in notes.split("\n") if _DIFFSTAT_RE.match(x))
    p.notes = "\n".join(x for x in notes.split("\n") if not _DIFFSTAT_RE.match(x)).strip("\n")
    if diff_text:
        _fill_diff(p, diff_text, lenient=lenient)
    return p


def _meta_of(headers: dict[str, str]) -> dict:
    """Patch header values from in-body (or embedded) headers."""
    meta: dict = {}
    if headers.get("from"):
        meta["author"], meta["email"] = author_of(headers["from"])
    if headers.get("date"):
        meta["date"] = headers["date"]
    if headers.get("subject"):
        meta["subject"] = headers["subject"]
    return meta


def _patch_from_notice(meta: dict, prose: str, mail: str, *, source: str, lenient: bool,
                       attachments: list[str] | None) -> Patch:
    """The original commit a FAILED notice embeds; the notice itself goes into ``notice``.
    Message-ID and threading stay the notice's own (replies answer the notice)."""
    commit = embedded_commit(mail)
    p = patch_from_text({**meta, **_meta_of(commit.headers)}, commit.text, source=source,
                        lenient=lenient, attachments=attachments)
    p.upstream_commit = commit.sha or p.upstream_commit
    sender = meta.get("sender") or (
        f"{meta.get('author')} <{meta.get('email')}>" if meta.get("email") else
        meta.get("author", ""))
    p.notice = {
        "sender": sender,
        "subject": meta.get("subject", ""),
        "date": meta.get("date", ""),
        "message_id": meta.get("message_id", ""),
        "stable_tree": stable_tree(meta.get("subject", ""), prose),
    }
    return p


def _fill_diff(p: Patch, diff_text: str, *, lenient: bool) -> None:
    lines = diff_text.split("\n")
    parsed = parse_diff(lines, strict=not lenient)
    if not parsed.files and not lenient:
        return
    p.files = parsed.files
    p.whitespace_damaged = is_damaged(parsed.files, parsed.unmarked_lines) or parsed.recounted > 0
    # lines a mail client wrapped were joined back: the diff is repaired, but not re-indented
    p.repaired = parsed.rejoined > 0
    if p.whitespace_damaged and not lenient:
        # A mail that turns out damaged: parse again leniently so repair sees every line.
        parsed = parse_diff(lines, strict=False)
        p.files = parsed.files
    p.insertions = sum(f.insertions for f in p.files)
    p.deletions = sum(f.deletions for f in p.files)
    p.diff = render_files(p.files)


def repair_patch(p: Patch, tree_path=None, overlay: dict | None = None) -> list[str]:
    """Repair a damaged patch in place (diff, counts, ``repaired``); return notes."""
    rep = repair_files(p.files, tree_path, overlay)
    for f in p.files:
        f.insertions = sum(1 for h in f.hunks for x in h.lines if x.startswith("+"))
        f.deletions = sum(1 for h in f.hunks for x in h.lines if x.startswith("-"))
    p.insertions = sum(f.insertions for f in p.files)
    p.deletions = sum(f.deletions for f in p.files)
    p.diff = render_files(p.files)
    p.repaired = True
    how = (f"{rep.from_tree} hunk(s) from the tree, {rep.reindented} re-indented by C structure")
    return [f"{p.index}/{p.total}: whitespace damage repaired ({how})", *rep.notes]


def patch_from_message(msg: EmailMessage, *, source: str) -> Patch:
    """Parse one RFC 822 mail into a Patch (no repair yet)."""
    main, attachments, binary = body_texts(msg)
    name, addr = _author(msg)
    meta = {
        "subject": _header(msg, "Subject"),
        "author": name,
        "email": addr,
        "sender": _sender(msg),
        "date": _header(msg, "Date"),
        "message_id": (_ids(_header(msg, "Message-ID")) or [""])[0],
        "in_reply_to": (_ids(_header(msg, "In-Reply-To")) or [None])[0],
        "references": _ids(_header(msg, "References")),
    }
    p = patch_from_text(meta, main, source=source, attachments=attachments)
    p.binary_attachments = binary
    return p


def check_mail_like(msg: EmailMessage, label: str) -> None:
    """Refuse a 'mail' that has none of the headers a patch mail has."""
    if not any(_header(msg, h) for h in ("From", "Subject", "Message-ID", "Date")):
        raise KpatchkitError(f"{label}: not a mail (no From/Subject/Date/Message-ID header)")

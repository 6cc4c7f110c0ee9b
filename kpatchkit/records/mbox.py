"""A series as the mbox ``git am`` takes (mboxrd): one mail per patch, in order.

A serialisation of ``Patch`` records, so fetch (which writes series.mbox) and apply (which feeds
git am) share it without one stage importing the other."""

from __future__ import annotations

import email.utils
import re
from email.header import Header

from kpatchkit.records.series import Patch

# mboxrd: every body line that reads '>*From ' gets one more '>' (git am
# --patch-format=mboxrd and mailbox readers take exactly one away). Escaping only lines that look
# like a whole separator, as before, let 'git am' split a mail at a line git's looser test takes.
_FROM_LINE = re.compile(r"^(>*From )", re.M)
# A header value is one line of printable text: a name or subject decoded from RFC 2047 can
# carry CR/LF (a forged header) or other controls.
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(value: str | None) -> str:
    return " ".join(_HEADER_CONTROLS.sub(" ", value or "").split())


def _encode(value: str) -> str:
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def patch_mail(p: Patch) -> str:
    """One patch as a format-patch style mail (mbox separator included)."""
    name = _one_line(p.author) or (_one_line(p.email).split("@")[0] if p.email
                                    else "Unknown Author")
    addr = _one_line(p.email).replace(" ", "") or "unknown@unknown.invalid"
    prefix = "PATCH" + (f" v{p.version}" if p.version > 1 else "")
    prefix += f" {p.index}/{p.total}" if p.total > 1 else ""
    headers = [
        "From kpatchkit Mon Sep 17 00:00:00 2001",
        f"From: {email.utils.formataddr((name, addr), charset='utf-8')}",
        f"Date: {_one_line(p.date)}" if _one_line(p.date) else "",
        f"Subject: {_encode(f'[{prefix}] {p.subject}')}",
        f"Message-Id: <{_one_line(p.message_id)}>" if _one_line(p.message_id) else "",
        ("X-Kpatchkit-Repaired: whitespace-damaged diff repaired by kpatchkit"
         if p.repaired else ""),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    message = p.body.strip("\n")
    if p.trailers:
        message += ("\n\n" if message else "") + "\n".join(f"{k}: {v}" for k, v in p.trailers)
    body = message + "\n---\n" + (p.diffstat + "\n\n" if p.diffstat else "")
    # the diff as rendered: a binary patch's blank line before the signature matters
    body += p.diff if p.diff.endswith("\n") else p.diff + "\n"
    if p.base_commit:
        body += f"\nbase-commit: {p.base_commit}\n"
    body += "-- \nkpatchkit\n"
    # mboxrd: a body line that would read as a message separator gets one more '>'
    body = _FROM_LINE.sub(r">\1", body)
    return "\n".join(h for h in headers if h) + "\n\n" + body + "\n"


def series_mbox(patches: list[Patch]) -> str:
    """An mbox of ``patches`` in order, for ``git am --3way``; repaired diffs are used."""
    return "".join(patch_mail(p) for p in sorted(patches, key=lambda p: p.index))

"""Assemble parsed mails into a ``Series``: thread, revision, order, gaps, replies."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from kpatchkit.errors import KpatchkitError
from kpatchkit.records.series import Patch, Series


def _when(p: Patch) -> float:
    try:
        dt = email.utils.parsedate_to_datetime(p.date)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    except (TypeError, ValueError, IndexError):
        return datetime.min.replace(tzinfo=UTC).timestamp()


def classify(p: Patch) -> str:
    """patch, cover or reply."""
    if p.is_reply:
        return "reply"
    if p.is_patch_subject and p.index == 0:
        return "cover"  # even with an interdiff in it (format-patch --interdiff)
    if p.files:
        return "patch"
    return "reply"


def thread_of(mails: list[Patch], msgid: str) -> list[Patch]:
    """The mails connected to ``msgid`` through In-Reply-To/References."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for m in mails:
        for other in [m.in_reply_to, *m.references]:
            if other and m.message_id:
                parent[find(m.message_id)] = find(other)
    want = msgid.strip("<> ")
    if want not in {m.message_id for m in mails}:
        raise KpatchkitError(f"message {want!r} is not in the source ({len(mails)} mails read)")
    root = find(want)
    return [m for m in mails if m.message_id and find(m.message_id) == root]


def assemble(mails: list[Patch], *, msgid: str | None = None, source: str = "",
             kind: str = "") -> Series:
    """Pick the newest revision's cover and patches, in order; set replies aside."""
    seen: set[str] = set()
    unique = []
    for m in mails:
        key = m.message_id or f"{m.source}"
        if key not in seen:
            seen.add(key)
            unique.append(m)
    if msgid:
        unique = thread_of(unique, msgid)
    for m in unique:
        m.kind = classify(m)
    patches = [m for m in unique if m.kind == "patch"]
    covers = [m for m in unique if m.kind == "cover"]
    replies = sorted((m for m in unique if m.kind == "reply"), key=_when)
    if not patches:
        raise KpatchkitError(_why_no_patch(unique, covers, source))
    versions = sorted({p.version for p in patches} | {c.version for c in covers})
    chosen = max(p.version for p in patches)
    current = [p for p in patches if p.version == chosen]
    series = Series(source=source, source_kind=kind, version=chosen,
                    other_versions=[v for v in versions if v != chosen], replies=replies)
    cover = [c for c in covers if c.version == chosen]
    series.cover = max(cover, key=_when) if cover else None
    if len(current) > 1 and all(p.total == 1 for p in current):
        # format-patch --no-numbered: several "[PATCH]" mails, in the order they came
        for k, p in enumerate(current, 1):
            p.index, p.total = k, len(current)
    by_index: dict[int, Patch] = {}
    for p in current:
        old = by_index.get(p.index)
        if old is not None:
            series.warnings.append(
                f"two mails claim {p.index}/{p.total}; kept the later one ({p.message_id})")
        if old is None or _when(p) >= _when(old):
            by_index[p.index] = p
    series.total = max([p.total for p in current] + ([series.cover.total] if series.cover else []))
    series.patches = [by_index[i] for i in sorted(by_index)]
    series.missing = [i for i in range(1, series.total + 1) if i not in by_index]
    if series.missing:
        # a part alone (a 2/2 picked out of its thread) keeps its n/m; name what is not here
        series.warnings.append(
            "missing " + ", ".join(f"{i}/{series.total}" for i in series.missing)
            + ": not in the source; fetch the whole thread to review the series")
    if series.other_versions:
        series.warnings.append(f"v{chosen} chosen; also present: "
                               + ", ".join(f"v{v}" for v in series.other_versions))
    _prerequisites(series)
    return series


def _why_no_patch(mails: list[Patch], covers: list[Patch], source: str) -> str:
    if not mails:
        return f"{source}: no mail found"
    if covers:
        c = covers[0]
        return (f"{source} holds only a cover letter ('{c.raw_subject[:60]}') and no patch; "
                "fetch the whole thread (BASE/MSGID/t.mbox.gz or the mbox)")
    with_diff = [m for m in mails if m.files]
    if with_diff:
        return (f"{source}: the only diffs are in replies ('{with_diff[0].raw_subject[:60]}'), "
                "which are review comments, not the series; fetch the patches themselves")
    binary = [b for m in mails for b in m.binary_attachments]
    if binary:
        return (f"{source}: no diff found; the mail has a binary attachment ({binary[0]}) "
                "that is not a patch")
    return (f"{source}: no diff found in {len(mails)} mail(s) "
            "(expected 'diff --git' or a '---'/'+++' pair)")


def _prerequisites(series: Series) -> None:
    """Name what each missing part must produce, and check the blob chain between parts."""
    by_index = {p.index: p for p in series.patches}
    for p in series.patches:
        prev = by_index.get(p.index - 1)
        if p.index - 1 in series.missing:
            for f in p.files:
                if f.old_blob and f.old_path:
                    series.prerequisites.append({
                        "index": p.index - 1, "path": f.old_path, "blob": f.old_blob,
                        "needed_by": p.index})
                    series.warnings.append(
                        f"{p.index}/{p.total} expects {f.old_path} at blob {f.old_blob}, "
                        f"which the missing {p.index - 1}/{p.total} produces")
        elif prev is not None:
            made = {f.new_path: f.new_blob for f in prev.files if f.new_blob}
            for f in p.files:
                want = made.get(f.old_path)
                if want and f.old_blob and not (want.startswith(f.old_blob)
                                                or f.old_blob.startswith(want)):
                    series.warnings.append(
                        f"{p.index}/{p.total} expects {f.old_path} at {f.old_blob} but "
                        f"{prev.index}/{prev.total} produces {want}")

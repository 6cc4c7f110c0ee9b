"""kpatchkit.fetch: read a patch series from any source a reviewer holds.

Public API (other stages import only these):

- ``load_series(source, *, msgid=None, tree_path=None) -> Series``
- ``series_mbox(patches) -> str``
"""

from __future__ import annotations

from pathlib import Path

from kpatchkit.errors import KpatchkitError
from kpatchkit.records.mbox import series_mbox
from kpatchkit.records.series import Patch, Series

__all__ = ["load_series", "series_mbox"]


def _parse_item(item) -> tuple[Patch, list[str]]:
    """One item -> Patch, within the limits: its raw bytes are checked before any parser runs
    (a parser's RecursionError, should one still happen, is the nesting limit too)."""
    from kpatchkit.fetch import limits
    from kpatchkit.fetch.mailparse import check_mail_like, message_from_bytes, patch_from_message
    from kpatchkit.fetch.webarchive import patch_from_archive_text

    if item.error is not None:
        raise item.error
    limits.check_mail_bytes(item.data, item.label)
    try:
        if item.archive_text:
            return patch_from_archive_text(item.data.decode("utf-8", "replace"),
                                           source=item.label)
        msg = message_from_bytes(item.data)
        check_mail_like(msg, item.label)
        return patch_from_message(msg, source=item.label), []
    except RecursionError:
        raise limits.breach("header_nesting", item.label) from None


def load_series(source: str, *, msgid: str | None = None,
                tree_path: Path | None = None) -> Series:
    """Read SOURCE (file, mbox, maildir, folder, archive text, git mirror, URL, Message-ID),
    assemble the newest revision of the series and repair whitespace damage.

    ``tree_path`` is a kernel source directory: when given, context and removed lines of a
    damaged patch are taken verbatim from the target files. Raises ``KpatchkitError`` (exit 2)
    on input that holds no usable series.
    """
    from kpatchkit.fetch.assemble import assemble
    from kpatchkit.fetch.mailparse import repair_patch
    from kpatchkit.fetch.modes import mode_notes
    from kpatchkit.fetch.sources import fetch_source

    if tree_path is not None and not Path(tree_path).is_dir():
        raise KpatchkitError(f"--tree {tree_path}: not a directory")
    fetched = fetch_source(str(source), msgid)
    mails: list[Patch] = []
    warnings: list[str] = []
    for item in fetched.items:
        try:
            patch, notes = _parse_item(item)
        except Exception as exc:  # noqa: BLE001 - one mail's failure is that mail's
            if len(fetched.items) == 1:
                raise
            # In a thread, a broken reply must not hide the series; a broken patch must.
            if _is_patch_mail(item.data):
                if isinstance(exc, KpatchkitError):
                    exc.message = f"{item.label}: {exc.message}"
                    exc.args = (exc.message,)
                raise
            why = exc.message if isinstance(exc, KpatchkitError) else \
                f"could not be read: {type(exc).__name__}: {exc}"
            warnings.append(f"{item.label}: skipped ({why})")
            continue
        mails.append(patch)
        warnings.extend(notes)
    series = assemble(mails, msgid=msgid or fetched.msgid, source=str(source),
                      kind=fetched.kind)
    warnings.extend(mode_notes(series.patches))
    tree = Path(tree_path) if tree_path else None
    overlay: dict[str, list[str]] = {}  # files as the series' earlier patches leave them
    for p in series.patches:
        if p.whitespace_damaged:
            warnings.extend(repair_patch(p, tree, overlay))
        if tree is not None:
            _advance(overlay, p, tree)
    series.warnings = warnings + series.warnings
    return series


def _advance(overlay: dict[str, list[str]], patch: Patch, tree: Path) -> None:
    """Apply ``patch`` to the overlay so the next damaged patch is matched against it."""
    from kpatchkit.fetch.whitespace import apply_hunks, read_target

    for f in patch.files:
        if f.binary or not f.hunks:
            continue
        base = overlay.get(f.old_path or "") if f.old_path else []
        if base is None:
            base = read_target(tree, f.old_path)
        new = apply_hunks(base, f.hunks) if base is not None else None
        if new is not None and f.new_path:
            overlay[f.new_path] = new
        if f.old_path and f.old_path != f.new_path:
            overlay.pop(f.old_path, None)  # renamed or deleted


def _subject_of(data: bytes) -> str:
    head = data[:65536].split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:200].decode("utf-8", "replace").strip()
    return ""


def _is_patch_mail(data: bytes) -> bool:
    """A '[PATCH ...]' mail that is not a reply: part of the series, so its failure is the
    series' failure (a reply's is only a warning)."""
    subject = _subject_of(data)
    return "[PATCH" in subject.upper() and not subject.lower().startswith(("re:", "aw:"))

"""What a series does besides changing text: symlinks and file modes, said out loud.

A patch can create a symlink (mode 120000, its "content" the target) and then write a file
"through" it: ``link/passwd`` with ``link -> /etc``. ``git am`` refuses that today, but a reviewer
must not learn it from a failed apply: fetch refuses the series (exit 2) and reports every
symlink and mode change as a warning.
"""

from __future__ import annotations

from kpatchkit.errors import UserError
from kpatchkit.records.series import FileDiff, Patch

SYMLINK = "120000"
_EXECUTABLE = "100755"


def _header_mode(f: FileDiff, prefix: str) -> str | None:
    for line in f.header:
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def _target(f: FileDiff) -> str:
    added = [x[1:] for h in f.hunks for x in h.lines if x.startswith("+")]
    return added[0] if added else "?"


def _outside(target: str) -> bool:
    return target.startswith("/") or ".." in target.split("/")


def mode_notes(patches: list[Patch]) -> list[str]:
    """Warnings for symlinks and mode changes in ``patches`` (in series order); raises
    ``UserError`` when a path goes through a symlink the series itself creates."""
    notes: list[str] = []
    links: dict[str, str] = {}  # symlink path -> "n/m"
    for p in patches:
        where = f"{p.index}/{p.total}" if p.total else (p.subject[:40] or p.source)
        for f in p.files:
            new_mode = _header_mode(f, "new file mode ")
            old_mode = _header_mode(f, "old mode ")
            changed_to = _header_mode(f, "new mode ")
            index_mode = f.mode if f.mode and not new_mode and not changed_to else None
            if SYMLINK in (new_mode, changed_to, index_mode) and f.new_path:
                target = _target(f)
                verb = "creates" if new_mode else "changes"
                far = " (outside the tree)" if _outside(target) else ""
                notes.append(f"{where} {verb} a symlink: {f.new_path} -> {target}{far}")
                links[f.new_path] = where
            if old_mode and changed_to and old_mode != changed_to:
                notes.append(f"{where} changes the mode of {f.path}: {old_mode} -> {changed_to}")
            elif new_mode == _EXECUTABLE:
                notes.append(f"{where} creates an executable file: {f.path}")
            if _header_mode(f, "deleted file mode ") == SYMLINK and f.old_path:
                notes.append(f"{where} deletes the symlink {f.old_path}")
    for p in patches:
        where = f"{p.index}/{p.total}" if p.total else (p.subject[:40] or p.source)
        for f in p.files:
            for path in {f.old_path, f.new_path} - {None}:
                parts = path.split("/")
                for k in range(1, len(parts)):
                    link = "/".join(parts[:k])
                    if link in links:
                        raise UserError(
                            f"{where} touches {path}, which goes through the symlink {link} "
                            f"that {links[link]} creates; refusing a patch that could write "
                            "outside the tree")
    return notes

"""Parse the unified diff of a patch mail into ``FileDiff``/``Hunk`` records.

Two modes: ``strict`` (a mail that should be intact: a short hunk means the input was
truncated) and lenient (text known or suspected to be whitespace-damaged: lines that lost their
marker are kept as context and counted, so ``whitespace.py`` can repair them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kpatchkit.errors import KpatchkitError
from kpatchkit.records.series import FileDiff, Hunk

# (line numbers past ten digits are no hunk header: int() of a 5,000-digit run would fail)
HUNK_RE = re.compile(r"^@@ -(\d{1,10})(?:,(\d{1,10}))? \+(\d{1,10})(?:,(\d{1,10}))? @@ ?(.*)$")
DIFF_GIT_RE = re.compile(r"^diff --git (\S+) (\S+)\s*$")
INDEX_RE = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)(?: (\d+))?\s*$")
# Where a diff starts inside a mail body.
DIFF_START_RE = re.compile(r"^(diff --git |Index: |--- \S)", re.M)
# A line that ends a hunk when counts are unreliable: git's "-- " signature (or its damaged
# form "--") followed by a version, a new file or a new hunk.
_SIG_RE = re.compile(r"^-- ?$")
_HEADER_PREFIXES = (
    "index ", "new file mode", "deleted file mode", "old mode", "new mode", "similarity index",
    "dissimilarity index", "rename from", "rename to", "copy from", "copy to",
)


@dataclass
class DiffParse:
    """What ``parse_diff`` found."""

    files: list[FileDiff] = field(default_factory=list)
    trailing: list[str] = field(default_factory=list)  # lines after the diff (signature etc.)
    unmarked_lines: int = 0  # hunk lines without ' ', '+', '-', '\\' (whitespace damage)
    recounted: int = 0  # hunks whose header counts did not match their lines
    rejoined: int = 0  # lines a mail client had wrapped, joined back


def find_diff_start(text: str) -> int | None:
    """Offset of the first diff line in ``text`` (a ``---``/``+++`` pair or ``diff --git``)."""
    for m in DIFF_START_RE.finditer(text):
        line_end = text.find("\n", m.start())
        if m.group(1).startswith("--- "):
            nxt = text[line_end + 1: text.find("\n", line_end + 1)] if line_end >= 0 else ""
            if not nxt.startswith("+++ "):
                continue
        return m.start()
    return None


def _strip_prefix(path: str) -> str | None:
    path = path.strip().split("\t")[0]
    if path == "/dev/null":
        return None
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    if path[:2] in ("a/", "b/"):
        path = path[2:]
    return path


def check_path(path: str | None) -> None:
    """Refuse paths that would escape the tree: absolute, ``..``, NULs, empty."""
    if path is None:
        return
    parts = path.split("/")
    if (not path or path.startswith("/") or "\0" in path or "\\" in path
            or any(p in ("..", ".") for p in parts) or "" in parts[:-1]):
        raise KpatchkitError(
            f"the diff touches {path!r}, which is outside a kernel tree (absolute or '..' path); "
            "refusing a patch that could write anywhere"
        )


def parse_diff(lines: list[str], *, strict: bool) -> DiffParse:
    """Parse diff ``lines`` (no newlines) until the diff ends; see module docstring."""
    out = DiffParse()
    i, n = 0, len(lines)
    cur: FileDiff | None = None
    while i < n:
        line = lines[i]
        m = DIFF_GIT_RE.match(line)
        if m or (line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ ")
                 and (cur is None or cur.hunks or cur.binary)):
            cur = FileDiff(old_path=None, new_path=None)
            out.files.append(cur)
            if m:
                cur.old_path, cur.new_path = _strip_prefix(m.group(1)), _strip_prefix(m.group(2))
                cur.header.append(line)
                i += 1
                continue
        if cur is None:
            break
        if line.startswith(_HEADER_PREFIXES) and not cur.hunks:
            im = INDEX_RE.match(line)
            if im:
                cur.old_blob, cur.new_blob = im.group(1), im.group(2)
                cur.mode = im.group(3) or cur.mode
            elif line.startswith(("new file mode", "new mode")):
                cur.mode = line.split()[-1]
            if line.startswith("new file mode"):
                cur.old_path = None
            elif line.startswith("deleted file mode"):
                cur.new_path = None
            elif line.startswith(("rename from ", "copy from ")):
                cur.old_path = line.split(" ", 2)[2]
            elif line.startswith(("rename to ", "copy to ")):
                cur.new_path = line.split(" ", 2)[2]
            cur.header.append(line)
            i += 1
            continue
        if line.startswith("--- ") and not cur.hunks:
            cur.old_path = _strip_prefix(line[4:])
            cur.header.append(line)
            i += 1
            continue
        if line.startswith("+++ ") and not cur.hunks:
            cur.new_path = _strip_prefix(line[4:])
            cur.header.append(line)
            i += 1
            continue
        if line.startswith("Binary files ") or line == "GIT binary patch":
            cur.binary = True
            cur.header.append(line)
            i += 1
            if line == "GIT binary patch":
                # forward block, then an optional reverse block, each ended by a blank line
                while i < n and lines[i].startswith(("literal ", "delta ")):
                    while i < n and lines[i].strip():
                        cur.header.append(lines[i])
                        i += 1
                    cur.header.append("")
                    i += 1
            continue
        hm = HUNK_RE.match(line)
        if hm:
            i = _read_hunk(lines, i, hm, cur, out, strict)
            continue
        break  # the diff is over
    out.trailing = lines[i:]
    for f in out.files:
        check_path(f.old_path)
        check_path(f.new_path)
        if f.old_path is None and f.new_path is None:
            raise KpatchkitError("a diff header names no file (/dev/null on both sides)")
        if not f.hunks and not f.binary and not _pure_metadata(f):
            raise KpatchkitError(f"the diff of {f.path} has no hunks (truncated?)")
    return out


def _pure_metadata(f: FileDiff) -> bool:
    # mode changes, renames and empty new files have no hunks legitimately
    return any(h.startswith(_HEADER_PREFIXES[1:]) for h in f.header)


@dataclass
class _Take:
    """One pass over a hunk's lines."""

    lines: list[str]
    end: int  # index after the hunk
    old_left: int
    new_left: int
    unmarked: int = 0
    joined: int = 0

    def exact(self, lines: list[str]) -> bool:
        """Counts met and the next line is not more hunk text."""
        nxt = lines[self.end] if self.end < len(lines) else ""
        more = nxt[:1] in (" ", "+", "-") and not _SIG_RE.match(nxt) and not nxt.startswith(
            ("--- ", "+++ "))
        return self.old_left == 0 and self.new_left == 0 and not more


def _take(lines: list[str], i: int, old_count: int, new_count: int, strict: bool,
          wrapped: bool) -> _Take:
    """Consume hunk lines by the header counts. ``wrapped``: a marker-less line after a long
    '+'/'-'/' ' line is the rest of it, broken by a mail client, and is joined back."""
    t = _Take([], i, old_count, new_count)
    n = len(lines)
    while i < n and (t.old_left > 0 or t.new_left > 0):
        line = lines[i]
        if DIFF_GIT_RE.match(line) or HUNK_RE.match(line):
            break
        if not strict and _SIG_RE.match(line) and _looks_like_signature_end(lines, i):
            break
        tag = line[:1]
        if tag == "\\":
            t.lines.append(line)
            i += 1
            continue
        if line == "":
            line, tag = " ", " "  # an empty context line whose space a mailer trimmed
        elif tag not in (" ", "+", "-"):
            if strict and (line.startswith(("From ", "-- ")) or not line.strip()):
                break
            if wrapped and t.lines and len(t.lines[-1]) >= 40:
                t.lines[-1] += " " + line
                t.joined += 1
                i += 1
                continue
            t.unmarked += 1
            line, tag = " " + line, " "
        if tag == " ":
            t.old_left -= 1
            t.new_left -= 1
        elif tag == "-":
            t.old_left -= 1
        else:
            t.new_left -= 1
        t.lines.append(line)
        i += 1
    if i < n and lines[i].startswith("\\"):
        t.lines.append(lines[i])
        i += 1
    t.end = i
    return t


def _read_hunk(lines: list[str], i: int, hm: re.Match, cur: FileDiff, out: DiffParse,
               strict: bool) -> int:
    old_start, new_start = int(hm.group(1)), int(hm.group(3))
    old_count = int(hm.group(2)) if hm.group(2) is not None else 1
    new_count = int(hm.group(4)) if hm.group(4) is not None else 1
    hunk = Hunk(old_start, old_count, new_start, new_count, hm.group(5) or "", header=lines[i])
    cur.hunks.append(hunk)
    header_line = lines[i]
    t = _take(lines, i + 1, old_count, new_count, strict, wrapped=False)
    if t.unmarked and not t.exact(lines):
        again = _take(lines, i + 1, old_count, new_count, strict, wrapped=True)
        if again.exact(lines):
            t = again
            out.rejoined += again.joined
    out.unmarked_lines += t.unmarked
    hunk.lines = t.lines
    if t.old_left or t.new_left:
        if strict and t.unmarked == 0:
            raise KpatchkitError(
                f"{cur.path}: hunk '{header_line[:60]}' has {len(hunk.lines)} lines but its "
                f"header promises {old_count} old/{new_count} new: the input is truncated or "
                "mangled; fetch the mail again (raw or t.mbox.gz)"
            )
        out.recounted += 1
    recount_hunk(hunk)
    cur.insertions += sum(1 for x in hunk.lines if x.startswith("+"))
    cur.deletions += sum(1 for x in hunk.lines if x.startswith("-"))
    return t.end


def _looks_like_signature_end(lines: list[str], i: int) -> bool:
    rest = [x for x in lines[i + 1: i + 3]]
    return not rest or bool(re.match(r"^\s*(\d+\.\d+|$)", rest[0]))


def recount_hunk(hunk: Hunk) -> None:
    """Set a hunk's counts from its lines (after parsing leniently or repairing)."""
    hunk.old_count = sum(1 for x in hunk.lines if x[:1] in (" ", "-"))
    hunk.new_count = sum(1 for x in hunk.lines if x[:1] in (" ", "+"))


def render_files(files: list[FileDiff]) -> str:
    """The diff text of ``files`` (header lines kept as read, hunk headers from counts)."""
    out: list[str] = []
    for f in files:
        out.extend(f.header)
        for h in f.hunks:
            if h.header and _header_counts(h.header) == (h.old_count, h.new_count):
                out.append(h.header)  # keep the author's exact header when still right
                out.extend(h.lines)
                continue
            old = f"{h.old_start},{h.old_count}" if h.old_count != 1 else f"{h.old_start}"
            new = f"{h.new_start},{h.new_count}" if h.new_count != 1 else f"{h.new_start}"
            sec = f" {h.section}" if h.section else ""
            out.append(f"@@ -{old} +{new} @@{sec}")
            out.extend(h.lines)
    return "\n".join(out) + "\n" if out else ""


def _header_counts(header: str) -> tuple[int, int] | None:
    m = HUNK_RE.match(header)
    if not m:
        return None
    return (int(m.group(2)) if m.group(2) is not None else 1,
            int(m.group(4)) if m.group(4) is not None else 1)

"""Detect whitespace damage in a parsed diff and repair it.

Damage as web archives and some mail clients produce it: context lines lose their leading
space, indentation after the '+'/'-' marker collapses to one space, blank context lines become
empty. Repair re-derives context and removed lines verbatim from the target file when a tree is
given, and re-indents everything else by C structure (``cindent.CIndenter``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.fetch.cindent import CIndenter, columns, looks_like_comment_body
from kpatchkit.fetch.diffparse import recount_hunk
from kpatchkit.records.series import FileDiff, Hunk

_C_SUFFIXES = (".c", ".h", ".S")


@dataclass
class Repair:
    """What a repair did, for warnings and the JSON."""

    hunks: int = 0
    from_tree: int = 0  # hunks whose context/removed lines came from the target file
    reindented: int = 0  # hunks re-indented by C structure only
    notes: list[str] = field(default_factory=list)


def is_damaged(files: list[FileDiff], unmarked_lines: int) -> bool:
    """True when the diff shows whitespace damage (see module docstring)."""
    if unmarked_lines:
        return True
    indented = tabbed = 0
    for f in files:
        if not f.path.endswith(_C_SUFFIXES):
            continue
        for h in f.hunks:
            for line in h.lines:
                body = line[1:]
                if "\t" in body[:1] or body.startswith("\t"):
                    tabbed += 1
                elif re.match(r"^ \S", body) and not looks_like_comment_body(body.strip()):
                    indented += 1
    # Kernel C is tab-indented: many one-space indents and no tab at all is a collapsed diff.
    return indented >= 3 and tabbed == 0


def repair_files(files: list[FileDiff], tree_path: Path | None = None,
                 overlay: dict[str, list[str]] | None = None) -> Repair:
    """Repair every hunk of ``files`` in place; counts are recomputed.

    ``overlay`` maps paths to their text after the series' earlier patches (so 2/2 is repaired
    against the tree as 1/2 leaves it); other paths are read from ``tree_path``.
    """
    rep = Repair()
    for f in files:
        target = None
        if f.old_path and overlay and f.old_path in overlay:
            target = overlay[f.old_path]
        elif tree_path:
            target = _read_target(tree_path, f.old_path)
        for h in f.hunks:
            rep.hunks += 1
            if not f.path.endswith(_C_SUFFIXES) and target is None:
                _normalise_only(h)
                rep.notes.append(f"{f.path}: not C; only markers restored")
                continue
            if target is not None and _repair_from_tree(h, target):
                rep.from_tree += 1
            else:
                if target is not None:
                    rep.notes.append(
                        f"{f.path}: hunk at line {h.old_start} not found in the tree; re-indented")
                reindent_hunk(h)
                rep.reindented += 1
            recount_hunk(h)
    return rep


def read_target(tree_path: Path | None, rel: str | None) -> list[str] | None:
    """Lines of ``rel`` under ``tree_path`` (None if absent or outside the tree)."""
    return _read_target(tree_path, rel)


def apply_hunks(lines: list[str], hunks: list[Hunk]) -> list[str] | None:
    """``lines`` with ``hunks`` applied (old side located by exact text), or None."""
    out = list(lines)
    shift = 0
    for h in hunks:
        body = [x for x in h.lines if not x.startswith("\\")]
        old = [x[1:] for x in body if x[:1] in " -"]
        new = [x[1:] for x in body if x[:1] in " +"]
        hint = h.old_start - 1 + shift
        at = next((s for s in sorted(range(len(out) - len(old) + 1), key=lambda s: abs(s - hint))
                   if out[s:s + len(old)] == old), None)
        if at is None:
            return None
        out[at:at + len(old)] = new
        shift += len(new) - len(old)
    return out


def _read_target(tree_path: Path | None, rel: str | None) -> list[str] | None:
    if tree_path is None or rel is None:
        return None
    path = (tree_path / rel).resolve()
    try:
        path.relative_to(tree_path.resolve())
        return path.read_text(errors="replace").split("\n")
    except (OSError, ValueError):
        return None


def _normalise_only(h: Hunk) -> None:
    h.lines = [ln if ln[:1] in " +-\\" else " " + ln for ln in h.lines]


def _split(line: str) -> tuple[str, str]:
    return line[:1], line[1:]


def _start_state(pairs: list[tuple[str, str]]) -> tuple[int, bool]:
    """Estimate (block depth, inside a comment) at the hunk's first line."""
    first = next((t.strip() for _, t in pairs if t.strip()), "")
    in_comment = looks_like_comment_body(first)
    probe = CIndenter(0, in_comment=in_comment)
    for _, text in pairs:
        probe.feed(text)
    return probe.min_needed, in_comment


def reindent_hunk(h: Hunk) -> None:
    """Re-indent a hunk's lines by C structure (old and new side tracked separately)."""
    lines = [ln for ln in h.lines if not ln.startswith("\\")]
    old = [(m, t) for m, t in map(_split, lines) if m in " -"]
    new = [(m, t) for m, t in map(_split, lines) if m in " +"]
    d_old, c_old = _start_state(old)
    d_new, c_new = _start_state(new)
    depth = max(d_old, d_new)
    old_ind = CIndenter(depth, in_comment=c_old)
    new_ind = CIndenter(depth, in_comment=c_new)
    out: list[str] = []
    for line in h.lines:
        mark, text = _split(line)
        if mark == "\\":
            out.append(line)
        elif mark == "-":
            out.append("-" + old_ind.feed(text))
        elif mark == "+":
            out.append("+" + new_ind.feed(text))
        else:
            old_ind.feed(text)
            out.append(" " + new_ind.feed(text))
    h.lines = out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _locate(old_texts: list[str], target: list[str], hint: int) -> int | None:
    """Index in ``target`` where the hunk's old side matches, ignoring all whitespace."""
    want = [_squash(t) for t in old_texts]
    have = [_squash(t) for t in target]
    n = len(want)
    if n == 0:
        return None
    candidates = range(0, len(have) - n + 1)
    for start in sorted(candidates, key=lambda s: abs(s - hint)):
        if have[start:start + n] == want:
            return start
    return None


def _repair_from_tree(h: Hunk, target: list[str]) -> bool:
    lines = [ln for ln in h.lines if not ln.startswith("\\")]
    old_texts = [t for m, t in map(_split, lines) if m in " -"]
    at = _locate(old_texts, target, h.old_start - 1)
    if at is None:
        return False
    # Depth at the hunk start, from the first real code line of the file window.
    depth, in_comment = 0, False
    for real in target[at:at + len(old_texts)]:
        if real.strip():
            lead = real[: len(real) - len(real.lstrip())]
            in_comment = looks_like_comment_body(real.strip())
            depth = columns(lead) // 8 + (1 if real.strip().startswith("}") else 0)
            break
    new_ind = CIndenter(depth, in_comment=in_comment)
    out: list[str] = []
    k = at
    for line in h.lines:
        mark, text = _split(line)
        if mark == "\\":
            out.append(line)
        elif mark == "+":
            out.append("+" + new_ind.feed(text))
        else:
            real = target[k]
            k += 1
            if mark == " ":
                new_ind.feed(real)
            out.append(mark + real)
    h.lines = out
    h.old_start = at + 1
    return True

"""Re-anchor a patch's hunks on a target file whose text differs from the patch's preimage.

Per hunk, in order:

1. ``context``: the hunk's preimage found once in the target, comparing lines with whitespace
   collapsed (offsets and whitespace damage don't matter). Replaced by the postimage.
2. ``function``: the hunk is mapped to the C functions it edits (``kernel.cfunc`` on both
   sides of the hunk) and re-anchored on the target's functions *by name*: a function the hunk
   deletes whole deletes the target's version (with its leading comment if the hunk deletes that
   too); a function whose whole definition is in the hunk and changes replaces the target's
   definition; a new function is inserted next to its neighbour. A changed function the target
   does not have makes the patch :class:`Obsolete`.
3. otherwise :class:`PortFailure` names the hunk and why.

API drift (renames) is *not* done here: the re-anchored commits keep the author's spelling and
``drift`` makes one separate, readable port commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kpatchkit.kernel import cfunc
from kpatchkit.records.series import FileDiff, Hunk

Spell = Callable[[str], str]  # rewrites a patch line into the target's API spelling


@dataclass
class HunkOutcome:
    """How one hunk landed on the target."""

    file: str
    hunk: int  # 1-based index within the file
    method: str  # "context", "function-replace", "function-delete", "function-insert",
    #              "already-absent"
    functions: list[str] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict:
        return {"file": self.file, "hunk": self.hunk, "method": self.method,
                "functions": self.functions, "note": self.note}


class PortFailure(Exception):
    """A hunk that could not be re-anchored."""

    def __init__(self, file: str, hunk: int, reason: str) -> None:
        super().__init__(f"{file} hunk {hunk}: {reason}")
        self.file, self.hunk, self.reason = file, hunk, reason


class Obsolete(Exception):
    """The patch changes a function the target does not have."""

    def __init__(self, file: str, function: str) -> None:
        super().__init__(f"{function}() is not in {file}")
        self.file, self.function = file, function


def _norm(line: str) -> str:
    return " ".join(line.split())


def hunk_sides(hunk: Hunk) -> tuple[list[str], list[str]]:
    """The hunk's preimage and postimage lines (without markers, without newlines)."""
    old = [ln[1:] for ln in hunk.lines if ln[:1] in (" ", "-")]
    new = [ln[1:] for ln in hunk.lines if ln[:1] in (" ", "+")]
    return old, new


def _find_block(lines: list[str], block: list[str], lo: int = 0,
                hi: int | None = None, spell: Spell | None = None) -> list[int]:
    """Start indexes where ``block`` matches ``lines[lo:hi]`` with whitespace collapsed.

    ``spell`` rewrites a patch line into the target's API spelling before comparing.
    """
    hi = len(lines) if hi is None else hi
    want = [_norm(spell(b) if spell else b) for b in block]
    if not any(want):
        return []
    have = [_norm(x) for x in lines]
    return [i for i in range(lo, hi - len(want) + 1) if have[i:i + len(want)] == want]


def _replacement(hunk_lines: list[str], target: list[str]) -> list[str]:
    """The hunk's postimage where context lines keep the target's own text (its spelling,
    its whitespace) and only '+' lines come from the patch."""
    out, t = [], 0
    for ln in hunk_lines:
        tag = ln[:1]
        if tag == " ":
            out.append(target[t])
            t += 1
        elif tag == "-":
            t += 1
        elif tag == "+":
            out.append(ln[1:])
    return out


def _body_lines(hunk: Hunk) -> list[str]:
    return [ln for ln in hunk.lines if ln[:1] in (" ", "-", "+")]


def _trimmed(lines: list[str], lead: int, trail: int) -> list[str]:
    """Hunk lines with ``lead``/``trail`` context lines dropped at the ends (git's fuzz)."""
    out = list(lines)
    for _ in range(lead):
        if out and out[0][:1] == " ":
            out.pop(0)
    for _ in range(trail):
        if out and out[-1][:1] == " ":
            out.pop()
    return out


def apply_context(lines: list[str], hunk: Hunk, spell: Spell | None, lo: int = 0,
                   hi: int | None = None, fuzz: int = 0) -> bool:
    """Apply the hunk where its preimage occurs exactly once in ``lines[lo:hi]``."""
    body = _body_lines(hunk)
    for f in range(fuzz + 1):
        trimmed = _trimmed(body, f, f)
        old = [ln[1:] for ln in trimmed if ln[:1] in (" ", "-")]
        if sum(1 for x in old if x.strip()) < 3 and hi is None:
            return False  # too little to anchor on safely in a whole file
        if not any(ln[:1] in "+-" for ln in trimmed):
            return False
        hits = _find_block(lines, old, lo, hi, spell)
        if len(hits) == 1:
            at = hits[0]
            lines[at:at + len(old)] = _replacement(trimmed, lines[at:at + len(old)])
            return True
        if len(hits) > 1:
            return False
    return False


find_block = _find_block  # public name for outcome.py


def _complete(text_lines: list[str]) -> dict[str, cfunc.FunctionSpan]:
    text = "\n".join(text_lines) + "\n"
    return {s.name: s for s in cfunc.scan(text) if s.complete}


def _changed_indexes(hunk: Hunk) -> tuple[set[int], set[int]]:
    """0-based indexes of '-' lines in the preimage and '+' lines in the postimage."""
    old_i = new_i = 0
    minus, plus = set(), set()
    for ln in hunk.lines:
        tag = ln[:1]
        if tag == " ":
            old_i += 1
            new_i += 1
        elif tag == "-":
            minus.add(old_i)
            old_i += 1
        elif tag == "+":
            plus.add(new_i)
            new_i += 1
    return minus, plus


def _covered(span: cfunc.FunctionSpan, *, comment: bool = False) -> set[int]:
    first = (span.comment_start if comment else span.start) - 1
    return set(range(first, span.end))


def _drop_blank_after(lines: list[str], idx: int) -> None:
    """Remove one blank line at ``idx`` if the deletion left two in a row."""
    if 0 <= idx < len(lines) and not lines[idx].strip() and (idx == 0 or
                                                             not lines[idx - 1].strip()):
        del lines[idx]


def enclosing_name(hunk: Hunk, old: list[str]) -> str | None:
    """The function a hunk's changes sit in: an unfinished definition in the hunk, else the
    function named in the ``@@ ... @@ section`` (git's funcname line before the hunk)."""
    open_spans = [sp for sp in cfunc.scan("\n".join(old) + "\n") if not sp.complete]
    if open_spans:
        return open_spans[-1].name
    # git's funcname line is often a statement, a label or a struct: only a declarator counts
    return cfunc.heading_function(hunk.section) if hunk.section else None


def _apply_functions(lines: list[str], path: str, index: int, hunk: Hunk,
                     old: list[str], new: list[str], spell: Spell | None) -> HunkOutcome:
    fo, fn = _complete(old), _complete(new)
    minus, plus = _changed_indexes(hunk)
    handled_old: set[int] = set()
    handled_new: set[int] = set()
    methods: list[str] = []
    names: list[str] = []
    notes: list[str] = []
    target = lambda: {s.name: s for s in cfunc.scan("\n".join(lines) + "\n") if s.complete}  # noqa: E731

    for name, span in fo.items():
        if name in fn:
            continue
        whole = _covered(span)
        if not whole <= minus:
            continue  # not deleted whole; leave it to the changed-function logic below
        with_comment = _covered(span, comment=True) <= minus
        handled_old |= _covered(span, comment=with_comment)
        # the blank line that separated it from the next definition goes with it
        if span.end in minus and span.end < len(old) and not old[span.end].strip():
            handled_old.add(span.end)
        names.append(name)
        t = target().get(name)
        if t is None:
            methods.append("already-absent")
            notes.append(f"{name}() deleted by the patch is already absent in the target")
            continue
        first = (t.comment_start if with_comment else t.start) - 1
        del lines[first:t.end]
        _drop_blank_after(lines, first)
        methods.append("function-delete")

    for name, span in fn.items():
        new_text = new[span.start - 1:span.end]
        if name in fo:
            ospan = fo[name]
            old_text = old[ospan.start - 1:ospan.end]
            handled_old |= _covered(ospan)
            handled_new |= _covered(span)
            if [_norm(x) for x in old_text] == [_norm(x) for x in new_text]:
                continue
            # comment lines directly above that the hunk changes are replaced too
            names.append(name)
            t = target().get(name)
            if t is None:
                raise Obsolete(path, name)
            had = lines[t.start - 1:t.end]
            same = [_norm(x) for x in had] == [_norm(x) for x in old_text]
            lines[t.start - 1:t.end] = new_text
            methods.append("function-replace")
            if not same:
                # Say what of the target's own version the replacement drops, so a reviewer
                # can check it was not a fix the patch author never saw.
                known = {_norm(x) for x in old_text + new_text}
                dropped = [x.strip() for x in had if x.strip() and _norm(x) not in known]
                example = f", e.g. {dropped[0][:70]!r}" if dropped else ""
                notes.append(f"{name}(): the target's definition differed from the patch's "
                             f"preimage; replaced by the patch's version ({len(dropped)} line(s) "
                             f"of the target's version are in neither side of the patch"
                             f"{example})")
        else:
            handled_new |= _covered(span, comment=True)
            names.append(name)
            t_all = target()
            if name in t_all:
                raise PortFailure(path, index, f"adds {name}() which the target already has")
            before = [n for n, s in fn.items() if s.end < span.start and n in t_all]
            after = [n for n, s in fn.items() if s.start > span.end and n in t_all]
            block = new[span.comment_start - 1:span.end]
            if before:
                at = t_all[before[-1]].end
                lines[at:at] = ["", *block]
            elif after:
                at = t_all[after[0]].comment_start - 1
                lines[at:at] = [*block, ""]
            else:
                raise PortFailure(path, index, f"no neighbouring function to place new {name}()")
            methods.append("function-insert")

    left_old = {i for i in minus - handled_old if old[i].strip()}
    left_new = {i for i in plus - handled_new if new[i].strip()}
    if (left_old or left_new) and not methods:
        # The hunk edits inside one function: find that function in the target by name and
        # apply the hunk within its span, dropping up to 3 context lines at each end.
        name = enclosing_name(hunk, old)
        if name:
            t = target().get(name)
            if t is None:
                raise Obsolete(path, name)
            if apply_context(lines, hunk, spell, t.start - 1, t.end, fuzz=3):
                return HunkOutcome(path, index, "function-context", [name])
    if left_old or left_new:
        where = sorted(left_old)[:1] or sorted(left_new)[:1]
        side = old if left_old else new
        raise PortFailure(path, index, "changes outside a whole function definition do not match "
                          f"the target (first: {side[where[0]].strip()[:60]!r})")
    if not methods:
        raise PortFailure(path, index, "nothing to re-anchor: the hunk touches no whole function")
    return HunkOutcome(path, index, "+".join(dict.fromkeys(methods)), names, "; ".join(notes))


def reanchor_file(target_text: str, fd: FileDiff,
                  spell: Spell | None = None) -> tuple[str, list[HunkOutcome]]:
    """Apply ``fd``'s hunks to ``target_text`` by context or by function; see module doc.

    ``spell`` maps a patch line to the target's API spelling, for matching only: context
    lines written back are always the target's own.
    """
    lines = target_text.split("\n")
    trailing_newline = target_text.endswith("\n")
    if trailing_newline:
        lines.pop()
    outcomes = []
    for index, hunk in enumerate(fd.hunks, 1):
        old, new = hunk_sides(hunk)
        if apply_context(lines, hunk, spell):
            outcomes.append(HunkOutcome(fd.path, index, "context"))
            continue
        outcomes.append(_apply_functions(lines, fd.path, index, hunk, old, new, spell))
    return "\n".join(lines) + ("\n" if trailing_newline else ""), outcomes

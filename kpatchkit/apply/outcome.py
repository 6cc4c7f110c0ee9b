"""Per-hunk verdicts for a patch that ``git am`` refused: what is true of each hunk on the tree.

For each hunk, in this order (the first that holds wins):

1. ``applies``    its preimage is in the file once (whitespace-insensitive): it applies as is;
2. ``present``    its postimage is in the file once, or every line it adds is in the functions
                  it changes (wherever they live now: code moves between files and headers,
                  whitespace and brace placement ignored) and the lines it removes are gone;
3. ``applies``    re-anchored by function name (``port``): the port rules can place it;
4. ``conflict``   the lines it removes are still in the file but the hunk does not apply;
5. ``missing``    the file, the function it changes or a symbol its context or added lines
                  use does not exist in the tree;
6. ``superseded`` the function it changes exists and the lines it removes are gone, but its
                  added lines are not there verbatim: the code was rewritten since;
7. ``conflict``   anything else.

The patch-level outcome is then decided in ``engine``: every hunk present or superseded means
the tree already has the change; a conflict or missing hunk stops the apply.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kpatchkit.apply import port, symbols
from kpatchkit.kernel import cfunc
from kpatchkit.records.series import FileDiff, Hunk

# name -> (path, text) of the file that defines function ``name`` now, or None
Locate = Callable[[str], "tuple[str, str] | None"]
# symbols -> those the tree lacks
Absent = Callable[[list[str]], list[str]]


@dataclass
class HunkVerdict:
    """What one hunk is on the target, with where it was seen."""

    file: str
    hunk: int  # 1-based within the file
    state: str  # applies | present | superseded | conflict | missing
    text: str  # one line of evidence
    function: str | None = None
    where: str | None = None  # the file the function lives in, when not ``file``
    line: int | None = None  # 1-based, in ``where`` or ``file``
    method: str = ""  # applies: context or the port method; present: postimage or lines
    missing: str = ""  # missing: "file", "function" or "symbol"
    symbols: list[str] = field(default_factory=list)  # missing symbols, in order
    hunk_text: str = ""
    target_text: str = ""


def norm(line: str) -> str:
    """Whitespace collapsed, a brace that only opens or closes the line dropped."""
    s = " ".join(line.split())
    s = s.removesuffix("{").rstrip()
    return s.removeprefix("}").lstrip()


def distinctive(line: str) -> bool:
    """A line worth looking for: not blank, not a lone brace, ``return 0;`` or ``break;``."""
    s = norm(line)
    return len(s) >= 10 and re.search(r"[A-Za-z_]\w\w", s) is not None


def changed_lines(hunk: Hunk) -> tuple[list[str], list[str]]:
    """(lines the hunk really adds, lines it really removes): a line that is removed and
    added again (re-indented, moved within the hunk) is in neither."""
    minus = [ln[1:] for ln in hunk.lines if ln[:1] == "-"]
    plus = [ln[1:] for ln in hunk.lines if ln[:1] == "+"]
    plus_n, minus_n = {norm(x) for x in plus}, {norm(x) for x in minus}
    added = [x for x in plus if norm(x) and norm(x) not in minus_n]
    gone = [x for x in minus if norm(x) and norm(x) not in plus_n]
    return added, gone


def hunk_functions(hunk: Hunk) -> tuple[str | None, list[str]]:
    """(the function a hunk sits in: an open definition in its text, else a section heading
    that is a declarator; every function it changes, that one first)."""
    old, new = port.hunk_sides(hunk)
    inner = port.enclosing_name(hunk, old)
    names: list[str] = [inner] if inner else []
    for side in (old, new):
        for span in cfunc.scan("\n".join(side) + "\n"):
            if span.name not in names:
                names.append(span.name)
    return inner, names


@dataclass
class _Region:
    """The lines of the target functions a hunk changes (or the whole file)."""

    lines: list[str]
    found: dict[str, tuple[str, int]]  # function -> (path, 1-based start line)
    whole_file: bool


def _region(path: str, text: str | None, names: list[str], locate: Locate) -> _Region:
    lines: list[str] = []
    found: dict[str, tuple[str, int]] = {}
    for name in names:
        span = cfunc.find_function(text, name) if text is not None else None
        where, src = path, text
        if span is None:
            hit = locate(name)
            if hit is not None:
                where, src = hit
                span = cfunc.find_function(src, name)
        if span is None or src is None:
            continue
        found[name] = (where, span.start)
        lines += src.split("\n")[span.comment_start - 1:span.end]
    if found or text is None:
        return _Region(lines, found, False)
    return _Region(text.split("\n"), {}, True)


def _present(added: list[str], gone: list[str], region: _Region) -> bool:
    have = {norm(x) for x in region.lines}
    code = [x for x in added if not symbols.is_comment(x)] or added
    if not any(distinctive(x) for x in code):
        return False
    if not all(norm(x) in have for x in code):
        return False
    return not any(norm(x) in have for x in gone if distinctive(x))


def _gone_still_there(gone: list[str], lines: list[str]) -> int | None:
    """0-based index of the first of the hunk's removed lines still in ``lines``, when at
    least half of its distinctive removed lines are there."""
    want = [x for x in gone if distinctive(x)]
    if not want:
        return None
    index: dict[str, int] = {}
    for i, x in enumerate(lines):
        index.setdefault(norm(x), i)
    hits = [index[norm(x)] for x in want if norm(x) in index]
    return min(hits) if hits and 2 * len(hits) >= len(want) else None


def _excerpt(lines: list[str], at: int, size: int) -> str:
    lo, hi = max(0, at - 3), min(len(lines), at + size + 3)
    return "\n".join(f"{n + 1:5d}  {lines[n]}" for n in range(lo, hi))


def classify_hunk(path: str, index: int, hunk: Hunk, lines: list[str] | None,
                  locate: Locate, absent: Absent, spell: port.Spell | None,
                  defined: set[str]) -> tuple[HunkVerdict, list[str] | None]:
    """The verdict on one hunk and, when it applies, the file's lines after it."""
    hunk_text = "\n".join(hunk.lines)
    base = HunkVerdict(file=path, hunk=index, state="", text="", hunk_text=hunk_text)
    if lines is None:
        return dataclasses.replace(base, state="missing", missing="file",
                                   text=f"{path} does not exist in the tree"), None
    old, new = port.hunk_sides(hunk)
    added, gone = changed_lines(hunk)
    work = list(lines)
    if port.apply_context(work, hunk, spell):
        return dataclasses.replace(base, state="applies", method="context",
                                   text=f"{path} hunk {index} applies by its context"), work
    hits = port.find_block(lines, new) if any(x.strip() for x in new) else []
    if len(hits) == 1 and sum(1 for x in new if x.strip()) >= 3:
        span = cfunc.function_at("\n".join(lines) + "\n", hits[0] + 1)
        return dataclasses.replace(
            base, state="present", method="postimage", line=hits[0] + 1,
            function=span.name if span else None,
            text=f"{path}:{span.name + ':' if span else ''}{hits[0] + 1}: the hunk's result is "
                 "already there"), None
    inner, names = hunk_functions(hunk)
    text = "\n".join(lines) + "\n"
    region = _region(path, text, names, locate)
    if _present(added, gone, region):
        fn = next(iter(region.found), None)
        where, line = region.found.get(fn, (path, None)) if fn else (path, None)
        sample = next((norm(x) for x in added if distinctive(x)), "")
        return dataclasses.replace(
            base, state="present", method="lines", function=fn, line=line,
            where=None if where == path else where,
            text=f"{where}:{fn + ':' if fn else ''}{line or ''}: every line the hunk adds is "
                 f"there (e.g. {sample[:60]!r}) and the lines it removes are gone"), None
    work = list(lines)
    try:
        new_text, outs = port.reanchor_file(text, FileDiff(old_path=path, new_path=path,
                                                           hunks=[hunk]), spell)
    except (port.PortFailure, port.Obsolete):
        outs = None
    if outs is not None:
        o = outs[0]
        return dataclasses.replace(
            base, state="applies", method=o.method, function=(o.functions or [None])[0],
            text=f"{path} hunk {index}: re-anchored ({o.method} "
                 f"{', '.join(o.functions)})" + (f"; {o.note}" if o.note else "")
        ), new_text.rstrip("\n").split("\n")
    at = _gone_still_there(gone, lines)
    if at is not None:
        span = cfunc.function_at(text, at + 1)
        fn = span.name if span else None
        intended = names[0] if names else None
        moved = f" (the hunk targets {intended}())" if intended and intended != fn else ""
        return dataclasses.replace(
            base, state="conflict", function=fn, line=at + 1,
            target_text=_excerpt(lines, at, len(old)),
            text=f"{path}:{fn + ':' if fn else ''}{at + 1}: the code the hunk changes is "
                 f"there{moved} but differs from its context"), None
    used = symbols.used_by(old)  # context and removed lines: what the hunk was written against
    used.update({k: v for k, v in symbols.used_by(added).items() if k not in used})
    lacking = absent([s for s in used if s not in defined])
    # functions the hunk changes (sits in, or whose definition it edits) that the tree lacks;
    # one that still exists after the patch is named first (it is what the patch is about)
    old_defs = {sp.name for sp in cfunc.scan("\n".join(old) + "\n")}
    new_defs = [sp.name for sp in cfunc.scan("\n".join(new) + "\n")]
    changed = [n for n in dict.fromkeys([*(x for x in new_defs if x in old_defs),
                                         *([inner] if inner else [])])]
    fn_missing = [n for n in changed if n not in region.found]
    if fn_missing or lacking:
        others = [x for x in lacking if x not in fn_missing]
        what = [f"{n}()" for n in fn_missing] + others
        return dataclasses.replace(
            base, state="missing", missing="function" if fn_missing else "symbol",
            function=fn_missing[0] if fn_missing else (names[0] if names else None),
            symbols=lacking,
            text=f"{path} hunk {index}: the tree has no " + ", ".join(what[:6])
                 + (f" (used in {used[others[0]].strip()[:60]!r})" if others else "")), None
    fn = names[0] if names else None
    if fn and fn in region.found and any(distinctive(x) for x in gone):
        where, line = region.found[fn]
        return dataclasses.replace(
            base, state="superseded", function=fn, line=line,
            where=None if where == path else where,
            target_text=_excerpt(region.lines, 0, min(len(region.lines), 12)),
            text=f"{where}:{fn}:{line}: the lines the hunk removes are gone (e.g. "
                 f"{norm(next(x for x in gone if distinctive(x)))[:60]!r}); the function was "
                 "rewritten since, without its added lines verbatim"), None
    where, line = region.found.get(fn, (path, None)) if fn else (path, None)
    return dataclasses.replace(
        base, state="conflict", function=fn, line=line,
        target_text=_excerpt(region.lines, 0, len(old)) if not region.whole_file else "",
        text=f"{path} hunk {index}: its context is not in the tree"
             + (f" ({fn}() is at {where}:{line})" if line else "")), None


def classify_file(fd: FileDiff, text: str | None, locate: Locate, absent: Absent,
                  spell: port.Spell | None, defined: set[str]
                  ) -> tuple[list[HunkVerdict], str | None]:
    """Verdicts for every hunk of ``fd`` in order, and the file's text with the hunks that
    apply applied (None when nothing applied)."""
    lines = None if text is None else text.rstrip("\n").split("\n")
    verdicts: list[HunkVerdict] = []
    changed = False
    for index, hunk in enumerate(fd.hunks, 1):
        v, after = classify_hunk(fd.path, index, hunk, lines, locate, absent, spell, defined)
        verdicts.append(v)
        if after is not None:
            lines, changed = after, True
    if not changed or lines is None:
        return verdicts, None
    return verdicts, "\n".join(lines) + ("\n" if text and text.endswith("\n") else "")

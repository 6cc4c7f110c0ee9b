"""Find C function definitions and their line spans in kernel source text, by name.

A small lexer (comments, strings, char literals and preprocessor lines are skipped; braces are
counted) rather than a parser, so it works on whole files, on the two sides of a diff hunk
(which may start or end inside a function) and on code that does not preprocess. It relies on
what makes a definition in kernel C: a top-level ``{`` whose preceding declarator is
``... name(params) [attributes]`` with no ``=``, ``struct``/``union``/``enum`` head.

Lines are 1-based and inclusive everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Identifiers that look like calls in a declarator but are never the function's name.
_NOT_NAMES = frozenset({
    "__attribute__", "__attribute", "__printf", "__scanf", "__section", "__aligned",
    "__must_hold", "__acquires", "__releases", "__cond_acquires", "__no_sanitize_address",
    "__diag_ignore", "__alloc_size", "__malloc", "__nonstring", "__counted_by", "__free",
    "__cleanup", "__rcu", "asm", "__asm__", "typeof", "__typeof__", "sizeof", "alignof",
})
# C words that can stand before "(" in a statement but never name a defined function.
_STATEMENT_WORDS = frozenset({
    "if", "for", "while", "switch", "return", "sizeof", "do", "else", "case", "goto",
    "typeof", "__typeof__", "defined", "likely", "unlikely", "alignof", "_Static_assert",
})
_STATEMENT_HEAD = re.compile(r"^\W*(?:else\s+)?(?:" + "|".join(_STATEMENT_WORDS) + r")\b")
_IDENT_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")
_NOT_FUNCTION_HEAD = re.compile(r"^\s*(?:typedef\b|(?:static\s+|const\s+)*(?:struct|union|enum)\s+"
                                r"\w*\s*$)")


@dataclass(frozen=True)
class FunctionSpan:
    """A function definition: header ``start``..closing brace ``end`` (1-based, inclusive)."""

    name: str
    start: int  # first line of the declarator ("static bool foo(...)")
    body_start: int  # line of the opening brace
    end: int  # line of the closing brace; for an unfinished function, the last line scanned
    comment_start: int  # first line of the comment block directly above (== start if none)
    complete: bool = True  # False when the text ends before the closing brace

    def text(self, source: str, *, with_comment: bool = False) -> str:
        """The function's lines from ``source`` (optionally with its leading comment)."""
        lines = source.splitlines(keepends=True)
        first = self.comment_start if with_comment else self.start
        return "".join(lines[first - 1:self.end])


def _strip_code(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Blank out comments, strings, char literals and preprocessor lines (same length).

    Returns the blanked text and the list of comment spans (start offset, end offset).
    """
    out = list(text)
    comments: list[tuple[int, int]] = []
    i, n = 0, len(text)
    line_start = True
    # Text cut out of a file (a diff hunk) may start inside a comment: "... */" before any "/*".
    close, opening = text.find("*/"), text.find("/*")
    if close >= 0 and (opening < 0 or close < opening):
        comments.append((0, close + 2))
        for k in range(close + 2):
            if out[k] != "\n":
                out[k] = " "
        i = close + 2
        line_start = False
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":  # preprocessor directive with continuations
            j = i
            while j < n:
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                if text.startswith("/*", j):  # a comment inside a directive may span lines
                    k = text.find("*/", j + 2)
                    j = n if k < 0 else k + 2
                    continue
                j += 1
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        line_start = c == "\n"
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            comments.append((i, j))
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append((i, j))
            for k in range(i, j):
                out[k] = " "
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                if out[k] != "\n":
                    out[k] = " "
            i = j + 1
            continue
        i += 1
    return "".join(out), comments


def _declarator_name(decl: str) -> str | None:
    """The function name in a declarator chunk ending just before a top-level '{'."""
    if "=" in decl.replace("==", "") or _NOT_FUNCTION_HEAD.match(decl):
        return None
    if re.search(r"\b(?:struct|union|enum)\s+\w*\s*$", decl):
        return None
    if _STATEMENT_HEAD.match(decl):
        return None  # "if (x) {", "} else if (foo(y)) {" in a hunk's text: a statement
    for m in _IDENT_CALL.finditer(decl):
        if m.group(1) not in _NOT_NAMES and not m.group(1).isupper():
            return m.group(1)
    # Macro-made definitions like DEFINE_GUARD(...) have upper-case names: not functions here.
    return None


def scan(text: str) -> list[FunctionSpan]:
    """Every top-level function definition in ``text``, in order.

    An unmatched ``}`` (text starting inside a function) is ignored; a function still open
    at the end is returned with ``complete=False``.
    """
    code, comments = _strip_code(text)
    line_of = _line_index(text)
    spans: list[FunctionSpan] = []
    depth = 0
    chunk_start = 0  # offset after the last top-level ';' or '}'
    open_at = -1
    name: str | None = None
    header_off = 0
    paren = 0
    for i, c in enumerate(code):
        if c == "(":
            paren += 1
        elif c == ")":
            paren = max(0, paren - 1)
        elif c == "{":
            if depth == 0:
                decl = code[chunk_start:i]
                name = _declarator_name(" ".join(decl.split())) if paren == 0 else None
                open_at = i
                header_off = chunk_start + (len(decl) - len(decl.lstrip()))
            depth += 1
        elif c == "}":
            if depth == 0:
                chunk_start = i + 1  # the tail of a function the text started inside
                continue
            depth -= 1
            if depth == 0:
                if name:
                    spans.append(_span(text, line_of, comments, name, header_off, open_at, i))
                name = None
                chunk_start = i + 1
        elif c == ";" and depth == 0 and paren == 0:
            chunk_start = i + 1
    if depth > 0 and name:
        spans.append(_span(text, line_of, comments, name, header_off, open_at, len(text) - 1,
                           complete=False))
    return spans


def _line_index(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, c in enumerate(text) if c == "\n")
    return starts


def _line(line_of: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_right(line_of, offset)


def _span(text: str, line_of: list[int], comments: list[tuple[int, int]], name: str,
          header_off: int, open_at: int, close_at: int, *, complete: bool = True) -> FunctionSpan:
    start = _line(line_of, header_off)
    comment_start = start
    # Walk up over a comment block that ends on the line right above the header.
    for c_start, c_end in reversed(comments):
        if c_end > header_off:
            continue
        if _line(line_of, max(c_end - 1, 0)) == comment_start - 1:
            comment_start = _line(line_of, c_start)
        break
    end_line = _line(line_of, close_at) if complete else len(line_of) - (text.endswith("\n"))
    return FunctionSpan(name=name, start=start, body_start=_line(line_of, open_at),
                        end=end_line, comment_start=comment_start, complete=complete)


def find_function(text: str, name: str) -> FunctionSpan | None:
    """The (last, for ``#ifdef`` alternatives: first) definition of ``name`` in ``text``."""
    for span in scan(text):
        if span.name == name and span.complete:
            return span
    return None


def function_at(text: str, line: int) -> FunctionSpan | None:
    """The function whose header..closing brace contains 1-based ``line``, if any."""
    for span in scan(text):
        if span.start <= line <= span.end:
            return span
    return None


_HEADING = re.compile(r"^(?P<before>[A-Za-z_][\w\s\*]*?[\s\*])?(?P<name>[A-Za-z_]\w*)\s*"
                      r"\((?P<params>.*)$")


def heading_function(section: str) -> str | None:
    """The function a diff hunk's ``@@ ... @@ section`` names, if it is a definition's declarator.

    git puts the nearest "funcname" line there: often ``static int foo(struct kvm *kvm)``, but
    also ``if (...)``, a label, a ``struct x {`` line or a macro. Only a declarator counts:
    ``[type words] name(params`` (git may cut the line), not a keyword, no ``=``, no ``;`` at
    the end, and with no type before the name only when the parameters read as declarations
    (``foo(struct kvm *kvm, int level)``, not the call ``foo(kvm, level)``).
    """
    text = " ".join(section.split())
    if not text or text.startswith("#") or "=" in text.replace("==", "") or text.endswith(";"):
        return None
    m = _HEADING.match(text)
    if not m:
        return None
    name, before, params = m.group("name"), (m.group("before") or "").split(), m.group("params")
    if name in _STATEMENT_WORDS or name in _NOT_NAMES or name.isupper():
        return None
    if any(w in _STATEMENT_WORDS for w in before):
        return None
    if before:
        return name
    # No return type on this line (it was on the line above): the parameters must be
    # declarations, e.g. "__is_rsvd_bits_set(struct rsvd_bits_validate *rsvd_check, u64 pte".
    first = params.split(",")[0].strip().rstrip(")").strip()
    if first in ("void", "...") or len(first.replace("*", " * ").split()) >= 2:
        return name
    return None

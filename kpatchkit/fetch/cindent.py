"""Re-indent C lines in kernel style from their structure alone.

Used to repair whitespace-damaged patches (a web archive collapsed every indent to one space).
Rules (Documentation/process/coding-style.rst): one tab per block level; a continuation line
inside open parentheses is aligned one column after the innermost open '(' using tabs then
spaces; a comment's continuation stars sit one space right of its '/*'; 'case' labels align with
their 'switch'; goto labels and preprocessor lines start in column 0; the single-statement body of
an unbraced if/for/while/else gets one more tab.
"""

from __future__ import annotations

import re

_CASE_RE = re.compile(r"^(case\b.*|default\s*):")
_LABEL_RE = re.compile(r"^[A-Za-z_]\w*:\s*(/\*.*)?$")
# "\w*for_each\w*" would backtrack quadratically over a long word; the iterator is the first
# word (checked for "for_each" in code), which no backtracking can blow up.
_CONTROL_RE = re.compile(r"^(\}\s*)?(if|for|while|switch|else\s+if)\b")
_CALL_WORD_RE = re.compile(r"^(\w+)\s*\(")
_ELSE_RE = re.compile(r"^(\}\s*)?(else|do)$")
_OPERATOR_END = ("&&", "||", "=", "+", "-", "|", "&", "?", "^", "<<", ">>", "*", "/", "%",
                 "==", "!=", "<", ">")
_STATEMENT_RE = re.compile(r"^(return|break|continue|goto|if|for|while|switch|do|else)\b")
_TAB = 8


def columns(prefix: str) -> int:
    """Visual width of an indentation string with 8-column tabs."""
    col = 0
    for ch in prefix:
        col = (col // _TAB + 1) * _TAB if ch == "\t" else col + 1
    return col


def indent_to(col: int) -> str:
    """Kernel-style indentation reaching column ``col``: tabs, then spaces."""
    return "\t" * (col // _TAB) + " " * (col % _TAB)


def looks_like_comment_body(text: str) -> bool:
    """A stripped line that can only be the inside of a ``/* */`` comment."""
    return text == "*" or text.startswith(("*/", "* ")) and not text.rstrip().endswith(";")


class CIndenter:
    """Feed stripped lines in file order; get each back indented, with state carried along."""

    def __init__(self, depth: int = 0, *, in_comment: bool = False) -> None:
        self.depth = depth
        self.braces: list[int] = []  # what each open '{' added to depth (0 for 'case X: {')
        self.parens: list[int] = []  # columns of open '(' / '['
        self.in_comment = in_comment
        self.comment_indent = "\t" * depth
        self.pending = 0  # unbraced control bodies owed an extra tab
        self.continuation = False  # statement continues after a trailing operator
        self.macro: CIndenter | None = None  # body of a multi-line #define
        self.cont_col: int | None = None  # where a continued assignment/return aligns
        self.stmt_col = 0  # column of the current statement's first line
        self.stmt_head = ""  # first line of the current statement
        self.min_needed = 0  # how far depth had to go below zero (for start-depth estimates)

    def feed(self, text: str) -> str:
        """Return ``text`` (any indentation) re-indented, and advance the state."""
        s = text.strip()
        if not s:
            return ""
        if self.in_comment:
            if "*/" in s:
                self.in_comment = False
            return self.comment_indent + " " + s
        if self.macro is not None:
            return self._macro_line(s)
        if s.startswith("#"):
            if s.endswith("\\"):
                # a multi-line macro body is C of its own, one tab in
                self.macro = CIndenter(1)
            return s
        if self.parens:
            prefix = indent_to(self.parens[-1] + 1)
        else:
            level = self.depth
            if s.startswith("}"):
                level -= 1
            elif _CASE_RE.match(s):
                level -= 1
            elif _LABEL_RE.match(s) and not s.startswith("default"):
                level = 0
            if s.startswith("{") and self.pending:
                self.pending = 0
            if self.continuation and self.cont_col is not None:
                prefix = indent_to(self.cont_col)
            else:
                level += self.pending + (1 if self.continuation else 0)
                self._need(level if not _STATEMENT_RE.match(s) else level - 1)
                prefix = "\t" * max(level, 0)
            if not self.continuation:
                self.stmt_head = s
                self.stmt_col = columns(prefix)
        self._scan(s, columns(prefix), case_line=bool(_CASE_RE.match(s)))
        self._after(s)
        return prefix + s

    def _need(self, level: int) -> None:
        self.min_needed = max(self.min_needed, -level)

    def _scan(self, s: str, col: int, case_line: bool = False) -> None:
        i, n = 0, len(s)
        while i < n:
            ch = s[i]
            if ch in "\"'":
                j = i + 1
                while j < n and s[j] != ch:
                    j += 2 if s[j] == "\\" else 1
                col += j + 1 - i
                i = j + 1
                continue
            if s.startswith("//", i):
                return
            if s.startswith("/*", i):
                end = s.find("*/", i + 2)
                if end < 0:
                    self.in_comment = True
                    # stars align under the '/*' of a comment that opens the line
                    self.comment_indent = indent_to(col)
                    return
                col += end + 2 - i
                i = end + 2
                continue
            if ch in "([":
                self.parens.append(col)
            elif ch in ")]":
                if self.parens:
                    self.parens.pop()
            elif ch == "{":
                # kernel style: the block of 'case X: {' is indented like the case body
                step = 0 if case_line else 1
                self.braces.append(step)
                self.depth += step
            elif ch == "}":
                self.depth -= self.braces.pop() if self.braces else 1
                self._need(self.depth)
            col = (col // _TAB + 1) * _TAB if ch == "\t" else col + 1
            i += 1

    def _after(self, s: str) -> None:
        code = re.sub(r"/\*.*?(\*/|$)|//.*$", "", s).rstrip()
        if self.parens or not code:
            return
        if code.endswith((";", "{", "}")):
            self.pending = 0
            self.continuation = False
            return
        if _ELSE_RE.match(code) or (code.endswith(")") and _is_control(self.stmt_head)):
            self.pending += 1
            self.continuation = False
            return
        was = self.continuation
        self.continuation = code.endswith(_OPERATOR_END) and not _CASE_RE.match(code)
        if self.continuation and not was:
            self.cont_col = _rhs_column(self.stmt_head, self.stmt_col)

    def _macro_line(self, s: str) -> str:
        inner = self.macro
        assert inner is not None
        body, tail = s, ""
        if s.endswith("\\"):  # the continuation and the blanks before it (no regex: linear)
            cut = len(s[:-1].rstrip())
            body, tail = s[:cut], s[cut:]
        else:
            self.macro = None  # the last line of the macro
        if not body.strip():
            return s
        out = inner.feed(body)
        if not out:
            out = "\t" + body.strip()
        return out + tail


def _rhs_column(head: str, col: int) -> int | None:
    """Column after 'lhs = ' or 'return ' in a statement's first line (kernel alignment)."""
    m = re.match(r"^return\s+", head)
    if m:
        return col + m.end()
    depth = 0
    for i, ch in enumerate(head):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif (ch == "=" and depth == 0 and head[i - 1:i] not in ("=", "!", "<", ">")
              and head[i + 1:i + 2] != "="):
            j = i + 1
            while j < len(head) and head[j] == " ":
                j += 1
            return col + j
    return None


def _is_control(head: str) -> bool:
    """A control statement's head: if/for/while/switch/else if, or a for_each* iterator."""
    if _CONTROL_RE.match(head):
        return True
    m = _CALL_WORD_RE.match(head)
    return bool(m and "for_each" in m.group(1))

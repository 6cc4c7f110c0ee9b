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
_CONTROL_RE = re.compile(r"^(\}\s*)?(if|for|while|switch|else\s+if)\b|^\w*for_each\w*\s*\(")
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
        self.parens: list[int] = []  # columns of open '(' / '['
        self.in_comment = in_comment
        self.comment_indent = "\t" * depth
        self.pending = 0  # unbraced control bodies owed an extra tab
        self.continuation = False  # statement continues after a trailing operator
        self.in_macro = False  # previous preprocessor line ended with a backslash
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
        if self.in_macro or s.startswith("#"):
            self.in_macro = s.endswith("\\")
            return ("\t" if self.in_macro and not s.startswith("#") else "") + s
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
            level += self.pending + (1 if self.continuation else 0)
            self._need(level if not _STATEMENT_RE.match(s) else level - 1)
            prefix = "\t" * max(level, 0)
            if not self.continuation:
                self.stmt_head = s
        self._scan(s, columns(prefix))
        self._after(s)
        return prefix + s

    def _need(self, level: int) -> None:
        self.min_needed = max(self.min_needed, -level)

    def _scan(self, s: str, col: int) -> None:
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
                    self.comment_indent = indent_to(col) if i else indent_to(col)
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
                self.depth += 1
            elif ch == "}":
                self.depth -= 1
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
        if _ELSE_RE.match(code) or (code.endswith(")") and _CONTROL_RE.match(self.stmt_head)):
            self.pending += 1
            self.continuation = False
            return
        self.continuation = code.endswith(_OPERATOR_END) and not _CASE_RE.match(code)

"""Token-level sanitiser: rewrite the GNU C that pycparser does not know into plain C.

Works on preprocessed text (line markers kept). Each rewrite keeps the token's line, so line
numbers in the AST stay those of the source. Nothing here changes a call name: lock, RCU and
iterator calls reach the parser untouched.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<pp>^\#[^\n]*)
  | (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<str>L?"(?:\\.|[^"\\\n])*")
  | (?P<chr>L?'(?:\\.|[^'\\\n])*')
  | (?P<id>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<num>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)
  | (?P<ellipsis>\.\.\.)
  | (?P<op>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!=<>]=?|[?:;,.(){}\[\]~\#])
  | (?P<other>.)
    """,
    re.VERBOSE | re.MULTILINE | re.DOTALL,
)

# Spelling variants that map one-to-one onto a standard keyword.
_RENAME = {
    "__signed__": "signed", "__signed": "signed", "__inline__": "inline", "__inline": "inline",
    "__volatile__": "volatile", "__volatile": "volatile", "__const": "const",
    "__const__": "const", "__restrict": "restrict", "__restrict__": "restrict",
    "__typeof__": "typeof", "__typeof": "typeof", "__alignof__": "_Alignof",
    "__alignof": "_Alignof", "__builtin_offsetof": "offsetof", "__auto_type": "int",
    "__int128": "long", "__int128_t": "long", "__uint128_t": "unsigned long",
    "_Float128": "double", "__float128": "double", "__complex__": "",
    "__real__": "", "__imag__": "", "__extension__": "", "__thread": "",
    "_Noreturn": "", "__label__": "int",
}
# Keywords followed by one parenthesised group that is dropped entirely.
_DROP_WITH_PARENS = {"__attribute__", "__attribute", "__declspec", "_Alignas", "alignas"}
_ASM = {"asm", "__asm__", "__asm"}
_ASM_QUALIFIERS = {"volatile", "__volatile__", "__volatile", "goto", "inline", "__inline__",
                   "__inline"}
# Builtins whose arguments are types, not expressions: the whole call becomes a constant.
_TYPE_ARG_BUILTINS = {"__builtin_types_compatible_p": "0", "__builtin_va_arg_pack": "0"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split C text into (kind, text) pairs, keeping whitespace, newlines and directives."""
    return [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(text)]


def _skip_ws(toks: list[tuple[str, str]], i: int) -> int:
    while i < len(toks) and toks[i][0] in ("ws", "nl", "comment"):
        i += 1
    return i


def _match_paren(toks: list[tuple[str, str]], i: int) -> int:
    """Index just after the group opened at toks[i] ('(' or '[' or '{')."""
    opening = toks[i][1]
    closing = {"(": ")", "[": "]", "{": "}"}[opening]
    depth = 0
    while i < len(toks):
        t = toks[i][1]
        if t == opening:
            depth += 1
        elif t == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _newlines(toks: list[tuple[str, str]], a: int, b: int) -> str:
    # Keep the line count of a dropped span so later line numbers do not move.
    return "\n" * sum(t[1].count("\n") for t in toks[a:b] if t[0] in ("nl", "comment", "str"))


def _prev_sig(out: list[str]) -> str:
    for s in reversed(out):
        if s.strip():
            return s.strip()
    return ""


def sanitize(text: str) -> str:
    """Return ``text`` with GNU extensions rewritten so pycparser's c23 dialect parses it."""
    toks = tokenize(text)
    out: list[str] = []
    i = 0
    n = len(toks)
    while i < n:
        kind, tok = toks[i]
        if kind == "comment":
            out.append("\n" * tok.count("\n") or " ")
            i += 1
            continue
        if kind == "id":
            if tok in _DROP_WITH_PARENS:
                j = _skip_ws(toks, i + 1)
                if j < n and toks[j][1] == "(":
                    end = _match_paren(toks, j)
                    out.append(" " + _newlines(toks, i, end))
                    i = end
                    continue
            if tok in _ASM:
                j = _skip_ws(toks, i + 1)
                while j < n and toks[j][1] in _ASM_QUALIFIERS:
                    j = _skip_ws(toks, j + 1)
                if j < n and toks[j][1] == "(":
                    end = _match_paren(toks, j)
                    prev = _prev_sig(out)
                    # asm label on a declarator (`int x asm("r")`): drop; statement: a call.
                    label = bool(re.match(r"[A-Za-z_0-9\])]", prev[-1:])) and prev not in (
                        "else", "do", "return")
                    out.append((" " if label else " __kpk_asm()") + _newlines(toks, i, end))
                    i = end
                    continue
            if tok in _TYPE_ARG_BUILTINS:
                j = _skip_ws(toks, i + 1)
                if j < n and toks[j][1] == "(":
                    end = _match_paren(toks, j)
                    out.append(_TYPE_ARG_BUILTINS[tok] + _newlines(toks, i, end))
                    i = end
                    continue
            if tok in _RENAME:
                out.append(_RENAME[tok] or " ")
                i += 1
                continue
            out.append(tok)
            i += 1
            continue
        if tok == "?":
            j = _skip_ws(toks, i + 1)
            if j < n and toks[j][1] == ":":  # GNU `a ?: b`
                out.append("? 1 ")
                i += 1
                continue
        if kind == "ellipsis":
            prev = _prev_sig(out)
            if prev not in ("(", ","):  # case ranges and designator ranges: keep the low end
                i = _skip_range_high(toks, i + 1, out)
                continue
        out.append(tok)
        i += 1
    return "".join(out)


def _skip_range_high(toks: list[tuple[str, str]], i: int, out: list[str]) -> int:
    """Skip the high end of `case A ... B:` or `[A ... B] =`, stopping at ':' or ']'."""
    depth = 0
    while i < len(toks):
        t = toks[i][1]
        if t in "([{" and t:
            depth += 1
        elif t in ")]}" and t:
            if depth == 0:
                return i
            depth -= 1
        elif t == ":" and depth == 0:
            return i
        elif toks[i][0] == "nl":
            out.append("\n")
        i += 1
    return i

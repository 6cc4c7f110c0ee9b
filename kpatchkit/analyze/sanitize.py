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


_MACRO_NAME = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]$")


def drop_file_scope_macro_calls(text: str) -> str:
    """Fast-mode fixups for macros left unexpanded without the real headers.

    Blank ``UPPER_CASE(args);`` at file scope, and turn a type passed to an unknown macro
    inside a body (``alloc_percpu(struct foo)``) into ``sizeof(struct foo)``.

    Without the real headers, declaration-generating macros (``MODULE_AUTHOR("x");``,
    ``EXPORT_STATIC_CALL_GPL(f);``, ``DEFINE_STATIC_KEY_FALSE(k);``) are left unexpanded; at
    file scope they are never code the analysis needs.
    """
    from kpatchkit.analyze.macros import typedef_names

    type_words = typedef_names(text) | _BASIC_TYPES
    toks = tokenize(text)
    out: list[str] = []
    depth = 0
    i = 0
    n = len(toks)
    while i < n:
        kind, tok = toks[i]
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif depth > 0 and tok in type_words and _prev_sig(out) in ("(", ","):
            # `put_smstate(u32, ...)`: a type name as a whole macro argument.
            k = i
            words = []
            while k < n and (toks[k][1] in type_words or toks[k][1] == "*"
                             or toks[k][0] in ("ws", "nl")):
                if toks[k][0] not in ("ws", "nl"):
                    words.append(toks[k][1])
                k += 1
            if k < n and toks[k][1] in (")", ",") and _call_paren(out):
                out.append(f"sizeof({' '.join(words)})")
                i = k
                continue
        elif depth > 0 and tok in ("struct", "union", "enum") and _prev_sig(out) in ("(", ","):
            # A type as a macro argument inside a body (`alloc_percpu(struct foo)`): unknown
            # macros stay calls in fast mode, so give the call an expression argument.
            j = _skip_ws(toks, i + 1)
            k = _skip_ws(toks, j + 1) if j < n and toks[j][0] == "id" else n
            stars = ""
            while k < n and toks[k][1] == "*":
                stars += "*"
                k = _skip_ws(toks, k + 1)
            if k < n and toks[k][1] in (")", ",") and _call_paren(out):
                out.append(f"sizeof({tok} {toks[j][1]} {stars})")
                i = k
                continue
        elif depth == 0 and kind == "id" and _MACRO_NAME.match(tok) and (
                _prev_sig(out) in ("", ";", "}") or _prev_sig(out).startswith("#")):
            j = _skip_ws(toks, i + 1)
            if j < n and toks[j][1] == "(":
                end = _match_paren(toks, j)
                k = _skip_ws(toks, end)
                if k < n and toks[k][1] == ";":
                    out.append(_newlines(toks, i, k + 1))
                    i = k + 1
                    continue
        out.append(tok)
        i += 1
    return "".join(out)


_BASIC_TYPES = {"int", "long", "short", "char", "unsigned", "signed", "bool", "_Bool", "void",
                "float", "double", "const", "volatile"}

# Keywords and builtins that legitimately take a type in parentheses.
_TYPE_OPERATORS = {"return", "sizeof", "if", "while", "switch", "for", "typeof", "__typeof__",
                   "__typeof", "typeof_unqual", "_Alignof", "__alignof__", "__alignof",
                   "alignof", "offsetof", "_Generic", "va_arg"}


def _call_paren(out: list[str]) -> bool:
    """Whether the innermost open '(' in ``out`` follows an identifier (a call)."""
    depth = 0
    for idx in range(len(out) - 1, -1, -1):
        t = out[idx].strip()
        if t == ")":
            depth += 1
        elif t == "(":
            if depth == 0:
                prev = _prev_sig(out[:idx])
                return bool(re.match(r"[A-Za-z_]\w*$", prev)) and prev not in _TYPE_OPERATORS \
                    and not prev.startswith("__builtin")
            depth -= 1
    return False

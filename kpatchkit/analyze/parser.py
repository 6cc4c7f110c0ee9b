"""pycparser 3.12 (c23 dialect) with the one override kernel code needs.

pycparser already accepts ``({ ... })`` where it parses a parenthesised primary expression, but
the cast/compound-literal probe in ``_parse_postfix_expression`` and the unary/cast path go
through ``_try_parse_paren_type_name`` first; a statement expression whose first item is a
declaration (``({ typeof(x) __x = ...; })``) must not be mistaken for a type name there. The
override makes ``( {`` always a primary expression before any type-name probe.
"""

from __future__ import annotations

from pycparser import c_ast, c_parser


class KernelParser(c_parser.CParser):
    """CParser where a GNU statement expression is always a primary expression."""

    def __init__(self) -> None:
        super().__init__(dialect="c23")

    def _try_parse_paren_type_name(self):  # type: ignore[override]
        if self._peek_type() == "LPAREN" and self._peek_type(2) == "LBRACE":
            return None
        return super()._try_parse_paren_type_name()


def parse(text: str, filename: str) -> c_ast.FileAST:
    """Parse sanitised, preprocessed text; raises pycparser's ParseError on failure."""
    return KernelParser().parse(text, filename)

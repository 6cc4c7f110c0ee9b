"""pycparser 3.12 (c23 dialect) with the statement-expression override kernel code needs.

Measured here: pycparser 3.12's ``_parse_primary_expression`` already accepts ``( {`` as a
GNU statement expression, and the preprocessed tdp_mmu.c, mmu.c and spte.c (both modes) parse
with the stock class. The override below pins that behaviour down at the one place that could
take it away: the cast/compound-literal probe (``_try_parse_paren_type_name``) that runs before
the primary expression is never allowed to look at ``( {``. pycparserext is not used (its
2026.1 release is broken with pycparser 3.12).
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

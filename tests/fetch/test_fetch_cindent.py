"""The kernel-style re-indenter on constructs the seed does not have."""

from __future__ import annotations

from kpatchkit.fetch.cindent import CIndenter, columns, indent_to
from kpatchkit.fetch.whitespace import reindent_hunk
from kpatchkit.records.series import Hunk

SNIPPET = """\
static int demo_ioctl(struct demo *d, unsigned int cmd,
\t\t      unsigned long arg)
{
\tstruct demo_item *item;
\tint r = -EINVAL;

\t/*
\t * Multi-line comment: stars sit one column right of the slash.
\t */
\tswitch (cmd) {
\tcase DEMO_GET: {
\t\tstruct demo_args args;

\t\tif (copy_from_user(&args, (void __user *)arg, sizeof(args)))
\t\t\tgoto out;
\t\tbreak;
\t}
\tcase DEMO_SET:
\t\tr = demo_set(d);
\t\tbreak;
\tdefault:
\t\tbreak;
\t}

\tfor (i = 0; i < d->nr; i++)
\t\tif (d->items[i].busy)
\t\t\tr = -EBUSY;

\tlist_for_each_entry(item, &d->list, link)
\t\titem->seen = true;

\tif (r) {
\t\tpr_warn("demo: busy %d\\n", r);
\t} else if (d->flags & DEMO_FLAG_A &&
\t\t   !(d->flags & DEMO_FLAG_B)) {
\t\tr = 0;
\t} else
\t\tr = 1;

\td->total = d->first +
\t\t   d->second;
#ifdef CONFIG_DEMO
\td->extra = demo_extra(d, DEMO_A, DEMO_B,
\t\t\t      DEMO_C);
#endif
out:
\treturn r == 0 ||
\t       d->forced;
}"""


def collapse(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n")]


def test_snippet_round_trips() -> None:
    ind = CIndenter(0)
    got = [ind.feed(line) for line in collapse(SNIPPET)]
    assert got == SNIPPET.split("\n")


def test_columns_and_indent() -> None:
    assert columns("\t\t  ") == 18 and indent_to(18) == "\t\t  " and indent_to(7) == " " * 7


def test_hunk_in_the_middle_of_a_function() -> None:
    """A hunk that starts inside a block: depth is inferred from its closing braces."""
    h = Hunk(10, 6, 10, 7, lines=[
        " if (x)", " return 1;", "+ y = 2;", " }", " return 0;", " }", " "])
    reindent_hunk(h)
    assert h.lines == [" \t\tif (x)", " \t\t\treturn 1;", "+\t\ty = 2;", " \t}",
                       " \treturn 0;", " }", " "]


def test_hunk_inside_a_comment() -> None:
    h = Hunk(1, 3, 1, 4, lines=[" * Old words.", "+ * New words.", " */", " int x;"])
    reindent_hunk(h)
    assert h.lines == ["  * Old words.", "+ * New words.", "  */", " int x;"]


def test_macro_body() -> None:
    lines = ["#define for_each_demo(_d, _i) \\", "for (_i = 0; \\", "_i < (_d)->nr; \\",
             "_i++)"]
    ind = CIndenter(0)
    assert [ind.feed(x) for x in lines] == [
        "#define for_each_demo(_d, _i) \\", "\tfor (_i = 0; \\", "\t     _i < (_d)->nr; \\",
        "\t     _i++)"]

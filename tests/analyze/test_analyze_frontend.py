"""Front end: the sanitiser's GNU rewrites, the override header and the parser override."""

from __future__ import annotations

import pytest

from kpatchkit.analyze import macros, sanitize
from kpatchkit.analyze.parser import KernelParser, parse

GNU_SNIPPETS = {
    "asm goto": "int f(void) { asm goto(\"jmp %l0\" : : : : out); return 0; out: return 1; }",
    "asm volatile": "void f(void) { asm volatile(\"nop\" ::: \"memory\"); }",
    "asm inline": "void f(void) { asm __inline volatile(\"nop\"); }",
    "asm label": "void f(void) { register unsigned long sp asm(\"rsp\"); (void)sp; }",
    "attribute": "static int __attribute__((unused, aligned(8))) x;",
    "typeof": "int f(int *p) { __typeof__(*p) v = *p; return v; }",
    "auto_type": "int f(int a) { __auto_type b = a; return b; }",
    "elvis": "int f(int a, int b) { return a ?: b; }",
    "case range": "int f(int a) { switch (a) { case 1 ... 3: return 1; } return 0; }",
    "designator range": "int t[8] = { [0 ... 7] = 1 };",
    "signed": "__signed__ char c;",
    "offsetof": ("struct s { int a; int b; }; "
                 "int f(void) { return __builtin_offsetof(struct s, b); }"),
    "types_compatible": "int f(void) { return __builtin_types_compatible_p(int, long); }",
    "extension": "int f(void) { return __extension__ 1; }",
    "statement expr": "int f(int a) { return ({ int b = a + 1; b; }) + 1; }",
    "stmt expr decl-first typedef": (
        "typedef int u64; u64 f(u64 *p) { return ({ u64 __x = *p; __x; }); }"),
    "stmt expr as cast operand": "long f(int a) { return (long)({ a; }); }",
}


@pytest.mark.parametrize("name", sorted(GNU_SNIPPETS))
def test_gnu_constructs_parse_after_sanitising(name: str) -> None:
    src = GNU_SNIPPETS[name]
    parse(sanitize.sanitize(src), "t.c")


def test_sanitiser_keeps_line_numbers_and_call_names() -> None:
    src = "void f(void)\n{\n\tasm volatile(\"a\"\n\t\t\"b\");\n\tread_lock(&kvm->mmu_lock);\n}\n"
    out = sanitize.sanitize(src)
    assert out.count("\n") == src.count("\n")
    ast = parse(out, "t.c")
    call = ast.ext[0].body.block_items[1]
    assert call.name.name == "read_lock" and call.coord.line == 5


@pytest.mark.parametrize("expr", [
    "(u64)({ u64 x = *p; x; })", "sizeof(({ u64 x = *p; x; }))", "!({ u64 x = *p; x; })",
    "(({ u64 x = *p; x; }))", "({ 1; }) + ({ u64 y = 2; y; })",
])
def test_statement_expression_is_a_primary_expression_everywhere(expr: str) -> None:
    ast = KernelParser().parse(f"typedef int u64; long f(u64 *p) {{ return {expr}; }}", "t.c")
    assert "Compound" in repr(ast.ext[1].body.block_items[0].expr)


def test_override_header_keeps_names_and_turns_iterators_into_for() -> None:
    hdr = macros.override_header({"read_lock"}, {"for_each_tdp_mmu_root"})
    assert "#define read_lock(...) read_lock(__VA_ARGS__)" in hdr
    assert ("#define for_each_tdp_mmu_root(...) for (for_each_tdp_mmu_root(__VA_ARGS__); "
            "__kpk_iter_cond(); __kpk_iter_next())") in hdr


def test_iterator_macros_are_found_through_other_iterators() -> None:
    text = ("#define list_for_each_entry(p, h, m) for (p = 0; p; p = 0)\n"
            "#define for_each_root(k, r) \\\n\tlist_for_each_entry(r, &k->roots, link) \\\n"
            "\t\tif (0) {} else\n#define NOT_AN_ITER(x) ((x) + 1)\n")
    found = macros.iterator_macros(macros.function_macros(text))
    assert found == {"list_for_each_entry", "for_each_root"}


def test_blank_defines_keeps_line_count() -> None:
    text = "a\n#define it(x) \\\n\tfor (;;)\nb\n"
    out = macros.blank_defines(text, {"it"})
    assert out.split("\n") == ["a", "", "", "b", ""]


def test_typedef_names() -> None:
    text = ("typedef unsigned long long u64;\ntypedef struct { int a; } foo_t;\n"
            "typedef bool (*handler_t)(int);\ntypedef int arr_t[4];\n")
    assert macros.typedef_names(text) == {"u64", "foo_t", "handler_t", "arr_t"}

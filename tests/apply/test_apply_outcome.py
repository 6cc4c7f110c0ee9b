"""Hunk verdicts (apply/outcome.py) and @@-heading reading on small C texts (no tree needed)."""

from __future__ import annotations

import pytest

from kpatchkit.apply import outcome, symbols
from kpatchkit.kernel import cfunc
from kpatchkit.records.series import FileDiff, Hunk

FILE = """\
#include <a.h>
#include <b.h>

static int helper(struct kvm *kvm, int level)
{
	int bit7 = level & 1;

	if (kvm->arch.indirect_shadow_pages)
		return bit7;
	return level + 1;
}

void walker(struct kvm *kvm, u64 spte)
{
	if (spte_is_bad(spte) || level_too_high(kvm))
		return;
	kvm_flush_remote_tlbs(kvm);
}
"""


def _hunk(lines: list[str], section: str = "") -> Hunk:
    old = sum(1 for x in lines if x[:1] in " -")
    new = sum(1 for x in lines if x[:1] in " +")
    return Hunk(old_start=1, old_count=old, new_start=1, new_count=new, section=section,
                lines=lines)


def _classify(lines: list[str], section: str = "", text: str | None = FILE,
              elsewhere: dict[str, tuple[str, str]] | None = None,
              known: set[str] | None = None) -> outcome.HunkVerdict:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk(lines, section)])
    have = set(symbols.used_by(FILE.split("\n"))) | (known or set())
    verdicts, _ = outcome.classify_file(
        fd, text, lambda name: (elsewhere or {}).get(name),
        lambda syms: [s for s in syms if s not in have], None, set())
    return verdicts[0]


@pytest.mark.parametrize("section,name", [
    ("static int foo(struct kvm *kvm)", "foo"),
    ("__is_rsvd_bits_set(struct rsvd_bits_validate *rsvd_check, u64 pte, int level)",
     "__is_rsvd_bits_set"),
    ("static int kvm_faultin_pfn(struct kvm_vcpu *vcpu, str", "kvm_faultin_pfn"),  # cut by git
    ("if (pcid == kvm_get_active_pcid(vcpu)) {", None),
    ("} else if (is_shadow_present_pte(x)) {", None),
    ("out:", None),
    ("struct kvm_mmu_page {", None),
    ("static uint __read_mostly nx_huge_pages_recovery_ratio = 0;", None),
    ("foo(kvm, level)", None),  # a call, not a declarator
    ("#define FOO(x)", None),
    ("return helper(kvm, 1);", None),
])
def test_only_a_declarator_heading_names_a_function(section: str, name: str | None) -> None:
    assert cfunc.heading_function(section) == name


def test_a_statement_in_hunk_text_is_not_a_function_definition() -> None:
    text = "\tif (foo(x)) {\n\t\ta();\n\t}\nstatic int bar(void)\n{\n}\n"
    assert [s.name for s in cfunc.scan(text)] == ["bar"]


def test_hunk_whose_preimage_is_there_applies() -> None:
    v = _classify([" \tif (spte_is_bad(spte) || level_too_high(kvm))", " \t\treturn;",
                   "-\tkvm_flush_remote_tlbs(kvm);", "+\tkvm_flush_remote_tlbs_range(kvm);",
                   " }"], "void walker(struct kvm *kvm, u64 spte)", known={"x"})
    assert (v.state, v.method) == ("applies", "context")


def test_hunk_whose_result_is_there_is_present() -> None:
    v = _classify([" #include <a.h>", "+#include <b.h>", " ",
                   " static int helper(struct kvm *kvm, int level)"], "")
    assert v.state == "present" and v.method == "postimage" and v.line == 1


def test_added_lines_in_the_function_with_removed_lines_gone_is_present() -> None:
    # context differs (the tree moved on), but the fix is in helper(), braces or not
    v = _classify([" \tint x = 0;", "-\tif (READ_ONCE(kvm->arch.indirect_shadow_pages))",
                   "+\tif (kvm->arch.indirect_shadow_pages) {", " \t\treturn x;"],
                  "static int helper(struct kvm *kvm, int level)")
    assert v.state == "present" and v.function == "helper" and v.line == 4


def test_the_function_found_in_another_file_counts() -> None:
    header = "static inline bool moved(u64 pte)\n{\n\treturn pte_a(pte) || pte_b(pte);\n}\n"
    v = _classify([" {", "-\treturn pte_a(pte) | pte_b(pte);",
                   "+\treturn pte_a(pte) || pte_b(pte);", " }"], "moved(u64 pte)",
                  elsewhere={"moved": ("x/spte.h", header)})
    assert v.state == "present" and v.where == "x/spte.h" and v.function == "moved"


def test_removed_lines_still_there_under_another_function_is_a_conflict() -> None:
    v = _classify([" \tint y;", "-\tif (spte_is_bad(spte) || level_too_high(kvm))",
                   "+\tif (spte_is_bad(spte))", " \t\tgoto out;"],
                  "void renamed_walker(struct kvm *kvm, u64 spte)")
    assert v.state == "conflict" and v.function == "walker" and v.line == 15
    assert "renamed_walker" in v.text and "15  \tif (spte_is_bad" in v.target_text


def test_missing_file_function_and_symbol() -> None:
    assert _classify(["-\ta();", "+\tb();"], "", text=None).missing == "file"
    v = _classify([" \tint z;", "-\tz = old_api(kvm);", "+\tz = new_api(kvm);", " \treturn z;"],
                  "static int gone_function(struct kvm *kvm)")
    assert v.state == "missing" and v.missing == "function" and v.function == "gone_function"
    v = _classify([" \tif (kvm_hugepage_test_mixed(slot, gfn, level) ||",
                   "-\t    (gfn & mask) < start)", "+\t    (gfn & ~mask) < start)", " \t\treturn;"],
                  "void walker(struct kvm *kvm, u64 spte)")
    assert v.state == "missing" and v.symbols == ["kvm_hugepage_test_mixed"]


def test_rewritten_function_without_the_removed_lines_is_superseded() -> None:
    v = _classify([" \tint bit7 = level & 1;", " ", "-\treturn bit7 | level_too_high(kvm);",
                   "+\treturn bit7 || level_too_high(kvm);", " }"],
                  "static int helper(struct kvm *kvm, int level)")
    assert v.state == "superseded" and v.function == "helper"


def test_symbols_seen_in_lines() -> None:
    used = symbols.used_by(["\tif (READ_ONCE(kvm->nr_memslots_dirty_logging))",
                            "\t/* comment_call(x) */", '\tpr_info("str(x)");'])
    assert {"READ_ONCE", "nr_memslots_dirty_logging", "pr_info"} <= set(used)
    assert "comment_call" not in used and "str" not in used
    assert symbols.defined_by(["static bool fresh(int x)", "#define NEW_MACRO 1"]) == \
        {"fresh", "NEW_MACRO"}

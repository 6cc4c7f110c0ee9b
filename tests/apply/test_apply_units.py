"""Unit tests of the pieces of apply/port on small C texts (no kernel tree needed)."""

from __future__ import annotations

import pytest

from kpatchkit.apply import drift, port
from kpatchkit.apply.engine import patch_line
from kpatchkit.kernel import cfunc
from kpatchkit.records.series import FileDiff, Hunk, Patch

C = """\
// SPDX
#include <x.h>

/* not a function: { braces } in a comment */
static const struct ops table = {
	.fn = a,
};

/*
 * Doc for alpha.
 */
static int alpha(struct kvm *kvm,
		int x)
{
	const char *s = "}{";
	if (x) {
		return '}';
	}
	return 0;
}

#define M(x) { x }
bool beta(void) __acquires(lock)
{
	return alpha(0, 1);
}
"""


def test_cfunc_spans_skip_comments_strings_macros_and_initialisers() -> None:
    spans = cfunc.scan(C)
    assert [s.name for s in spans] == ["alpha", "beta"]
    a = cfunc.find_function(C, "alpha")
    assert (a.comment_start, a.start, a.body_start, a.end) == (9, 12, 14, 20)
    assert a.text(C).splitlines()[0] == "static int alpha(struct kvm *kvm,"
    assert cfunc.find_function(C, "beta").end == 26
    assert cfunc.find_function(C, "table") is None
    assert cfunc.function_at(C, 17).name == "alpha"


def test_cfunc_on_hunk_text_starting_inside_a_comment_or_function() -> None:
    text = "\treturn 1;\n}\n\n */\nint gamma(void)\n{\n\treturn 2;\n}\nint delta(void)\n{\n"
    spans = cfunc.scan(text)
    assert [(s.name, s.start, s.end, s.complete) for s in spans] == [
        ("gamma", 5, 8, True), ("delta", 9, 10, False)]


def _hunk(lines: list[str]) -> Hunk:
    old = sum(1 for x in lines if x[0] in " -")
    new = sum(1 for x in lines if x[0] in " +")
    return Hunk(old_start=1, old_count=old, new_start=1, new_count=new, lines=lines)


TARGET = """\
static int helper(int a)
{
	/* target's own comment */
	return a + 1;
}

/* doc */
int user(int a)
{
	int unrelated = 0;
	return helper(a) + unrelated;
}

int other(void)
{
	return 3;
}
"""


def test_reanchor_deletes_whole_function_and_replaces_body_by_name() -> None:
    # The patch was written against a different version of both functions.
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[
        _hunk([" x;", "-static int helper(int a)", "-{", "-\treturn a + 2;", "-}", "-",
               " /* doc */"]),
        _hunk([" int user(int a)", " {", "-\treturn helper(a);", "+\treturn a * 2;", " }"]),
    ])
    text, outcomes = port.reanchor_file(TARGET, fd)
    assert [o.method for o in outcomes] == ["function-delete", "function-replace"]
    assert "helper" not in text
    want = "int user(int a)\n{\n\treturn a * 2;\n}\n"
    assert cfunc.find_function(text, "user").text(text) == want
    assert text.startswith("/* doc */\nint user")
    assert "differed" in outcomes[1].note
    assert "2 line(s) of the target's version" in outcomes[1].note
    assert "'int unrelated = 0;'" in outcomes[1].note
    assert cfunc.find_function(text, "other") is not None


def test_reanchor_by_context_ignores_whitespace_and_offsets() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk([
        " int other(void)", " {", "-    return 3;", "+    return 4;", " }"])])
    text, outcomes = port.reanchor_file(TARGET, fd)
    assert outcomes[0].method == "context" and "return 4;" in text and "return 3;" not in text


def test_reanchor_inserts_new_function_after_its_neighbour() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk([
        " int other(void)", " {", " \treturn 30;", " }", "+", "+int added(void)", "+{",
        "+\treturn 5;", "+}"])])
    text, outcomes = port.reanchor_file(TARGET, fd)
    assert outcomes[0].method == "function-insert"
    assert text.index("int added(void)") > text.index("int other(void)")


def test_changed_function_absent_from_target_is_obsolete() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk([
        " int gone(void)", " {", "-\treturn 1;", "+\treturn 2;", " }"])])
    with pytest.raises(port.Obsolete) as exc:
        port.reanchor_file(TARGET, fd)
    assert exc.value.function == "gone"


def test_change_outside_functions_that_does_not_match_fails_with_reason() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk([
        " #include <a.h>", "-#include <b.h>", "+#include <c.h>", " #include <d.h>"])])
    with pytest.raises(port.PortFailure, match="hunk 1"):
        port.reanchor_file(TARGET, fd)


HEADER = """\
struct kvm_gfn_range {
	struct kvm_memory_slot *slot;
	gfn_t start, end;
	pte_t pte;	/* new PTE */
	bool may_block;
};
"""
SOURCE = """\
static inline void tdp_mmu_set_spte(struct kvm *kvm, struct tdp_iter *iter,
				u64 new_spte)
{
}
"""


def test_drift_rules_apply_only_when_the_probes_hold() -> None:
    files = {"include/linux/kvm_host.h": HEADER, "arch/x86/kvm/mmu/tdp_mmu.c": SOURCE}
    verdicts = {v.rule.id: v for v in drift.applicable(files.get)}
    assert verdicts["kvm_gfn_range-arg-union"].applies
    assert verdicts["tdp_mmu_iter_set_spte"].applies
    newer = {"include/linux/kvm_host.h": HEADER.replace("pte_t pte;", "union a arg;"),
             "arch/x86/kvm/mmu/tdp_mmu.c": SOURCE.replace("tdp_mmu_set_spte",
                                                          "tdp_mmu_iter_set_spte")}
    assert not any(v.applies for v in drift.applicable(newer.get))
    rules = [v.rule for v in verdicts.values()]
    line, used = drift.rewrite_line("\ttdp_mmu_iter_set_spte(kvm, &iter, range->arg.pte);", rules)
    assert line == "\ttdp_mmu_set_spte(kvm, &iter, range->pte);" and len(used) == 2


def test_patch_line_maps_text_back_to_the_mail_diff() -> None:
    p = Patch(subject="s", raw_subject="s", author="a", email="e", date="d", message_id="m",
              index=2, total=2, diff="--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-x\n+\tpfn = 1;\n")
    pl = patch_line([p], "pfn   =  1;", "f.c")
    assert (pl.patch, pl.line) == ("2/2", 5)
    assert patch_line([p], "nothing") is None


BODY = """\
int walker(struct kvm_gfn_range *range)
{
	int a = 1;
	int b = 2;
	u64 spte = pte_pfn(range->pte);

	if (a)
		b++;
	return b + spte;
}
"""


def test_hunk_inside_a_function_is_re_anchored_within_it_with_fuzz() -> None:
    # The patch's edge context ("int a = 0;", "return b;") differs from the target's.
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[Hunk(
        old_start=3, old_count=6, new_start=3, new_count=7, section="int walker(struct x *r)",
        lines=[" \tint a = 0;", " \tint b = 2;", "-\tif (a)", "+\tif (a && b)", "+\t\tb--;",
               "+\telse if (a)", " \t\tb++;", " \treturn b;"])])
    text, outcomes = port.reanchor_file(BODY, fd)
    assert outcomes[0].method == "function-context" and outcomes[0].functions == ["walker"]
    assert "\tif (a && b)\n\t\tb--;\n\telse if (a)\n\t\tb++;\n\treturn b + spte;" in text
    assert "\tint a = 1;" in text  # the target's own context is kept


def test_context_in_the_patchs_api_spelling_anchors_through_spell() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[_hunk([
        " \tint b = 2;", " \tu64 spte = pte_pfn(range->arg.pte);", "+\tspte |= 1;", " ",
        " \tif (a)"])])
    with pytest.raises(port.PortFailure):
        port.reanchor_file(BODY, fd)
    rules = list(drift.load_rules())
    text, outcomes = port.reanchor_file(BODY, fd, lambda s: drift.rewrite_line(s, rules)[0])
    assert outcomes[0].method == "context"
    # context written back is the target's (range->pte), the added line is the patch's
    assert "\tu64 spte = pte_pfn(range->pte);\n\tspte |= 1;\n" in text


def test_hunk_inside_a_function_the_target_lacks_is_obsolete() -> None:
    fd = FileDiff(old_path="f.c", new_path="f.c", hunks=[Hunk(
        old_start=3, old_count=3, new_start=3, new_count=3, section="static int gone(void)",
        lines=[" \tint x = 0;", "-\tx++;", "+\tx--;", " \treturn x;"])])
    with pytest.raises(port.Obsolete) as exc:
        port.reanchor_file(BODY, fd)
    assert exc.value.function == "gone"


def test_git_am_keeps_a_body_line_that_starts_with_from(tmp_path) -> None:
    """fetch writes mboxrd ('>From' escaping); git am must read it back as mboxrd."""
    import subprocess

    from kpatchkit.apply import am
    from kpatchkit.fetch import load_series, series_mbox

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "f.c").write_text("a\nb\nc\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qm", "init"], check=True)
    mail = tmp_path / "m.eml"
    mail.write_text("From: A <a@example.org>\nSubject: [PATCH] fix f\nDate: Mon, 1 Jan 2024 "
                    "00:00:00 +0000\nMessage-ID: <1@example.org>\n\nFrom the top: this line "
                    "starts with From.\n\nSigned-off-by: A <a@example.org>\n---\n"
                    "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n"
                    " c\n")
    ok, out = am.am(repo, series_mbox(load_series(str(mail)).patches))
    assert ok, out
    body = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%B"],
                          capture_output=True, text=True, check=True).stdout
    assert "\nFrom the top: this line starts with From.\n" in body and ">From" not in body

"""Dataflow semantics on small C files (real parser, real CFG, real data files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpatchkit.analyze import analyze_file

PRELUDE = "struct kvm { int mmu_lock; int pages_lock; };\n"


def _run(tmp_path: Path, body: str, name: str = "t.c"):
    (tmp_path / name).write_text(PRELUDE + body)
    return analyze_file(tmp_path, name, use_cache=False)


def _checks(res) -> set[tuple[str, str]]:
    return {(f.check, f.function) for f in res.findings}


def test_path_sensitive_shared_flag_is_balanced(tmp_path: Path) -> None:
    res = _run(tmp_path, """
static void drop_and_retake(struct kvm *kvm, bool shared)
{
	if (shared)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
	cond_resched();
	if (shared)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
}
void caller(struct kvm *kvm)
{
	read_lock(&kvm->mmu_lock);
	drop_and_retake(kvm, true);
	read_unlock(&kvm->mmu_lock);
}
""")
    assert res.findings == []


def test_wrong_mode_reaches_caller_through_summary(tmp_path: Path) -> None:
    res = _run(tmp_path, """
static void drop_and_retake(struct kvm *kvm, bool shared)
{
	if (shared)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
	if (shared)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
}
void caller(struct kvm *kvm)
{
	read_lock(&kvm->mmu_lock);
	drop_and_retake(kvm, false);
	read_unlock(&kvm->mmu_lock);
}
""")
    hits = [f for f in res.findings if f.function == "caller"]
    assert hits and hits[0].check == "lock-imbalance" and hits[0].line == 17
    assert any("drop_and_retake" in step.note or "drop_and_retake" in f.message
               for f in hits for step in f.trace)


def test_rcu_leak_on_one_path_only(tmp_path: Path) -> None:
    res = _run(tmp_path, """
int walk(int x)
{
	rcu_read_lock();
	if (x)
		return -1;
	rcu_read_unlock();
	return 0;
}
""")
    assert [(f.check, f.line) for f in res.findings] == [("rcu-leak", 7)]
    assert [s.line for s in res.findings[0].trace] == [5, 6, 7]


def test_gfp_flag_decides_whether_an_allocation_sleeps(tmp_path: Path) -> None:
    res = _run(tmp_path, """
static void *alloc(gfp_t gfp)
{
	return kmem_cache_zalloc(cache, gfp);
}
void ok(struct kvm *kvm)
{
	spin_lock(&kvm->pages_lock);
	alloc(GFP_NOWAIT | __GFP_ACCOUNT);
	spin_unlock(&kvm->pages_lock);
}
void bad(struct kvm *kvm)
{
	spin_lock(&kvm->pages_lock);
	alloc(GFP_KERNEL_ACCOUNT);
	spin_unlock(&kvm->pages_lock);
}
""")
    assert _checks(res) == {("sleep-in-atomic", "bad")}


def test_guarded_lockdep_assert_is_not_a_contract(tmp_path: Path) -> None:
    res = _run(tmp_path, """
static void invalidate(struct kvm *kvm)
{
	if (refcount_read(&kvm->users) && kvm->created_vcpus)
		lockdep_assert_held_write(&kvm->mmu_lock);
}
void teardown(struct kvm *kvm)
{
	invalidate(kvm);
	read_lock(&kvm->mmu_lock);
	read_unlock(&kvm->mmu_lock);
}
""")
    assert res.findings == []


@pytest.mark.parametrize("body,check", [
    ("void f(struct kvm *kvm) { spin_lock(&kvm->pages_lock); spin_lock(&kvm->pages_lock); "
     "spin_unlock(&kvm->pages_lock); }", "double-lock"),
    ("void f(struct kvm *kvm) { spin_lock(&kvm->pages_lock); spin_unlock(&kvm->pages_lock); "
     "spin_unlock(&kvm->pages_lock); }", "double-unlock"),
    ("void f(void) { rcu_read_lock(); cond_resched(); rcu_read_unlock(); }", "sleep-in-rcu"),
    ("void f(struct kvm *kvm) { lockdep_assert_held_read(&kvm->mmu_lock); "
     "lockdep_assert_held_write(&kvm->mmu_lock); }", "lock-requirement"),
])
def test_each_primitive_check(tmp_path: Path, body: str, check: str) -> None:
    assert [f.check for f in _run(tmp_path, body).findings] == [check]


FREE_ROOTS = """
struct page { bool tdp; };
static struct page *to_page(long hpa);
static void put_root(struct kvm *kvm, struct page *sp);
static void free_root_page(struct kvm *kvm, long hpa)
{
	struct page *sp = to_page(hpa);

	if (sp->tdp) {
		lockdep_assert_held_read(&kvm->mmu_lock);
		put_root(kvm, sp);
	} else {
		lockdep_assert_held_write(&kvm->mmu_lock);
	}
}
void free_roots(struct kvm *kvm, long hpa, bool is_tdp)
{
	if (is_tdp)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
	free_root_page(kvm, hpa);
	if (is_tdp)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
}
"""


def test_mode_chosen_by_a_local_the_caller_cannot_see_needs_the_lock_held(tmp_path) -> None:
    """6.12's kvm_mmu_free_roots(): the callee asserts read or write depending on the root
    (a local), the caller takes read or write on a flag of its own. Which mode goes with which
    is invisible here: the callee needs mmu_lock held, not both modes on every path."""
    assert _run(tmp_path, FREE_ROOTS).findings == []
    res = _run(tmp_path, FREE_ROOTS.replace(
        "\tfree_root_page(kvm, hpa);\n\tif (is_tdp)\n\t\tread_unlock",
        "\tif (is_tdp)\n\t\tread_unlock").replace(
        "\t\twrite_unlock(&kvm->mmu_lock);\n}\n",
        "\t\twrite_unlock(&kvm->mmu_lock);\n\tfree_root_page(kvm, hpa);\n}\n"), "u.c")
    assert [(f.check, f.function) for f in res.findings] == [("lock-requirement",
                                                               "free_roots")]
    assert "requires mmu_lock held" in res.findings[0].message

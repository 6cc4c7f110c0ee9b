"""The upstream regression lists (kpatchkit/guest/data/upstream-*.toml): choice and contents."""

from __future__ import annotations

import pytest

from kpatchkit.guest.lists import left_out, plan_tests, upstream_list_path, upstream_tests
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.tree import TreeInfo

DEBIAN = {"deb61": "/usr/src/linux-source-6.1.tar.xz",
          "deb612": "/usr/src/linux-source-6.12.tar.xz"}


@pytest.mark.parametrize("version,listed", [("6.1.192", "6.1"), ("6.6.30", "6.1"),
                                            ("6.12.117", "6.12"), ("6.15.2", "6.12"),
                                            ("5.15.0", "6.1")])
def test_a_tree_gets_the_newest_list_not_newer_than_itself(version: str, listed: str) -> None:
    assert upstream_list_path(version).name == f"upstream-{listed}.toml"


def test_612_list_is_61s_plus_pre_faulting() -> None:
    old, known_old = upstream_tests("6.1.192")
    new, known_new = upstream_tests("6.12.117")
    assert [t.name for t in new] == [t.name for t in old] + ["pre_fault_memory_test"]
    assert set(known_new) == set(known_old)


@pytest.mark.tree
@pytest.mark.parametrize("name", sorted(DEBIAN))
def test_every_listed_program_is_in_the_trees_makefile(name: str) -> None:
    from kpatchkit.kernel.selftests import tree_programs
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        tree = resolve_tree(name)
    except Exception:  # noqa: BLE001 - not added yet on a fresh machine
        tree = add_tree(name, DEBIAN[name])
    have = tree_programs(tree.path, tree.head)
    tests, _ = upstream_tests(tree.version)
    major_minor = ".".join(tree.version.split(".")[:2])
    assert upstream_list_path(tree.version).name == f"upstream-{major_minor}.toml"
    assert {t.program for t in tests} <= have


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_tcg_leaves_out_only_what_cannot_tell_kernels_apart(version: str) -> None:
    """``only_under``: memslot_perf_test always fails under TCG for TCG's reason, so the default
    TCG run leaves it out and says why; under KVM nothing is left out; each left-out test is a
    known TCG failure (a test that could tell base and patched apart is never dropped)."""
    tcg, kvm = left_out(version, "tcg"), left_out(version, "kvm")
    assert set(tcg) == {"memslot_perf_test"} and "TCG" in tcg["memslot_perf_test"]
    assert kvm == {}
    _, known = upstream_tests(version)
    assert all((name, "tcg") in known for name in tcg)


def test_run_kernels_default_list_drops_it_by_name_keeps_it(monkeypatch, tmp_path) -> None:
    import kpatchkit.run
    from kpatchkit.records.results import RunReport

    seen: dict[str, list[str]] = {}

    def fake_suite(tree_name, kernels, tests, **kw):
        seen["tests"] = [t.name for t in tests]
        return RunReport(tree=tree_name, accel=kw["accel"])

    monkeypatch.setattr(kpatchkit.run, "run_suite", fake_suite)
    tree = TreeInfo(name="t", path=tmp_path, version="6.1.999", kind="tarball", origin="-",
                    head="HEAD")
    rep = kpatchkit.run.run_kernels(tree, base="HEAD", accel="tcg")
    assert "memslot_perf_test" not in seen["tests"] and "dirty_log_test" in seen["tests"]
    assert set(rep.left_out) == {"memslot_perf_test"}
    rep = kpatchkit.run.run_kernels(tree, base="HEAD", accel="tcg",
                                    upstream=["memslot_perf_test"])
    assert seen["tests"] == ["memslot_perf_test"] and rep.left_out == {}
    rep = kpatchkit.run.run_kernels(tree, base="HEAD", accel="kvm")
    assert "memslot_perf_test" in seen["tests"] and rep.left_out == {}


def test_plan_by_name_takes_generated_and_upstream_and_only_their_options(tmp_path) -> None:
    gen = [GeneratedTest("cow_a", tmp_path / "a.c", "a", kconfig=["KSM"], args=["1"]),
           GeneratedTest("cow_b", tmp_path / "b.c", "b", kconfig=["TRANSPARENT_HUGEPAGE"])]
    plan = plan_tests("6.1.999", "tcg", gen, ["memslot_perf_test", "cow_a", "xapic_state_test"])
    assert [t.name for t in plan.tests] == ["memslot_perf_test", "cow_a", "xapic_state_test"]
    assert plan.tests[0].args == ["-s", "128", "-l", "1"]  # the list's entry, asked for by name
    assert plan.tests[1].args == ["1"] and plan.tests[2].program == "xapic_state_test"
    assert set(plan.extras) == {"cow_a"} and plan.options == ["KSM"] and plan.left_out == {}
    full = plan_tests("6.1.999", "tcg", gen)
    assert [t.name for t in full.tests][-2:] == ["cow_a", "cow_b"]
    assert "memslot_perf_test" not in [t.name for t in full.tests]
    assert full.options == ["KSM", "TRANSPARENT_HUGEPAGE"]

"""The upstream regression lists (kpatchkit/guest/data/upstream-*.toml): choice and contents."""

from __future__ import annotations

import pytest

from kpatchkit.guest.lists import upstream_list_path, upstream_tests

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

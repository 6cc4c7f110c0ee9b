"""The real Debian kernel trees the tests use (one helper; tests/conftest.py makes the session
fixtures). A module of its own, not conftest: several conftest.py files exist, and
``import conftest`` would find whichever pytest loaded last."""

from __future__ import annotations

from pathlib import Path

import pytest

# Debian's linux-source packages behind the trees the tests use: tree name -> series.
DEBIAN_TREES = {"deb61": "6.1", "deb612": "6.12"}


def debian_tree(name: str):
    """TreeInfo of kernel_src/<name> (``deb61``/``deb612``), added from Debian's tarball once
    (cached) if this machine does not have it yet."""
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        return resolve_tree(name)
    except Exception:  # noqa: BLE001 - not added on this machine yet
        return add_tree(name, str(debian_tarball(DEBIAN_TREES[name])))


def debian_tarball(version: str) -> Path:
    """Path of Debian's linux-source tarball, or fail with what to install."""
    path = Path(f"/usr/src/linux-source-{version}.tar.xz")
    if not path.exists():
        pytest.fail(f"{path} missing: apt-get install linux-source-{version}")
    return path

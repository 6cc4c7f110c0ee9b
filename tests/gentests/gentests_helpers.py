"""Shared helpers for the gen-tests tests: golden library probes and the real Debian trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kpatchkit.records.gentests import SelftestLib

GOLDEN = Path(__file__).resolve().parent / "golden"
# Debian's linux-source packages the goldens were rendered for: tree name -> tarball version.
TREES = {"deb61": "6.1", "deb612": "6.12"}
REGEN = bool(os.environ.get("KPATCHKIT_REGEN"))


def golden_lib(series: str) -> SelftestLib:
    """The probe result of Debian's linux-source-<series>, as stored beside the goldens."""
    return SelftestLib.from_json(json.loads((GOLDEN / series / "library.json").read_text()))


def real_tree(name: str):
    """TreeInfo of kernel_src/<name>, added from /usr/src once (cached) if missing."""
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        return resolve_tree(name)
    except Exception:  # noqa: BLE001 - not added on this machine yet
        tarball = Path(f"/usr/src/linux-source-{TREES[name]}.tar.xz")
        if not tarball.exists():
            pytest.fail(f"{tarball} missing: apt-get install linux-source-{TREES[name]}")
        return add_tree(name, str(tarball))

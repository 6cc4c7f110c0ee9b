"""A tree's kernel version: from the Makefile, from its record, never a guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpatchkit.errors import KpatchkitError
from kpatchkit.kernel.version import makefile_version, of_tree
from kpatchkit.records.tree import TreeInfo


def test_makefile_version() -> None:
    text = "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\nNAME = x\n"
    assert makefile_version(text) == "6.1.192"
    assert makefile_version("VERSION = 6\nPATCHLEVEL = 14\nSUBLEVEL = 0\n") == "6.14.0"


def test_of_tree_reads_the_record_or_says_what_to_do() -> None:
    tree = TreeInfo(name="deb612", path=Path("/t"), version="6.12.118", kind="tarball",
                    origin="/usr/src/linux-source-6.12.tar.xz", head="0" * 40)
    assert of_tree(tree) == "6.12.118"
    assert of_tree({"name": "x", "path": "/t", "version": "6.1.192"}) == "6.1.192"
    for bad in ({"name": "mine", "path": "/t"}, {"name": "mine", "version": "?"},
                {"name": "mine", "version": ""}):
        with pytest.raises(KpatchkitError, match=r"tree mine has no kernel version.*"
                           r"'kpatchkit tree add mine --from SOURCE --force'"):
            of_tree(bad)

"""A kernel tree known to kpatchkit (``kernel_src/NAME``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kpatchkit.records.base import Record


@dataclass
class TreeInfo(Record):
    """A kernel git repository kpatchkit may read and make worktrees from.

    ``path`` is a git repository that belongs to kpatchkit (in the cache); a user's own
    repository is only ever the *origin* of it and is never written to.
    """

    name: str
    path: Path  # kpatchkit's repository for this tree (working dir at the baseline)
    version: str  # from the top Makefile, e.g. "6.1.192"
    kind: str  # "tarball", "git-local", "git-url"
    origin: str  # the SOURCE given to 'tree add'
    head: str  # full commit id of the baseline

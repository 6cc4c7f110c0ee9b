"""The "obsolete" verdict: the patch changes a function the target no longer has.

Where the tree has history, ``git log -S`` names the commit that removed it; a tarball baseline
has none, so known upstream removals (``data/obsolete.toml``) are shown instead (as context,
never as the reason for the verdict).
"""

from __future__ import annotations

import functools
from pathlib import Path

from kpatchkit.kernel import git as g
from kpatchkit.knowledge import ListOf, Opt, load_toml
from kpatchkit.records.applied import ObsoleteInfo

DATA = Path(__file__).with_name("data") / "obsolete.toml"
SCHEMA = {"removed": Opt(ListOf({"function": str, "removed_in": str, "change": str,
                                 "evidence": str}))}


def removed_by(repo: Path, commit: str, function: str, path: str) -> str | None:
    """"sha subject" of the commit that removed ``function`` from ``path`` (git log -S)."""
    proc = g.git(repo, "log", "-n", "1", f"-S{function}(", "--format=%H %s", commit, "--", path,
                 check=False)
    line = proc.stdout.strip()
    if not line:
        return None
    still = g.show_file(repo, line.split()[0], path) or ""
    return line if f"{function}(" not in still else None  # that commit removed, not added, it


@functools.cache
def _known() -> dict[str, dict]:
    return {r["function"]: r for r in load_toml(DATA, SCHEMA).get("removed", [])}


def known_removal(function: str) -> str:
    """'; known upstream: removed in ...' from the data file, or ''."""
    r = _known().get(function)
    return f"; known upstream: removed in {r['removed_in']} ({r['change']})" if r else ""


def obsolete_info(repo: Path, commit: str, function: str, path: str, patch: str) -> ObsoleteInfo:
    """The ObsoleteInfo for ``function`` missing from ``path`` at ``commit``."""
    removed = removed_by(repo, commit, function, path)
    note = "" if removed else ("the tree has no history to say which commit removed it"
                               + known_removal(function))
    return ObsoleteInfo(function=function, file=path, patch=patch, removed_by=removed, note=note)

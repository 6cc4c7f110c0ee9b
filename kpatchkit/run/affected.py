"""``--tests auto``: the tests whose code paths the patch's files are known to affect first.

The knowledge is data (``data/affected.toml``: file globs, the tests that exercise that code,
and why). ``order(tests, files, generated, mode)`` returns the tests to run and the selection
record the report shows: ``auto`` runs the affected ones first and the rest after them,
``affected`` only the affected ones. Generated tests always count as affected.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kpatchkit.guest.initramfs import GuestTest
from kpatchkit.knowledge import ListOf, Opt, load_toml

DATA = Path(__file__).with_name("data") / "affected.toml"
MODES = ("auto", "affected")
SCHEMA = {"file": Opt(ListOf({"paths": ListOf(str, min=1), "why": str, "tests": ListOf(str)}))}


def load_map(path: Path = DATA) -> list[dict[str, Any]]:
    """The entries of the map: {paths, why, tests}."""
    return list(load_toml(path, SCHEMA).get("file", []))


def changed_files(repo: Path, base: str, patched: str) -> list[str]:
    """The files the patch changes (``git diff --name-only base patched``)."""
    from kpatchkit.kernel import git

    text = git.out(repo, "diff", "--name-only", "--no-renames", base, patched)
    return [ln for ln in text.splitlines() if ln.strip()]


def reasons(files: Iterable[str], entries: Sequence[dict[str, Any]] | None = None
            ) -> dict[str, list[str]]:
    """{test name: ["<file>: <why>", ...]} for the patch's files."""
    entries = load_map() if entries is None else entries
    out: dict[str, list[str]] = {}
    for f in files:
        for e in entries:
            if any(fnmatch.fnmatchcase(f, pat) for pat in e.get("paths", [])):
                for t in e.get("tests", []):
                    why = f"{f}: {e.get('why', '')}"
                    if why not in out.setdefault(t, []):
                        out[t].append(why)
    return out


def order(tests: Sequence[GuestTest], files: Sequence[str], generated: Iterable[str] = (),
          mode: str = "auto", entries: Sequence[dict[str, Any]] | None = None
          ) -> tuple[list[GuestTest], dict[str, Any]]:
    """The tests in run order and the selection record (see ``RunReport.selection``)."""
    if mode not in MODES:
        raise ValueError(f"unknown selection mode {mode!r}")
    why = reasons(files, entries)
    gen = set(generated)
    for name in gen:
        why.setdefault(name, []).insert(0, "generated for the patch under review")
    first = [t for t in tests if t.name in why]
    rest = [t for t in tests if t.name not in why]
    ran = first + rest if mode == "auto" else first
    selection = {
        "mode": mode,
        "files": list(files),
        "affected": [{"test": t.name, "why": why[t.name]} for t in first],
        "rest": [t.name for t in rest],
        "ran": [t.name for t in ran],
    }
    return ran, selection

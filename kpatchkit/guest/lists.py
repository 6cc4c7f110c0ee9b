"""The tests a guest runs: the tree's upstream regression list, a selection from it, and
gen-tests' generated tests, all as :class:`~kpatchkit.guest.initramfs.GuestTest`.

``data/upstream-<ver>.toml`` holds the tests (program defaults to the name, timeout to
``[defaults]``) and the known failures, each with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.guest.initramfs import GuestTest
from kpatchkit.knowledge import ListOf, OneOf, Opt, load_toml
from kpatchkit.records.gentests import GeneratedTest

DATA = Path(__file__).with_name("data")
UPSTREAM_SCHEMA = {
    "defaults": Opt({"timeout": Opt(int)}),
    "test": Opt(ListOf({"name": str, "program": Opt(str), "args": Opt(ListOf(str)),
                        "timeout": Opt(int), "only_under": Opt(ListOf(OneOf("tcg", "kvm"))),
                        "why": Opt(str)})),
    "known": Opt(ListOf({"name": str, "accel": Opt(OneOf("tcg", "kvm")), "reason": str})),
}


def upstream_list_path(version: str) -> Path:
    """data/upstream-<MAJOR.MINOR>.toml, else the newest list not newer than the tree (the
    oldest list for a tree older than all of them)."""
    lists = {}
    for p in DATA.glob("upstream-*.toml"):
        m = re.match(r"upstream-(\d+)\.(\d+)\.toml$", p.name)
        if m:
            lists[(int(m.group(1)), int(m.group(2)))] = p
    want = tuple(int(x) for x in version.split(".")[:2])
    fitting = [k for k in lists if k <= want]
    return lists[max(fitting)] if fitting else lists[min(lists)]


def upstream_tests(version: str) -> tuple[list[GuestTest], dict[tuple[str, str], str]]:
    """The upstream regression list for a kernel version and its known failures.

    Known failures are keyed by (test or program name, accel).
    """
    data = load_toml(upstream_list_path(version), UPSTREAM_SCHEMA)
    default = int(data.get("defaults", {}).get("timeout", 180))
    tests = [GuestTest(name=t["name"], program=t.get("program", t["name"]),
                       args=list(t.get("args", [])), timeout=int(t.get("timeout", default)))
             for t in data.get("test", [])]
    known = {(k["name"], k.get("accel", "tcg")): k["reason"] for k in data.get("known", [])}
    return tests, known


def left_out(version: str, accel: str) -> dict[str, str]:
    """Tests of the list that the default run leaves out under ``accel`` (``only_under`` names
    the accelerators they run under), each with the list's reason; asked for by name they
    still run."""
    data = load_toml(upstream_list_path(version), UPSTREAM_SCHEMA)
    return {t["name"]: t.get("why", f"runs only under {', '.join(t['only_under'])}")
            for t in data.get("test", []) if "only_under" in t and accel not in t["only_under"]}


def select_tests(all_tests: list[GuestTest], names: Sequence[str] | None) -> list[GuestTest]:
    """``--tests a,b``: entries of the list by name, or any tree program with default args."""
    if not names:
        return list(all_tests)
    by_name = {t.name: t for t in all_tests}
    out = []
    for n in names:
        out.append(by_name.get(n) or GuestTest(name=n, program=n.split(":")[0]))
    return out


def generated_guest_tests(tests: Sequence[GeneratedTest] | None
                          ) -> tuple[list[GuestTest], dict[str, Path], set[str]]:
    """gen-tests' tests as guest tests, with their sources by name and the kernel options they
    need; shared by the local run and the LAVA jobs."""
    guest: list[GuestTest] = []
    extras: dict[str, Path] = {}
    options: set[str] = set()
    for t in tests or []:
        extras[t.name] = Path(t.c_path)
        options.update(t.kconfig)
        guest.append(GuestTest(name=t.name, program=t.name, args=[str(a) for a in t.args],
                               timeout=int(t.timeout or 180)))
    return guest, extras, options


@dataclass
class TestPlan:
    """What a run boots: the guest tests in list order, the generated tests' sources and the
    kernel options they need, the known failures, and what the accelerator leaves out."""

    __test__ = False  # not a pytest class

    tests: list[GuestTest]
    extras: dict[str, Path]
    options: list[str]
    known: dict[tuple[str, str], str]
    left_out: dict[str, str] = field(default_factory=dict)


def plan_tests(version: str, accel: str, generated: Sequence[GeneratedTest] | None = None,
               names: Sequence[str] | None = None) -> TestPlan:
    """The one composition of a run's tests, shared by ``kpatchkit run``, the review and LAVA.

    ``names`` None: the upstream list for ``version`` less what ``accel`` leaves out
    (:func:`left_out`), then every generated test. ``names`` given: those, upstream entries or
    tree programs by name, and the generated tests among them (asked for by name, a test
    runs whatever the accelerator)."""
    upstream, known = upstream_tests(version)
    gen, extras, options = generated_guest_tests(generated)
    skipped: dict[str, str] = {}
    if names is None:
        skipped = left_out(version, accel)
        tests = [t for t in upstream if t.name not in skipped] + gen
    else:
        by_gen = {g.name: g for g in gen}
        tests = [by_gen[n] if n in by_gen else select_tests(upstream, [n])[0] for n in names]
        picked = {t.name for t in tests}
        extras = {n: p for n, p in extras.items() if n in picked}
        options = {o for t in generated or [] if t.name in picked for o in t.kconfig}
    return TestPlan(tests=tests, extras=extras, options=sorted(options), known=known,
                    left_out=skipped)

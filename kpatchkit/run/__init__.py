"""kpatchkit.run: build base/patched kernels, boot them in QEMU, run KVM selftests, read results.

Library API (``review`` and ``kpatchkit run`` use it; it imports no other stage)::

    run_kernels(tree: TreeInfo, *, base: str, patched: str | None = None,
                tests: list[GeneratedTest] | None = None,
                upstream: bool | list[str] | str = True, debug: bool = True,
                jobs: int | None = None, work_dir: Path | None = None,
                accel: str | None = None, use_cache: bool | None = None,
                run_id: str | None = None) -> RunReport

``tests`` are gen-tests' generated tests (GeneratedTest records; their ``kconfig`` options are
built into both kernels);
``upstream`` True runs the tree's upstream regression list (guest/data/upstream-<ver>.toml), a list
runs those names only, False none; ``"auto"`` runs the list's tests that the patch's files are
known to affect (run/data/affected.toml) and the generated tests first, the rest after;
``"affected"`` only those (``RunReport.selection`` says which ran and why).
See ``kpatchkit.records.results`` for the JSON contract.

Results of a kernel whose image, initramfs files, QEMU options and test list are those of an
earlier run are taken from the results cache (``kpatchkit.run.reuse``; ``KernelRun.reused_from``
says which run and when); ``use_cache=False`` boots every kernel. ``run_id`` names this run in
that cache. The kernels that boot share ``jobs`` guests (``kpatchkit.guest.shard``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpatchkit.console import info
from kpatchkit.guest import qemu
from kpatchkit.guest.lists import plan_tests
from kpatchkit.guest.prepare import KernelSpec
from kpatchkit.kernel.version import of_tree
from kpatchkit.run import affected
from kpatchkit.run.suite import run_suite

if TYPE_CHECKING:
    from kpatchkit.records.gentests import GeneratedTest
    from kpatchkit.records.results import RunReport
    from kpatchkit.records.tree import TreeInfo

__all__ = ["run_kernels"]


def run_kernels(tree: TreeInfo, *, base: str, patched: str | None = None,
                tests: list[GeneratedTest] | None = None,
                upstream: bool | list[str] | str = True,
                debug: bool = True, jobs: int | None = None, work_dir: Path | None = None,
                accel: str | None = None, **kwargs: Any) -> RunReport:
    """Run the upstream list and the generated tests on base (and patched) kernels."""
    repo = Path(tree.path)
    version = of_tree(tree)
    accel = accel or qemu.detect_accel()
    mode = upstream if upstream in ("auto", "affected") else None
    generated = [t.name for t in tests or []]
    names = None if upstream is True or mode else [*(upstream or []), *generated]
    plan = plan_tests(version, accel, tests, names)
    for name, why in plan.left_out.items():
        kwargs.get("progress", info)(f"[run] {name} left out under {accel}: {why}")
    guest_tests = plan.tests
    selection: dict[str, Any] = {}
    if mode:
        files = affected.changed_files(repo, base, patched) if patched else []
        guest_tests, selection = affected.order(guest_tests, files, plan.extras, mode)
    kernels = [KernelSpec("base", repo, base)]
    if patched:
        kernels.append(KernelSpec("patched", repo, patched))
    report = run_suite(tree.name, kernels, guest_tests,
                       extra_sources=plan.extras, known=plan.known, debug=debug, jobs=jobs,
                       work_dir=work_dir, accel=accel, guest_options=plan.options, **kwargs)
    report.selection = selection
    report.left_out = plan.left_out
    return report

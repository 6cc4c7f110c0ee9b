"""kpatchkit.run: build base/patched kernels, boot them in QEMU, run KVM selftests, read results.

Library API (``review`` and ``kpatchkit run`` use it; it imports no other stage)::

    run_kernels(tree: TreeInfo, *, base: str, patched: str | None = None,
                tests: list[GeneratedTest | dict] | None = None, upstream: bool | list[str] = True,
                debug: bool = True, jobs: int | None = None, work_dir: Path | None = None,
                accel: str | None = None) -> RunReport

``tests`` are gen-tests' generated tests (records or their JSON: name, c_path, args, timeout,
kconfig: the guest options they need, built into both kernels);
``upstream`` True runs the tree's upstream regression list (data/upstream-<ver>.toml), a list
runs those names only, False none. See ``kpatchkit.records.results`` for the JSON contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpatchkit.records.results import RunReport
    from kpatchkit.records.tree import TreeInfo

__all__ = ["run_kernels"]


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def run_kernels(tree: TreeInfo, *, base: str, patched: str | None = None,
                tests: list[Any] | None = None, upstream: bool | list[str] = True,
                debug: bool = True, jobs: int | None = None, work_dir: Path | None = None,
                accel: str | None = None, **kwargs: Any) -> RunReport:
    """Run the upstream list and the generated tests on base (and patched) kernels."""
    from kpatchkit.run.initramfs import GuestTest
    from kpatchkit.run.suite import KernelSpec, run_suite, select_tests, upstream_tests

    repo = Path(_get(tree, "path"))
    all_upstream, known = upstream_tests(_get(tree, "version", "6.1"))
    if upstream is True:
        guest_tests = all_upstream
    elif upstream:
        guest_tests = select_tests(all_upstream, list(upstream))
    else:
        guest_tests = []
    extras: dict[str, Path] = {}
    options: set[str] = set()
    for t in tests or []:
        name = _get(t, "name")
        extras[name] = Path(_get(t, "c_path"))
        options.update(_get(t, "kconfig", []) or [])
        guest_tests.append(GuestTest(name=name, program=name,
                                     args=[str(a) for a in _get(t, "args", []) or []],
                                     timeout=int(_get(t, "timeout", 180) or 180)))
    kernels = [KernelSpec("base", repo, base)]
    if patched:
        kernels.append(KernelSpec("patched", repo, patched))
    return run_suite(_get(tree, "name", str(repo)), kernels, guest_tests, extra_sources=extras,
                     known=known, debug=debug, jobs=jobs, work_dir=work_dir, accel=accel,
                     guest_options=sorted(options), **kwargs)

"""Thin adapters from the review to each stage's public API, returning plain JSON objects.

Only the names the stages publish are used (``kpatchkit.fetch.load_series``,
``kpatchkit.apply.apply_series``, ``kpatchkit.analyze.analyze_diff``,
``kpatchkit.gentests.render_scenarios``, ``kpatchkit.run.run_kernels``); what they return is
turned into the JSON their ``--json`` prints, which is what the stage store keeps and the report
reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpatchkit.errors import InfraError
from kpatchkit.records.series import Series
from kpatchkit.records.tree import TreeInfo


def _api(module: str, name: str) -> Callable[..., Any]:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InfraError(f"{module}.{name} is not available in this build ({exc}); "
                         "update kpatchkit") from exc


def _json(obj: Any) -> Any:
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if isinstance(obj, list):
        return [_json(x) for x in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def fetch(source: str, msgid: str | None) -> dict[str, Any]:
    """Series JSON for SOURCE."""
    return _json(_api("kpatchkit.fetch", "load_series")(source, msgid=msgid))


def series_from(data: dict[str, Any]) -> Series:
    """The Series record back from its JSON."""
    return Series.from_json(data)


def resolve_tree(spec: str) -> TreeInfo:
    """The TreeInfo for ``--tree``."""
    return _api("kpatchkit.trees.registry", "resolve_tree")(spec)


def apply(series: Series, tree: TreeInfo, prereqs: list[str]) -> dict[str, Any]:
    """Applied JSON (apply/port + compile)."""
    fn = _api("kpatchkit.apply", "apply_series")
    pre: list[Series] = [_api("kpatchkit.fetch", "load_series")(p) for p in prereqs]
    return _json(fn(series, tree, prereqs=tuple(pre), compile=True))


def analyze(tree: TreeInfo, applied: dict[str, Any]) -> dict[str, Any]:
    """AnalysisDiff JSON for base..patched of the files the series touches."""
    fn = _api("kpatchkit.analyze", "analyze_diff")
    return _json(fn(Path(tree.path), applied["base_commit"], applied["patched_commit"]))


def gen_tests(tree: TreeInfo, out_dir: Path, scenarios: list[str] | None) -> list[dict]:
    """GeneratedTest JSON entries rendered into ``out_dir``."""
    fn = _api("kpatchkit.gentests", "render_scenarios")
    return _json(fn(tree, out_dir, scenarios=scenarios))


def tests_patch(tree: TreeInfo, tests: list[dict[str, Any]], dest: Path) -> Path:
    """The generated tests as a patch to the tree's selftests (what a kselftest author sends)."""
    fn = _api("kpatchkit.gentests", "write_upstream_patch")
    return fn(tree, tests, dest)


def run(tree: TreeInfo, applied: dict[str, Any], tests: list[dict[str, Any]],
        *, jobs: int, work_dir: Path) -> dict[str, Any]:
    """Run JSON (kernels, results, accel) for the base and patched kernels."""
    fn = _api("kpatchkit.run", "run_kernels")
    return _json(fn(tree, base=applied["base_commit"], patched=applied["patched_commit"],
                    tests=tests, jobs=jobs, work_dir=work_dir))


def qemu_cmdline(run_json: dict[str, Any]) -> dict[str, str]:
    """The QEMU command line each kernel ran under, for the report's provenance.

    Uses the run stage's own ``qemu_command`` with the image and log paths its JSON records
    (the initramfs is named generically: it lives in the run stage's cache). Empty when the run
    JSON already carries a command line or the run stage cannot say.
    """
    import shlex

    if run_json.get("qemu") or run_json.get("qemu_cmdline"):
        return {}
    out: dict[str, str] = {}
    try:
        qemu_command = _api("kpatchkit.run.qemu", "qemu_command")
        kernels = run_json.get("kernels") or []
        smp = 1 if len(kernels) > 1 else None  # the run boots both kernels side by side on 1 CPU
        for k in kernels:
            argv = qemu_command(Path(k.get("image") or "bzImage"), Path("initramfs.cpio.gz"),
                                Path(k.get("console_log") or "console.log"),
                                Path(k.get("results_log") or "results.log"),
                                accel=k.get("accel") or run_json.get("accel") or "tcg", smp=smp)
            out[str(k.get("name"))] = shlex.join(argv)
    except Exception:  # noqa: BLE001 - provenance is best effort, never a failed review
        return {}
    return out

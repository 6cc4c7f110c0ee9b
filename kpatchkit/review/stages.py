"""Thin adapters from the review to each stage's public API, returning plain JSON objects.

Only the names the stages publish are used, as plain imports (``kpatchkit.fetch.load_series``,
``kpatchkit.apply.apply_series``, ``kpatchkit.analyze.analyze_diff``,
``kpatchkit.gentests.render_scenarios``, ``kpatchkit.run.run_kernels``); what they return is
turned into the JSON their ``--json`` prints, which is what the stage store keeps and the report
reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpatchkit.analyze import analyze_diff
from kpatchkit.apply import apply_series
from kpatchkit.fetch import load_series, series_mbox
from kpatchkit.gentests import render_scenarios, write_upstream_patch
from kpatchkit.gentests.render import select_scenarios
from kpatchkit.guest.qemu import qemu_command
from kpatchkit.lava.build import matrix_for_review
from kpatchkit.records.series import Series
from kpatchkit.records.tree import TreeInfo
from kpatchkit.run import run_kernels
from kpatchkit.trees import registry


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
    return _json(load_series(source, msgid=msgid))


def series_from(data: dict[str, Any]) -> Series:
    """The Series record back from its JSON."""
    return Series.from_json(data)


def write_mails(series: dict[str, Any], out_dir: Path) -> None:
    """Each mail of the series as ``<out_dir>/patches/NNNN.mbox`` (``git am`` input): what
    results.json's patch files link to when a mail has no archive copy."""
    from kpatchkit.atomic import write_text
    from kpatchkit.report.kcidb import PATCH_DIR, patch_file_name

    mbox = series_mbox
    dest = out_dir / PATCH_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for patch in series_from(series).patches:
        write_text(dest / patch_file_name(patch.index), mbox([patch]))


def resolve_tree(spec: str) -> TreeInfo:
    """The TreeInfo for ``--tree``."""
    return registry.resolve_tree(spec)


def apply(series: Series, tree: TreeInfo, prereqs: list[str]) -> dict[str, Any]:
    """Applied JSON (apply/port + compile)."""
    fn = apply_series
    pre: list[Series] = [load_series(p) for p in prereqs]
    return _json(fn(series, tree, prereqs=tuple(pre), compile=True))


# Where the analyzer's knowledge (KVM's locks, RCU, iterators) applies.
ANALYZED_DIRS = ("arch/x86/kvm/", "virt/kvm/")


def touched_c_files(repo: Path, base: str, head: str) -> list[str]:
    """The .c files under ANALYZED_DIRS that base..head changes (added/deleted ones too)."""
    from kpatchkit.kernel.git import git

    out = git(repo, "diff", "--name-only", base, head, "--", *ANALYZED_DIRS).stdout
    return [p for p in out.split() if p.endswith(".c")]


def analyze(tree: TreeInfo, applied: dict[str, Any]) -> dict[str, Any]:
    """AnalysisDiff JSON for base..patched of every C file the series touches under
    arch/x86/kvm/ and virt/kvm/, one file at a time: a file the front end cannot read is
    listed in ``errors`` and the others are still analysed."""
    from kpatchkit.errors import KpatchkitError

    fn = analyze_diff
    repo, base, head = Path(tree.path), applied["base_commit"], applied["patched_commit"]
    files = touched_c_files(repo, base, head)
    merged: dict[str, Any] = {"tree": tree.name, "base": base, "head": head, "mode": "",
                              "files": files, "findings": [], "added_calls": [], "counts": {},
                              "seconds": 0.0, "errors": [], "notes": []}
    if not files:
        merged["notes"].append("the series changes no C file under " + " or ".join(
            ANALYZED_DIRS) + ": nothing to analyse")
    for file in files:
        try:
            one = _json(fn(repo, base, head, [file], tree=tree.name))
        except KpatchkitError as exc:
            merged["errors"].append({"file": file, "error": exc.message})
            merged["notes"].append(f"{file}: not analysed: {exc.message}")
            continue
        merged["base"], merged["head"] = one.get("base", base), one.get("head", head)
        merged["mode"] = one.get("mode") or merged["mode"]
        for key in ("findings", "added_calls", "errors"):
            merged[key] += one.get(key) or []
        merged["seconds"] = round(merged["seconds"] + float(one.get("seconds") or 0), 4)
    merged["counts"] = {s: sum(f.get("status") == s for f in merged["findings"])
                        for s in ("new", "fixed", "unchanged")}
    return merged


def gen_tests(tree: TreeInfo, out_dir: Path, scenarios: list[str] | None) -> list[dict]:
    """GeneratedTest JSON entries rendered into ``out_dir``."""
    fn = render_scenarios
    return _json(fn(tree, out_dir, scenarios=scenarios))


def scenario_ids(names: list[str] | None = None) -> list[str]:
    """The gen-tests scenario ids (``names`` checked: an unknown one is a KpatchkitError)."""
    return select_scenarios(names)


def tests_patch(tree: TreeInfo, tests: list[dict[str, Any]], dest: Path) -> Path:
    """The generated tests as a patch to the tree's selftests (what a kselftest author sends)."""
    fn = write_upstream_patch
    return fn(tree, tests, dest)


def run(tree: TreeInfo, applied: dict[str, Any], tests: list[dict[str, Any]],
        *, jobs: int, work_dir: Path, selection: str = "all", use_cache: bool = True,
        run_id: str | None = None) -> dict[str, Any]:
    """Run JSON (kernels, results, accel) for the base and patched kernels.

    ``selection``: "all" upstream tests, or "auto"/"affected" (the patch's files decide which
    first, or which alone); ``use_cache=False`` boots every kernel (no results reuse).
    """
    upstream: bool | str = True if selection == "all" else selection
    return _json(run_kernels(tree, base=applied["base_commit"],
                             patched=applied["patched_commit"], tests=tests, jobs=jobs,
                             work_dir=work_dir, upstream=upstream, use_cache=use_cache,
                             run_id=run_id))


def lava_jobs(tree: TreeInfo, applied: dict[str, Any], tests: list[dict[str, Any]],
              out: Path, *, artifact_url: str | None, jobs: int) -> dict[str, Any]:
    """The run stage as LAVA jobs in ``out`` (kpatchkit.lava): its manifest."""
    fn = matrix_for_review
    return fn(tree, applied["base_commit"], applied["patched_commit"], tests, out,
              artifact_url=artifact_url, jobs=jobs)


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

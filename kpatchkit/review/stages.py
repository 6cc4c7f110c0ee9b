"""Thin adapters from the review to each stage's public API, returning the stages' records.

Only the names the stages publish are used, as plain imports (``kpatchkit.fetch.load_series``,
``kpatchkit.apply.apply_series``, ``kpatchkit.analyze.analyze_diff``,
``kpatchkit.gentests.render_scenarios``, ``kpatchkit.run.run_kernels``); what they return is the
record their ``--json`` prints, which the stage store keeps as that JSON and the report reads.
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
from kpatchkit.records.applied import Applied
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.results import RunReport
from kpatchkit.records.review import ReviewAnalysis, ReviewRun
from kpatchkit.records.series import Series
from kpatchkit.records.tree import TreeInfo
from kpatchkit.run import run_kernels
from kpatchkit.trees import registry


def fetch(source: str, msgid: str | None) -> Series:
    """The series in SOURCE."""
    return load_series(source, msgid=msgid)


def write_mails(series: Series, out_dir: Path) -> None:
    """Each mail of the series as ``<out_dir>/patches/NNNN.mbox`` (``git am`` input): what
    results.json's patch files link to when a mail has no archive copy."""
    from kpatchkit.atomic import write_text
    from kpatchkit.report.kcidb import PATCH_DIR, patch_file_name

    dest = out_dir / PATCH_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for patch in series.patches:
        write_text(dest / patch_file_name(patch.index), series_mbox([patch]))


def resolve_tree(spec: str) -> TreeInfo:
    """The TreeInfo for ``--tree``."""
    return registry.resolve_tree(spec)


def apply(series: Series, tree: TreeInfo, prereqs: list[str]) -> Applied:
    """apply/port + compile."""
    pre: list[Series] = [load_series(p) for p in prereqs]
    return apply_series(series, tree, prereqs=tuple(pre), compile=True)


# Where the analyzer's knowledge (KVM's locks, RCU, iterators) applies.
ANALYZED_DIRS = ("arch/x86/kvm/", "virt/kvm/")


def touched_c_files(repo: Path, base: str, head: str) -> list[str]:
    """The .c files under ANALYZED_DIRS that base..head changes (added/deleted ones too)."""
    from kpatchkit.kernel.git import git

    out = git(repo, "diff", "--name-only", base, head, "--", *ANALYZED_DIRS).stdout
    return [p for p in out.split() if p.endswith(".c")]


def analyze(tree: TreeInfo, applied: Applied) -> ReviewAnalysis:
    """AnalysisDiff for base..patched of every C file the series touches under
    arch/x86/kvm/ and virt/kvm/, one file at a time: a file the front end cannot read is
    listed in ``errors`` and the others are still analysed."""
    from kpatchkit.errors import KpatchkitError

    repo, base, head = Path(tree.path), applied.base_commit, applied.patched_commit or ""
    files = touched_c_files(repo, base, head)
    merged = ReviewAnalysis(tree=tree.name, base=base, head=head, mode="", files=files)
    if not files:
        merged.notes.append("the series changes no C file under " + " or ".join(
            ANALYZED_DIRS) + ": nothing to analyse")
    for file in files:
        try:
            one = analyze_diff(repo, base, head, [file], tree=tree.name)
        except KpatchkitError as exc:
            merged.errors.append({"file": file, "error": exc.message})
            merged.notes.append(f"{file}: not analysed: {exc.message}")
            continue
        merged.base, merged.head = one.base, one.head
        merged.mode = one.mode or merged.mode
        merged.findings += one.findings
        merged.added_calls += one.added_calls
        merged.errors += one.errors
        merged.seconds = round(merged.seconds + float(one.seconds or 0), 4)
    merged.counts = {s: sum(f.status == s for f in merged.findings)
                     for s in ("new", "fixed", "unchanged")}
    return merged


def gen_tests(tree: TreeInfo, out_dir: Path, scenarios: list[str] | None
              ) -> list[GeneratedTest]:
    """The scenarios rendered as selftests into ``out_dir``."""
    return render_scenarios(tree, out_dir, scenarios=scenarios)


def scenario_ids(names: list[str] | None = None) -> list[str]:
    """The gen-tests scenario ids (``names`` checked: an unknown one is a KpatchkitError)."""
    return select_scenarios(names)


def tests_patch(tree: TreeInfo, tests: list[GeneratedTest], dest: Path) -> Path:
    """The generated tests as a patch to the tree's selftests (what a kselftest author sends)."""
    return write_upstream_patch(tree, tests, dest)


def run(tree: TreeInfo, applied: Applied, tests: list[GeneratedTest],
        *, jobs: int, work_dir: Path, selection: str = "all", use_cache: bool = True,
        run_id: str | None = None) -> ReviewRun:
    """The base and patched kernels built, booted and tested.

    ``selection``: "all" upstream tests, or "auto"/"affected" (the patch's files decide which
    first, or which alone); ``use_cache=False`` boots every kernel (no results reuse).
    """
    upstream: bool | str = True if selection == "all" else selection
    report: RunReport = run_kernels(tree, base=applied.base_commit,
                                    patched=applied.patched_commit, tests=tests, jobs=jobs,
                                    work_dir=work_dir, upstream=upstream, use_cache=use_cache,
                                    run_id=run_id)
    return ReviewRun.of(report)


def lava_jobs(tree: TreeInfo, applied: Applied, tests: list[GeneratedTest],
              out: Path, *, artifact_url: str | None, jobs: int) -> dict[str, Any]:
    """The run stage as LAVA jobs in ``out`` (kpatchkit.lava): its manifest."""
    return matrix_for_review(tree, applied.base_commit, applied.patched_commit, tests, out,
                             artifact_url=artifact_url, jobs=jobs)


def qemu_cmdline(run: RunReport) -> dict[str, str]:
    """The QEMU command line each kernel ran under, for the report's provenance.

    Uses the run stage's own ``qemu_command`` with the image and log paths its record keeps
    (the initramfs is named generically: it lives in the run stage's cache). Empty when the run
    stage cannot say.
    """
    import shlex

    out: dict[str, str] = {}
    try:
        smp = 1 if len(run.kernels) > 1 else None  # both kernels boot side by side on 1 CPU
        for k in run.kernels:
            argv = qemu_command(Path(k.image or "bzImage"), Path("initramfs.cpio.gz"),
                                Path(k.console_log or "console.log"),
                                Path(k.results_log or "results.log"),
                                accel=k.accel or run.accel or "tcg", smp=smp)
            out[k.name] = shlex.join(argv)
    except Exception:  # noqa: BLE001 - provenance is best effort, never a failed review
        return {}
    return out

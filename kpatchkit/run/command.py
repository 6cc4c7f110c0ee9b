"""``kpatchkit run --tree NAME [--series SERIES] [--tests LIST|auto|affected] [--no-reuse]
[-j N] [--debug] [--json]``.

The CLI layer: it may call other stages' public APIs (apply for the patched commit, gen-tests for
the generated COW scenarios); the run library (``kpatchkit.run.suite``, over the
``kpatchkit.guest`` service) does not.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from kpatchkit.guest import qemu
from kpatchkit.guest.lists import plan_tests
from kpatchkit.guest.prepare import KernelSpec
from kpatchkit.run import affected
from kpatchkit.run.suite import exit_code, run_suite


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments for ``run``."""
    parser.add_argument("--tree", required=True, metavar="NAME",
                        help="a tree under kernel_src/ or a path to a kernel git tree")
    parser.add_argument("--series", metavar="SERIES",
                        help="also build and run the kernel with this series applied (via apply)")
    parser.add_argument("--msgid", help="pick this thread out of a mailbox given as --series")
    parser.add_argument("--tests", metavar="LIST",
                        help="comma-separated tests (upstream programs or generated scenario "
                             "names); default: the upstream list plus the generated scenarios. "
                             "'auto': the tests the patch's files are known to affect "
                             "(data/affected.toml) and the generated ones first, the rest after; "
                             "'affected': only those")
    parser.add_argument("--debug", action="store_true",
                        help="build with the debug fragment (PROVE_LOCKING, PROVE_RCU, "
                             "DEBUG_ATOMIC_SLEEP)")
    parser.add_argument("--kasan", action="store_true", help="add the KASAN fragment")
    parser.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                        help="QEMU acceleration (auto: KVM only with nested virtualisation)")
    parser.add_argument("--serial", action="store_true",
                        help="boot the kernels one after the other instead of in parallel")
    parser.add_argument("--no-generated", action="store_true",
                        help="do not add gen-tests' COW scenarios")
    parser.add_argument("--no-reuse", action="store_true",
                        help="boot every kernel even when the results cache holds its results "
                             "(same image, tests and QEMU options), and store nothing")
    parser.add_argument("-j", "--jobs", type=int, metavar="N",
                        help="guests at once (and make -j); default $KPATCHKIT_JOBS or the CPU "
                             "count")
    parser.add_argument("--lava-out", metavar="DIR",
                        help="do not boot here: build the kernels and initramfs and write one "
                             "LAVA job per kernel x test group into DIR (kpatchkit/lava)")
    parser.add_argument("--artifact-url", metavar="BASE",
                        help="with --lava-out: the URL DIR will be served at (default file://DIR)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _generated(tree, out_dir: Path) -> list:
    """gen-tests' scenarios for the tree."""
    from kpatchkit.gentests import render_scenarios

    return list(render_scenarios(tree, out_dir))


def _human(report) -> None:
    from kpatchkit.console import info

    kernels = [k.name for k in report.kernels]
    for k in report.kernels:
        info(f"{k.name}: {k.commit[:12]} config {k.config_hash} built in {k.build_seconds:.0f}s"
             f"{' (cached)' if k.build_cached else ''}; {k.outcome}"
             f"{': ' + k.detail if k.detail else ''}; boot {k.boot_seconds}s, VM {k.seconds}s"
             + (f" in {len(k.guests)} guests" if len(k.guests) > 1 else ""))
        if k.reused_from:
            info(f"  results reused from run {k.reused_from.get('run')} "
                 f"({k.reused_from.get('date')}): same image, tests and QEMU options")
        for s in k.splats:
            info(f"  SPLAT {s.kind} in {s.function or '?'} at {s.location or '?'} "
                 f"(test {s.test or '-'}): {s.title}")
    by = {(r.kernel, r.test): r for r in report.results}
    tests = list(dict.fromkeys(r.test for r in report.results))
    width = max([len(t) for t in tests] + [4])
    info(f"{'test':<{width}}  " + "  ".join(f"{k:<8}" for k in kernels) + "  notes")
    for t in tests:
        rs = [by.get((k, t)) for k in kernels]
        notes = []
        for r in rs:
            if r and r.known and r.result != "pass":
                notes.append(f"known: {' '.join(r.known.split())}")
                break
        if any(r and r.preexisting for r in rs):
            notes.append("pre-existing (fails on base too)")
        for r in rs:
            if r and r.faults_per_cow_write is not None:
                notes.append(f"{r.kernel} faults/COW write {r.faults_per_cow_write:g}")
        info(f"{t:<{width}}  " + "  ".join(f"{(r.result if r else '-'):<8}" for r in rs)
             + ("  " + "; ".join(notes) if notes else ""))
    sel = report.selection
    if sel:
        info(f"--tests {sel['mode']}: {len(sel['affected'])} affected by "
             f"{', '.join(sel['files']) or 'no file'} ran first"
             + (f", {len(sel['rest'])} after them" if sel["mode"] == "auto"
                else f"; {len(sel['rest'])} not run"))
    s = report.summary
    info(f"accel {report.accel}; new failures: {', '.join(s.get('new_failures', [])) or 'none'}")


def run(args: argparse.Namespace) -> int:
    """Build, boot, test; exit 0 clean, 1 new failures/splats/panic/hang, 3 no boot."""
    from kpatchkit.cache import cache_dir
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import EXIT_INFRA, InfraError, KpatchkitError
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree(args.tree)
    repo, base, patched = Path(tree.path), tree.head, None
    if args.series:
        from kpatchkit.review.compose import fetch_and_apply

        info("[run] applying the series (apply stage)")
        applied = fetch_and_apply(args.series, tree, msgid=args.msgid)
        if not applied.patched_commit or applied.result not in ("applied", "ported"):
            raise KpatchkitError(f"the series did not apply to {tree.name} "
                                 f"({applied.result}); see 'kpatchkit apply'")
        repo, base, patched = Path(applied.repo), applied.base_commit, applied.patched_commit

    gen_dir = Path(tempfile.mkdtemp(prefix="gen-", dir=cache_dir("runs")))
    generated = [] if args.no_generated else _generated(tree, gen_dir)
    wanted = [t.strip() for t in args.tests.split(",") if t.strip()] if args.tests else None
    mode = wanted[0] if wanted in (["auto"], ["affected"]) else None
    if mode:
        wanted = None
    # "boot" is issue 8's nested-VM claims family (kpatchkit.claims): not a guest test, it runs
    # after the suite on the kernels the suite built.
    boot_family = bool(wanted) and "boot" in wanted
    if boot_family:
        wanted = [n for n in wanted if n != "boot"]
    accel = qemu.detect_accel() if args.accel == "auto" else args.accel
    plan = plan_tests(tree.version, accel, generated, wanted if wanted or boot_family else None)
    for name, why in plan.left_out.items():
        info(f"[run] {name} left out under {accel}: {why}")
    tests, extras, known = plan.tests, plan.extras, plan.known
    selection: dict = {}
    if mode:
        files = affected.changed_files(repo, base, patched) if patched else []
        tests, selection = affected.order(tests, files, extras, mode)
    if args.jobs is not None and args.jobs < 1:
        raise KpatchkitError("--jobs must be at least 1")
    kernels = [KernelSpec("base", repo, base)]
    if patched:
        kernels.append(KernelSpec("patched", repo, patched))
    if args.lava_out:
        from kpatchkit.lava.build import build_matrix

        manifest = build_matrix(tree.name, kernels, tests, Path(args.lava_out),
                                extra_sources=extras, known=known, debug=args.debug,
                                accel=None if args.accel == "auto" else args.accel,
                                kasan=args.kasan, jobs=args.jobs, artifact_url=args.artifact_url,
                                guest_options=plan.options)
        if args.json:
            emit_json(manifest)
        return 0
    elif args.artifact_url:
        raise KpatchkitError("--artifact-url goes with --lava-out")
    report = run_suite(tree.name, kernels, tests, extra_sources=extras,
                       accel=accel, debug=args.debug,
                       kasan=args.kasan, parallel=not args.serial, known=known,
                       guest_options=plan.options,
                       jobs=args.jobs, use_cache=False if args.no_reuse else None)
    report.selection = selection
    report.left_out = plan.left_out
    if boot_family:
        from kpatchkit.claims.family import attach_to_run

        report.boot = attach_to_run(report, repo, base)
        report.claims = report.boot["claims"]
    if args.json:
        emit_json(report)
    _human(report)
    code = exit_code(report)
    if code == EXIT_INFRA:
        bad = [k for k in report.kernels if k.outcome != "ok"]
        raise InfraError("; ".join(f"{k.name} kernel: {k.outcome} ({k.detail})" for k in bad)
                         + "; not the patch's fault, see the console logs")
    return code

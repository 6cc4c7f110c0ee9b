"""``kpatchkit analyze``: locking/RCU analysis of one file, or base vs head of a change."""

from __future__ import annotations

import argparse

from kpatchkit.analyze.api import DEFAULT_FILE


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kpatchkit analyze``."""
    parser.add_argument("--tree", required=True,
                        help="a tree name under kernel_src/ or a path to a kernel git tree")
    parser.add_argument("--file", action="append", dest="files", metavar="PATH",
                        help=f"source file to analyse (repeatable; default {DEFAULT_FILE}, or "
                        "the .c files the change touches)")
    parser.add_argument("--base", help="base revision (differential mode, with --head)")
    parser.add_argument("--head", help="head revision (differential mode, with --base)")
    parser.add_argument("--rev", help="analyse this one revision (default: the tree's head)")
    parser.add_argument("--patch", metavar="SERIES",
                        help="a series (mbox, mail, URL...): apply it with 'kpatchkit apply' "
                        "machinery and analyse base vs patched")
    parser.add_argument("--mode", choices=["auto", "fast", "real"], default="auto",
                        help="fast: generated stub headers (no build); real: the tree's own "
                        "preprocessing after make prepare; auto: fast")
    parser.add_argument("--no-cache", action="store_true", help="ignore cached parses")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 to FILE")


def _print_findings(findings, info) -> None:
    for f in findings:
        status = f"[{f.status}] " if f.status else ""
        info(f"{f.file}:{f.line}: {status}{f.check}: {f.function}(): {f.message}")
        for step in f.trace[-6:]:
            info(f"    line {step.line}: {step.state}{'  ' + step.note if step.note else ''}")


def _print_added(calls, info) -> None:
    if not calls:
        info("no calls added")
        return
    info("calls the change adds, with their lock context:")
    for c in calls:
        ctx = c.context
        extra = []
        if ctx.get("spinlocks"):
            extra.append("spin " + ",".join(ctx["spinlocks"]))
        if ctx.get("preempt_off"):
            extra.append("preempt off")
        if ctx.get("irqs_off"):
            extra.append("irqs off")
        walk = f" in {'/'.join(ctx['walks'])}" if ctx.get("walks") else ""
        call = c.call if c.call == "return" else f"{c.call}()"
        info(f"  {c.line:>5} {c.function}: {call}  mmu_lock={ctx.get('mmu_lock')} "
             f"rcu={ctx.get('rcu')}{' ' + ' '.join(extra) if extra else ''}{walk}  -- {c.note}")


def _patched(args, tree) -> tuple[str, str]:
    """Base and patched commits of --patch via the apply stage (CLI composes stages)."""
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.review.compose import fetch_and_apply

    applied = fetch_and_apply(args.patch, tree)
    if not applied.patched_commit or applied.result not in ("applied", "ported"):
        raise KpatchkitError(f"the series does not apply to {tree.name} ({applied.result}); "
                             "run 'kpatchkit apply' to see why")
    return applied.base_commit, applied.patched_commit


def run(args: argparse.Namespace) -> int:
    """Analyse; exit 1 when the change introduces findings (or a single rev has findings)."""
    import json
    from pathlib import Path

    from kpatchkit.analyze import analyze_diff, analyze_file
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import EXIT_CLEAN, EXIT_FINDINGS, KpatchkitError
    from kpatchkit.sarif import to_sarif
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree(args.tree)
    repo = Path(tree.path)
    if bool(args.base) != bool(args.head):
        raise KpatchkitError("--base and --head go together (or use --patch SERIES)")
    if args.patch and args.base:
        raise KpatchkitError("give either --patch or --base/--head, not both")
    base = head = None
    if args.patch:
        base, head = _patched(args, tree)
    elif args.base:
        from kpatchkit.trees.sources import resolve_revision

        # Branches of a user's repository created after kpatchkit cloned it resolve there.
        base, head = resolve_revision(tree, args.base), resolve_revision(tree, args.head)

    if base:
        diff = analyze_diff(repo, base, head, args.files, args.mode, tree=tree.name)
        findings = diff.findings
        for err in diff.errors:
            info(f"analyze: skipped {err['file']}: {err['error']}")
        _print_findings(findings, info)
        _print_added(diff.added_calls, info)
        info(f"analyze: {diff.counts.get('new', 0)} new, {diff.counts.get('fixed', 0)} fixed, "
             f"{diff.counts.get('unchanged', 0)} unchanged finding(s) in {', '.join(diff.files)}"
             f" ({diff.mode} mode, {diff.seconds:.2f} s)")
        payload = diff.to_json()
        sarif_base, sarif_head = diff.base, diff.head
        code = EXIT_FINDINGS if diff.counts.get("new") else EXIT_CLEAN
    else:
        if args.rev:
            from kpatchkit.trees.sources import resolve_revision

            args.rev = resolve_revision(tree, args.rev)
        results = [analyze_file(repo, f, args.rev, mode=args.mode, use_cache=not args.no_cache)
                   for f in (args.files or [DEFAULT_FILE])]
        findings = [f for r in results for f in r.findings]
        _print_findings(findings, info)
        for r in results:
            info(f"analyze: {len(r.findings)} finding(s) in {r.file} at {r.rev[:12]} "
                 f"({len(r.functions)} functions, {r.mode} mode, {r.seconds:.2f} s"
                 f"{', cached parse' if r.cached else ''})")
        payload = {"tree": tree.name, "files": [r.to_json() for r in results],
                   "findings": [f.to_json() for f in findings]}
        sarif_base, sarif_head = "", results[0].rev if results else ""
        code = EXIT_FINDINGS if findings else EXIT_CLEAN
    if args.sarif:
        Path(args.sarif).write_text(json.dumps(to_sarif(findings, base=sarif_base,
                                                        head=sarif_head), indent=2) + "\n")
        info(f"SARIF written to {args.sarif}")
    if args.json:
        emit_json(payload)
    return code

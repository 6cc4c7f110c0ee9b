"""``kpatchkit apply SERIES --tree NAME [--prereq SERIES]... [--json]``."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments for ``apply``."""
    parser.add_argument("series", metavar="SERIES", nargs="?",
                        help="anything 'kpatchkit fetch' reads (mail, mbox, archive page, URL...)")
    parser.add_argument("--tree", required=True, metavar="NAME",
                        help="a tree under kernel_src/ or a path to a kernel git tree")
    parser.add_argument("--prereq", action="append", default=[], metavar="SERIES",
                        help="a series/patch to apply first (repeatable)")
    parser.add_argument("--msgid", help="pick this thread out of a mailbox")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip compiling the touched objects")
    parser.add_argument("--clean", action="store_true",
                        help="remove kpatchkit's apply worktrees/branches of --tree (about "
                        "1.3 GB each; the next apply recreates them) instead of applying")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _human(applied) -> None:
    from kpatchkit.console import info

    b = applied.base
    info(f"base: {b.commit[:12]} by {b.method} ({'found' if b.found else 'not found'}): "
         f"{b.reason}")
    for c in applied.commits:
        info(f"  {c.sha[:12]} [{c.kind}/{c.method}] {c.subject}")
    for d in applied.drift_rules:
        info(f"drift: {d.old} -> {d.new} ({len(d.edits)} line(s))")
    for m in applied.missing_symbols:
        where = f" ({m.patch_line.patch} line {m.patch_line.line})" if m.patch_line else ""
        info(f"missing in the tree: {m.symbol}{where}")
    if applied.compile:
        c = applied.compile
        info(f"compile: {c.status} {' '.join(c.objects)}"
             + (f" in {c.seconds} s" if c.seconds is not None else "")
             + (" (cached)" if c.cached else "") + (f": {c.note}" if c.note else ""))
        for e in c.errors:
            pl = e.patch_line
            info(f"  {e.file}:{e.line}: {e.message}"
                 + (f" <- {pl.patch} diff line {pl.line}: {pl.text.strip()}" if pl else ""))
    if applied.obsolete:
        o = applied.obsolete
        info(f"obsolete: {o.patch} changes {o.function}() which {applied.tree} "
             f"({applied.tree_version}) does not have"
             + (f"; removed by {o.removed_by}" if o.removed_by else f"; {o.note}"))
    for e in applied.evidence:
        info(f"  [{e.kind}] {e.patch + ': ' if e.patch else ''}{e.text}")
        if e.target_text:
            info("    the tree has:\n" + "\n".join("    " + x for x in e.target_text.split("\n")))
    where = (f"; worktree {applied.worktree} branch {applied.branch}" if applied.worktree
             else "; no worktree needed")
    parts = f" (missing {', '.join(applied.missing_parts)})" if applied.missing_parts else ""
    info(f"result: {applied.result}{parts}{where}")


def run(args: argparse.Namespace) -> int:
    """Load the series, resolve the tree, apply; exit 0 applied/ported+compiled, 1 otherwise."""
    from kpatchkit.apply import apply_series
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import EXIT_CLEAN, EXIT_INFRA, KpatchkitError
    from kpatchkit.fetch import load_series
    from kpatchkit.trees.registry import resolve_tree

    tree = resolve_tree(args.tree)
    if args.clean:
        from kpatchkit.apply.store import clean

        removed = clean(tree)
        if args.json:
            emit_json({"tree": tree.name, "removed": removed})
        info(f"removed {len(removed)} apply worktree(s) of {tree.name}")
        return EXIT_CLEAN
    if not args.series:
        raise KpatchkitError("say which SERIES to apply (or --clean)")
    series = load_series(args.series, msgid=args.msgid, tree_path=tree.path)
    prereqs = [load_series(p, tree_path=tree.path) for p in args.prereq]
    applied = apply_series(series, tree, prereqs=prereqs, compile=not args.no_compile)
    if args.json:
        emit_json(applied)
    _human(applied)
    if applied.compile is not None and applied.compile.status == "error":
        return EXIT_INFRA
    if applied.result == "needs-prereq":
        # exit 2 with the one error line, after the JSON result (machines read both)
        needs = applied.series[-1].split()[0]
        info(f"kpatchkit: error: {needs} needs {', '.join(applied.missing_parts)}, which is "
             "missing (see the evidence above); pass it with --prereq FILE (e.g. its mail)")
    return applied.exit_code

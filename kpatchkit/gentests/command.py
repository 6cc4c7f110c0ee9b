"""``kpatchkit gen-tests``: render the COW-write KVM selftests for a tree (and build them)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``gen-tests``."""
    parser.add_argument("--tree", metavar="NAME",
                        help="tree under kernel_src/ (or a kernel git tree) whose selftest "
                             "library the tests are written for")
    parser.add_argument("--out", metavar="DIR", help="directory for the rendered .c files")
    parser.add_argument("--scenario", action="append", metavar="S", default=None,
                        help="render only this scenario (repeatable; default: all)")
    parser.add_argument("--build", action="store_true",
                        help="also compile them as static binaries in the tree's selftest build")
    parser.add_argument("--patch", metavar="FILE",
                        help="also write the tests as a patch to the tree's selftests (new "
                             "files + Makefile lines), ready for git am")
    parser.add_argument("--list", action="store_true",
                        help="list the scenarios and their expectations, render nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _list(args: argparse.Namespace) -> int:
    from kpatchkit.console import emit_json, info
    from kpatchkit.gentests.render import binary_name, expectations, load_scenarios

    rows = [{"scenario": sid, "name": binary_name(sid), "title": sc["title"],
             "template": sc["template"], "expectations": expectations(sid)}
            for sid, sc in load_scenarios().items()]
    if args.json:
        emit_json({"scenarios": rows})
    for r in rows:
        info(f"{r['scenario']:<22} {r['expectations'].get('kind', ''):<12} {r['title']}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Render (and with --build compile) the scenarios; exit 0, or 2 on bad input."""
    from pathlib import Path

    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError

    if args.list:
        return _list(args)
    if not args.tree or not args.out:
        raise KpatchkitError("gen-tests needs --tree NAME and --out DIR (or --list)")

    from kpatchkit.gentests.probe import probe_tree
    from kpatchkit.gentests.render import render_root, select_scenarios
    from kpatchkit.trees.registry import resolve_tree

    select_scenarios(args.scenario)  # a typo fails before any tree work
    if args.patch and (Path(args.patch).is_dir() or not Path(args.patch).parent.is_dir()):
        raise KpatchkitError(f"--patch {args.patch}: give a file path in an existing directory")
    tree = resolve_tree(args.tree)
    lib = probe_tree(Path(tree.path))
    info(f"[gen-tests] {tree.name} {lib.tree_version}: arch dir {lib.arch_dir}, stats via "
         f"{lib.stats_api}, guest asserts {lib.guest_assert}, ucall init {lib.ucall_init}")
    tests = render_root(Path(tree.path), Path(args.out), args.scenario, lib=lib)
    for t in tests:
        info(f"[gen-tests] {t.c_path}")
    patch = None
    if args.patch:
        from kpatchkit.gentests.render import HEADER
        from kpatchkit.gentests.upstream import upstream_patch

        patch = Path(args.patch)
        patch.write_text(upstream_patch(Path(tree.path), lib, tests, Path(args.out) / HEADER))
        info(f"[gen-tests] {patch}: the tests as a patch to {tree.name}'s selftests "
             "(git am; add your Signed-off-by before sending)")
    binaries: dict[str, Path] = {}
    if args.build:
        from kpatchkit.gentests.build import build_tests

        binaries = build_tests(tree, tests)
        for name, path in binaries.items():
            info(f"[gen-tests] built {name}: {path}")
    if args.json:
        emit_json({"tree": tree.name, "version": lib.tree_version, "library": lib,
                   "out": str(Path(args.out)), "tests": tests,
                   "patch": str(patch) if patch else None,
                   "binaries": {k: str(v) for k, v in binaries.items()}})
    return 0

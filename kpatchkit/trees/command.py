"""``kpatchkit tree add NAME --from SOURCE``, ``kpatchkit tree list`` and ``tree prune``."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments for ``tree``."""
    sub = parser.add_subparsers(dest="tree_command", metavar="ACTION")
    add = sub.add_parser("add", help="add a kernel tree under kernel_src/NAME",
                         description="Add a kernel tree from a kernel tarball (e.g. Debian's "
                         "/usr/src/linux-source-6.1.tar.xz), a local git repository (never "
                         "modified) or a git URL. The tree lives in the cache; kernel_src/NAME "
                         "links to it.")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--from", dest="source", required=True, metavar="SOURCE")
    add.add_argument("--force", action="store_true", help="re-point an existing NAME")
    add.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    prune = sub.add_parser("prune", help="remove cached clones of repositories that are gone",
                           description="Remove kpatchkit's cached trees, applies and build "
                           "directories whose source git repository no longer exists (they can "
                           "never be used again). Your repositories are never touched.")
    prune.add_argument("--dry-run", action="store_true", help="only list what would go")
    prune.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    lst = sub.add_parser("list", help="list the trees under kernel_src/")
    lst.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _row(tree) -> dict:
    return {"name": tree.name, "version": tree.version, "kind": tree.kind, "head": tree.head,
            "path": str(tree.path), "origin": tree.origin}


def run(args: argparse.Namespace) -> int:
    """Dispatch ``tree add`` / ``tree list`` / ``tree prune``."""
    import time

    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.trees import registry

    if args.tree_command == "add":
        t0 = time.monotonic()
        tree = registry.add_tree(args.name, args.source, force=args.force)
        seconds = round(time.monotonic() - t0, 2)
        if args.json:
            emit_json({**_row(tree), "link": str(registry.kernel_src_dir() / tree.name),
                       "seconds": seconds})
        info(f"kernel_src/{tree.name} -> {tree.path} ({tree.kind} {tree.version}, "
             f"head {tree.head[:12]}, {seconds} s)")
        return 0
    if args.tree_command == "prune":
        from kpatchkit.prune import prune_orphans

        gone = prune_orphans(dry_run=args.dry_run)
        if args.json:
            emit_json({"removed": gone.paths, "bytes_freed": gone.bytes_freed,
                       "dry_run": args.dry_run})
        verb = "would remove" if args.dry_run else "removed"
        for p in gone.paths:
            info(f"{verb} {p}")
        info(f"{verb} {len(gone.paths)} entr{'y' if len(gone.paths) == 1 else 'ies'}, "
             f"{gone.bytes_freed / 1e9:.1f} GB")
        return 0
    if args.tree_command == "list":
        trees = registry.list_trees()
        if args.json:
            emit_json({"kernel_src": str(registry.kernel_src_dir()),
                       "trees": [_row(t) for t in trees]})
        else:
            for t in trees:
                info(f"{t.name:12} {t.version:12} {t.kind:10} {t.head[:12]:12} {t.path}")
            if not trees:
                info("no trees yet; add one with 'kpatchkit tree add deb61 --from "
                     "/usr/src/linux-source-6.1.tar.xz'")
        return 0
    raise KpatchkitError("say 'kpatchkit tree add NAME --from SOURCE', 'kpatchkit tree list' "
                         "or 'kpatchkit tree prune'")

"""``kpatchkit fetch SOURCE [--msgid ID] [--tree T] [--json] [-o DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add fetch's arguments."""
    parser.add_argument("source", metavar="SOURCE",
                        help="mail (.eml/.patch), mbox/mboxrd, maildir, folder of patches, "
                             "web-archive text, public-inbox git mirror (path or URL), "
                             "lore-style http(s) base URL, or a Message-ID")
    parser.add_argument("--msgid", help="Message-ID to select the thread (needed with a base URL)")
    parser.add_argument("--tree", help="kernel tree (name under kernel_src/ or path) used to "
                                       "re-derive context lines of whitespace-damaged patches")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="write DIR/series.mbox (git am input) and DIR/series.json")


def _tree_path(spec: str | None) -> Path | None:
    from kpatchkit.errors import KpatchkitError

    if not spec:
        return None
    path = Path(spec).expanduser()
    if path.is_dir():
        return path  # any kernel source directory: fetch only reads files from it
    if "/" in spec and not path.exists():
        raise KpatchkitError(f"--tree {spec}: no such directory")
    from kpatchkit.trees.registry import resolve_tree

    try:
        return Path(resolve_tree(spec).path)
    except KpatchkitError as exc:
        raise KpatchkitError(f"--tree {spec}: {exc.message}") from exc


def run(args: argparse.Namespace) -> int:
    """Fetch, assemble, repair; print a summary (or JSON) and write outputs."""
    from kpatchkit import atomic, console
    from kpatchkit.errors import UserError
    from kpatchkit.fetch import load_series, series_mbox

    series = load_series(args.source, msgid=args.msgid, tree_path=_tree_path(args.tree))
    outputs = {}
    if args.output:
        out = Path(args.output)
        # everything rendered first: a failure or a signal while writing leaves no half file
        files = {"mbox": (out / "series.mbox", series_mbox(series.patches)),
                 "json": (out / "series.json", console.dumps({"series": series}) + "\n")}
        if out.exists() and not out.is_dir():
            raise UserError(f"-o {out}: not a directory (fetch writes series.mbox and "
                            "series.json into DIR)")
        try:
            out.mkdir(parents=True, exist_ok=True)
            for key, (path, text) in files.items():
                atomic.write_text(path, text)
                outputs[key] = str(path)
        except OSError as exc:
            raise atomic.os_error(exc, f"-o {out}") from exc
    if args.json:
        console.emit_json({"series": series, "outputs": outputs})
    for w in series.warnings:
        console.info(f"warning: {w}")
    console.info(f"v{series.version}, {len(series.patches)} of {series.total} patch(es) "
                 f"from {series.source_kind}; cover: {'yes' if series.cover else 'no'}; "
                 f"replies: {len(series.replies)}; missing: {series.missing or 'none'}")
    for p in series.patches:
        flag = " [whitespace repaired]" if p.repaired else ""
        console.info(f"  {p.index}/{p.total} {p.subject} (+{p.insertions}/-{p.deletions}){flag}")
    for k, v in outputs.items():
        console.info(f"wrote {k}: {v}")
    return 0

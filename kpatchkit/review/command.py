"""`kpatchkit review SOURCE --tree NAME`: the whole review, from a patch to a verdict.

Exit codes CI can gate on: 0 clean, 1 findings or test failures introduced by the patch (or the
patch is obsolete on the tree), 2 bad input, 3 infrastructure failure. The report files are
written in every case, so a CI job always has something to show.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the review arguments."""
    parser.add_argument("source", metavar="SOURCE",
                        help="the series: mail, mbox, maildir, folder, archive page, URL, ...")
    parser.add_argument("--tree", required=True, metavar="NAME",
                        help="kernel tree under kernel_src/ (see 'kpatchkit tree add') or a path")
    parser.add_argument("-o", "--out", metavar="DIR",
                        help="run directory for the report files (default reports/<run id>)")
    parser.add_argument("--msgid", help="pick this series out of a thread/mbox")
    parser.add_argument("--prereq", action="append", default=[], metavar="SERIES",
                        help="a series to apply first (repeatable)")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        help="generate only these scenarios (repeatable; default all)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["analyze", "gen-tests", "run"],
                        help="leave out a stage (repeatable); its part of the report is empty")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not reuse stored stage results (the stages' own caches stay)")
    parser.add_argument("-j", "--jobs", type=int,
                        default=int(os.environ.get("KPATCHKIT_JOBS", "2") or 2),
                        help="parallel jobs for builds and guests (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Run the review and print where the report is."""
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.report.kcidb import summary
    from kpatchkit.review.pipeline import Review, ReviewOptions

    if args.jobs < 1:
        raise KpatchkitError("--jobs must be at least 1")
    review = Review(ReviewOptions(
        source=args.source, tree=args.tree,
        out_dir=Path(args.out or "reports/pending"), msgid=args.msgid, prereqs=args.prereq,
        scenarios=args.scenario, jobs=args.jobs, skip=set(args.skip),
        use_cache=not args.no_cache))
    if not args.out:
        review.opts.out_dir = Path("reports") / review.result.run_id
        review.store.__init__(review.opts.out_dir, use_cache=not args.no_cache)
    result = review.run()
    v = result.verdict
    report = review.opts.out_dir / "report.html"
    if args.json:
        emit_json({"out_dir": str(review.opts.out_dir), "report": str(report), **summary(result)})
    info(f"verdict: {v.status} (exit {v.exit_code}): {v.headline}")
    for reason in v.reasons:
        info(f"  - {reason}")
    info(f"report: {report}")
    return v.exit_code

"""`kpatchkit review SOURCE --tree NAME`: the whole review, from a patch to a verdict.

Exit codes CI can gate on: 0 clean (or already applied), 1 findings or test failures introduced
by the patch (or it does not apply: not-applicable, conflict), 2 bad input (or an earlier part of
the series is missing: needs-prereq), 3 infrastructure failure. The report files are written in
every case, so a CI job always has something to show.
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
    parser.add_argument("--expect", action="append", default=[], metavar="SCENARIO=VALUE",
                        help="the patch's own claim: faults per COW write on the patched kernel "
                             "(e.g. cow_anon_thp_off=1.0 or cow_fork='<=1.05'; repeatable). "
                             "Without it a scenario is a claim only for the reference series, "
                             "else a regression check against base")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["analyze", "gen-tests", "run"],
                        help="leave out a stage (repeatable); its part of the report is empty")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not reuse stored stage results nor earlier runs' kernel test "
                             "results (builds and trees stay cached)")
    parser.add_argument("--tests", choices=["all", "auto", "affected"], default="all",
                        help="upstream tests: all (default); auto runs those the patch's files "
                             "are known to affect first (run/data/affected.toml); affected "
                             "runs only those")
    parser.add_argument("-j", "--jobs", type=int,
                        default=int(os.environ.get("KPATCHKIT_JOBS", "2") or 2),
                        help="parallel jobs for builds and guests (default 2)")
    parser.add_argument("--lava-out", metavar="DIR",
                        help="write the run stage as LAVA jobs into DIR instead of booting here "
                             "(then 'kpatchkit report RUN_DIR --from-lava FILE...')")
    parser.add_argument("--artifact-url", metavar="BASE",
                        help="with --lava-out: the URL DIR will be served at (default file://DIR)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def check_expect(items: list[str], scenarios: list[str] | None = None) -> dict[str, str]:
    """``--expect`` values as {scenario: VALUE}; bad syntax or an unknown scenario is exit 2."""
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.report.judge import parse_expect
    from kpatchkit.review import stages

    parse_expect(items)  # syntax first: one error line naming the bad item
    expect = {k.strip(): v.strip() for k, _, v in (i.partition("=") for i in items)}
    if expect:
        stages.scenario_ids(list(expect))  # raises naming the unknown ones and the known ones
    if scenarios:
        left_out = [k for k in expect if k not in scenarios]
        if left_out:
            raise KpatchkitError(f"--expect {', '.join(left_out)}: not among the --scenario "
                                 "list, so it would not run")
    return expect


def run(args: argparse.Namespace) -> int:
    """Run the review and print where the report is."""
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.report.kcidb import summary
    from kpatchkit.review.pipeline import Review, ReviewOptions

    if args.jobs < 1:
        raise KpatchkitError("--jobs must be at least 1")
    expect = check_expect(args.expect, args.scenario)
    review = Review(ReviewOptions(
        source=args.source, tree=args.tree,
        out_dir=Path(args.out or "reports/pending"), msgid=args.msgid, prereqs=args.prereq,
        scenarios=args.scenario, jobs=args.jobs, skip=set(args.skip),
        use_cache=not args.no_cache, expect=expect,
        lava_out=Path(args.lava_out) if args.lava_out else None, artifact_url=args.artifact_url,
        tests=args.tests))
    if args.artifact_url and not args.lava_out:
        raise KpatchkitError("--artifact-url goes with --lava-out")
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

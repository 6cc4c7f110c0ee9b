"""`kpatchkit report RUN_DIR`: (re-)render a review's report files from its review.json."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the report arguments."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a review's output directory (holding review.json), or the file")
    parser.add_argument("-o", "--out", metavar="DIR",
                        help="write the files here instead of RUN_DIR")
    parser.add_argument("--expect", action="append", default=[], metavar="SCENARIO=VALUE",
                        help="judge with the patch's own claim instead of the review's "
                             "(faults per COW write on the patched kernel; repeatable)")
    parser.add_argument("--from-lava", action="append", default=[], metavar="FILE",
                        help="the run's results from LAVA instead of a local run: a job's "
                             "results export or its log (repeatable; kpatchkit/lava/results.py)")
    parser.add_argument("--lava-jobs", metavar="DIR",
                        help="the --lava-out directory of those jobs (default: the review's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    """Render report.html, junit.xml, findings.sarif, results.json and summary.txt."""
    import json

    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.report.judge import finalize
    from kpatchkit.report.kcidb import summary
    from kpatchkit.report.write import REVIEW_JSON, load_review, write_reports

    src = Path(args.run_dir)
    path = src / REVIEW_JSON if src.is_dir() else src
    if not path.is_file():
        raise KpatchkitError(f"{path} not found; give a directory written by 'kpatchkit review'")
    try:
        result = load_review(path)
    except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError) as exc:
        raise KpatchkitError(f"{path} is not a kpatchkit review record ({exc})") from exc
    if args.expect:
        from kpatchkit.review.command import check_expect

        result.expect = check_expect(args.expect)
    if args.from_lava:
        from kpatchkit.lava.report import attach

        attach(result, args.from_lava, args.lava_jobs)
    finalize(result)
    out = Path(args.out) if args.out else path.parent
    # re-rendering never rewrites its input: review.json is written only into another -o, or
    # when LAVA's results complete the record (then the record itself is what changed)
    same = out.resolve() == path.parent.resolve() if out.exists() else False
    paths = write_reports(result, out,
                          write_review=not same or bool(getattr(args, "from_lava", None)))
    if args.json:
        emit_json({"files": {k: str(v) for k, v in paths.items()}, **summary(result)})
    else:
        info(f"verdict: {result.verdict.status} ({result.verdict.headline})")
        info(f"report: {paths['report.html']}")
    return result.verdict.exit_code

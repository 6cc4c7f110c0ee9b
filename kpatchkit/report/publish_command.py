"""`kpatchkit publish REPORTS_DIR`: a static index.html over every review run found below it.

The site is plain files with relative links (any web server or CI artifact viewer hosts it as
is): the index lists each run with its verdict, series and date, and draws the trend of TDP
faults per COW write across runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the publish arguments."""
    parser.add_argument("reports", metavar="REPORTS_DIR", help="directory holding review runs")
    parser.add_argument("-o", "--out", metavar="FILE",
                        help="index file to write (default REPORTS_DIR/index.html)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


def collect_runs(root: Path) -> list[dict[str, Any]]:
    """Every run under ``root`` (a dir with review.json and report.html), newest first."""
    from kpatchkit.report.write import REVIEW_JSON, load_review

    runs = []
    for path in sorted(root.rglob(REVIEW_JSON)):
        try:
            r = load_review(path)
        except (ValueError, TypeError, KeyError, OSError):
            continue  # not ours, or half-written: skip rather than fail the whole site
        claims = [s for s in r.scenarios if s.is_claim]
        base, patched = _mean([s.base for s in claims]), _mean([s.patched for s in claims])
        runs.append({
            "name": str(path.parent.relative_to(root)) if path.parent != root else root.name,
            "href": (path.parent / "report.html").relative_to(root).as_posix(),
            "date": r.created.replace("T", " ")[:16],
            "created": r.created,
            "verdict": r.verdict.status,
            "claim": r.verdict.claim,
            "series": r.series.title,
            "tree": f"{r.tree.get('name', '?')} ({r.tree.get('version', '?')})",
            "base": base, "patched": patched,
            "fpcw": "–" if base is None and patched is None else
                    f"{'–' if base is None else f'{base:.2f}'} → "
                    f"{'–' if patched is None else f'{patched:.2f}'}",
        })
    runs.sort(key=lambda x: x["created"], reverse=True)
    return runs


def publish(root: Path, out: Path | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Write the index page; return its path and the runs listed."""
    from kpatchkit.report.chart import TrendPoint, trend_chart
    from kpatchkit.report.html import render_index
    from kpatchkit.report.write import _atomic_write

    runs = collect_runs(root)
    points = [TrendPoint(label=f"{r['name']} {r['date'][:10]}", base=r["base"],
                         patched=r["patched"]) for r in reversed(runs)]
    out = out or root / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, render_index(runs, trend_chart(points)))
    return out, runs


def run(args: argparse.Namespace) -> int:
    """Publish the index."""
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError

    root = Path(args.reports)
    if not root.is_dir():
        raise KpatchkitError(f"{root} is not a directory; give the folder review runs write into")
    out, runs = publish(root, Path(args.out) if args.out else None)
    if args.json:
        emit_json({"index": str(out), "runs": [
            {k: r[k] for k in ("name", "href", "created", "verdict", "claim", "series",
                               "base", "patched")} for r in runs]})
    else:
        info(f"{len(runs)} run(s) listed in {out}")
    return 0

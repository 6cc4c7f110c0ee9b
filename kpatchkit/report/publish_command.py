"""`kpatchkit publish REPORTS_DIR`: a static index.html over every review run found below it.

The site is plain files with relative links (any web server or CI artifact viewer hosts it as
is): the index lists each run with its verdict, series and date, and draws the trend of TDP
faults per COW write across runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kpatchkit.report.sanitize import number


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the publish arguments."""
    parser.add_argument("reports", metavar="REPORTS_DIR", help="directory holding review runs")
    parser.add_argument("-o", "--out", metavar="FILE",
                        help="index file to write (default REPORTS_DIR/index.html)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in (number(x) for x in values) if v is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


def _run_row(root: Path, path: Path) -> dict[str, Any]:
    """The index row of one run (raises on a record that is not one)."""
    from kpatchkit.report.write import load_review

    r = load_review(path)
    claims = [s for s in r.scenarios if s.is_claim]
    base, patched = _mean([s.base for s in claims]), _mean([s.patched for s in claims])
    created = str(r.created or "")
    return {
        "name": str(path.parent.relative_to(root)) if path.parent != root else root.name,
        "href": (path.parent / "report.html").relative_to(root).as_posix(),
        "date": created.replace("T", " ")[:16],
        "created": created,
        "verdict": str(r.verdict.status),
        "claim": str(r.verdict.claim),
        "series": str(r.series.title),
        "tree": f"{r.tree.name} ({r.tree.version})" if r.tree is not None else "? (?)",
        "base": base, "patched": patched,
        "fpcw": "–" if base is None and patched is None else
                f"{'–' if base is None else f'{base:.2f}'} → "
                f"{'–' if patched is None else f'{patched:.2f}'}",
    }


def collect_runs(root: Path, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Every run under ``root`` (a dir with review.json and report.html), newest first.

    A run that cannot be read (half-written, hand-edited, another tool's file) is skipped with
    a warning in ``warnings``: one bad run never costs the site.
    """
    from kpatchkit.report.write import REVIEW_JSON

    runs = []
    for path in sorted(root.rglob(REVIEW_JSON)):
        try:
            runs.append(_run_row(root, path))
        except Exception as exc:  # noqa: BLE001 - per-run isolation, said in the warnings
            if warnings is not None:
                warnings.append(f"{path.relative_to(root)}: skipped ({type(exc).__name__}: "
                                f"{str(exc)[:160]})")
    runs.sort(key=lambda x: x["created"], reverse=True)
    return runs


def publish(root: Path, out: Path | None = None,
            warnings: list[str] | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Write the index page; return its path and the runs listed."""
    from kpatchkit.report.chart import TrendPoint, trend_chart
    from kpatchkit.report.html import render_index
    from kpatchkit.report.write import write_report_file

    warnings = [] if warnings is None else warnings
    runs = collect_runs(root, warnings)
    points = [TrendPoint(label=f"{r['name']} {r['date'][:10]}", base=r["base"],
                         patched=r["patched"]) for r in reversed(runs)]
    out = out or root / "index.html"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from kpatchkit import atomic

        raise atomic.os_error(exc, out.parent, "cannot create the index's directory") from exc
    write_report_file(out, render_index(runs, trend_chart(points), warnings))
    return out, runs


def run(args: argparse.Namespace) -> int:
    """Publish the index."""
    from kpatchkit.console import emit_json, info
    from kpatchkit.errors import KpatchkitError

    root = Path(args.reports)
    if not root.is_dir():
        raise KpatchkitError(f"{root} is not a directory; give the folder review runs write into")
    warnings: list[str] = []
    out, runs = publish(root, Path(args.out) if args.out else None, warnings)
    for w in warnings:
        info(f"publish: {w}")
    if args.json:
        emit_json({"index": str(out), "warnings": warnings, "runs": [
            {k: r[k] for k in ("name", "href", "created", "verdict", "claim", "series",
                               "base", "patched")} for r in runs]})
    else:
        info(f"{len(runs)} run(s) listed in {out}")
    return 0

"""Write a review's report files into its run directory."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from kpatchkit.console import dumps
from kpatchkit.errors import InfraError
from kpatchkit.records.review import ReviewResult
from kpatchkit.report.html import render_report
from kpatchkit.report.junit import render_junit
from kpatchkit.report.kcidb import PATCH_DIR, build_results
from kpatchkit.report.sarif import build_sarif
from kpatchkit.report.summary import render_summary

REVIEW_JSON = "review.json"  # the ReviewResult itself: what `kpatchkit report` re-renders
FILES = ("report.html", "junit.xml", "findings.sarif", "results.json", "summary.txt")


def _atomic_write(path: Path, text: str) -> None:
    # A CI artifact viewer polling the directory never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # reports are published: readable by the web server, like any file
    os.replace(tmp, path)


def write_reports(result: ReviewResult, out_dir: Path,
                  patch_diffs: list[str] | None = None) -> dict[str, Path]:
    """Render all report files into ``out_dir``; return {file name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    renderers: dict[str, Callable[[], str]] = {
        REVIEW_JSON: lambda: dumps(result) + "\n",
        "results.json": lambda: dumps(build_results(result, patch_diffs=patch_diffs,
                                                    patch_dir=out_dir / PATCH_DIR)) + "\n",
        "junit.xml": lambda: render_junit(result),
        "findings.sarif": lambda: json.dumps(build_sarif(result), indent=2) + "\n",
        "summary.txt": lambda: render_summary(result),
        "report.html": lambda: render_report(result),
    }
    paths, broken = {}, []
    for name, render in renderers.items():
        try:
            text = render()
        except Exception as exc:  # noqa: BLE001 - one broken renderer must not cost the others
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        path = out_dir / name
        _atomic_write(path, text)
        paths[name] = path
    if broken:
        raise InfraError("could not render " + "; ".join(broken) + " (the other report files "
                         f"are in {out_dir}; 'kpatchkit report {out_dir}' re-renders)")
    return paths


def load_review(run_dir: Path) -> ReviewResult:
    """Read a run directory's review.json back into a ReviewResult."""
    path = run_dir / REVIEW_JSON if run_dir.is_dir() else run_dir
    return ReviewResult.from_json(json.loads(path.read_text()))

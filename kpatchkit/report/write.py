"""Write a review's report files into its run directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpatchkit import atomic
from kpatchkit.console import dumps, info
from kpatchkit.errors import InternalError, UserError
from kpatchkit.records.review import ReviewResult
from kpatchkit.report.html import render_report
from kpatchkit.report.junit import render_junit
from kpatchkit.report.kcidb import PATCH_DIR, build_results
from kpatchkit.report.sanitize import finite
from kpatchkit.report.sarif import build_sarif
from kpatchkit.report.summary import render_summary

REVIEW_JSON = "review.json"  # the ReviewResult itself: what `kpatchkit report` re-renders
FILES = ("report.html", "junit.xml", "findings.sarif", "results.json", "summary.txt")


def _json(obj: Any, what: str, notes: list[str], *, nul: bool = False) -> str:
    """JSON text of a record with non-finite numbers as null (strict JSON; a note says where);
    ``nul`` drops NUL characters from strings too."""
    plain = json.loads(dumps(obj, indent=None))  # records to plain data; NaN read back as nan
    clean, found = finite(plain, nul=nul)
    notes += [f"{what}: {n}" for n in found]
    return json.dumps(clean, indent=2, allow_nan=False) + "\n"


def write_report_file(path: Path, text: str) -> None:
    """Write one report file atomically (a CI viewer polling the directory never sees half a
    file; a signal leaves none); a disk's failure is exit 3, a bad path exit 2."""
    try:
        # a lone surrogate (from a mail decoded with surrogateescape) cannot be UTF-8: replace it
        atomic.write_bytes(path, text.encode("utf-8", "replace"))
    except OSError as exc:
        raise atomic.os_error(exc, path) from exc


def write_reports(result: ReviewResult, out_dir: Path,
                  patch_diffs: list[str] | None = None, *,
                  write_review: bool = True) -> dict[str, Path]:
    """Render all report files into ``out_dir``; return {file name: path}.

    ``write_review=False`` leaves review.json alone (re-rendering must not rewrite its input).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise atomic.os_error(exc, out_dir, "cannot create the report directory") from exc
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory: give a directory for the report files")
    notes: list[str] = []
    renderers: dict[str, Callable[[], str]] = {
        REVIEW_JSON: lambda: _json(result, REVIEW_JSON, notes),
        "results.json": lambda: _json(build_results(result, patch_diffs=patch_diffs,
                                                    patch_dir=out_dir / PATCH_DIR),
                                      "results.json", notes, nul=True),
        "junit.xml": lambda: render_junit(result),
        "findings.sarif": lambda: _json(build_sarif(result), "findings.sarif", notes),
        "summary.txt": lambda: render_summary(result),
        "report.html": lambda: render_report(result),
    }
    if not write_review:
        del renderers[REVIEW_JSON]
    paths, broken = {}, []
    for name, render in renderers.items():
        try:
            text = render()
        except Exception as exc:  # noqa: BLE001 - one broken renderer must not cost the others
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        path = out_dir / name
        write_report_file(path, text)
        paths[name] = path
    for note in dict.fromkeys(notes):
        info(f"report: {note}")
    if broken:
        raise InternalError("could not render " + "; ".join(broken) + " (the other report "
                            f"files are in {out_dir}; 'kpatchkit report {out_dir}' re-renders)")
    return paths


def load_review(run_dir: Path) -> ReviewResult:
    """Read a run directory's review.json back into a ReviewResult."""
    path = run_dir / REVIEW_JSON if run_dir.is_dir() else run_dir
    return ReviewResult.from_json(json.loads(path.read_text()))

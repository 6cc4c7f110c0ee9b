"""Golden files for the text outputs: summary.txt and junit.xml of the sample review.

Regenerate after an intended change with KPATCHKIT_REGEN=1 and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from report_samples import make_review, make_stopped

from kpatchkit.report.judge import finalize
from kpatchkit.report.junit import render_junit
from kpatchkit.report.summary import render_summary

GOLDEN = Path(__file__).with_name("golden")
RENDER = {
    "summary-clean.txt": lambda: render_summary(finalize(make_review())),
    "summary-findings.txt": lambda: render_summary(finalize(make_review(new_findings=1,
                                                                       patched_fpcw=2.0))),
    "junit-clean.xml": lambda: render_junit(finalize(make_review())),
    # Another series than the reference: the scenarios are regression checks, no claim.
    "summary-no-claim.txt": lambda: render_summary(finalize(make_review(reference=False))),
    "junit-no-claim.xml": lambda: render_junit(finalize(make_review(reference=False))),
    "summary-already-applied.txt": lambda: render_summary(finalize(make_stopped(
        "already-applied"))),
    "junit-conflict.xml": lambda: render_junit(finalize(make_stopped("conflict"))),
}


@pytest.mark.parametrize("name", RENDER)
def test_golden(name: str) -> None:
    text = RENDER[name]()
    path = GOLDEN / name
    if os.environ.get("KPATCHKIT_REGEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; KPATCHKIT_REGEN=1 to accept"

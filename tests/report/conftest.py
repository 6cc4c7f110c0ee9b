"""Fixtures for the report tests."""

from __future__ import annotations

import pytest
from report_samples import make_review

from kpatchkit.records.review import ReviewResult


@pytest.fixture
def review() -> ReviewResult:
    """A finalized seed-shaped review (claim reproduced, no new findings)."""
    from kpatchkit.report.judge import finalize

    return finalize(make_review())

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


def kcidb_errors(doc: dict) -> list[str]:
    """Every error of ``doc`` against the KCIDB I/O schema it declares (kcidb-io's own)."""
    import jsonschema

    kcidb_io = pytest.importorskip("kcidb_io", reason="pip install kcidb-io (test extra)")
    version = kcidb_io.schema.LATEST.get_exactly_compatible(doc)
    assert version is not None, f"kcidb-io knows no schema version {doc.get('version')}"
    validator = jsonschema.Draft7Validator(
        version.json, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(doc)]
    if not errors:
        kcidb_io.schema.LATEST.validate(doc)  # and the package's own entry point agrees
    return errors


@pytest.fixture(autouse=True)
def _every_results_json_is_kcidb(monkeypatch):
    """Whatever a report test writes as results.json must validate with kcidb-io."""
    from pathlib import Path

    from kpatchkit.report import write

    real = write.write_report_file
    checked: list[Path] = []

    def checking(path: Path, text: str) -> None:
        if Path(path).name == "results.json":
            import json

            errors = kcidb_errors(json.loads(text))
            assert not errors, f"{path} is not valid KCIDB:\n" + "\n".join(errors)
            checked.append(Path(path))
        real(path, text)

    monkeypatch.setattr(write, "write_report_file", checking)
    yield checked

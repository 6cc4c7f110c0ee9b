"""review.json is the typed ReviewResult at its edge: a schema 1 file (the JSON before the stage
records were typed) reads as schema 2 and renders as it did, the stage records come back as
records, and a renamed or missing key is an error, never an empty cell in a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_samples import make_review

from kpatchkit.cli import main
from kpatchkit.errors import InternalError
from kpatchkit.records.applied import Applied, BaseResolution, CommitInfo, Evidence
from kpatchkit.records.findings import CallContext
from kpatchkit.records.gentests import GeneratedTest
from kpatchkit.records.results import KernelRun
from kpatchkit.records.results import TestResult as Result  # not a test class for pytest
from kpatchkit.records.review import (
    SCHEMA_VERSION,
    ClaimBasis,
    ReviewAnalysis,
    ReviewResult,
    ReviewRun,
)
from kpatchkit.records.tree import TreeInfo
from kpatchkit.report.judge import finalize
from kpatchkit.report.write import write_reports

# A review.json that kpatchkit wrote at schema 1 (the reference series on deb61), trimmed to
# two scenarios and four tests per kernel; its shape is as written.
OLD = Path(__file__).with_name("data") / "review-schema1.json"


def _old() -> dict:
    return json.loads(OLD.read_text())


def test_a_schema_1_review_reads_as_typed_records() -> None:
    data = _old()
    assert data["schema"] == 1
    r = ReviewResult.from_json(data)
    assert r.schema == SCHEMA_VERSION == 2
    assert isinstance(r.tree, TreeInfo) and isinstance(r.tree.path, Path)
    assert isinstance(r.applied, Applied) and isinstance(r.applied.base, BaseResolution)
    assert all(isinstance(c, CommitInfo) for c in r.applied.commits)
    assert all(isinstance(e, Evidence) for e in r.applied.evidence)
    assert isinstance(r.analysis, ReviewAnalysis)
    assert all(isinstance(c, CallContext) for c in r.analysis.added_calls)
    assert r.analysis.added_calls[0].lock().mmu_lock == "write"
    assert all(isinstance(t, GeneratedTest) and isinstance(t.c_path, Path) for t in r.tests)
    assert isinstance(r.run, ReviewRun) and r.run.engine is None
    assert all(isinstance(k, KernelRun) for k in r.run.kernels)
    assert all(isinstance(x, Result) for x in r.run.results)
    assert r.run.kernels[0].reuse().run == "anyp"
    assert isinstance(r.claim_basis, ClaimBasis) and r.claim_basis.kind == "reference"
    assert r.applied.commits[0].ported_hunks()[0].method == "function-delete"


def test_schema_2_is_the_same_json() -> None:
    """Typing the stage records changed no key: the record writes back what it read."""
    data = _old()
    # Keys added since, each with its empty default (additive: old readers ignore them).
    added = {"run": {**data["run"], "left_out": {}}}
    assert ReviewResult.from_json(data).to_json() == {**data, **added, "schema": 2}


def test_a_schema_1_review_renders_with_today_s_report(tmp_path, capsys) -> None:
    assert main(["report", str(OLD), "-o", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "clean" and out["claim"] == "reproduced"
    assert json.loads((tmp_path / "review.json").read_text())["schema"] == 2
    summary = (tmp_path / "summary.txt").read_text()
    assert "reused from run anyp" in " ".join(summary.split())
    html = (tmp_path / "report.html").read_text()
    assert "hunk 1: arch/x86/kvm/mmu/tdp_mmu.c hunk 1: re-anchored (function-delete" in html


def test_a_newer_schema_is_refused(tmp_path, capsys) -> None:
    data = _old()
    data["schema"] = 99
    path = tmp_path / "review.json"
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a kpatchkit review record" in err and "schema 99" in err


def _rename(data: dict, where: str, key: str) -> None:
    node = data
    for part in where.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[key + "_renamed"] = node.pop(key)


@pytest.mark.parametrize("where, key", [
    ("applied", "base_commit"), ("applied.base", "method"), ("applied.evidence.0", "text"),
    ("analysis", "head"), ("analysis.added_calls.0", "call"), ("tests.0", "scenario"),
    ("run", "accel"), ("run.kernels.1", "config_hash"), ("run.results.0", "result"),
    ("tree", "head"), ("stages.0", "name"),
])
def test_a_renamed_key_in_a_stage_record_is_not_read_as_empty(tmp_path, capsys, where,
                                                              key) -> None:
    data = _old()
    _rename(data, where, key)
    with pytest.raises(TypeError, match=key):
        ReviewResult.from_json(data)
    path = tmp_path / "review.json"
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["report", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a kpatchkit review record" in err[0], err
    assert not (tmp_path / "out").exists()  # nothing rendered from a half-read record


@pytest.mark.parametrize("field, value", [
    ("reused_from", {"run_id": "run-A", "key": "k1"}),  # "run" renamed
    ("context", {"mmu": "write", "rcu": 1}),  # an added call's lock context
])
def test_a_renamed_key_in_a_free_form_field_fails_the_render(tmp_path, field, value) -> None:
    """The fields a stage keeps as plain JSON are read through records too: a renamed key is a
    failed render naming the file, not 'reused from run ?' or 'no mmu_lock' in the report."""
    r = finalize(make_review())
    if field == "reused_from":
        r.run.kernels[0].reused_from = value
    else:
        r.analysis.added_calls[0].context = value
    with pytest.raises(InternalError, match="report.html: TypeError") as err:
        write_reports(r, tmp_path)
    # summary.txt says where results were reused from, but only counts the added calls
    assert ("summary.txt: TypeError" in str(err.value)) is (field == "reused_from")
    assert not (tmp_path / "report.html").exists()

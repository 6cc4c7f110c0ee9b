"""results.json is a KCIDB submission: it validates with kcidb-io (the schema KCIDB itself
publishes), patch files have real URLs, test paths are dotted, kpatchkit's data is under misc."""

from __future__ import annotations

import json

import pytest
from conftest import kcidb_errors
from report_samples import make_review, make_stopped

from kpatchkit.records.review import PatchInfo
from kpatchkit.report.judge import finalize
from kpatchkit.report.kcidb import (
    KCIDB_VERSION,
    build_results,
    kcidb_path,
    kpatchkit_summary,
    patch_file_name,
)
from kpatchkit.report.write import write_reports

kcidb_io = pytest.importorskip("kcidb_io", reason="pip install kcidb-io (test extra)")

VARIANTS = {
    "clean": lambda: make_review(),
    "findings": lambda: make_review(new_findings=3),
    "regression": lambda: make_review(patched_fpcw=2.0),
    "hostile": lambda: make_review(subject="<script>alert(1)</script> & ]]>"),
    "not-applicable": lambda: make_stopped("not-applicable", obsolete=True),
    "conflict": lambda: make_stopped("conflict"),
    "needs-prereq": lambda: make_stopped("needs-prereq"),
}


def test_pinned_version_is_what_kcidb_io_publishes() -> None:
    schema = kcidb_io.schema.V5_3
    assert (KCIDB_VERSION["major"], KCIDB_VERSION["minor"]) == (schema.major, schema.minor)


@pytest.mark.parametrize("variant", VARIANTS)
def test_results_validate_with_kcidb_io(tmp_path, variant) -> None:
    r = finalize(VARIANTS[variant]())
    paths = write_reports(r, tmp_path)  # the conftest checks it as it is written
    doc = json.loads(paths["results.json"].read_text())
    assert kcidb_errors(doc) == []
    assert kcidb_io.schema.V5_3.is_valid_exactly(doc)
    assert kcidb_io.schema.LATEST.is_valid(doc)
    assert set(doc) <= {"version", "checkouts", "builds", "tests", "issues", "incidents"}
    assert kpatchkit_summary(doc)["verdict"] == r.verdict.status


def test_a_broken_document_is_caught() -> None:
    doc = build_results(finalize(make_review()))
    doc["kpatchkit"] = {}  # the old top-level summary
    doc["tests"][0]["path"] = "kvm.dirty_log_test:clear"
    doc["checkouts"][-1]["patchset_files"] = [{"name": "0001.patch", "url": ""}]
    errors = kcidb_errors(doc)
    assert len(errors) == 3, errors


def test_patch_files_link_the_archive_or_the_written_mbox(tmp_path) -> None:
    r = finalize(make_review())
    r.series.patches.append(PatchInfo(3, 3, "local only", message_id="", link=""))
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / patch_file_name(3)).write_text("From x\n")
    doc = build_results(r, patch_dir=tmp_path / "patches")
    files = doc["checkouts"][-1]["patchset_files"]
    by_name = {f["name"]: f["url"] for f in files}
    for p in r.series.patches[:-1]:
        link = p.link or f"https://lore.kernel.org/r/{p.message_id}"
        assert by_name[patch_file_name(p.index)] == link + "/raw"
    assert by_name[patch_file_name(3)] == (tmp_path / "patches" / "0003.mbox").as_uri()
    assert kcidb_errors(doc) == []


@pytest.mark.parametrize(("name", "generated", "path"), [
    ("dirty_log_test:clear", False, "kselftest.kvm.dirty_log_test.clear"),
    ("x86_64/smm_test", False, "kselftest.kvm.x86_64.smm_test"),
    ("cow_anon_thp_off", True, "kpatchkit.cow_anon_thp_off"),
    ("odd name:v2.1", False, "kselftest.kvm.odd_name.v2.1"),
])
def test_test_paths_are_dotted(name, generated, path) -> None:
    assert kcidb_path(name, generated=generated) == path


def test_summary_and_run_data_are_under_misc() -> None:
    doc = build_results(finalize(make_review()))
    patched = doc["checkouts"][-1]
    assert patched["misc"]["kernel"] == "patched" and "kpatchkit" in patched["misc"]
    assert all("misc" in t and t["misc"]["kernel"] for t in doc["tests"])
    assert {b["status"] for b in doc["builds"]} == {"PASS"}

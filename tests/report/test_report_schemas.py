"""junit.xml validates against the JUnit XSD, findings.sarif against the SARIF 2.1.0 schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from report_samples import make_review

from kpatchkit.report.judge import finalize
from kpatchkit.report.junit import render_junit
from kpatchkit.report.sarif import build_sarif

etree = pytest.importorskip("lxml.etree", reason="pip install lxml (test extra)")
SCHEMAS = Path(__file__).resolve().parents[2] / "kpatchkit" / "report" / "schemas"


@pytest.fixture(scope="module")
def junit_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd")))


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


VARIANTS = {
    "clean": dict(),
    "findings": dict(new_findings=3),
    "regression": dict(patched_fpcw=2.0),
    "hostile": dict(subject="<script>alert(1)</script> & ]]>"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_junit_validates(junit_schema, variant) -> None:
    r = finalize(make_review(**VARIANTS[variant]))
    doc = etree.fromstring(render_junit(r).encode())
    junit_schema.assertValid(doc)
    suites = {s.get("name"): s for s in doc.iter("testsuite")}
    assert set(suites) >= {"apply", "analysis", "selftests.base", "selftests.patched",
                           "scenarios"}
    assert suites["selftests.base"].get("skipped") == "1"  # the known TCG failure
    if variant == "findings":
        assert suites["analysis"].get("failures") == "4"


def test_junit_schema_rejects_a_broken_document(junit_schema) -> None:
    bad = etree.fromstring(b"<testsuites><testsuite name='x'><testcase/></testsuite></testsuites>")
    assert not junit_schema.validate(bad)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sarif_validates(sarif_validator, variant) -> None:
    log = build_sarif(finalize(make_review(**VARIANTS[variant])))
    sarif_validator.validate(log)
    results = log["runs"][0]["results"]
    assert {r["baselineState"] for r in results} <= {"new", "unchanged", "absent"}
    if variant == "findings":
        new = [r for r in results if r["baselineState"] == "new"]
        assert len(new) == 3 and all(r["codeFlows"] for r in new)


def test_sarif_schema_rejects_a_broken_log(sarif_validator) -> None:
    log = build_sarif(finalize(make_review(new_findings=1)))
    log["runs"][0]["results"][0]["baselineState"] = "brand-new"
    with pytest.raises(jsonschema.ValidationError):
        sarif_validator.validate(log)

"""The real review of the reference series on Debian's 6.1: every stage, real kernels, QEMU.

Slow on a cold cache (two kernel builds, TCG guests); minutes when warm. The second review with
another output directory must reuse every stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from test_report_browser import SHOT_DIR, screenshot

from kpatchkit.cli import main
from kpatchkit.report.kcidb import kpatchkit_summary

pytestmark = [pytest.mark.tree, pytest.mark.build, pytest.mark.vm, pytest.mark.timeout(5400)]
SCHEMAS = Path(__file__).resolve().parents[2] / "kpatchkit" / "report" / "schemas"



@pytest.fixture(scope="module")
def seed_run(deb61, tmp_path_factory) -> tuple[Path, int, dict]:
    out = Path(os.environ.get("KPATCHKIT_SEED_REPORT") or tmp_path_factory.mktemp("seed"))
    lore = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "lore"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["review", str(lore / "series.mbox"), "--tree", deb61, "-o", str(out),
                     "--json"])
    return out, code, json.loads(buf.getvalue())


def test_seed_review_verdict(seed_run) -> None:
    out, code, js = seed_run
    assert code == 0, js["reasons"]
    res = kpatchkit_summary(json.loads((out / "results.json").read_text()))
    assert res["claim_reproduced"] is True and res["has_new_findings"] is False
    claims = {k: v for k, v in res["faults_per_cow_write"].items() if not v["control"]
              and v["base"] is not None}
    assert claims
    for name, v in claims.items():
        assert 1.8 <= v["base"] <= 2.2 and v["patched"] <= 1.1, name


def test_seed_review_carries_the_tests_as_a_patch_to_the_tree(seed_run) -> None:
    """Whoever sends the scenarios upstream gets them from the review as a patch that applies
    to the reviewed tree (checked read-only) and is linked from the report."""
    import subprocess

    from kpatchkit.trees.registry import resolve_tree

    out, _, _ = seed_run
    rel = json.loads((out / "review.json").read_text())["tests_patch"]
    assert rel == "selftests/cow-tests.patch" and (out / rel).is_file()
    assert f'href="{rel}"' in (out / "report.html").read_text()
    subprocess.run(["git", "apply", "--check", str(out / rel)],
                   cwd=resolve_tree("deb61").path, check=True)


def test_seed_review_files_validate(seed_run) -> None:
    from lxml import etree

    out, _, _ = seed_run
    etree.XMLSchema(etree.parse(str(SCHEMAS / "junit-10.xsd"))).assertValid(
        etree.parse(str(out / "junit.xml")))
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(
        json.loads((out / "findings.sarif").read_text()))
    assert (out / "summary.txt").read_text().startswith("Subject: Re: [PATCH 0/2]")


def test_seed_report_in_chromium(seed_run, tmp_path) -> None:
    out, _, _ = seed_run
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    console, text = screenshot(out / "report.html", SHOT_DIR / "report-seed.png", tmp_path,
                               size="1200,1400")
    assert console == []
    assert "Verdict: CLEAN" in text


def test_second_review_reuses_every_stage(seed_run, deb61, tmp_path) -> None:
    lore = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "lore"
    code = main(["review", str(lore / "series.mbox"), "--tree", deb61, "-o",
                 str(tmp_path / "again")])
    assert code == seed_run[1]
    record = json.loads((tmp_path / "again" / "review.json").read_text())
    statuses = {s["name"]: s["status"] for s in record["stages"] if s["name"] != "report"}
    assert set(statuses.values()) == {"cached"}, statuses

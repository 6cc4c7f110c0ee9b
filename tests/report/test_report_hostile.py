"""Report edges under hostile or corrupt records: valid files, a skipped run, no rewritten input.

Records reach the report from a run directory anyone may have edited, and its files are read by
other tools (JUnit viewers, JSON parsers, browsers): each case asserts the written file is still
valid and the command's exit code is the README's.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from report_samples import make_review

from kpatchkit.cli import main
from kpatchkit.report.html import safe_href
from kpatchkit.report.judge import finalize
from kpatchkit.report.write import write_reports

CONTROL = "bad\x00\x07\x1b[31m\x0b\ufffe\ud800end"


def _strict(text: str):
    """json.loads that refuses NaN/Infinity, as strict parsers (and KCIDB) do."""
    def bad(c: str):
        raise ValueError(f"non-finite number {c} in JSON")
    return json.loads(text, parse_constant=bad)


def test_control_characters_do_not_break_junit_xml(tmp_path) -> None:
    r = make_review(subject=f"subject {CONTROL}")
    r.run.results[0].test = f"cow {CONTROL}"
    r.run.results[0].output = f"out {CONTROL}"
    write_reports(finalize(r), tmp_path)
    root = ET.parse(tmp_path / "junit.xml").getroot()  # raises on an invalid document
    text = ET.tostring(root, encoding="unicode")
    assert "\x00" not in text and "\x1b" not in text and "end" in text


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_figures_are_written_as_null_with_a_note(tmp_path, capsys, bad) -> None:
    r = make_review()
    for res in r.run.results:
        if res.kernel == "patched":
            res.faults_per_cow_write = bad
    write_reports(finalize(r), tmp_path)
    for name in ("results.json", "review.json", "findings.sarif"):
        _strict((tmp_path / name).read_text())
    html = (tmp_path / "report.html").read_text()
    assert not re.search(r"\b(nan|inf|infinity)\b", html, re.I) and "<svg" in html
    assert "written as null" in capsys.readouterr().err


def test_report_does_not_rewrite_its_input(tmp_path, capsys) -> None:
    write_reports(finalize(make_review()), tmp_path)
    src = tmp_path / "review.json"
    before, mtime = src.read_bytes(), src.stat().st_mtime_ns
    (tmp_path / "report.html").unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert src.read_bytes() == before and src.stat().st_mtime_ns == mtime
    assert (tmp_path / "report.html").exists()
    capsys.readouterr()
    out = tmp_path / "elsewhere"
    assert main(["report", str(tmp_path), "-o", str(out)]) == 0
    assert (out / "review.json").exists()  # a copy where the user asked for the files


def test_report_to_a_file_is_bad_input(tmp_path, capsys) -> None:
    write_reports(finalize(make_review()), tmp_path / "run")
    target = tmp_path / "a-file"
    target.write_text("x")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kpatchkit: error:") and "Traceback" not in err[0]
    assert target.read_text() == "x"


def test_publish_skips_a_corrupt_run_and_lists_the_others(tmp_path, capsys) -> None:
    good = make_review(subject="good series")
    good.created, good.run_id = "2026-11-25T10:00:00Z", "good"
    write_reports(finalize(good), tmp_path / "good")
    odd = make_review(subject="odd figures")
    odd.created, odd.run_id = "2026-11-24T10:00:00Z", "odd"
    write_reports(finalize(odd), tmp_path / "odd")
    # hand-edited: non-finite and non-numeric figures in one run, garbage in another
    doc = json.loads((tmp_path / "odd" / "review.json").read_text())
    doc["scenarios"][0]["patched"] = "NaN"
    doc["scenarios"][1]["base"] = 1e999
    (tmp_path / "odd" / "review.json").write_text(json.dumps(doc))
    for name, text in (("broken", "{not json"), ("wrongshape", '{"scenarios": 5}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "review.json").write_text(text)
    assert main(["publish", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["runs"]][:2] == ["good", "odd"]
    assert any(w.startswith("broken/review.json: skipped") for w in out["warnings"])
    html = (tmp_path / "index.html").read_text()
    assert 'href="good/report.html"' in html and "skipped" in html


@pytest.mark.parametrize("url,ok", [
    ("https://lore.kernel.org/r/x", True), ("report.html", True), ("../run/report.html", True),
    ("/\\evil.example", False), ("\\\\evil.example", False), ("//evil.example", False),
    ("java\tscript:alert(1)", False), ("javascript:alert(1)", False), ("data:text/html,x", False),
    ("http://a.example/\\b", False), ("https://a.example/\x00", False),
])
def test_links_that_browsers_resolve_off_site_are_dropped(url: str, ok: bool) -> None:
    assert (safe_href(url) == url) is ok

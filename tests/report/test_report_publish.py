"""`kpatchkit publish`: an index over runs with verdict, series, date and a trend chart."""

from __future__ import annotations

import json

from report_samples import make_review

from kpatchkit.cli import main
from kpatchkit.report.judge import finalize
from kpatchkit.report.write import write_reports


def test_publish_lists_runs_newest_first_with_trend(tmp_path, capsys) -> None:
    for name, created, patched in (("old", "2026-11-20T10:00:00Z", 2.0),
                                   ("new", "2026-11-25T10:00:00Z", 1.0)):
        r = make_review(subject=f"series {name} <b>", patched_fpcw=patched)
        r.created, r.run_id = created, name
        write_reports(finalize(r), tmp_path / name)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "review.json").write_text("{not json")
    assert main(["publish", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["runs"]] == ["new", "old"]
    assert [r["verdict"] for r in out["runs"]] == ["clean", "failures"]
    assert out["runs"][0]["patched"] == 1.001 and out["runs"][1]["patched"] == 2.001
    html = (tmp_path / "index.html").read_text()
    assert 'href="new/report.html"' in html and "series new &lt;b&gt;" in html
    assert "<polyline" in html and "<script" not in html


def test_report_command_rerenders_from_review_json(tmp_path, capsys) -> None:
    write_reports(finalize(make_review(new_findings=1)), tmp_path)
    (tmp_path / "report.html").unlink()
    assert main(["report", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "findings" and (tmp_path / "report.html").exists()
    assert main(["report", str(tmp_path / "nowhere")]) == 2

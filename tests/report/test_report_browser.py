"""report.html in Debian's headless Chromium: no console errors, a screenshot, no script runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_samples import make_review

from kpatchkit.report.html import render_report
from kpatchkit.report.judge import finalize
from kpatchkit.report.write import write_reports

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR):CONSOLE[:(]")
# Where the screenshot of the sample report is kept for a human to look at.
SHOT_DIR = Path(os.environ.get("KPATCHKIT_SCREENSHOTS", "/tmp/kpatchkit-screenshots"))

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="apt-get install chromium (Debian's headless browser)")


def chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    """Open ``page`` headless with a throw-away profile; stderr carries the console log."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def console_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The page's console messages (CSP violations, script errors, console.log) in the log."""
    return [line for line in proc.stderr.splitlines() if CONSOLE.search(line)]


def shoot(page: Path, png: Path, tmp: Path, size: str = "1200,1600") -> subprocess.CompletedProcess:
    """One browser start (about a second each) that takes a screenshot and dumps the DOM."""
    return chromium(page, tmp, f"--screenshot={png}", f"--window-size={size}", "--dump-dom")


def screenshot(page: Path, png: Path, tmp: Path, size: str = "1200,1600") -> tuple[list[str], str]:
    """Take a screenshot; return the console messages seen while rendering, and the DOM after
    load."""
    proc = shoot(page, png, tmp, size)
    assert png.exists() and png.stat().st_size > 5000, proc.stderr[-2000:]
    return console_lines(proc), proc.stdout


def test_console_detection_works(tmp_path) -> None:
    """Control: a page with an inline script does produce console lines, so silence means it."""
    page = tmp_path / "control.html"
    page.write_text('<!doctype html><meta charset="utf-8"><title>c</title>'
                    '<script>console.log("kpatchkit-ran")</script><p>x</p>')
    proc = shoot(page, tmp_path / "control.png", tmp_path)  # the very call the tests make
    assert any("kpatchkit-ran" in x for x in console_lines(proc))
    assert "<p>x</p>" in proc.stdout and (tmp_path / "control.png").exists()


def test_report_renders_without_console_messages(tmp_path, review) -> None:
    write_reports(review, tmp_path)
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    png = SHOT_DIR / "report-sample.png"
    console, text = screenshot(tmp_path / "report.html", png, tmp_path)
    assert console == []
    assert "Verdict: CLEAN" in text and "<svg" in text


def test_hostile_subject_renders_as_text_and_runs_nothing(tmp_path) -> None:
    r = finalize(make_review(subject="<script>alert(1)</script>"))
    r.series.patches[1].author = '<img src=x onerror="console.log(\'kpatchkit-xss\')">'
    page = tmp_path / "report.html"
    page.write_text(render_report(r))
    console, text = screenshot(page, tmp_path / "xss.png", tmp_path)
    assert console == []  # no CSP refusal: no script
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)" not in text and "<img" not in text
    # Without the CSP wall, autoescape alone still keeps the payload inert.
    bare = tmp_path / "nocsp.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                           page.read_text()))
    proc = chromium(bare, tmp_path, "--dump-dom")
    assert not any("kpatchkit-xss" in x for x in console_lines(proc))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in proc.stdout


def test_published_index_renders_without_console_messages(tmp_path) -> None:
    from kpatchkit.report.publish_command import publish

    for i, patched in enumerate((2.0, 1.2, 1.0)):
        r = make_review(patched_fpcw=patched)
        r.created, r.run_id = f"2026-11-2{i}T10:00:00Z", f"run{i}"
        write_reports(finalize(r), tmp_path / "reports" / f"run{i}")
    index, runs = publish(tmp_path / "reports")
    assert len(runs) == 3
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    console, text = screenshot(index, SHOT_DIR / "index-sample.png", tmp_path, size="1000,900")
    assert console == []
    assert "<polyline" in text

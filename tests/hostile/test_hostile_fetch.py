"""Hostile input to ``kpatchkit fetch``: each case ends in one clear error (exit 2) or a skip
with a warning, within CPU/memory bounds (resource limits in the subprocess), no traceback."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hostile_helpers import DIFF, REPLIES, hostile_reply, mail, mbox_of, multipart, run_bounded

from kpatchkit.fetch import limits

SEED_PAGE = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_56cc99f0a5258bf1.txt"
PATCH2_ID = "20230808085431.14814-1-yan.y.zhao@intel.com"


def _long_archive_lines(_tmp: Path) -> bytes:
    """The web-archive seed with lines the old regexes backtracked on (each under the line
    limit): blanks after 'Signed-off-by:', in a Date, a run of '[' and of 'for_each'."""
    page = SEED_PAGE.read_text()
    n = limits.get("line_length") - 100
    bad = ["Signed-off-by: x" + " " * n + "y"] * 4 + ["[" * n, "for_each" * (n // 8) + "(",
           "a" + "\t" * n + "b", "/*" * (n // 2)]
    head, sep, rest = page.partition(" EST\n")  # the header block ends with the Date line
    head = head.rsplit("\n", 1)[0] + "\nDate: Tue" + " " * n + "x"
    return (head + "\n\n" + "\n".join(bad) + "\n" + rest).encode()


def _html_unterminated(_tmp: Path) -> bytes:
    page = SEED_PAGE.read_text().replace("&", "&amp;").replace("<", "&lt;")
    return ("<!DOCTYPE html><html><body><pre>" + page + "</pre><a href=\"" + "x<b " * 200_000
            ).encode()


def _html_many_quotes(_tmp: Path) -> bytes:
    return ("<html><body><p x=\"\" " * 1 + "y='' " * 200_000 + "<pre>").encode()


def _gzip_bomb(tmp: Path) -> bytes:
    path = tmp / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=1) as gz:
        chunk = b"From: a\n" * (1 << 17)
        for _ in range(100):  # 100 MB of text in about 0.3 MB
            gz.write(chunk)
    return path.read_bytes()


# case -> (input maker, exit code, words in the one error line)
CASES = {
    "n/m with a huge m": (lambda t: mail(subject="[PATCH 1/4294967295] x"), 2,
                          ["series size", "series_parts"]),
    "n/m with 5000 digits": (lambda t: mail(subject="[PATCH 1/" + "9" * 5000 + "] x"), 2,
                             ["series_parts"]),
    "nested parentheses in From": (
        lambda t: mail(frm="x " + "(" * 5000 + ")" * 5000 + " <e@x.org>"), 2,
        ["header_nesting", "From"]),
    "nested parentheses in Content-Type": (
        lambda t: mail(headers=["MIME-Version: 1.0",
                                "Content-Type: text/plain; x=" + "(" * 3000 + ")" * 3000]),
        2, ["header_nesting", "Content-Type"]),
    "nested parentheses in an in-body From": (
        lambda t: mail(body="From: x " + "(" * 3000 + ")" * 3000 + " <a@b.org>\n\nFix.\n"),
        2, ["header_nesting"]),
    "RFC 2231 parameters": (lambda t: REPLIES["RFC 2231 parameters"]("p")
                            .replace(b"Re: [PATCH 2/2]", b"[PATCH]"), 2, ["header_params"]),
    "thousands of MIME parts": (lambda t: multipart(20000), 2, ["MIME parts", "mime_parts"]),
    "a line longer than the limit": (
        lambda t: mail(body="x" * (limits.get("line_length") + 10) + "\n"), 2,
        ["line length", "line_length"]),
    "a gzip bomb": (_gzip_bomb, 2, ["input size", "total_bytes"]),
    "a hunk header with 5000-digit numbers": (
        lambda t: mail(diff=DIFF.replace("@@ -1,3 +1,3 @@", "@@ -" + "1" * 5000 + ",3 +1,3 @@")),
        2, []),
    "many tiny mails": (lambda t: mbox_of(*[b"Subject: x\n\nx\n"] * (limits.get("mails") + 1)),
                        2, ["mails"]),
}
# inputs the old code spent minutes on: now they finish (a series, or a clear 'no diff')
SLOW_CASES = {
    "long lines the old regexes backtracked on": _long_archive_lines,
    "HTML with an unterminated attribute": _html_unterminated,
    "HTML with 200,000 quoted attributes": _html_many_quotes,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_is_one_clear_error(case: str, tmp_path: Path) -> None:
    make, rc, words = CASES[case]
    src = tmp_path / "input"
    src.write_bytes(make(tmp_path))
    out = run_bounded("fetch", str(src), "--json")
    assert out.rc == rc, (out.rc, out.stderr)
    line = out.one_error(*words)
    error = out.json()["error"]
    assert error["kind"] == "user" and error["message"] in line
    if words and words[-1] in limits.limits():
        assert error["limit"]["name"] == words[-1] and error["limit"]["why"]


@pytest.mark.parametrize("case", sorted(SLOW_CASES))
def test_formerly_slow_input_finishes(case: str, tmp_path: Path) -> None:
    src = tmp_path / "input.html"
    src.write_bytes(SLOW_CASES[case](tmp_path))
    out = run_bounded("fetch", str(src), "--json", cpu=4)  # the old code needed 7 s and more
    assert "Traceback" not in "\n".join(out.stderr)
    if out.rc == 0:
        assert out.json()["series"]["patches"]
    else:
        assert out.rc == 2, out.stderr
        out.one_error()


@pytest.mark.parametrize("kind", sorted(REPLIES))
def test_thread_with_one_hostile_reply_still_yields_the_series(kind: str, lore: Path,
                                                               tmp_path: Path) -> None:
    src = tmp_path / "thread.mbox"
    src.write_bytes((lore / "thread.mbox").read_bytes()
                    + mbox_of(hostile_reply(kind, PATCH2_ID)))
    out = run_bounded("fetch", str(src), "--json", "-o", str(tmp_path / "out"))
    assert out.rc == 0, out.stderr
    series = out.json()["series"]
    assert [p["index"] for p in series["patches"]] == [1, 2]
    skipped = [w for w in series["warnings"] if "skipped" in w]
    assert len(skipped) == 1 and "thread.mbox#" in skipped[0], series["warnings"]
    assert any(line.startswith("warning: ") and "skipped" in line for line in out.stderr)
    assert "Traceback" not in "\n".join(out.stderr)
    assert (tmp_path / "out" / "series.mbox").read_text().count("\nFrom: ") == 2


def test_hostile_patch_mail_in_a_thread_names_it(lore: Path, tmp_path: Path) -> None:
    # a '[PATCH]' mail (not a reply) is part of the series: its failure is the series' failure
    src = tmp_path / "thread.mbox"
    evil = mail(subject="[PATCH 3/3] x", frm="x " + "(" * 500 + ")" * 500 + " <e@x.org>",
                in_reply_to=PATCH2_ID, msgid="p3@evil")
    src.write_bytes((lore / "thread.mbox").read_bytes() + mbox_of(evil))
    out = run_bounded("fetch", str(src))
    assert out.rc == 2
    out.one_error("thread.mbox#", "header_nesting")

"""fetch on real KVM MMU mails (../shared/fixtures/kvm-mmu-mails): stable FAILED notices,
backports stating their upstream commit, series parts alone. The expectations come from the
corpus' own index.toml, read at test time."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from kpatchkit.cli import main
from kpatchkit.fetch import load_series, series_mbox
from kpatchkit.fetch.mailparse import patch_from_text
from kpatchkit.fetch.subject import parse_subject
from kpatchkit.fetch.upstream import find_upstream_commit, leading_headers, split_failed_notice

SHA = "7c8a4742c4abe205ec9daf416c9d42fd6b406e8e"
FAILED_TITLES = {
    "07": ("KVM: x86/mmu: Fix write-protection of PTs mapped by the TDP MMU", "David Matlack",
           "dmatlack@google.com", "Thu, 13 Jan 2022 23:30:17 +0000", "5.10-stable"),
    "08": ('KVM: x86/mmu: Handle "default" period when selectively waking kthread',
           "Sean Christopherson", "seanjc@google.com", "Sat, 20 Nov 2021 01:57:06 +0000",
           "5.15-stable"),
}


def corpus(shared: Path) -> tuple[Path, list[dict]]:
    folder = shared / "fixtures" / "kvm-mmu-mails"
    return folder, tomllib.loads((folder / "index.toml").read_text())["mail"]


def mail_path(shared: Path, prefix: str) -> Path:
    folder, mails = corpus(shared)
    return folder / next(m["file"] for m in mails if m["file"].startswith(prefix))


def test_every_corpus_mail(shared: Path) -> None:
    folder, mails = corpus(shared)
    assert len(mails) == 16
    for m in mails:
        s = load_series(str(folder / m["file"]))
        assert len(s.patches) == 1, m["file"]
        p = s.patches[0]
        assert [f.path for f in p.files] == m["files"], m["file"]
        assert p.upstream_commit == (m["upstream_commit"] or None), m["file"]
        assert p.message_id == m["message_id"], m["file"]
        if m["label"] == "stable-failed":
            title, author, addr, date, tree = FAILED_TITLES[m["file"][:2]]
            assert (p.subject, p.author, p.email, p.date) == (title, author, addr, date)
            assert p.raw_subject == "[PATCH] " + title
            assert (p.index, p.total, p.kind) == (1, 1, "patch")
            assert p.notice == {"sender": "gregkh@linuxfoundation.org", "subject": m["subject"],
                                "date": p.notice["date"], "message_id": m["message_id"],
                                "stable_tree": tree}
            assert p.notice["date"].endswith(m["date"][-20:])
        else:
            assert p.subject == parse_subject(m["subject"]).title, m["file"]
            assert p.subject and not p.subject.startswith("["), m["file"]
            assert p.notice is None
        if m["label"] == "series-part":
            assert (p.index, p.total) == (2, 2) and s.missing == [1] and s.total == 2
            assert any("1/2" in w and "missing" in w for w in s.warnings), s.warnings
        else:
            assert s.missing == [], m["file"]


def test_failed_notice_is_the_original_commit(shared: Path) -> None:
    p = load_series(str(mail_path(shared, "07-"))).patches[0]
    assert p.body.startswith("When the TDP MMU is write-protection GFNs")
    assert "greg k-h" not in p.body and "original commit" not in p.body
    assert p.trailers[0] == ["Fixes", '46044f72c382 ("kvm: x86/mmu: Support write protection '
                                      'for nesting in tdp MMU")']
    assert p.trailers[-1] == ["Signed-off-by", "Paolo Bonzini <pbonzini@redhat.com>"]
    assert (p.insertions, p.deletions) == (3, 3)
    assert p.in_reply_to is None and p.message_id == "1642944976217120@kroah.com"
    assert p.upstream_commit == SHA


def test_failed_notice_mbox_keeps_the_original_author(shared: Path, tmp_path: Path) -> None:
    """What apply feeds git am: the embedded author and title, not the notice's."""
    p = load_series(str(mail_path(shared, "07-"))).patches[0]
    mbox = tmp_path / "s.mbox"
    mbox.write_text(series_mbox([p]))
    res = subprocess.run(["git", "mailinfo", str(tmp_path / "msg"), str(tmp_path / "patch")],
                         stdin=mbox.open(), capture_output=True, text=True, check=True)
    info = dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)
    assert info["Author"] == "David Matlack" and info["Email"] == "dmatlack@google.com"
    assert info["Subject"] == "KVM: x86/mmu: Fix write-protection of PTs mapped by the TDP MMU"
    assert "tdp_mmu.c" in (tmp_path / "patch").read_text()


def test_backport_in_body_from_is_the_author(shared: Path) -> None:
    p = load_series(str(mail_path(shared, "10-"))).patches[0]
    assert (p.author, p.email) == ("Paolo Bonzini", "pbonzini@redhat.com")
    assert p.body.startswith("commit 9f46c187e2e680ecd9de7983e4d081c3391acc76 upstream.")
    p9 = load_series(str(mail_path(shared, "09-"))).patches[0]
    assert (p9.index, p9.total, p9.author) == (1, 1, "Sean Christopherson")  # "[PATH 6.4.y]"


def test_fetch_json_of_a_failed_notice(shared: Path, capsys) -> None:
    from importlib import resources

    import jsonschema

    assert main(["fetch", str(mail_path(shared, "07-")), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)  # exactly one object
    (p,) = data["series"]["patches"]
    assert p["upstream_commit"] == SHA
    assert p["notice"]["stable_tree"] == "5.10-stable"
    assert p["notice"]["message_id"] == "1642944976217120@kroah.com"
    assert p["author"] == "David Matlack"
    schema = json.loads(resources.files("kpatchkit.fetch").joinpath(
        "data/fetch-output.schema.json").read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("line", "want"), [
    ("commit 9f46c187e2e680ecd9de7983e4d081c3391acc76 upstream.",
     "9f46c187e2e680ecd9de7983e4d081c3391acc76"),
    ("Commit 0b210faf337314e4bc88e796218bc70c72a51209 upstream.",
     "0b210faf337314e4bc88e796218bc70c72a51209"),
    ("[ Upstream commit 7c8a4742c4abe205ec9daf416c9d42fd6b406e8e ]", SHA),
    ("[Upstream commit 7c8a4742c4ab]", "7c8a4742c4ab"),
    ("(cherry picked from commit 7C8A4742C4ABE205EC9DAF416C9D42FD6B406E8E)", SHA),
    ("Note, upstream commit ba6e3fe25543 (\"KVM: x86/mmu: Grab mmu_invalidate_seq\")", None),
    ("commit ba6e3fe upstream.", "ba6e3fe"),
    ("commit ba6e3f upstream.", None),  # 6 digits: not an id
    ("commit " + "a" * 41 + " upstream.", None),  # longer than a SHA-1
    ("This reverts commit 7c8a4742c4abe205ec9daf416c9d42fd6b406e8e.", None),
])
def test_upstream_spellings(line: str, want: str | None) -> None:
    assert find_upstream_commit(f"Some text.\n\n{line}\n\nMore text.\n") == want


def test_first_statement_wins_and_only_before_the_diff() -> None:
    body = ("[ Upstream commit 1111111111111111111111111111111111111111 ]\n\nFix it.\n\n"
            "(cherry picked from commit 2222222222222222222222222222222222222222)\n"
            "Signed-off-by: A <a@example.org>\n---\n"
            "commit 3333333333333333333333333333333333333333 upstream.\n\n"
            "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    meta = {"subject": "[PATCH 5.10] x: fix", "author": "A", "email": "a@example.org"}
    p = patch_from_text(meta, body, source="inline")
    assert p.upstream_commit == "1" * 40
    only_after = body.replace("[ Upstream commit 1111111111111111111111111111111111111111 ]\n\n",
                              "").replace("(cherry picked from commit "
                                          "2222222222222222222222222222222222222222)\n", "")
    assert patch_from_text(meta, only_after, source="inline").upstream_commit is None
    cherry = ("Fix it.\n\nSigned-off-by: A <a@example.org>\n(cherry picked from commit "
              "2222222222222222222222222222222222222222)\n---\n" + body[body.index("diff"):])
    p = patch_from_text(meta, cherry, source="inline")
    assert p.upstream_commit == "2" * 40 and p.files


def test_failed_notice_inline() -> None:
    """A notice written by hand: the From line's id wins over statements in the embedded text;
    a From line outside a notice (a plain format-patch file) is a local commit, not upstream."""
    embedded = ("From 4444444444444444444444444444444444444444 Mon Sep 17 00:00:00 2001\n"
                "From: =?UTF-8?q?Micha=C5=82=20Example?= <m@example.org>\n"
                "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
                "Subject: [PATCH] KVM: x86: a title folded\n over two lines\n\n"
                "Body.\n\ncommit 5555555555555555555555555555555555555555 upstream.\n\n"
                "Signed-off-by: M <m@example.org>\n\n"
                "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    text = ("The patch below does not apply to the 6.1-stable tree.\n\n"
            "------------------ original commit in Linus's tree ------------------\n\n"
            + embedded)
    prose, mail = split_failed_notice(text)
    assert "6.1-stable" in prose and mail.lstrip().startswith("From 4444")
    meta = {"subject": "FAILED: patch \"[PATCH] KVM: x86: a title folded\" failed to apply",
            "author": "gregkh", "email": "gregkh@linuxfoundation.org", "message_id": "n@x"}
    p = patch_from_text(meta, text, source="inline")
    assert p.subject == "KVM: x86: a title folded over two lines"
    assert (p.author, p.email) == ("Michał Example", "m@example.org")
    assert p.upstream_commit == "4" * 40 and p.notice["stable_tree"] == "6.1-stable"
    assert p.trailers == [["Signed-off-by", "M <m@example.org>"]] and p.files
    assert p.message_id == "n@x" and p.notice["sender"] == "gregkh <gregkh@linuxfoundation.org>"
    plain = patch_from_text({"subject": "[PATCH] x"}, embedded, source="inline")
    assert plain.upstream_commit == "5" * 40 and plain.notice is None


def test_in_body_headers_need_a_blank_line_and_known_keys() -> None:
    assert leading_headers("From: A <a@x>\n\nBody\n", ("from",)) == ({"from": "A <a@x>"},
                                                                      "Body\n")
    assert leading_headers("From: A <a@x>\nBody\n", ("from",))[0] == {}
    assert leading_headers("Fixes: abc\n\nBody\n", ("from",))[0] == {}
    assert leading_headers("From: A <a@x>", ("from",))[0] == {}

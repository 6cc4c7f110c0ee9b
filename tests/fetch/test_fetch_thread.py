"""fetch on the lore fixtures: thread.mbox, series.mbox, single mails, folders, maildirs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fetch_helpers import build_preimage, diff_of, git

from kpatchkit.cli import main
from kpatchkit.fetch import load_series, series_mbox

SUBJECT_1 = "KVM: x86/mmu: Remove dead code in .change_pte() handler in x86 TDP MMU"
SUBJECT_2 = "KVM: x86/mmu: prefetch SPTE directly in x86 TDP MMU's change_pte() handler"
TDP = "arch/x86/kvm/mmu/tdp_mmu.c"


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    rc = main(["fetch", *argv, "--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip() else {}


def test_thread_mbox_json(lore: Path, capsys) -> None:
    rc, data = run_json(capsys, str(lore / "thread.mbox"))
    assert rc == 0
    s = data["series"]
    got = [(p["index"], p["total"], p["subject"], p["author"], p["message_id"], p["insertions"],
            p["deletions"], [f["new_path"] for f in p["files"]]) for p in s["patches"]]
    assert got == [
        (1, 2, SUBJECT_1, "Yan Zhao", "20230808085306.14742-1-yan.y.zhao@intel.com", 4, 36, [TDP]),
        (2, 2, SUBJECT_2, "Yan Zhao", "20230808085431.14814-1-yan.y.zhao@intel.com", 68, 1,
         [TDP]),
    ]
    assert s["cover"]["message_id"] == "20230808085056.14644-1-yan.y.zhao@intel.com"
    assert s["cover"]["index"] == 0 and s["cover"]["kind"] == "cover"
    assert len(s["replies"]) == 4
    assert {r["message_id"] for r in s["replies"]}.isdisjoint(
        p["message_id"] for p in s["patches"])
    assert s["missing"] == [] and s["source_kind"] == "mbox"
    assert all(not p["whitespace_damaged"] and not p["repaired"] for p in s["patches"])
    # the blob chain holds: 1/2 produces what 2/2 expects
    f1, f2 = s["patches"][0]["files"][0], s["patches"][1]["files"][0]
    assert f1["new_blob"] == f2["old_blob"] == "89a1f222e823"
    assert not any("expects" in w for w in s["warnings"])


def test_patch_fields(lore: Path) -> None:
    s = load_series(str(lore / "series.mbox"))
    p1, p2 = s.patches
    assert p1.trailers == [["Signed-off-by", "Yan Zhao <yan.y.zhao@intel.com>"]]
    assert p1.body.startswith("Remove the dead code set_spte_gfn()")
    assert "Signed-off-by" not in p1.body
    stat = "1 file changed, 4 insertions(+), 36 deletions(-)"
    assert p1.diffstat.splitlines()[-1].strip() == stat
    assert [(h.old_start, h.old_count, h.new_start, h.new_count) for h in p1.files[0].hunks] == \
        [(1235, 36, 1235, 6), (1273, 12, 1243, 10)]
    assert p1.files[0].hunks[1].section.startswith("static bool set_spte_gfn(")
    assert p1.files[0].old_blob == "6250bd3d20c1" and p1.files[0].mode == "100644"
    assert p2.in_reply_to == s.cover.message_id
    # the parsed diff renders back byte for byte
    assert p2.diff == diff_of((lore / "0002-prefetch-spte.eml").read_text())


def test_single_mail_is_patch_2_of_2(lore: Path) -> None:
    s = load_series(str(lore / "0002-prefetch-spte.eml"))
    assert [p.index for p in s.patches] == [2] and s.missing == [1] and s.source_kind == "mail"
    assert s.prerequisites == [{"index": 1, "path": TDP, "blob": "89a1f222e823", "needed_by": 2}]


def test_folder_and_maildir(lore: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("0002-prefetch-spte.eml", "0000-cover.eml", "0001-remove-dead-code.eml",
                 "reply-sean-2023-08-16.eml"):
        shutil.copy(lore / name, folder / name)
    s = load_series(str(folder))
    assert s.source_kind == "folder" and [p.index for p in s.patches] == [1, 2]
    assert s.cover is not None and len(s.replies) == 1
    maildir = tmp_path / "md"
    for d in ("cur", "new", "tmp"):
        (maildir / d).mkdir(parents=True)
    # maildir names carry no order; the subjects do
    shutil.copy(lore / "0002-prefetch-spte.eml", maildir / "new" / "1690000000.a.host")
    shutil.copy(lore / "0001-remove-dead-code.eml", maildir / "cur" / "1690000001.b.host:2,S")
    s = load_series(str(maildir))
    assert s.source_kind == "maildir" and [p.index for p in s.patches] == [1, 2]
    assert s.cover is None and s.missing == []


def test_msgid_selects_thread(lore: Path, tmp_path: Path) -> None:
    other = (lore / "0001-remove-dead-code.eml").read_text().replace(
        "20230808085306.14742-1-yan.y.zhao@intel.com", "other@example.org").replace(
        "In-Reply-To: <20230808085056.14644-1-yan.y.zhao@intel.com>", "").replace(
        "References: <20230808085056.14644-1-yan.y.zhao@intel.com>", "").replace(
        "[PATCH 1/2]", "[PATCH v2 1/1]")
    mbox = tmp_path / "two.mbox"
    mbox.write_text((lore / "thread.mbox").read_text() + "\nFrom x@y Thu Jan  1 00:00:00 1970\n"
                    + other)
    assert load_series(str(mbox)).version == 2  # newest revision wins without --msgid
    s = load_series(str(mbox), msgid="<20230808085431.14814-1-yan.y.zhao@intel.com>")
    assert s.version == 1 and [p.index for p in s.patches] == [1, 2] and len(s.replies) == 4


def test_output_dir_feeds_git_am(lore: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["fetch", str(lore / "thread.mbox"), "-o", str(out)])
    assert rc == 0
    data = json.loads((out / "series.json").read_text())
    assert [p["index"] for p in data["series"]["patches"]] == [1, 2]
    repo = tmp_path / "repo"
    git("init", "-q", str(repo))
    path = repo / TDP
    path.parent.mkdir(parents=True)
    diff1 = diff_of((lore / "0001-remove-dead-code.eml").read_text())
    path.write_text("\n".join(build_preimage(diff1)) + "\n")
    git("add", ".", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    git("am", "--3way", str(out / "series.mbox"), cwd=repo)
    log = git("log", "--format=%an <%ae>|%s", cwd=repo).splitlines()
    assert log[:2] == [f"Yan Zhao <yan.y.zhao@intel.com>|{SUBJECT_2}",
                       f"Yan Zhao <yan.y.zhao@intel.com>|{SUBJECT_1}"]
    body = git("log", "-1", "--format=%B", "HEAD~1", cwd=repo)
    assert body.rstrip().endswith("Signed-off-by: Yan Zhao <yan.y.zhao@intel.com>")
    text = path.read_text()
    assert "tdp_mmu_iter_set_spte(kvm, &iter, new_spte);" in text
    assert "static bool set_spte_gfn(" not in text


def test_series_mbox_round_trips(lore: Path, tmp_path: Path) -> None:
    s = load_series(str(lore / "thread.mbox"))
    mbox = tmp_path / "again.mbox"
    mbox.write_text(series_mbox(list(reversed(s.patches))))
    again = load_series(str(mbox))
    assert [p.diff for p in again.patches] == [p.diff for p in s.patches]
    assert [p.trailers for p in again.patches] == [p.trailers for p in s.patches]


def test_stdin(lore: Path, monkeypatch, capsys) -> None:
    import io
    import sys

    data = (lore / "series.mbox").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["fetch", "-", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)["series"]
    assert [p["index"] for p in s["patches"]] == [1, 2] and s["source_kind"] == "mbox"


def test_binary_rename_and_new_file_round_trip_through_git_am(tmp_path: Path) -> None:
    """format-patch output with a GIT binary patch, a rename and a new file survives fetch."""
    src = tmp_path / "src"
    git("init", "-q", str(src))
    (src / "fw.bin").write_bytes(b"a\0b")
    (src / "old.c").write_text("int a;\n")
    git("add", ".", cwd=src)
    git("commit", "-qm", "base", cwd=src)
    (src / "fw.bin").write_bytes(b"x\0yz\0")
    git("mv", "old.c", "new.c", cwd=src)
    (src / "added.h").write_text("#define X 1\n")
    git("add", ".", cwd=src)
    git("commit", "-qm", "binary, rename, new file", cwd=src)
    (tmp_path / "p.patch").write_text(git("format-patch", "-1", "--binary", "--stdout", cwd=src))
    git("reset", "-q", "--hard", "HEAD~1", cwd=src)
    (p,) = load_series(str(tmp_path / "p.patch")).patches
    kinds = {(f.old_path, f.new_path, f.binary) for f in p.files}
    assert kinds == {("fw.bin", "fw.bin", True), ("old.c", "new.c", False),
                     (None, "added.h", False)}
    (tmp_path / "out.mbox").write_text(series_mbox([p]))
    git("am", str(tmp_path / "out.mbox"), cwd=src)
    assert (src / "fw.bin").read_bytes() == b"x\0yz\0" and (src / "new.c").exists()
    assert (src / "added.h").read_text() == "#define X 1\n"


def test_json_output_matches_schema(lore: Path, seed: Path, capsys) -> None:
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("kpatchkit.fetch").joinpath(
        "data/fetch-output.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for source in (lore / "thread.mbox", seed, lore / "0002-prefetch-spte.eml"):
        rc, data = run_json(capsys, str(source))
        assert rc == 0
        jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    bad = json.loads(json.dumps(data))
    bad["series"]["patches"][0]["files"][0]["hunks"][0]["lines"].append("no marker")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_series_json_round_trip(lore: Path, seed: Path) -> None:
    """Other stages rebuild the record from JSON (review passes JSON between stages)."""
    from kpatchkit.records.series import Series

    for source in (lore / "thread.mbox", seed):
        s = load_series(str(source))
        again = Series.from_json(json.loads(json.dumps(s.to_json())))
        assert again == s and again.repaired == s.repaired
        assert series_mbox(again.patches) == series_mbox(s.patches)


def test_resend_replaces_the_earlier_copy(lore: Path, tmp_path: Path) -> None:
    resend = (lore / "0002-prefetch-spte.eml").read_text().replace(
        "[PATCH 2/2]", "[PATCH RESEND 2/2]").replace(
        "Message-Id: <20230808085431.14814-1-yan.y.zhao@intel.com>",
        "Message-Id: <resend-2@example.org>").replace(
        "Date:   Tue,  8 Aug 2023 16:54:31 +0800", "Date:   Wed,  9 Aug 2023 10:00:00 +0800")
    mbox = tmp_path / "resend.mbox"
    mbox.write_text((lore / "series.mbox").read_text() + "\nFrom x@y Thu Jan  1 00:00:00 1970\n"
                    + resend)
    s = load_series(str(mbox))
    assert [p.message_id for p in s.patches][1] == "resend-2@example.org"
    assert s.patches[1].prefixes == ["PATCH", "RESEND"]
    assert any("two mails claim 2/2" in w for w in s.warnings)

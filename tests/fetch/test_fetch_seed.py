"""The web-archive seed and the same damage applied to 1/2: detection and repair."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from fetch_helpers import build_preimage, damage_mail, diff_of, git

from kpatchkit.cli import main
from kpatchkit.fetch import load_series, series_mbox

TDP = "arch/x86/kvm/mmu/tdp_mmu.c"


def compare(repaired: str, original: str) -> float:
    """Assert token-for-token equality line by line; return the byte-identical share."""
    a, b = repaired.rstrip("\n").split("\n"), original.rstrip("\n").split("\n")
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x[:1], x[1:].split()) == (y[:1], y[1:].split()), (x, y)
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(b)


def test_seed_json(seed: Path, lore: Path, capsys) -> None:
    rc = main(["fetch", str(seed), "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)["series"]
    assert len(s["patches"]) == 1 and s["missing"] == [1] and s["source_kind"] == "webarchive"
    p = s["patches"][0]
    assert (p["index"], p["total"], p["whitespace_damaged"], p["repaired"]) == (2, 2, True, True)
    assert (p["insertions"], p["deletions"]) == (68, 1)
    assert p["author"] == "Yan Zhao" and p["email"] == "yan.y.zhao@xxxxxxxxx"
    assert s["prerequisites"] == [{"index": 1, "path": TDP, "blob": "89a1f222e823",
                                   "needed_by": 2}]
    share = compare(p["diff"], diff_of((lore / "0002-prefetch-spte.eml").read_text()))
    assert share >= 0.95, share


@pytest.mark.parametrize("name,minimum", [("0001-remove-dead-code.eml", 0.95),
                                          ("0002-prefetch-spte.eml", 0.95)])
@pytest.mark.parametrize("noise", [False, True])
def test_damaged_like_the_seed(lore: Path, tmp_path: Path, name: str, minimum: float,
                               noise: bool) -> None:
    raw = (lore / name).read_bytes()
    page = tmp_path / "page.txt"
    page.write_text(damage_mail(raw, noise=noise))
    s = load_series(str(page))
    (p,) = s.patches
    assert p.whitespace_damaged and p.repaired
    original = load_series(str(lore / name)).patches[0]
    assert (p.index, p.total, p.subject, p.insertions, p.deletions) == \
        (original.index, original.total, original.subject, original.insertions, original.deletions)
    assert p.trailers == [["Signed-off-by", "Yan Zhao <yan.y.zhao@xxxxxxxxx>"]]
    assert compare(p.diff, original.diff) >= minimum


def test_seed_damage_mimic_is_faithful(seed: Path, lore: Path) -> None:
    """Our damage function reproduces the seed's diff exactly (so 1/2's test means something)."""
    page = damage_mail((lore / "0002-prefetch-spte.eml").read_bytes())
    seed_text = seed.read_text()
    assert diff_of(page.replace("\n--\n", "\n-- \n")) == \
        diff_of(seed_text.replace("\n--\n", "\n-- \n"))


def test_repair_from_tree_is_byte_identical_for_context(lore: Path, tmp_path: Path) -> None:
    raw = (lore / "0001-remove-dead-code.eml").read_bytes()
    original = load_series(str(lore / "0001-remove-dead-code.eml")).patches[0]
    tree = tmp_path / "tree"
    (tree / TDP).parent.mkdir(parents=True)
    # shift the file by 7 lines: the hunk is found by content, not by its line number
    pre = ["/* moved */"] * 7 + build_preimage(original.diff)
    (tree / TDP).write_text("\n".join(pre) + "\n")
    page = tmp_path / "page.txt"
    page.write_text(damage_mail(raw))
    p = load_series(str(page), tree_path=tree).patches[0]
    assert p.repaired
    got = [x for h in p.files[0].hunks for x in h.lines if x[:1] in " -"]
    want = [x for h in original.files[0].hunks for x in h.lines if x[:1] in " -"]
    assert got == want  # context and removed lines verbatim from the file
    assert [h.old_start for h in p.files[0].hunks] == [1242, 1280]
    assert compare("\n".join(x for h in p.files[0].hunks for x in h.lines),
                   "\n".join(x for h in original.files[0].hunks for x in h.lines)) == 1.0


def test_repaired_series_applies_with_git_am(lore: Path, seed: Path, tmp_path: Path) -> None:
    """Damaged 1/2 + the seed, repaired, apply with git am like the originals do."""
    page1 = tmp_path / "p1.txt"
    page1.write_text(damage_mail((lore / "0001-remove-dead-code.eml").read_bytes()))
    fixed = load_series(str(page1)).patches + load_series(str(seed)).patches
    clean = load_series(str(lore / "series.mbox")).patches
    results = []
    for label, patches in (("fixed", fixed), ("clean", clean)):
        repo = tmp_path / label
        git("init", "-q", str(repo))
        (repo / TDP).parent.mkdir(parents=True)
        (repo / TDP).write_text("\n".join(build_preimage(clean[0].diff)) + "\n")
        git("add", ".", cwd=repo)
        git("commit", "-qm", "base", cwd=repo)
        mbox = tmp_path / f"{label}.mbox"
        mbox.write_text(series_mbox(patches))
        git("am", "--3way", str(mbox), cwd=repo)
        results.append((repo / TDP).read_text().split("\n"))
        if label == "fixed":
            assert "X-Kpatchkit-Repaired" in mbox.read_text()
    a, b = results
    assert [x.split() for x in a] == [x.split() for x in b]
    differ = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert len(differ) == 2  # the two make_spte() continuation lines the author aligned off by one


def _html_page(raw: str, *, pre: bool) -> str:
    hdr, body = raw.split("\n\n", 1)
    head = {k: v for k, v in (x.split(":", 1) for x in hdr.split("\n") if ":" in x
                              and not x.startswith((" ", "\t")))}
    top = "\n".join(f"{k}: {head[k].strip()}" for k in ("From", "Subject", "Date", "Message-Id"))
    if pre:
        inner = f"<pre>{html.escape(top)}\n\n{html.escape(body)}</pre>"
    else:  # hypermail-style: <br> per line, whitespace left to the browser to collapse
        inner = "<p>" + "<br>\n".join(html.escape(x) for x in (top + "\n\n" + body).split("\n"))
    return (f"<!DOCTYPE html><html><head><title>x</title><style>p {{}}</style></head><body>"
            f"{inner}</body></html>")


@pytest.mark.parametrize("pre", [True, False])
def test_saved_html_pages(lore: Path, tmp_path: Path, pre: bool) -> None:
    raw = (lore / "0001-remove-dead-code.eml").read_text()
    page = tmp_path / "page.html"
    page.write_text(_html_page(raw, pre=pre))
    (p,) = load_series(str(page)).patches
    original = load_series(str(lore / "0001-remove-dead-code.eml")).patches[0]
    assert p.message_id == original.message_id and p.email == "yan.y.zhao@intel.com"
    assert p.whitespace_damaged == (not pre) and p.repaired == (not pre)
    assert compare(p.diff, original.diff) >= (1.0 if pre else 0.95)


def test_tree_repair_of_a_whole_damaged_series(lore: Path, seed: Path, tmp_path: Path) -> None:
    """Damaged 1/2 and the seed in one folder, tree at 1/2's preimage: 2/2 is matched against
    the file as 1/2 leaves it, so its context comes verbatim from there too."""
    clean = load_series(str(lore / "series.mbox")).patches
    tree = tmp_path / "tree"
    (tree / TDP).parent.mkdir(parents=True)
    (tree / TDP).write_text("\n".join(build_preimage(clean[0].diff)) + "\n")
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "1.txt").write_text(damage_mail((lore / "0001-remove-dead-code.eml").read_bytes()))
    (folder / "2.txt").write_bytes(seed.read_bytes())
    s = load_series(str(folder), tree_path=tree)
    assert [p.index for p in s.patches] == [1, 2] and s.missing == []
    assert all(p.repaired for p in s.patches)
    assert sum("2 hunk(s) from the tree" in w for w in s.warnings) == 1
    assert sum("1 hunk(s) from the tree" in w for w in s.warnings) == 1
    for got, want in zip(s.patches, clean, strict=True):
        old = [x for x in got.diff.split("\n") if x[:1] in " -"]
        assert old == [x for x in want.diff.split("\n") if x[:1] in " -"]
    assert compare(s.patches[0].diff, clean[0].diff) == 1.0
    assert compare(s.patches[1].diff, clean[1].diff) >= 0.97


def test_marc_style_page(lore: Path, tmp_path: Path) -> None:
    """marc.info layout: labelled headers, 'user () domain ! com' addresses, ISO dates."""
    lines = damage_mail((lore / "0001-remove-dead-code.eml").read_bytes()).split("\n")
    page = ["[prev in list] [next in list] [prev in thread] [next in thread]", "",
            "List:       linux-kernel", "Subject:    " + lines[0],
            "From:       Yan Zhao <yan.y.zhao () intel ! com>", "Date:       2023-08-08 8:53:06",
            "Message-ID: <20230808085306.14742-1-yan.y.zhao () intel ! com>", "", *lines[6:]]
    path = tmp_path / "marc.txt"
    path.write_text("\n".join(page))
    (p,) = load_series(str(path)).patches
    assert (p.author, p.email) == ("Yan Zhao", "yan.y.zhao@intel.com")
    assert p.message_id == "20230808085306.14742-1-yan.y.zhao@intel.com"
    assert p.date == "Tue, 08 Aug 2023 08:53:06 +0000" and p.repaired
    original = load_series(str(lore / "0001-remove-dead-code.eml")).patches[0]
    assert compare(p.diff, original.diff) == 1.0

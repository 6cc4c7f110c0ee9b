"""Mail parsing: RFC 2047, QP/base64, charsets, CRLF, attachments, subjects, trailers."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from kpatchkit.fetch import load_series
from kpatchkit.fetch.mailparse import split_trailers
from kpatchkit.fetch.subject import parse_subject


def original(lore: Path):
    return load_series(str(lore / "0001-remove-dead-code.eml")).patches[0]


def body_of(lore: Path) -> str:
    raw = (lore / "0001-remove-dead-code.eml").read_text()
    return raw.split("\n\n", 1)[1]


def write_mail(path: Path, body: str, *, cte: str | None, charset: str = "utf-8",
               subject: str = "[PATCH 1/2] KVM: x86/mmu: Remove dead code in .change_pte() "
                              "handler in x86 TDP MMU",
               author: str = "Jörg Rödel <joro@example.org>", crlf: bool = False) -> Path:
    msg = EmailMessage()
    msg["From"] = author
    msg["Subject"] = subject
    msg["Date"] = "Tue, 8 Aug 2023 16:53:06 +0800"
    msg["Message-ID"] = "<m1@example.org>"
    msg.set_content(body, charset=charset, cte=cte)
    data = bytes(msg)
    if crlf:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("cte,charset,crlf", [
    ("quoted-printable", "utf-8", False),
    ("base64", "utf-8", False),
    ("8bit", "utf-8", True),
    ("quoted-printable", "iso-8859-1", True),
])
def test_encodings_give_the_same_diff(lore: Path, tmp_path: Path, cte: str, charset: str,
                                      crlf: bool) -> None:
    body = body_of(lore).replace("Remove the dead code", "Remove the dead code (café)")
    path = write_mail(tmp_path / "m.eml", body, cte=cte, charset=charset, crlf=crlf)
    assert (b"!=3D" in path.read_bytes()) == (cte == "quoted-printable")  # really QP
    p = load_series(str(path)).patches[0]
    assert p.author == "Jörg Rödel" and p.email == "joro@example.org"
    assert p.body.startswith("Remove the dead code (café)")
    assert p.diff == original(lore).diff and not p.whitespace_damaged


def test_rfc2047_headers(lore: Path, tmp_path: Path) -> None:
    path = write_mail(tmp_path / "m.eml", body_of(lore), cte="8bit",
                      subject="[PATCH 1/2] KVM: x86: drop set_spte_gfn() — née dead code")
    data = path.read_bytes()
    assert b"=?utf-8?" in data  # the headers really are RFC 2047 encoded
    p = load_series(str(path)).patches[0]
    assert p.subject == "KVM: x86: drop set_spte_gfn() — née dead code"
    assert p.author == "Jörg Rödel"


def test_patch_as_attachment(lore: Path, tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "A <a@example.org>"
    msg["Subject"] = "[PATCH] remove dead code"
    msg["Message-ID"] = "<att@example.org>"
    msg.set_content("Please see the attached patch.\n\nSigned-off-by: A <a@example.org>\n")
    msg.add_attachment(body_of(lore).encode(), maintype="text", subtype="x-patch",
                       filename="0001.patch")
    path = tmp_path / "att.eml"
    path.write_bytes(bytes(msg))
    p = load_series(str(path)).patches[0]
    assert p.diff == original(lore).diff and p.trailers == [["Signed-off-by", "A <a@example.org>"]]


@pytest.mark.parametrize("raw,expect", [
    ("[PATCH v3 2/5] KVM: x", dict(version=3, index=2, total=5, is_reply=False, title="KVM: x")),
    ("[RFC PATCH v2 0/3] y", dict(version=2, index=0, total=3, prefixes=["RFC", "PATCH", "v2"])),
    ("[PATCH RESEND net-next 1/2] z", dict(index=1, prefixes=["PATCH", "RESEND", "net-next"])),
    ("Re: [PATCH v3 2/5] KVM: x", dict(is_reply=True, version=3, index=2, title="KVM: x")),
    ("RE: Re: [PATCHv4 1/1] a", dict(is_reply=True, version=4, index=1, total=1)),
    ("[RFC][PATCH 3/4] b", dict(index=3, total=4, prefixes=["RFC", "PATCH"], is_patch=True)),
    ("[PATCH 08/15] c", dict(index=8, total=15)),
    ("Fwd: [kvm-unit-tests PATCH] d", dict(is_reply=True, is_patch=True, index=None)),
    ("plain subject", dict(is_patch=False, title="plain subject", index=None)),
])
def test_subject_grammar(raw: str, expect: dict) -> None:
    s = parse_subject(raw)
    for key, value in expect.items():
        assert getattr(s, key) == value, (key, s)


def test_trailers_and_base_commit(lore: Path, tmp_path: Path) -> None:
    body = body_of(lore).replace(
        "Signed-off-by: Yan Zhao <yan.y.zhao@intel.com>\n",
        "Suggested-by: Sean Christopherson <seanjc@google.com>\n"
        "Reviewed-by: A B <ab@example.org> # v1\n"
        "[yan: rebased]\n"
        "Signed-off-by: Yan Zhao <yan.y.zhao@intel.com>\n"
        "Link: https://lore.kernel.org/r/x@y\n",
    ).replace("\n-- \n", "\n\nbase-commit: 0123456789abcdef0123456789abcdef01234567\n-- \n")
    p = load_series(str(write_mail(tmp_path / "m.eml", body, cte="8bit"))).patches[0]
    assert [k for k, _ in p.trailers] == ["Suggested-by", "Reviewed-by", "Signed-off-by", "Link"]
    assert p.base_commit == "0123456789abcdef0123456789abcdef01234567"
    assert p.diff == original(lore).diff  # base-commit after the diff is not part of it


def test_split_trailers_keeps_prose() -> None:
    body, trailers = split_trailers("Fix it.\n\nNote: this is prose, not a trailer\nreally.\n")
    assert trailers == [] and body.endswith("really.")


def test_line_wrapped_by_a_mail_client_is_joined_back(lore: Path, tmp_path: Path) -> None:
    raw = (lore / "0002-prefetch-spte.eml").read_text()
    long = "+\twritable = !(range->slot->flags & KVM_MEM_READONLY) && pte_write(range->arg.pte);"
    cut = long.rindex(" ", 0, 72)
    path = tmp_path / "wrapped.eml"
    path.write_text(raw.replace(long, long[:cut] + "\n" + long[cut + 1:]))
    p = load_series(str(path)).patches[0]
    want = load_series(str(lore / "0002-prefetch-spte.eml")).patches[0]
    assert p.diff == want.diff and p.repaired and not p.whitespace_damaged


def flow(body: str, width: int = 72) -> str:
    """RFC 3676 encoding as a flowed mail client does it (delsp=yes)."""
    out = []
    for line in body.split("\n"):
        line = line.rstrip(" ") if line != "-- " else line
        while len(line) > width and " " in line[1:width]:
            cut = line.rindex(" ", 1, width)
            out.append(line[:cut] + "  ")  # content space kept + the soft-break space
            line = line[cut + 1:]
        out.append(line)
    return "\n".join(" " + x if x.startswith((" ", "From ", ">")) else x for x in out)


def test_format_flowed(lore: Path, tmp_path: Path) -> None:
    body = flow(body_of(lore))
    assert "\n  \t" in body and "  \n" in body  # stuffed context lines, soft breaks
    msg = EmailMessage()
    msg["From"] = "Yan Zhao <yan.y.zhao@intel.com>"
    msg["Subject"] = "[PATCH 1/2] KVM: x86/mmu: Remove dead code"
    msg["Message-ID"] = "<flowed@example.org>"
    msg.set_content(body, cte="8bit")
    msg.set_param("format", "flowed")
    msg.set_param("delsp", "yes")
    path = tmp_path / "flowed.eml"
    path.write_bytes(bytes(msg))
    p = load_series(str(path)).patches[0]
    assert p.diff == original(lore).diff and not p.whitespace_damaged

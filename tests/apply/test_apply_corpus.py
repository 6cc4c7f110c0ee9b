"""Real KVM MMU patch mails (../shared/fixtures/kvm-mmu-mails) applied to Debian's 6.1 tree.

``index.toml`` there says, for each mail, what is true on 6.1 and why (checked by hand against
the source); apply must reach the same outcome with evidence that names where it looked. The
expectations hold on any 6.1 point release that keeps these functions (they are read from the
tree at run time, never from line numbers).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from kpatchkit.cli import main
from kpatchkit.records.applied import RESULT_EXIT

pytestmark = [pytest.mark.tree]
CORPUS = Path(__file__).resolve().parents[2].parent / "shared/fixtures/kvm-mmu-mails"


def _mails() -> list[dict]:
    return tomllib.loads((CORPUS / "index.toml").read_text())["mail"]


def _apply(capsys, *argv: str) -> tuple[int, dict, str]:
    rc = main(["apply", *argv, "--json"])
    cap = capsys.readouterr()
    return rc, json.loads(cap.out), cap.err


@pytest.mark.parametrize("mail", _mails(), ids=[m["file"][:2] for m in _mails()])
def test_outcome_on_61_is_the_expected_one_with_evidence(deb61: str, mail: dict,
                                                         capsys) -> None:
    rc, out, err = _apply(capsys, str(CORPUS / mail["file"]), "--tree", deb61, "--no-compile")
    want = mail["expected_on_6_1"]
    assert out["result"] == want, (mail["file"], mail["why"], out["evidence"])
    assert rc == RESULT_EXIT[want], err
    assert "Traceback" not in err
    assert out["evidence"] and all(e["text"] for e in out["evidence"])
    kinds = {e["kind"] for e in out["evidence"]}
    if want == "applied":
        assert "git-am" in kinds and out["patched_commit"] != out["base_commit"]
    elif want == "already-applied":
        # the reverse patch applies, or every hunk was found with its place in the tree
        assert kinds <= {"reverse-apply", "hunk-present", "hunk-superseded"}, kinds
        assert out["patched_commit"] == out["base_commit"]
        for e in out["evidence"]:
            assert e["kind"] == "reverse-apply" or e["file"] in mail["files"] + [
                "arch/x86/kvm/mmu/spte.h"], e
    elif want == "needs-prereq":
        assert out["missing_parts"] == ["1/2"] and "missing-part" in kinds
        assert err.strip().splitlines()[-1].startswith("kpatchkit: error: 2/2 needs 1/2")
    elif want == "not-applicable":
        assert kinds & {"missing-file", "missing-function", "missing-symbol"}
    elif want == "conflict":
        clash = [e for e in out["evidence"] if e["kind"] == "hunk-conflict"]
        assert clash and clash[0]["hunk_text"] and clash[0]["file"] in mail["files"]


def test_what_the_evidence_names_on_61(deb61: str, capsys) -> None:
    """The facts index.toml cites, as apply finds them (functions, not line numbers)."""
    def evidence(prefix: str) -> list[dict]:
        mail = next(m for m in _mails() if m["file"].startswith(prefix))
        return _apply(capsys, str(CORPUS / mail["file"]), "--tree", deb61, "--no-compile")[1][
            "evidence"]

    # 04: merged in 2020, then __is_rsvd_bits_set() moved to spte.h and was rewritten
    (e,) = evidence("04")
    assert e["kind"] == "hunk-superseded" and e["file"] == "arch/x86/kvm/mmu/spte.h"
    assert e["function"] == "__is_rsvd_bits_set"
    # 07: the FAILED notice's original commit reverses cleanly
    assert [e["kind"] for e in evidence("07")] == ["reverse-apply"]
    # 10: both calls guarded in kvm_mmu_invpcid_gva() already
    (e,) = evidence("10")
    assert e["kind"] == "hunk-present" and e["function"] == "kvm_mmu_invpcid_gva"
    # 12: applies, but the member the missing 1/2 adds is nowhere
    e = evidence("12")[-1]
    assert "nr_memslots_dirty_logging" in e["text"]
    # 14: TDX private huge pages: the helper its context calls does not exist
    (e,) = evidence("14")
    assert e["kind"] == "missing-symbol" and "kvm_hugepage_test_mixed" in e["text"]
    # 16: the code lives on under its old name, kvm_mmu_pte_write()
    e = [x for x in evidence("16") if x["kind"] == "hunk-conflict"][0]
    assert e["function"] == "kvm_mmu_pte_write" and "kvm_mmu_track_write" in e["text"]
    assert "indirect_shadow_pages" in e["target_text"]


@pytest.mark.build
def test_compile_proof_for_an_applied_mail_and_a_part_without_its_prereq(deb61: str,
                                                                         capsys) -> None:
    rc, out, _ = _apply(capsys, str(CORPUS / "02-applies-reused-pages-lru.eml"), "--tree", deb61)
    assert rc == 0 and out["result"] == "applied" and out["compile"]["ok"] is True
    rc, out, _ = _apply(capsys, str(CORPUS / "12-series-part-2of2-nx-recovery-dirty-logging.eml"),
                        "--tree", deb61)
    assert rc == 2 and out["result"] == "needs-prereq" and out["compile"]["ok"] is False
    assert any("nr_memslots_dirty_logging" in e["message"] for e in out["compile"]["errors"])

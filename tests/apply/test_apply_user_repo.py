"""apply on a user's own git tree (a real kernel subset): never touches it, whatever happens."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apply_helpers import git, kernel_subset_repo, make_user_state, snapshot

from kpatchkit.cli import main
from kpatchkit.kernel import cfunc
from kpatchkit.records.tree import TreeInfo
from kpatchkit.trees import sources

pytestmark = pytest.mark.tree
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def deb61() -> TreeInfo:
    tarball = Path("/usr/src/linux-source-6.1.tar.xz")
    if not tarball.exists():
        pytest.fail(f"{tarball} missing: apt-get install linux-source-6.1")
    return sources.materialise(str(tarball), "deb61")  # the shared cache: extracted once


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deb61: TreeInfo) -> Path:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KPATCHKIT_KERNEL_SRC", str(tmp_path / "kernel_src"))
    return tmp_path / "cache"


@pytest.fixture
def user(tmp_path: Path, deb61: TreeInfo, cache: Path) -> Path:
    repo = kernel_subset_repo(tmp_path / "linux", deb61.path)
    return repo


def _apply(capsys, *argv: str) -> tuple[int, dict]:
    rc = main(["apply", *argv, "--no-compile", "--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip() else {}


def test_ported_apply_leaves_the_users_repo_exactly_as_it_was(user: Path, lore: Path,
                                                              capsys) -> None:
    make_user_state(user)
    before = snapshot(user)
    rc, out = _apply(capsys, str(lore / "series.mbox"), "--tree", str(user))
    assert rc == 0 and out["result"] == "ported"
    assert [c["kind"] for c in out["commits"]] == ["patch", "patch", "port"]
    assert snapshot(user) == before
    # the commits live in kpatchkit's clone, not in the user's object store
    assert git(Path(out["repo"]), "cat-file", "-t", out["patched_commit"]) == "commit"
    assert subprocess.run(["git", "cat-file", "-e", out["patched_commit"]], cwd=user).returncode
    # kpatchkit's tree is the user's committed HEAD, not the dirty working files
    assert out["base_commit"] == before["head"]
    # --clean drops kpatchkit's worktree and branch (1.3 GB each on a real tree), nothing else
    assert main(["apply", "--clean", "--tree", str(user), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == [out["worktree"]]
    assert not Path(out["worktree"]).exists()
    assert out["branch"] not in git(Path(out["repo"]), "branch", "--list")
    assert snapshot(user) == before


def test_symbol_the_target_lacks_is_reported_with_its_patch_line(user: Path, lore: Path,
                                                                capsys) -> None:
    git(user, "rm", "-q", "arch/x86/kvm/kvm_cache_regs.h")
    git(user, "commit", "-qm", "drop is_guest_mode()")
    rc, out = _apply(capsys, str(lore / "series.mbox"), "--tree", str(user))
    # it ports, but calls what the tree does not have (and is no series part): not applicable
    assert rc == 1 and out["result"] == "not-applicable"
    assert any(e["kind"] == "missing-symbol" and "is_guest_mode" in e["text"]
               for e in out["evidence"])
    [missing] = out["missing_symbols"]
    assert missing["symbol"] == "is_guest_mode"
    assert missing["patch_line"]["patch"] == "2/2"
    assert "is_guest_mode(vcpu)" in missing["patch_line"]["text"]


def test_worktree_pool_recycles_the_least_recently_used(user: Path, lore: Path, seed: Path,
                                                       capsys, monkeypatch) -> None:
    monkeypatch.setenv("KPATCHKIT_APPLY_WORKTREES", "1")
    make_user_state(user)
    before = snapshot(user)
    rc, first = _apply(capsys, str(lore / "series.mbox"), "--tree", str(user))
    assert rc == 0
    rc, second = _apply(capsys, str(seed), "--tree", str(user), "--prereq",
                        str(lore / "0001-remove-dead-code.eml"))
    assert rc == 0 and second["result"] == "ported" and second["cached"] is False
    repo = Path(second["repo"])
    worktrees = [x for x in git(repo, "worktree", "list", "--porcelain").splitlines()
                 if x.startswith("worktree ")]
    assert len(worktrees) == 2  # kpatchkit's clone itself + the one recycled apply worktree
    assert not Path(first["worktree"]).exists()
    assert first["branch"] not in git(repo, "branch", "--list")
    assert git(Path(second["worktree"]), "rev-parse", "HEAD") == second["patched_commit"]
    assert git(Path(second["worktree"]), "status", "--porcelain") == ""
    # the recycled apply is recomputed on demand, identically
    rc, again = _apply(capsys, str(lore / "series.mbox"), "--tree", str(user))
    assert again["patched_commit"] == first["patched_commit"] and again["cached"] is False
    assert snapshot(user) == before


def _commit_on_scratch(user: Path, tmp_path: Path, edits, message: str,
                       base: str = "HEAD", fmt_base: bool = False) -> Path:
    scratch = tmp_path / "scratch"
    subprocess.run(["git", "clone", "-q", str(user), str(scratch)], check=True)
    git(scratch, "checkout", "-q", "--detach", base)
    for rel, fn in edits:
        p = scratch / rel
        p.write_text(fn(p.read_text()))
    git(scratch, "commit", "-qam", message)
    mail = tmp_path / "x.patch"
    extra = ["--base=HEAD~1"] if fmt_base else []
    mail.write_text(git(scratch, "format-patch", "-1", "--stdout", *extra))
    return mail


def test_failed_apply_names_the_hunk_and_leaves_the_repo(user: Path, tmp_path: Path,
                                                        capsys) -> None:
    mmu = "arch/x86/kvm/mmu/tdp_mmu.c"
    # a change to the include block written against a version of it this tree does not have
    mail = _commit_on_scratch(user, tmp_path, [(mmu, lambda t: t.replace(
        '#include "tdp_mmu.h"\n', '#include "tdp_mmu.h"\n#include "other.h"\n', 1))], "x: y")
    text = mail.read_text().replace('+#include "other.h"', '-#include "gone.h"\n+#include "o.h"')
    text = re.sub(r"@@ -(\d+),(\d+) \+(\d+),(\d+) @@",
                  lambda m: f"@@ -{m[1]},{int(m[2]) + 1} +{m[3]},{m[4]} @@", text)
    mail.write_text(text)
    make_user_state(user)
    before = snapshot(user)
    rc, out = _apply(capsys, str(mail), "--tree", str(user))
    assert rc == 1 and out["result"] == "conflict"
    assert out["failure"]["file"] == mmu and out["failure"]["hunk"] == 1
    assert any(e["kind"] == "hunk-conflict" and e["file"] == mmu for e in out["evidence"])
    assert snapshot(user) == before


def test_obsolete_names_the_commit_that_removed_the_function(user: Path, lore: Path,
                                                            capsys) -> None:
    mmu = user / "arch/x86/kvm/mmu/tdp_mmu.c"
    text = mmu.read_text()
    for name in ("kvm_tdp_mmu_set_spte_gfn", "set_spte_gfn"):
        span = cfunc.find_function(text, name)
        lines = text.splitlines(keepends=True)
        text = "".join(lines[:span.comment_start - 1] + lines[span.end + 1:])
    mmu.write_text(text)
    git(user, "commit", "-qam", "KVM: Remove .change_pte() handling")
    remover = git(user, "rev-parse", "HEAD")
    make_user_state(user)
    before = snapshot(user)
    rc, out = _apply(capsys, str(lore / "series.mbox"), "--tree", str(user))
    assert rc == 1 and out["result"] == "not-applicable"
    assert out["obsolete"]["function"] == "kvm_tdp_mmu_set_spte_gfn"
    assert out["obsolete"]["removed_by"].startswith(remover)
    assert "Remove .change_pte()" in out["obsolete"]["removed_by"]
    assert snapshot(user) == before


def test_base_found_by_trailer_and_by_blob_in_history(user: Path, tmp_path: Path,
                                                      capsys) -> None:
    mmu = "arch/x86/kvm/mmu/tdp_mmu.c"
    old = git(user, "rev-parse", "HEAD")
    bump = lambda t: t.replace("bool kvm_tdp_mmu_test_age_gfn(", "bool  kvm_tdp_mmu_test_age_gfn(")  # noqa: E731
    mail = _commit_on_scratch(user, tmp_path, [(mmu, bump)], "KVM: a change", fmt_base=True)
    (user / mmu).write_text((user / mmu).read_text() + "/* newer */\n")
    git(user, "commit", "-qam", "newer")
    rc, out = _apply(capsys, str(mail), "--tree", str(user))
    assert rc == 0 and out["result"] == "applied"
    assert out["base"] | {"blobs": None} == out["base"] | {
        "found": True, "method": "base-commit", "commit": old, "blobs": None}
    # the same change without the trailer: the preimage blob is only in the older commit
    text = re.sub(r"\nbase-commit: \w+\n", "\n", mail.read_text())
    mail.write_text(text)
    rc, out = _apply(capsys, str(mail), "--tree", str(user))
    assert out["base"]["method"] == "blob" and out["base"]["found"] is True
    assert out["base"]["commit"] == old and out["base"]["blobs"][0]["commit"] == old


def test_sigint_mid_apply_leaves_the_repo_and_a_usable_cache(user: Path, lore: Path,
                                                           cache: Path) -> None:
    make_user_state(user)
    before = snapshot(user)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "kpatchkit", "apply", str(lore / "series.mbox"), "--tree",
            str(user), "--no-compile", "--json"]
    interrupted = 0
    for attempt in range(4):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 60
        # interrupt once kpatchkit has started making its worktree (mid-way), later each try
        while time.monotonic() < deadline and proc.poll() is None:
            if list((cache / "apply").glob("*/worktree")) if (cache / "apply").exists() else []:
                time.sleep(0.05 * attempt)
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert snapshot(user) == before
        if proc.returncode == 130:
            interrupted += 1
            assert "interrupted" in err
            assert not list((cache / "apply").glob("*/applied.json"))
        elif proc.returncode == -signal.SIGINT:
            # The signal landed outside kpatchkit's code (interpreter start-up or exit, seen in
            # CI): only the repo check above applies. Stop once a run has completed.
            if list((cache / "apply").glob("*/applied.json")):
                break
        else:
            assert proc.returncode == 0, err
            break
    assert interrupted, "never managed to interrupt the apply mid-way"
    # the interrupted run left nothing that stops the next one
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "ported"
    assert snapshot(user) == before

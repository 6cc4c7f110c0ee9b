"""tree add/list/resolve with small real git repositories and tarballs shaped like a kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kpatchkit.cli import main
from kpatchkit.errors import KpatchkitError
from kpatchkit.trees import registry, sources

MAKEFILE = "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\nEXTRAVERSION = -rc1\nNAME = Test\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KPATCHKIT_KERNEL_SRC", str(tmp_path / "kernel_src"))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def _snapshot(repo: Path) -> dict:
    """Everything of a user's repo that kpatchkit must leave alone."""
    git_dir = repo / ".git"
    return {
        "head": _git(repo, "rev-parse", "HEAD"),
        "symref": (git_dir / "HEAD").read_text(),
        "refs": _git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "index": (git_dir / "index").read_bytes(),
        "files": {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*")
                  if p.is_file() and ".git" not in p.parts},
        "gitdir": sorted(str(p.relative_to(git_dir)) for p in git_dir.rglob("*")),
    }


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "linux"
    (repo / "arch/x86/kvm/mmu").mkdir(parents=True)
    (repo / "Makefile").write_text(MAKEFILE)
    (repo / "arch/x86/kvm/mmu/tdp_mmu.c").write_text("int x;\n")
    _git(repo, "init", "-q", "-b", "master")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qm", "base")
    (repo / "Makefile").write_text(MAKEFILE + "# local edit\n")  # a dirty working file
    return repo


def test_kernel_version_reads_the_makefile(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(MAKEFILE)
    assert sources.kernel_version(tmp_path) == "6.1.7-rc1"
    (tmp_path / "Makefile").write_text("all:\n")
    with pytest.raises(KpatchkitError, match="not a kernel tree"):
        sources.kernel_version(tmp_path)


def test_tarball_tree_is_a_tagged_baseline_and_re_add_is_cached(tmp_path: Path, capsys) -> None:
    src = tmp_path / "linux-source-6.1"
    (src / "kernel").mkdir(parents=True)
    (src / "Makefile").write_text(MAKEFILE)
    (src / "kernel/.gitignore").write_text("*.o\n")
    (src / "kernel/shipped.o").write_text("in the tarball, so in the baseline\n")
    tarball = tmp_path / "linux-source-6.1.tar.xz"
    with tarfile.open(tarball, "w:xz") as tf:
        tf.add(src, arcname="linux-source-6.1")

    assert main(["tree", "add", "t1", "--from", str(tarball), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    repo = Path(out["path"])
    assert out["version"] == "6.1.7-rc1" and out["kind"] == "tarball"
    assert _git(repo, "tag") == "v6.1.7-rc1"
    assert "kernel/shipped.o" in _git(repo, "ls-files")
    assert _git(repo, "status", "--porcelain") == ""
    assert (tmp_path / "kernel_src" / "t1").resolve() == repo.resolve()
    # Same content, second name: no new extraction, the same cache entry and commit.
    again = registry.add_tree("t2", str(tarball))
    assert again.path == repo and again.head == out["head"]
    assert {t.name for t in registry.list_trees()} == {"t1", "t2"}
    assert registry.resolve_tree("t2").head == out["head"]


def test_local_repo_is_cloned_and_never_modified(user_repo: Path) -> None:
    before = _snapshot(user_repo)
    tree = registry.resolve_tree(str(user_repo))
    assert tree.kind == "git-local" and tree.version == "6.1.7-rc1"
    assert tree.head == before["head"] and tree.path != user_repo
    # kpatchkit's clone has the committed content, not the user's uncommitted edit
    assert "# local edit" not in (tree.path / "Makefile").read_text()
    # kpatchkit's clone is independent: committing in it does not reach the user
    _git(tree.path, "-c", "user.name=K", "-c", "user.email=k@x", "commit", "-q",
         "--allow-empty", "-m", "mine")
    assert _snapshot(user_repo) == before
    # a new user commit is picked up on the next resolve
    _git(user_repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qam", "next")
    after = _snapshot(user_repo)
    assert registry.resolve_tree(str(user_repo)).head == after["head"]
    assert _snapshot(user_repo) == after
    # added by name, the tree still follows the user's HEAD
    assert registry.add_tree("mine", str(user_repo)).head == after["head"]
    _git(user_repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-q",
         "--allow-empty", "-m", "third")
    third = _git(user_repo, "rev-parse", "HEAD")
    assert registry.resolve_tree("mine").head == third


def test_concurrent_adds_of_one_tarball_build_it_once(tmp_path: Path) -> None:
    src = tmp_path / "linux"
    (src / "kernel").mkdir(parents=True)
    (src / "Makefile").write_text(MAKEFILE)
    for i in range(300):
        (src / "kernel" / f"f{i}.c").write_text(f"int f{i};\n")
    tarball = tmp_path / "linux.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        tf.add(src, arcname="linux")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-m", "kpatchkit", "tree", "add", f"n{i}",
                               "--from", str(tarball), "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    heads = {json.loads(o)["head"] for o, _ in outs}
    paths = {json.loads(o)["path"] for o, _ in outs}
    assert len(heads) == 1 and len(paths) == 1
    assert sum("extracting" in e for _, e in outs) == 1  # one process built it, two waited


def test_git_url_and_names(user_repo: Path) -> None:
    tree = registry.add_tree("fromurl", f"file://{user_repo}")
    assert tree.kind == "git-url" and tree.head == _git(user_repo, "rev-parse", "HEAD")
    with pytest.raises(KpatchkitError, match="already exists"):
        registry.add_tree("fromurl", str(user_repo))
    with pytest.raises(KpatchkitError, match="bad tree name"):
        registry.add_tree("../evil", str(user_repo))
    with pytest.raises(KpatchkitError, match="no tree named 'nope'.*fromurl"):
        registry.resolve_tree("nope")


def test_missing_debian_tarball_names_the_apt_package(capsys) -> None:
    assert main(["tree", "add", "x", "--from", "/usr/src/linux-source-4.19.tar.xz"]) == 2
    assert "apt-get install linux-source-4.19" in capsys.readouterr().err


def test_prune_drops_clones_of_deleted_repositories_only(tmp_path: Path, user_repo: Path,
                                                         capsys) -> None:
    """A tree added from a repository that was deleted since (a test's, a scratch clone) is a
    dead 'git clone --shared' in the cache; 'tree prune' removes it and keeps live entries."""
    import shutil

    from kpatchkit.cache import cache_dir

    keep = tmp_path / "keep"
    shutil.copytree(user_repo, keep)
    live = registry.add_tree("live", str(keep))
    dead = registry.add_tree("dead", str(user_repo))
    dead_entry = dead.path.parent
    # a build directory borrowing objects from the dead clone, and one from the live one
    for name, src in (("aaaa-1", dead.path), ("bbbb-1", live.path)):
        _git(cache_dir("builds"), "clone", "-q", "--shared", "--no-checkout", str(src),
             f"{name}/src")
    shutil.rmtree(user_repo)
    before = _snapshot(keep)
    assert main(["tree", "prune", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] and dead_entry.exists()
    assert sorted(out["removed"]) == sorted([str(dead_entry), str(cache_dir("builds") / "aaaa-1")])
    # the build clone borrows from the dead clone, which is still there in a dry run; it is
    # found because the clone's own origin is gone
    assert main(["tree", "prune", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert str(dead_entry) in out["removed"] and out["bytes_freed"] > 0
    assert not dead_entry.exists() and live.path.is_dir()
    assert (cache_dir("builds") / "bbbb-1" / "src" / ".git").is_dir()
    assert not (cache_dir("builds") / "aaaa-1").exists()
    assert registry.resolve_tree("live").head == before["head"]
    assert _snapshot(keep) == before


def test_build_directories_beyond_the_limit_go_least_recently_used_first(tmp_path) -> None:
    import fcntl

    from kpatchkit.cache import cache_dir
    from kpatchkit.prune import evict_builds

    builds = cache_dir("builds")
    for i in range(5):
        (builds / f"repo-{i}" / "obj").mkdir(parents=True)
        lock = builds / f"repo-{i}.lock"
        lock.touch()
        os.utime(lock, (1000 + i, 1000 + i))  # repo-0 used longest ago
    new = builds / "repo-new"
    with open(builds / "repo-1.lock", "a") as held:  # another process is building there
        fcntl.flock(held, fcntl.LOCK_EX)
        removed = evict_builds(keep=new, limit=3)
    assert sorted(Path(p).name for p in removed) == ["repo-0", "repo-2"]
    assert sorted(p.name for p in builds.iterdir() if p.is_dir()) == ["repo-1", "repo-3",
                                                                       "repo-4"]
    assert evict_builds(keep=builds / "repo-4", limit=4) == []


def test_analyze_resolves_a_branch_created_after_the_first_call(user_repo: Path,
                                                                capsys) -> None:
    """--tree PATH: a branch made in the user's repository after kpatchkit cloned it is found
    (revisions resolve against the user's repository as it is now); the repo is untouched."""
    tdp = "arch/x86/kvm/mmu/tdp_mmu.c"
    assert main(["analyze", "--tree", str(user_repo), "--file", tdp]) == 0
    _git(user_repo, "checkout", "-q", "-b", "my-branch")
    (user_repo / tdp).write_text("int x;\nint f(void) { return x; }\n")
    _git(user_repo, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-qam", "f")
    _git(user_repo, "checkout", "-q", "master")
    before = _snapshot(user_repo)
    capsys.readouterr()
    code = main(["analyze", "--tree", str(user_repo), "--base", "master", "--head",
                 "my-branch", "--file", tdp, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["head"] == _git(user_repo, "rev-parse", "my-branch")
    assert _snapshot(user_repo) == before
    tree = registry.resolve_tree(str(user_repo))
    with pytest.raises(KpatchkitError, match="not found"):
        sources.resolve_revision(tree, "no-such-branch")

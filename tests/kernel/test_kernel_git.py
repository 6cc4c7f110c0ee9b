"""kpatchkit.kernel.git: the one git plumbing every stage calls (fast: small temporary repos)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from small_repo import small_repo

from kpatchkit.errors import InfraError
from kpatchkit.kernel import git as g


def _repo(path: Path, files: dict[str, bytes]) -> Path:
    return small_repo(path, files)[0]


def test_cat_file_batch_answers_in_order_and_streams_more_than_a_pipe(tmp_path: Path) -> None:
    """Specs in order, a missing one as None, and 300 blobs of 64 KiB (far more than a pipe
    holds in either direction) without a deadlock."""
    big = {f"d/f{i:03}": bytes([i % 251]) * 65536 for i in range(300)}
    repo = _repo(tmp_path / "r", {"a": b"alpha\n", "b": b"\xff\xfe not utf-8\n", **big})
    ids = {n: g.blob_id(repo, "HEAD", n) for n in ("a", "b")}
    specs = [ids["b"], "HEAD:a", "HEAD:nope", "0" * 40, *[f"HEAD:{n}" for n in big]]
    got = list(g.cat_file_batch(repo, specs))
    assert [s for s, _ in got] == specs
    assert got[0][1] == b"\xff\xfe not utf-8\n" and got[1][1] == b"alpha\n"
    assert got[2][1] is None and got[3][1] is None
    assert [d for _, d in got[4:]] == list(big.values())


def test_cat_file_batch_stopped_early_and_on_no_repository(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r", {f"f{i}": b"x" * 70000 for i in range(50)})
    stream = g.cat_file_batch(repo, [f"HEAD:f{i}" for i in range(50)])
    assert next(stream)[1] == b"x" * 70000
    stream.close()  # the caller stops: git is killed, nothing hangs
    (tmp_path / "plain").mkdir()
    for where in (tmp_path / "plain", tmp_path / "missing"):
        with pytest.raises(g.GitError, match=r"stopped after 0 of 1 objects") as err:
            list(g.cat_file_batch(where, ["HEAD:a"]))
        assert isinstance(err.value, InfraError)


def test_archive_into_extracts_only_the_paths(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r", {"Makefile": b"all:\n", "tools/a.c": b"int a;\n",
                                  "drivers/b.c": b"int b;\n"})
    dest = tmp_path / "out"
    dest.mkdir()
    g.archive_into(repo, "HEAD", ["Makefile", "tools"], dest)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["Makefile", "tools/a.c"]
    with pytest.raises(g.GitError, match="git archive of no-such-rev"):
        g.archive_into(repo, "no-such-rev", ["tools"], dest)


def test_a_missing_directory_is_gits_own_failure_and_a_timeout_an_error(tmp_path: Path) -> None:
    proc = g.git(tmp_path / "missing", "status", check=False)
    assert proc.returncode == 128 and "cannot change to" in proc.stderr
    with pytest.raises(g.GitError, match="cannot change to"):
        g.out(tmp_path / "missing", "status")
    start = time.monotonic()
    with pytest.raises(g.GitError, match=r"timed out after 0\.5 s"):
        g.git(tmp_path, "kpk-sleep", config=["alias.kpk-sleep=!sleep 3"], timeout=0.5)
    assert time.monotonic() - start < 2.5


def test_the_callers_repository_variables_do_not_leak_in(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a hook or ``git rebase --exec``, GIT_DIR and friends name the user's repo."""
    ours = _repo(tmp_path / "ours", {"a": b"1\n"})
    theirs = _repo(tmp_path / "theirs", {"b": b"2\n"})
    monkeypatch.setenv("GIT_DIR", str(theirs / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(theirs))
    monkeypatch.setenv("GIT_COMMON_DIR", str(theirs / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.bare'='true'")
    assert g.out(ours, "rev-parse", "--show-toplevel") == str(ours)
    assert g.show_file(ours, "HEAD", "a") == "1\n"


def test_system_config_is_read_only_on_the_users_behalf(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path / "r", {"a": b"1\n"})
    system = tmp_path / "gitconfig"
    system.write_text("[kpk]\n\tprobe = from-system\n")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
    assert g.git(repo, "config", "--get", "kpk.probe", check=False).stdout == ""
    assert g.out(repo, "config", "--get", "kpk.probe", env=g.AS_USER) == "from-system"


def test_show_file_replaces_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r", {"latin1.c": "/* Fran\xe7ois */\n".encode("latin-1")})
    assert g.show_file(repo, "HEAD", "latin1.c") == "/* Fran\ufffdois */\n"
    assert g.show_file(repo, "HEAD", "nope.c") is None


def test_only_kernel_git_runs_git() -> None:
    """Every stage's git goes through this module (its env, errors and timeouts)."""
    import re

    pkg = Path(g.__file__).resolve().parents[1]
    raw = re.compile(r"""[\[(]\s*["']git["']\s*,""")
    hits = [p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")
            if p != Path(g.__file__).resolve() and raw.search(p.read_text())]
    assert not hits, hits

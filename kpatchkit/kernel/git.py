"""Git plumbing shared by the stages: a thin subprocess wrapper plus small read-only queries.

Bulk work (adding 75,000 files, ``am``, worktrees) goes through the ``git`` binary: it is
much faster than GitPython's pure-Python index and gives ``git am --3way`` exactly. GitPython
(``repo()``) is there for callers who want object access.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from kpatchkit.errors import InfraError

# Deterministic identity for commits kpatchkit makes itself (baselines, port commits), so the
# same tarball always gives the same baseline commit id on every machine.
KPATCHKIT_IDENT = {
    "GIT_AUTHOR_NAME": "kpatchkit",
    "GIT_AUTHOR_EMAIL": "kpatchkit@localhost",
    "GIT_COMMITTER_NAME": "kpatchkit",
    "GIT_COMMITTER_EMAIL": "kpatchkit@localhost",
}
FIXED_DATE = "2000-01-01T00:00:00+0000"

# Settings that make a 75k-file index fast and keep background gc from repacking mid-run.
FAST_CONFIG = (
    "core.preloadIndex=true",
    "core.fsync=none",
    "core.untrackedCache=true",
    "index.version=4",
    "gc.auto=0",
    "core.looseCompression=1",
    "advice.detachedHead=false",
    # Parallel checkout, one worker per core: a fresh 75k-file worktree took 5.8-9.5 s with two
    # workers against 13-30 s with one (2 cores, 2026-12-07).
    "checkout.workers=0",
)


# The variables git itself drops when it moves to another repository (``git rev-parse
# --local-env-vars``, git 2.39). Set by a hook or ``git rebase --exec`` that runs kpatchkit, they
# would point kpatchkit's commands at the user's repository.
_LOCAL_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE", "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
)

# ``env=`` for commands run on the user's behalf rather than on kpatchkit's own repositories (a
# network fetch through the machine's proxy and CA settings, the identity the user signs with):
# the system-wide gitconfig is read, as plain git would.
AS_USER = {"GIT_CONFIG_NOSYSTEM": "0"}


class GitError(InfraError):
    """A git command failed; ``stderr`` holds git's own words."""

    def __init__(self, message: str, *, returncode: int = 1, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # Never let a user's hooks/templates/global config change what kpatchkit's own repos do.
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"})
    for key in _LOCAL_ENV:
        env.pop(key, None)
    if extra:
        env.update(extra)
    return env


def _cmd(cwd: Path | str | None) -> list[str]:
    return ["git"] if cwd is None else ["git", "-C", str(cwd)]


def _what(args: Sequence[str], cwd: Path | str | None) -> str:
    return "git " + " ".join(args[:3]) + (f" in {cwd}" if cwd else "")


def git(cwd: Path | str | None, *args: str, env: Mapping[str, str] | None = None,
        input: str | bytes | None = None, check: bool = True, config: Sequence[str] = (),
        text: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``git [-C cwd] [-c config]... args``; raise GitError with git's stderr if it fails.

    ``cwd`` is git's ``-C``, so a directory that does not exist is git's own failure (exit 128)
    like any other. With ``check=False`` a non-zero exit is returned, but git missing or running
    past ``timeout`` seconds (then killed) is still a GitError.
    """
    cmd = _cmd(cwd)
    for item in config:
        cmd += ["-c", item]
    cmd += list(args)
    if text and isinstance(input, bytes):
        input = input.decode()
    try:
        proc = subprocess.run(cmd, env=_env(env), input=input, capture_output=True, text=text,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{_what(args, cwd)} timed out after {timeout:g} s",
                       returncode=-1) from exc
    except OSError as exc:  # no git binary, or cwd is gone
        raise GitError(f"{_what(args, cwd)} could not run: {exc}", returncode=-1) from exc
    if check and proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode(errors="replace")
        raise GitError(f"git {' '.join(args[:3])} failed in {cwd}: {err.strip()[-500:]}",
                       returncode=proc.returncode, stderr=err)
    return proc


def out(cwd: Path | str | None, *args: str, **kwargs) -> str:
    """Run git and return its stdout without the trailing newline."""
    return git(cwd, *args, **kwargs).stdout.rstrip("\n")


def is_git_repo(path: Path) -> bool:
    """True if ``path`` is the top of a git working tree or a bare repository."""
    if not path.is_dir():
        return False
    proc = git(path, "rev-parse", "--show-toplevel", "--is-bare-repository", check=False)
    if proc.returncode != 0:
        return False
    lines = proc.stdout.split()
    if "true" in lines:
        return True
    return bool(lines) and Path(lines[0]).resolve() == path.resolve()


def rev_parse(repo: Path, rev: str) -> str | None:
    """Full commit id of ``rev`` in ``repo``, or None (read-only: never touches the index)."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def has_object(repo: Path, oid: str) -> bool:
    """True if ``oid`` (full or abbreviated) names an object in ``repo``."""
    return git(repo, "cat-file", "-e", oid, check=False).returncode == 0


def resolve_object(repo: Path, oid: str) -> str | None:
    """Expand an abbreviated object id, or None if absent or ambiguous."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", oid, check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def show_file(repo: Path, rev: str, path: str) -> str | None:
    """The text of ``path`` at ``rev`` (bytes that are not UTF-8 replaced), or None if it does
    not exist there."""
    proc = git(repo, "show", f"{rev}:{path}", check=False, text=False)
    return proc.stdout.decode(errors="replace") if proc.returncode == 0 else None


def blob_id(repo: Path, rev: str, path: str) -> str | None:
    """The object id of ``path`` at ``rev`` (a blob; a tree for a directory), or None."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}:{path}", check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def cat_file_batch(repo: Path, specs: Sequence[str]) -> Iterator[tuple[str, bytes | None]]:
    """``(spec, content)`` for each of ``specs`` (object ids or ``rev:path``) in order, from one
    ``git cat-file --batch``; ``None`` for a spec that names no object.

    The answers stream (a whole public-inbox mirror need not fit in memory); a writer thread
    feeds the specs, since git stops reading them once its output pipe is full. GitError if
    git cannot start or stops before answering every spec (a corrupt repository, not a repo).
    """
    try:
        # A 1 MiB read buffer: a few large reads instead of one per 8 KiB (CPU, many blobs).
        proc = subprocess.Popen([*_cmd(repo), "cat-file", "--batch"], env=_env(None),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=1 << 20)
    except OSError as exc:
        raise GitError(f"git cat-file could not run in {repo}: {exc}", returncode=-1) from exc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    err: list[bytes] = []

    def feed() -> None:
        try:
            stdin.write(b"".join(s.encode() + b"\n" for s in specs))
            stdin.close()
        except (OSError, ValueError):  # git died; the reader says why
            pass

    def drain() -> None:  # stderr too, so a chatty git never blocks on it
        err.append(stderr.read())

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    answered = 0
    try:
        for spec in specs:
            header = stdout.readline()
            if not header:
                break
            answered += 1
            fields = header.split()
            if len(fields) != 3 or not fields[2].isdigit():  # "<spec> missing"/"ambiguous"
                yield spec, None
                continue
            data = stdout.read(int(fields[2]))
            stdout.read(1)  # the newline after the content
            yield spec, data
    finally:
        stdout.close()
        if answered < len(specs):
            proc.kill()
        code = proc.wait()
        for t in threads:
            t.join()
    if answered < len(specs):
        why = b"".join(err).decode(errors="replace").strip()[-500:]
        raise GitError(f"git cat-file --batch in {repo} stopped after {answered} of "
                       f"{len(specs)} objects (exit {code}): {why}", returncode=code or 1,
                       stderr=why)


def archive_into(repo: Path, rev: str, paths: Sequence[str], dest: Path, *,
                 timeout: float | None = None) -> None:
    """Write the files under ``paths`` of ``rev`` into the directory ``dest``
    (``git archive | tar -x``); GitError naming what failed."""
    with tempfile.TemporaryFile() as err:
        try:
            archive = subprocess.Popen([*_cmd(repo), "archive", rev, *paths], env=_env(None),
                                       stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            raise GitError(f"git archive could not run in {repo}: {exc}", returncode=-1) from exc
        assert archive.stdout is not None
        try:
            untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout,
                                   capture_output=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            archive.kill()
            archive.wait()
            raise GitError(f"git archive {rev[:12]} | tar -x into {dest} failed: {exc}",
                           returncode=-1) from exc
        finally:
            archive.stdout.close()
        code = archive.wait()
        err.seek(0)
        why = err.read().decode(errors="replace") or untar.stderr.decode(errors="replace")
    if code or untar.returncode:
        raise GitError(f"git archive of {rev[:12]} ({' '.join(paths)}) into {dest} failed: "
                       f"{why.strip()[-300:]}", returncode=code or untar.returncode, stderr=why)


def repo(path: Path):
    """A GitPython ``Repo`` for object-level access (imported lazily: it is slow to import)."""
    import git as gitpython

    return gitpython.Repo(path)

"""Turn a SOURCE (kernel tarball, local git repository, git URL) into kpatchkit's own git
repository in the cache.

Cache layout (``cache_dir("trees")``)::

    trees/<key>/repo/       the git repository (working files checked out at ``head``)
    trees/<key>/tree.json   TreeInfo minus the name; written last, so it marks completeness
    trees/<key>.lock        flock held while the entry is built or refreshed

``key`` is ``tar-<sha256 of the tarball>``, ``git-<hash of the repository's real path>`` or
``url-<hash of the URL>``, so a fresh clone of kpatchkit on the same machine finds the tree again
and re-adding is instant.

A user's own repository is never written to: kpatchkit makes ``git clone --shared
--no-checkout`` of it (objects are read through ``objects/info/alternates``; no file in the
user's ``.git`` changes, unlike ``git worktree add`` which writes ``.git/worktrees/``), then checks
out the user's HEAD *commit* in its own clone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from kpatchkit import cache
from kpatchkit.console import info
from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.records.tree import TreeInfo

TARBALL_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar.zst", ".tar")
_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.I)


def classify(source: str) -> str:
    """Return "tarball", "git-local" or "git-url" for a SOURCE string (raise if none fits)."""
    if _URL_RE.match(source):
        return "git-url"
    path = Path(source).expanduser()
    if path.name.endswith(TARBALL_SUFFIXES):
        if not path.is_file():
            raise KpatchkitError(_missing_tarball_message(path))
        return "tarball"
    if path.is_dir():
        if g.is_git_repo(path):
            return "git-local"
        raise KpatchkitError(f"{path} is a directory but not a git repository; give a kernel git "
                             "tree, a kernel tarball or a git URL")
    example = " or ".join(map(str, debian_tarballs())) or "/usr/src/linux-source-6.1.tar.xz"
    raise KpatchkitError(f"{source}: no such file, directory or URL; give a kernel tarball "
                         f"(e.g. {example}), a kernel git tree or a git URL")


def debian_tarballs() -> list[Path]:
    """Debian ``linux-source-*`` tarballs installed under /usr/src."""
    return sorted(Path("/usr/src").glob("linux-source-*.tar.xz"))


def _missing_tarball_message(path: Path) -> str:
    m = re.match(r"linux-source-([\d.]+)\.tar\.xz$", path.name)
    hint = (f"install it with 'apt-get install linux-source-{m.group(1)}'" if m
            else "check the path")
    have = ", ".join(map(str, debian_tarballs()))
    return f"{path} does not exist; {hint}" + (f" (installed: {have})" if have else "")


def kernel_version(tree: Path) -> str:
    """The kernel version from the top Makefile, e.g. "6.1.192" (raise if not a kernel tree)."""
    makefile = tree / "Makefile"
    try:
        text = makefile.read_text(errors="replace")[:4000]
    except OSError:
        text = ""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(\S*)",
                             text, re.M))
    if not fields.get("VERSION") or "PATCHLEVEL" not in fields:
        raise KpatchkitError(f"{tree} is not a kernel tree: its Makefile has no VERSION/PATCHLEVEL")
    version = f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
    if fields.get("SUBLEVEL"):
        version += f".{fields['SUBLEVEL']}"
    return version + fields.get("EXTRAVERSION", "")


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tarball_key(path: Path) -> str:
    """``tar-<sha256>`` of the tarball, memoised by (path, size, mtime) so re-adding is instant."""
    st = path.stat()
    memo = cache.cache_dir("trees") / "tarball-hashes.json"
    stamp = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if stamp not in known:
        known[stamp] = _file_sha256(path)[:20]
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(memo)
    return "tar-" + known[stamp]


def source_key(kind: str, source: str) -> str:
    """The cache key of a SOURCE (content hash for tarballs, location hash for git)."""
    if kind == "tarball":
        return tarball_key(Path(source).expanduser())
    if kind == "git-local":
        common = g.out(Path(source), "rev-parse", "--path-format=absolute", "--git-common-dir")
        return "git-" + cache.content_hash(str(Path(common).resolve()))
    return "url-" + cache.content_hash(source)


def entry_dir(key: str) -> Path:
    """The cache directory of one tree entry."""
    return cache.cache_dir("trees") / key


def load_entry(key: str, name: str) -> TreeInfo | None:
    """The TreeInfo stored for ``key`` (None if the entry is absent or incomplete)."""
    meta = entry_dir(key) / "tree.json"
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    info_ = TreeInfo.from_json({**data, "name": name})
    return info_ if (info_.path / ".git").exists() else None


def _write_entry(key: str, tree: TreeInfo) -> None:
    meta = entry_dir(key) / "tree.json"
    tmp = meta.with_suffix(f".{os.getpid()}.tmp")
    data = tree.to_json()
    data.pop("name", None)  # the name lives in kernel_src/, one entry may have several names
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(meta)


def materialise(source: str, name: str) -> TreeInfo:
    """Return the cached repository for SOURCE, building it once (under a lock)."""
    kind = classify(source)
    _prune_once()
    if kind != "git-url":
        source = str(Path(source).expanduser().resolve())
    key = source_key(kind, source)
    with cache.locked(entry_dir(key)):
        tree = load_entry(key, name)
        if tree is not None and kind != "git-local":
            return tree
        builder = {"tarball": _from_tarball, "git-local": _from_local, "git-url": _from_url}[kind]
        tree = builder(source, name, entry_dir(key), tree)
        _write_entry(key, tree)
        return tree


_PRUNED = False


def _prune_once() -> None:
    """Drop cached clones of deleted repositories (once per process; see kpatchkit.prune)."""
    global _PRUNED
    if _PRUNED:
        return
    _PRUNED = True
    from kpatchkit.prune import prune_orphans

    gone = prune_orphans(measure=False)
    if gone.paths:
        info(f"cache: removed {len(gone.paths)} clone(s) of repositories that no longer exist")


def _fresh_tmp(entry: Path) -> Path:
    tmp = entry / f"tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _from_tarball(source: str, name: str, entry: Path, _old: TreeInfo | None) -> TreeInfo:
    tarball = Path(source)
    tmp = _fresh_tmp(entry)
    try:
        t0 = time.monotonic()
        info(f"tree {name}: extracting {tarball.name} (about 30 s for a kernel)")
        proc = subprocess.run(["tar", "-xf", str(tarball), "-C", str(tmp)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise InfraError(f"tar could not extract {tarball}: {proc.stderr.strip()[-300:]}")
        entries = [p for p in tmp.iterdir()]
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        version = kernel_version(top)
        t1 = time.monotonic()
        info(f"tree {name}: extracted {version} in {t1 - t0:.0f} s; making the baseline commit")
        head = _baseline_commit(top, f"{tarball.name} ({version})", version)
        took = time.monotonic() - t1
        info(f"tree {name}: baseline {head[:12]} tagged v{version} in {took:.0f} s")
        repo = entry / "repo"
        shutil.rmtree(repo, ignore_errors=True)
        top.rename(repo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TreeInfo(name=name, path=repo, version=version, kind="tarball", origin=source,
                    head=head)


def _baseline_commit(top: Path, what: str, version: str) -> str:
    """git init + add everything (ignored files too: the tarball is the truth) + one commit."""
    g.git(top, "init", "--quiet", "--initial-branch=baseline")
    for item in g.FAST_CONFIG:
        key, value = item.split("=", 1)
        g.git(top, "config", key, value)
    g.git(top, "add", "-A", "-f", ".", config=g.FAST_CONFIG)
    env = {**g.KPATCHKIT_IDENT, "GIT_AUTHOR_DATE": g.FIXED_DATE,
           "GIT_COMMITTER_DATE": g.FIXED_DATE}
    g.git(top, "commit", "--quiet", "--no-verify", "-m", f"Baseline: {what}", env=env,
          config=g.FAST_CONFIG)
    g.git(top, "tag", f"v{version}")
    return g.out(top, "rev-parse", "HEAD")


def _checkout(repo: Path, commit: str) -> None:
    g.git(repo, "checkout", "--quiet", "--force", "--detach", commit, config=g.FAST_CONFIG)


def _from_local(source: str, name: str, entry: Path, old: TreeInfo | None) -> TreeInfo:
    user = Path(source)
    head = g.rev_parse(user, "HEAD")  # read-only: rev-parse never writes the index
    if head is None:
        raise KpatchkitError(f"{user} has no commits; commit the kernel tree first")
    repo = entry / "repo"
    if old is None or not (repo / ".git").exists():
        tmp = _fresh_tmp(entry)
        try:
            info(f"tree {name}: cloning {user} (shared, your repository is not touched)")
            g.git(tmp, "clone", "--quiet", "--shared", "--no-checkout", str(user), "repo")
            for item in g.FAST_CONFIG:
                key, value = item.split("=", 1)
                g.git(tmp / "repo", "config", key, value)
            shutil.rmtree(repo, ignore_errors=True)
            (tmp / "repo").rename(repo)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    elif old.head == head:
        return old
    # With --shared the clone reads the user's object store, so the user's new commits are visible
    # without fetching; only kpatchkit's clone moves.
    if g.rev_parse(repo, head) is None:
        g.git(repo, "fetch", "--quiet", "origin", head)
    _checkout(repo, head)
    version = kernel_version(repo)
    return TreeInfo(name=name, path=repo, version=version, kind="git-local", origin=source,
                    head=head)


def resolve_revision(tree: TreeInfo, rev: str) -> str:
    """Full commit id of ``rev`` for ``tree``, resolved in the user's repository as it is now.

    kpatchkit's clone has the user's refs of clone time only, so a branch created afterwards is
    looked up in the origin (read-only ``rev-parse``); its objects are visible to the shared
    clone through ``objects/info/alternates``. Anything else resolves in kpatchkit's clone.
    """
    if tree.kind == "git-local" and Path(tree.origin).is_dir():
        sha = g.rev_parse(Path(tree.origin), rev)
        if sha is not None and g.rev_parse(tree.path, sha) is not None:
            return sha
    sha = g.rev_parse(tree.path, rev)
    if sha is None:
        raise KpatchkitError(f"revision {rev!r} not found in {tree.origin or tree.path}; "
                             "give a commit or branch")
    return sha


def _from_url(source: str, name: str, entry: Path, _old: TreeInfo | None) -> TreeInfo:
    tmp = _fresh_tmp(entry)
    repo = entry / "repo"
    try:
        info(f"tree {name}: cloning {source}")
        g.git(tmp, "clone", "--quiet", "--no-checkout", source, "repo")
        for item in g.FAST_CONFIG:
            key, value = item.split("=", 1)
            g.git(tmp / "repo", "config", key, value)
        head = g.out(tmp / "repo", "rev-parse", "HEAD")
        _checkout(tmp / "repo", head)
        shutil.rmtree(repo, ignore_errors=True)
        (tmp / "repo").rename(repo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TreeInfo(name=name, path=repo, version=kernel_version(repo), kind="git-url",
                    origin=source, head=head)

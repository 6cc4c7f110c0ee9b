"""The cache outside the checkout: ``$KPATCHKIT_CACHE`` or ``~/.cache/kpatchkit``.

Everything expensive (extracted trees, kernel builds, selftest builds, parsed ASTs) is keyed by
content hashes so that CI's clean clone on the same machine reuses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from kpatchkit.errors import InfraError


class CacheUnavailable(InfraError, OSError):
    """The cache directory cannot be created or written (exit 3). Also an ``OSError``, so
    callers that guard cache writes with ``except OSError`` keep working."""


def _unavailable(path: Path, exc: OSError | None) -> CacheUnavailable:
    why = (exc.strerror or str(exc)) if exc else "not writable"
    return CacheUnavailable(
        f"the cache directory {path} is not usable ({why}); make it writable or set "
        "KPATCHKIT_CACHE to a writable directory")


def cache_root() -> Path:
    """Return the cache root, creating it; ``CacheUnavailable`` when it cannot be used."""
    root = Path(os.environ.get("KPATCHKIT_CACHE") or Path.home() / ".cache" / "kpatchkit")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(root, exc) from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise _unavailable(root, None)
    return root


def cache_dir(*parts: str) -> Path:
    """Return (and create) a sub-directory of the cache."""
    path = cache_root().joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(path, exc) from exc
    return path


def file_digest(path: Path | str) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks (kernel images, initramfs)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(*chunks: str | bytes, length: int = 16) -> str:
    """A short stable hex digest over the given chunks (order matters)."""
    h = hashlib.sha256()
    for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else chunk
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (a lock file is created beside it; opening
    it for writing renews its mtime, the entry's "last used" time)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def try_locked(path: Path) -> Iterator[bool]:
    """Like :func:`locked` but never waits: yields False if another process holds the lock.

    The lock file is opened for appending, so probing does not touch its mtime (which
    ``locked`` renews on every use and the build eviction reads as "last used").
    """
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""Atomic output files: a reader (or a crash, or a signal) never sees half a file.

``write_bytes``/``write_text`` write to a temporary name in the destination's directory and
``os.replace`` it over the destination. Temporaries in flight are registered; ``cleanup()``
removes them (the CLI calls it when SIGINT/SIGTERM arrives) and ``left()`` says what this process
wrote completely, so an interruption can say exactly what was left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kpatchkit.errors import InfraError, KpatchkitError, UserError

_pending: set[Path] = set()  # temporaries being written
_written: list[Path] = []  # destinations completed since reset()
_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# The machine's fault, not the path the user gave.
_INFRA_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM, errno.EMFILE, errno.ENFILE}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT/SIGTERM over a few bookkeeping statements (not over the write itself)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path. ``OSError`` is raised as is
    (see :func:`os_error` to turn it into kpatchkit's taxonomy)."""
    path = Path(path)
    with _signals_held():
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        _pending.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        with _signals_held():
            os.replace(tmp, path)
            _pending.discard(tmp)
            _written.append(path)
    finally:
        if tmp in _pending:
            with contextlib.suppress(OSError):
                tmp.unlink()
            _pending.discard(tmp)
    return path


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes`)."""
    return write_bytes(path, text.encode(encoding))


def cleanup() -> list[Path]:
    """Remove the temporaries of writes in flight; return those that could not be removed."""
    stuck = []
    for tmp in sorted(_pending):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            stuck.append(tmp)
    _pending.clear()
    _pending.update(stuck)
    return stuck


def reset() -> None:
    """Forget what was written (a new command starts)."""
    _written.clear()


def left() -> str:
    """What this process left behind, for the message an interruption prints."""
    stuck = cleanup()
    done = ", ".join(dict.fromkeys(str(p) for p in _written))
    out = f"complete files written before it: {done}" if done else "no file was written"
    if stuck:
        out += "; partial temporary files could not be removed: " + ", ".join(map(str, stuck))
    else:
        out += "; no partial file was left"
    return out


def os_error(exc: OSError, path: str | os.PathLike, what: str = "cannot write") \
        -> KpatchkitError:
    """A failed write as kpatchkit's error: the disk's fault (full, I/O error) is
    infrastructure (exit 3); a path the user gave that cannot hold the file is usage (exit 2)."""
    why = exc.strerror or str(exc)
    if exc.errno in _INFRA_ERRNOS:
        return InfraError(f"{path}: {what} ({why})")
    return UserError(f"{path}: {what} ({why})")

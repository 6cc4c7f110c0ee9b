"""Handing one kernel's tests to its guests as they become free (a shared work queue).

A static split (``shard.split``) balances guests by expected seconds, but a test's time under
TCG varies by half again from run to run (load, which test runs first in a guest), and one long
test planned onto the wrong guest leaves the other core idle for a minute. With a queue each guest
asks for its next test when it finishes one, longest expected first, so the guests end within
about one short test of each other whatever the estimates were.

Protocol, on a third serial port (the guest's ttyS2, a Unix socket on the host; ``data/init.sh``
is the guest side): the guest writes ``next``; the host answers the 1-based line of
``/tests/list`` to run, or ``done``. Anything else from the guest is ignored. Which test a guest
ran is what the host handed it, so a guest that hangs or dies keeps only the test in progress;
the rest go to the other guests.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from kpatchkit.guest.initramfs import GuestTest
from kpatchkit.guest.shard import DEFAULT_SECONDS

QUEUE_PARAM = "kpatchkit.queue=1"
DONE = b"done\n"


class TestQueue:
    """One kernel's tests, longest expected first; thread-safe; remembers who took what."""

    __test__ = False  # not a pytest class

    def __init__(self, tests: Sequence[GuestTest], seconds: Mapping[str, float] | None = None
                 ) -> None:
        seconds = seconds or {}

        def cost(i: int) -> float:
            t = tests[i]
            return float(seconds.get(t.name, min(DEFAULT_SECONDS, float(t.timeout))))

        self._pending = sorted(range(len(tests)), key=lambda i: (-cost(i), i))
        self._lock = threading.Lock()
        self.taken: dict[int, list[int]] = {}

    def take(self, guest: int) -> int | None:
        """The next test's index (0-based) for ``guest``, or None when none is left."""
        with self._lock:
            if not self._pending:
                return None
            i = self._pending.pop(0)
            self.taken.setdefault(guest, []).append(i)
            return i

    def left(self) -> list[int]:
        """Indices never handed out (every guest ended before asking for them)."""
        with self._lock:
            return sorted(self._pending)


class QueueServer:
    """The host end of one guest's control port: a listening Unix socket QEMU connects to, and
    a thread answering ``next`` from ``queue`` for ``guest``. Use as a context manager."""

    def __init__(self, queue: TestQueue, guest: int) -> None:
        self.queue, self.guest = queue, guest
        # A short path of our own: AF_UNIX paths stop at 107 bytes and cache dirs can be deep.
        self._dir = Path(tempfile.mkdtemp(prefix="kpk-q-"))
        self.path = self._dir / "ctl"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(1)
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def qemu_args(self) -> list[str]:
        """What QEMU needs to make this socket the guest's ttyS2 (after the two serial files)."""
        return ["-chardev", f"socket,id=kpkctl,path={self.path}", "-serial", "chardev:kpkctl"]

    def __enter__(self) -> QueueServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _serve(self) -> None:
        conn = None
        while conn is None and not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self._sock.accept()
        if conn is None:
            return
        conn.settimeout(0.5)
        buf = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return  # QEMU exited
                buf += data.replace(b"\r", b"")
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip() != b"next":
                        continue
                    i = self.queue.take(self.guest)
                    with contextlib.suppress(OSError):
                        conn.sendall(DONE if i is None else f"{i + 1}\n".encode())

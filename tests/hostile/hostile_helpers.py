"""Hostile inputs, generated (never stored), and a runner that bounds CPU time and memory.

``run_bounded`` runs ``python -m kpatchkit`` in a process of its own whose CPU seconds and
address space are capped with ``resource.setrlimit`` (RLIMIT_CPU, RLIMIT_AS): a case that
allocates without bound dies of MemoryError or SIGXCPU instead of passing. No wall-clock
assertion on speed; ``timeout`` only keeps a hang from stalling CI.

The process is forked from a *zygote*: one interpreter per test session that started with
``PYTHONPATH`` at this checkout and imported the CLI and its subcommands, then forks a child
per run that takes the run's environment, working directory, standard streams and limits and
executes ``kpatchkit/__main__.py`` as ``python -m kpatchkit`` does. That skips the 0.35 s of
interpreter start and imports that each of the dozens of hostile runs would otherwise pay;
``run_fresh`` is the plain subprocess, and a test holds the two to the same outcome.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import select
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CPU_SECONDS = 30  # a hostile case must not need more CPU than this
MEMORY = 1024 << 20  # nor more address space than this


@dataclass
class Outcome:
    """What one bounded run printed and returned."""

    rc: int
    stdout: str
    stderr: list[str]

    def json(self) -> dict:
        """The one JSON object stdout must hold under --json."""
        return json.loads(self.stdout)

    def one_error(self, *words: str) -> str:
        """Assert stderr is exactly one 'kpatchkit: error:' line holding ``words``."""
        assert "Traceback" not in "\n".join(self.stderr), self.stderr
        assert len(self.stderr) == 1, self.stderr
        line = self.stderr[0]
        assert line.startswith("kpatchkit: error: "), line
        for w in words:
            assert w in line, (w, line)
        return line


def _bound(cpu: int, memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def _outcome(rc: int, stdout: bytes, stderr: bytes) -> Outcome:
    assert rc >= 0, f"killed by signal {-rc} (bound exceeded, or SIGALRM: past the timeout?)"
    err = stderr.decode("utf-8", "replace").strip().splitlines()
    return Outcome(rc, stdout.decode("utf-8", "replace"), err)


def run_fresh(*args: str, env: dict | None = None, cpu: int = CPU_SECONDS,
              memory: int = MEMORY, timeout: float = 300, cwd: Path | None = None) -> Outcome:
    """``python -m kpatchkit ARGS`` in a new interpreter under the CPU/memory bounds."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "kpatchkit", *args], capture_output=True,
                          env=full_env, cwd=cwd or REPO, timeout=timeout,
                          preexec_fn=_bound(cpu, memory))
    return _outcome(proc.returncode, proc.stdout, proc.stderr)


# The zygote: reads one JSON request a line, forks, and answers the child's wait status. The
# child leaves the loop, sets itself up as the request says and runs kpatchkit/__main__.py the
# way `python -m kpatchkit` does, so it exits through the interpreter's own shutdown.
_ZYGOTE = """
import json, os, resource, runpy, signal, sys
from kpatchkit.cli import build_parser
build_parser()  # imports every subcommand's module once, before any fork

def serve():
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return req
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"status": status}) + "\\n")
        sys.stdout.flush()
    raise SystemExit(0)

req = serve()
for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                        (1, req["stdout"], os.O_WRONLY | os.O_TRUNC),
                        (2, req["stderr"], os.O_WRONLY | os.O_TRUNC)):
    os.dup2(os.open(path, flags), fd)
sys.stdin = open(0, closefd=False)
os.environ.clear()
os.environ.update(req["env"])
os.chdir(req["cwd"])
sys.argv = ["kpatchkit", *req["args"]]
resource.setrlimit(resource.RLIMIT_CPU, (req["cpu"], req["cpu"]))
resource.setrlimit(resource.RLIMIT_AS, (req["memory"], req["memory"]))
signal.alarm(req["timeout"])  # a hang dies of SIGALRM instead of stalling CI
runpy.run_module("kpatchkit", run_name="__main__", alter_sys=True)
"""


class _Zygote:
    """The session's zygote process (started on first use, ended at exit)."""

    proc: subprocess.Popen | None = None
    log = None  # the zygote's own stderr (not a test's captured one): why it died, if it did

    @classmethod
    def stop(cls) -> None:
        """End the zygote (end of input) and reap it, so its CPU time counts as the session's."""
        if cls.proc is not None and cls.proc.poll() is None:
            assert cls.proc.stdin
            cls.proc.stdin.close()
            try:
                cls.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()

    @classmethod
    def run(cls, request: dict, timeout: float) -> int:
        """Fork one run of ``request``; its exit code (negative: the signal that killed it)."""
        if cls.proc is None or cls.proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            cls.log = tempfile.TemporaryFile()
            cls.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=cls.log, env=env,
                                        cwd=REPO)
            atexit.register(cls.stop)
        assert cls.proc.stdin and cls.proc.stdout
        with contextlib.suppress(BrokenPipeError):  # a dead zygote is said below, with why
            cls.proc.stdin.write(json.dumps(request).encode() + b"\n")
            cls.proc.stdin.flush()
        # the child's alarm ends a hang; this only catches a zygote that is itself stuck
        ready, _, _ = select.select([cls.proc.stdout], [], [], timeout + 30)
        assert ready, f"the zygote did not answer within {timeout + 30} s"
        line = cls.proc.stdout.readline()
        if not line:
            cls.log.seek(0)
            raise AssertionError(f"the zygote died: {cls.log.read().decode(errors='replace')}")
        return os.waitstatus_to_exitcode(json.loads(line)["status"])


def run_bounded(*args: str, env: dict | None = None, cpu: int = CPU_SECONDS,
                memory: int = MEMORY, timeout: float = 300, cwd: Path | None = None) -> Outcome:
    """``kpatchkit ARGS`` under the CPU/memory bounds, forked from the session's zygote."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with tempfile.TemporaryDirectory(prefix="kpatchkit-run-") as tmp:
        out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
        out.touch()
        err.touch()
        request = {"args": list(args), "env": full_env, "cwd": str(cwd or REPO), "cpu": cpu,
                   "memory": memory, "timeout": max(1, int(timeout)), "stdout": str(out),
                   "stderr": str(err)}
        rc = _Zygote.run(request, timeout)
        return _outcome(rc, out.read_bytes(), err.read_bytes())


DIFF = """\
diff --git a/arch/x86/kvm/mmu/mmu.c b/arch/x86/kvm/mmu/mmu.c
index 1111111..2222222 100644
--- a/arch/x86/kvm/mmu/mmu.c
+++ b/arch/x86/kvm/mmu/mmu.c
@@ -1,3 +1,3 @@
 int a;
-int b;
+int c;
 int d;
"""


def mail(*, subject: str = "[PATCH] KVM: x86/mmu: fix a thing",
         frm: str = "A U Thor <author@example.org>", headers: list[str] = (),
         body: str = "Fix a thing.\n", diff: str = DIFF, msgid: str = "p1@example.org",
         in_reply_to: str | None = None) -> bytes:
    """A small patch mail (or reply, with ``diff=''``) with hostile parts put in."""
    head = [f"From: {frm}", f"Subject: {subject}", f"Message-ID: <{msgid}>",
            "Date: Tue, 8 Aug 2023 16:54:31 +0800", *headers]
    if in_reply_to:
        head += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    text = "\n".join(head) + "\n\n" + body
    if diff:
        text += ("\nSigned-off-by: A U Thor <author@example.org>\n---\n"
                 " arch/x86/kvm/mmu/mmu.c | 2 +-\n\n" + diff + "-- \n2.39.2\n")
    return text.encode()


def multipart(parts: int, *, subject: str = "[PATCH] KVM: many parts") -> bytes:
    """A mail of ``parts`` empty MIME parts plus the patch as the first one."""
    b = "hostile-boundary"
    out = [f"From: A <a@example.org>\nSubject: {subject}\nMessage-ID: <mp@example.org>\n"
           f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{b}\"\n\n"]
    out.append(f"--{b}\nContent-Type: text/plain\n\n" + mail().decode().split("\n\n", 1)[1])
    out.extend(f"--{b}\n\nx\n" for _ in range(parts))
    out.append(f"--{b}--\n")
    return "".join(out).encode()


def hostile_reply(kind: str, parent: str) -> bytes:
    """A reply to ``parent`` that a careless parser cannot survive (see REPLIES)."""
    return REPLIES[kind](parent)


REPLIES = {
    "nested From": lambda parent: mail(subject="Re: [PATCH 2/2] x", diff="", msgid="h1@evil",
                                       frm="x " + "(" * 5000 + ")" * 5000 + " <e@evil>",
                                       in_reply_to=parent),
    "nested Content-Type": lambda parent: mail(
        subject="Re: [PATCH 2/2] x", diff="", msgid="h2@evil", in_reply_to=parent,
        headers=["MIME-Version: 1.0",
                 "Content-Type: text/plain; charset=" + "(" * 5000 + ")" * 5000]),
    "huge m": lambda parent: mail(subject="Re: [PATCH 1/4294967295] x", msgid="h3@evil",
                                  in_reply_to=parent),
    "RFC 2231 parameters": lambda parent: mail(
        subject="Re: [PATCH 2/2] x", diff="", msgid="h4@evil", in_reply_to=parent,
        headers=["MIME-Version: 1.0", "Content-Type: text/plain;" + "".join(
            f"\n name*{k}*=utf-8''a{k};" for k in range(5000))]),
    "many MIME parts": lambda parent: multipart(20000, subject="Re: [PATCH 2/2] x")
    .replace(b"<mp@example.org>", f"<h5@evil>\nIn-Reply-To: <{parent}>".encode()),
    "long line": lambda parent: mail(subject="Re: [PATCH 2/2] x", diff="", msgid="h6@evil",
                                     in_reply_to=parent, body="x" * 100_000 + "\n"),
}


def mbox_of(*mails: bytes) -> bytes:
    """An mbox (mboxrd separators) of ``mails``."""
    return b"".join(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + m.rstrip(b"\n") + b"\n\n"
                    for m in mails)

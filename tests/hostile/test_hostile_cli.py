"""Exit codes that tell the truth, --json errors, signals, servers, and output that is what it
claims: the rest of issue 15's hostile classes."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_helpers import DIFF, REPO, mail, mbox_of, run_bounded, run_fresh

from kpatchkit import atomic
from kpatchkit.cli import main

# --- servers on 127.0.0.1 ---------------------------------------------------------------------


class _Hostile(http.server.BaseHTTPRequestHandler):
    mode = "ok"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.mode == "500":
            self.send_error(500, "Internal Server Error")
        elif self.mode == "404":
            self.send_error(404, "Not Found")
        elif self.mode == "trickle":  # one byte every half second, for ever
            self.send_response(200)
            self.send_header("Content-Length", "100000000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"F")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return
        elif self.mode == "trickle-headers":
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return


@pytest.fixture
def server(request) -> Iterator[str]:
    handler = type("H", (_Hostile,), {"mode": request.param})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    # shutdown() waits for serve_forever's next poll: 0.05 s, not the default 0.5 s per test
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/kvm"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(("server", "rc", "words"), [
    ("500", 3, ["HTTP 500"]),
    ("404", 2, ["no message"]),
    ("trickle", 3, ["did not finish", "request_deadline"]),
    ("trickle-headers", 3, ["did not finish", "request_deadline"]),
], indirect=["server"])
def test_server_failures_have_the_right_exit_code(server: str, rc: int, words: list[str]) -> None:
    out = run_bounded("fetch", server, "--msgid", "a@example.org", "--json",
                      env={"KPATCHKIT_LIMIT_REQUEST_DEADLINE": "1"}, timeout=120)
    assert out.rc == rc
    out.one_error(*words)
    kind = out.json()["error"]["kind"]
    assert kind == ("infrastructure" if rc == 3 else "user")


def test_refused_connection_is_infrastructure() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run_bounded("fetch", f"http://127.0.0.1:{port}/kvm", "--msgid", "a@b.org", "--json")
    assert out.rc == 3
    out.one_error("cannot fetch")
    assert out.json()["error"]["kind"] == "infrastructure"


# --- the runner: a forked run is a fresh interpreter's run ------------------------------------


@pytest.mark.parametrize("case", ["a warning", "a limit from the environment",
                                  "a path relative to the working directory"])
def test_forked_run_is_a_fresh_run(case: str, tmp_path: Path) -> None:
    """What run_bounded forks from the zygote prints and exits exactly as `python -m kpatchkit`
    in a new interpreter does: arguments, environment and working directory reach it."""
    (tmp_path / "in.eml").write_bytes(mail(diff=MODE + DIFF))
    (tmp_path / "two.mbox").write_bytes(mbox_of(mail(), mail(msgid="p2@example.org")))
    args, env = {
        "a warning": (["fetch", str(tmp_path / "in.eml"), "--json"], {}),
        "a limit from the environment": (["fetch", str(tmp_path / "two.mbox"), "--json"],
                                         {"KPATCHKIT_LIMIT_MAILS": "1"}),
        "a path relative to the working directory": (["fetch", "in.eml", "-o", "out"], {}),
    }[case]
    written = tmp_path / "out" / "series.mbox"
    forked = run_bounded(*args, env=env, cwd=tmp_path)
    wrote = written.is_file()
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    fresh = run_fresh(*args, env=env, cwd=tmp_path)
    assert forked == fresh and wrote == written.is_file()
    assert fresh.stderr  # every case says something on stderr: the comparison is not empty
    if case == "a limit from the environment":
        fresh.one_error("mails")
    assert wrote == case.startswith("a path")


# --- exit codes and --json ----------------------------------------------------------------------


def test_internal_error_is_logged_not_printed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))

    def bug(*_a, **_k):
        raise ValueError("a bug")

    monkeypatch.setattr("kpatchkit.fetch.load_series", bug)
    assert main(["fetch", "x.eml", "--json"]) == 3
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "internal error: ValueError: a bug" in err[0]
    assert "Traceback" not in cap.err
    log = Path(err[0].split("traceback in ")[1].split(")")[0].split(" ")[0])
    assert "Traceback" in log.read_text() and log.is_relative_to(tmp_path / "cache")
    assert json.loads(cap.out)["error"]["kind"] == "internal"


def test_internal_error_without_a_writable_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("KPATCHKIT_CACHE", str(blocker / "cache"))  # cannot be created
    monkeypatch.setattr("kpatchkit.fetch.load_series",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert main(["fetch", "x.eml"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" in err[0] and "the cache could not take it" in err[0]
    log = Path(err[0].split("traceback in ")[1].split(" ")[0])
    assert "RuntimeError: boom" in log.read_text()
    log.unlink()


def test_no_writable_cache_is_infrastructure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    # a git URL is cloned into the cache: the cache being unusable is said, exit 3
    out = run_bounded("fetch", "file:///nonexistent/inbox.git", "--json",
                      env={"KPATCHKIT_CACHE": str(blocker / "cache")})
    assert out.rc == 3
    out.one_error("cache directory", "not usable")
    assert out.json()["error"]["kind"] == "infrastructure"


@pytest.mark.parametrize(("args", "rc", "kind"), [
    (["fetch", "/nonexistent.eml"], 2, "user"),
    (["fetch"], 2, "user"),
    (["fetch", "{thread}", "-o", "{file}"], 2, "user"),
    (["no-such-command"], 2, "user"),
])
def test_json_error_is_one_object(args, rc, kind, lore: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("keep me\n")
    argv = [a.format(thread=lore / "thread.mbox", file=tmp_path / "file") for a in args]
    out = run_bounded(*argv, "--json")
    assert out.rc == rc
    line = out.one_error()
    obj = out.json()
    assert set(obj) == {"error"} and obj["error"]["kind"] == kind
    assert obj["error"]["message"] in line
    assert (tmp_path / "file").read_text() == "keep me\n"


# --- signals: atomic outputs --------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_writing_leaves_no_partial_file(signum, lore: Path, tmp_path: Path,
                                                     monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    real_fsync = os.fsync
    calls = []

    def fsync_then_signal(fd):
        calls.append(fd)
        real_fsync(fd)
        if len(calls) == 2:  # series.mbox is complete, series.json is in its temporary
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(atomic.os, "fsync", fsync_then_signal)
    rc = main(["fetch", str(lore / "thread.mbox"), "-o", str(out)])
    assert rc == 128 + signum
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kpatchkit: error: interrupted by "), err
    assert f"complete files written before it: {out / 'series.mbox'}" in err[0]
    assert "no partial file was left" in err[0] and "nothing of yours" not in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["series.mbox"]
    assert (out / "series.mbox").read_text().count("\nFrom: ") == 2


def test_sigterm_at_any_moment_leaves_whole_files(lore: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    assert run_bounded("fetch", str(lore / "thread.mbox"), "-o", str(ref)).rc == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for k, delay in enumerate([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3]):
        out = tmp_path / f"out{k}"
        proc = subprocess.Popen([sys.executable, "-m", "kpatchkit", "fetch",
                                 str(lore / "thread.mbox"), "-o", str(out)],
                                stderr=subprocess.PIPE, env=env, cwd=REPO)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert b"Traceback" not in err
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
        assert not [n for n in left if n.endswith(".tmp")], left
        for name in left:  # whatever exists is whole
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        if proc.returncode == 128 + signal.SIGTERM:
            line = err.decode().strip().splitlines()[-1]
            assert line.startswith("kpatchkit: error: interrupted by SIGTERM")
            for name in left:
                assert str(out / name) in line


# --- output that is what it claims --------------------------------------------------------------


def test_body_from_lines_are_mboxrd_escaped(tmp_path: Path) -> None:
    body = ("Fix a thing.\n\nFrom the report:\n>From quoted\n"
            "From someone Mon Sep 17 00:00:00 2001\nFrom x Tue Aug  8 16:54:31 2023\n")
    src = tmp_path / "in.eml"
    src.write_bytes(mail(body=body))
    out = run_bounded("fetch", str(src), "-o", str(tmp_path / "o"))
    assert out.rc == 0, out.stderr
    mbox = tmp_path / "o" / "series.mbox"
    text = mbox.read_text()
    for line in (">From the report:", ">>From quoted", ">From someone Mon", ">From x Tue"):
        assert "\n" + line in text
    split = tmp_path / "split"
    split.mkdir()
    res = subprocess.run(["git", "mailsplit", "--mboxrd", f"-o{split}", str(mbox)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "1", res  # one mail, not four
    assert "\nFrom x Tue Aug  8 16:54:31 2023\n" in (split / "0001").read_text()


def test_terminal_never_sees_escape_sequences(tmp_path: Path) -> None:
    evil = "[PATCH] KVM: \x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil\rkpatchkit: ok"
    src = tmp_path / "in.eml"
    src.write_bytes(mail(subject=evil))
    out = run_bounded("fetch", str(src), "--json")
    assert out.rc == 0
    stderr = "\n".join(out.stderr)
    for ch in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert ch not in stderr
    assert "KVM: ]0;owned[2J31mevil" in stderr
    assert out.json()["series"]["patches"][0]["subject"].startswith("KVM: \x1b]0;owned")


def test_header_injection_does_not_reach_series_mbox(tmp_path: Path) -> None:
    src = tmp_path / "in.eml"
    src.write_bytes(mail(frm="=?utf-8?q?Eve=0ASubject=3A_forged?= <eve@example.org>"))
    assert run_bounded("fetch", str(src), "-o", str(tmp_path / "o")).rc == 0
    head = (tmp_path / "o" / "series.mbox").read_text().split("\n\n", 1)[0]
    assert "\nSubject: forged" not in head and head.count("\nSubject: ") == 1


SYMLINK = """\
diff --git a/arch/x86/kvm/evil b/arch/x86/kvm/evil
new file mode 120000
index 0000000..1111111
--- /dev/null
+++ b/arch/x86/kvm/evil
@@ -0,0 +1 @@
+/etc
\\ No newline at end of file
"""
THROUGH = """\
diff --git a/arch/x86/kvm/evil/passwd b/arch/x86/kvm/evil/passwd
new file mode 100644
index 0000000..2222222
--- /dev/null
+++ b/arch/x86/kvm/evil/passwd
@@ -0,0 +1 @@
+root::0:0::/root:/bin/sh
"""
MODE = """\
diff --git a/scripts/x.sh b/scripts/x.sh
old mode 100644
new mode 100755
"""


@pytest.mark.parametrize(("diff", "rc", "words"), [
    (SYMLINK + THROUGH, 2, ["goes through the symlink arch/x86/kvm/evil"]),
    (SYMLINK + DIFF, 0, ["creates a symlink: arch/x86/kvm/evil -> /etc (outside the tree)"]),
    (MODE + DIFF, 0, ["changes the mode of scripts/x.sh: 100644 -> 100755"]),
])
def test_symlinks_and_modes_are_reported(diff, rc, words, tmp_path: Path) -> None:
    src = tmp_path / "in.eml"
    src.write_bytes(mail(diff=diff))
    out = run_bounded("fetch", str(src), "--json")
    assert out.rc == rc, out.stderr
    if rc:
        out.one_error(*words)
    else:
        warnings = out.json()["series"]["warnings"]
        assert any(all(w in x for w in words) for x in warnings), warnings
        assert any(words[0] in line for line in out.stderr)

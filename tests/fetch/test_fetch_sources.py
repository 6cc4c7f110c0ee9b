"""fetch over HTTP from a lore-style server on 127.0.0.1 and from a public-inbox git mirror."""

from __future__ import annotations

import gzip
import http.server
import mailbox
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from fetch_helpers import git

from kpatchkit.cli import main
from kpatchkit.errors import KpatchkitError
from kpatchkit.fetch import load_series

COVER = "20230808085056.14644-1-yan.y.zhao@intel.com"
PATCH2 = "20230808085431.14814-1-yan.y.zhao@intel.com"
PAOLO = "CABgObfZ7MRShYm79NsH2=WwvTAcaoz5jUSBxPb57KEhotcr_oA@mail.gmail.com"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def lore_server(lore: Path, tmp_path: Path) -> Iterator[str]:
    """BASE/MSGID/t.mbox.gz for the cover and 2/2 threads, BASE/MSGID/raw for every mail."""
    root = tmp_path / "www" / "kvm"
    for msg in mailbox.mbox(str(lore / "thread.mbox")):
        mid = msg["Message-ID"].strip().strip("<>")
        (root / mid).mkdir(parents=True, exist_ok=True)
        (root / mid / "raw").write_bytes(msg.as_bytes())
    thread = gzip.compress((lore / "thread.mbox").read_bytes())
    for mid in (COVER, PAOLO):
        (root / mid / "t.mbox.gz").write_bytes(thread)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Quiet, directory=str(tmp_path / "www")))
    # shutdown() waits for serve_forever's next poll: 0.05 s, not the default 0.5 s per test
    thread_ = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                               daemon=True)
    thread_.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/kvm"
    finally:
        server.shutdown()
        server.server_close()


def test_http_thread_by_base_and_msgid(lore_server: str) -> None:
    s = load_series(lore_server, msgid=f"<{COVER}>")
    assert s.source_kind == "http" and [p.index for p in s.patches] == [1, 2]
    assert s.cover is not None and len(s.replies) == 4 and s.missing == []


def test_http_message_url_and_special_chars(lore_server: str) -> None:
    # a message URL as copied from a browser; the id has '=' in it
    s = load_series(f"{lore_server}/{PAOLO}/T/")
    assert [p.index for p in s.patches] == [1, 2]


def test_http_raw_fallback_via_env(lore_server: str, monkeypatch, capsys) -> None:
    # 2/2 has no t.mbox.gz on this server: only its raw message is fetched
    monkeypatch.setenv("KPATCHKIT_LORE_URL", lore_server)
    assert main(["fetch", PATCH2]) == 0
    s = load_series(PATCH2)
    assert [p.index for p in s.patches] == [2] and s.missing == [1]


def test_http_unknown_message(lore_server: str, capsys) -> None:
    assert main(["fetch", lore_server, "--msgid", "nope@example.org"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kpatchkit: error:") and "nope@example.org" in err[0]


def build_inbox(lore: Path, path: Path, extra: list[bytes] = ()) -> Path:
    """A public-inbox v1 style repo: one commit per message, the mail in file 'm'."""
    git("init", "-q", str(path))
    msgs = [m.as_bytes() for m in mailbox.mbox(str(lore / "thread.mbox"))] + list(extra)
    for k, data in enumerate(msgs):
        (path / "m").write_bytes(data)
        git("add", "m", cwd=path)
        git("commit", "-qm", f"message {k}", cwd=path)
    return path


def test_git_mirror_path_bare_and_url(lore: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))
    unrelated = (lore / "0001-remove-dead-code.eml").read_bytes().replace(
        b"20230808085306.14742-1", b"unrelated-1").replace(
        b"In-Reply-To: <20230808085056.14644-1-yan.y.zhao@intel.com>\n", b"").replace(
        b"References: <20230808085056.14644-1-yan.y.zhao@intel.com>\n", b"").replace(
        b"[PATCH 1/2]", b"[PATCH v5 1/1]")
    inbox = build_inbox(lore, tmp_path / "inbox", [unrelated])
    s = load_series(str(inbox), msgid=COVER)
    assert s.source_kind == "git-mirror" and [p.index for p in s.patches] == [1, 2]
    assert len(s.replies) == 4 and s.cover is not None
    assert load_series(str(inbox)).version == 5  # the newest revision without --msgid
    bare = tmp_path / "kvm.git"
    git("clone", "-q", "--bare", str(inbox), str(bare))
    shutil.rmtree(inbox)
    assert [p.index for p in load_series(str(bare), msgid=PATCH2).patches] == [1, 2]
    s = load_series(f"file://{bare}", msgid=COVER)  # a git URL is cloned into the cache
    assert [p.message_id for p in s.patches][1] == PATCH2
    assert len(list((tmp_path / "cache" / "inbox").glob("*/HEAD"))) == 1
    s = load_series(f"file://{bare}", msgid=COVER)  # and fetched again, not re-cloned
    assert len(s.patches) == 2


def test_git_repo_without_messages(tmp_path: Path, capsys) -> None:
    repo = tmp_path / "r"
    git("init", "-q", str(repo))
    (repo / "README").write_text("x\n")
    git("add", ".", cwd=repo)
    git("commit", "-qm", "x", cwd=repo)
    assert main(["fetch", str(repo)]) == 2
    assert "no public-inbox messages" in capsys.readouterr().err


def test_public_inbox_v2_layout(lore: Path, tmp_path: Path) -> None:
    """v2 inboxes keep epochs in git/N.git; the thread may span epochs."""
    msgs = [m.as_bytes() for m in mailbox.mbox(str(lore / "thread.mbox"))]
    work = tmp_path / "work"
    for epoch, chunk in enumerate((msgs[:2], msgs[2:])):
        repo = work / str(epoch)
        git("init", "-q", str(repo))
        for k, data in enumerate(chunk):
            (repo / "m").write_bytes(data)
            git("add", "m", cwd=repo)
            git("commit", "-qm", f"m{k}", cwd=repo)
        if epoch == 1:  # public-inbox deletes spam with a commit that removes 'm'
            git("rm", "-q", "m", cwd=repo)
            git("commit", "-qm", "purge", cwd=repo)
        git("clone", "-q", "--bare", str(repo), str(tmp_path / "inbox" / "git" / f"{epoch}.git"))
    s = load_series(str(tmp_path / "inbox"), msgid=PATCH2)
    assert s.source_kind == "git-mirror" and [p.index for p in s.patches] == [1, 2]
    assert s.cover is not None and len(s.replies) == 4
    with pytest.raises(KpatchkitError, match="thread of"):
        load_series(str(tmp_path / "inbox"), msgid="absent@example.org")

"""Where mails come from: files, mboxes, maildirs, folders, git mirrors, lore-style servers.

Every reader returns ``Item``s (raw bytes + a label); parsing is ``mailparse``'s job. The kind
is recognised from the SOURCE string and, for files, from their first bytes.
"""

from __future__ import annotations

import gzip
import http.client
import io
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kpatchkit.errors import InfraError, KpatchkitError, UserError
from kpatchkit.fetch import limits
from kpatchkit.kernel import git as g

DEFAULT_LORE = "https://lore.kernel.org/all"
_MBOX_FROM_RE = re.compile(rb"^From \S+ .*\d{4}\s*$")
_MBOXRD_ESC_RE = re.compile(rb"^>(>*From )", re.M)
_HEADER_LINE_RE = re.compile(rb"^[A-Za-z0-9-]+:[ \t]")


@dataclass
class Item:
    """One message's raw bytes and where it came from."""

    data: bytes
    label: str
    archive_text: bool = False  # a web page copy, not an RFC 822 mail
    error: KpatchkitError | None = None  # why this one could not be read (others still can)


@dataclass
class Fetched:
    """All messages read from a SOURCE."""

    items: list[Item]
    kind: str  # mail, mbox, maildir, folder, webarchive, git-mirror, http
    msgid: str | None = None  # a message id the SOURCE itself named (lore URL)


def _max_input() -> int:
    """The total_bytes limit (data/limits.toml; KPATCHKIT_MAX_INPUT overrides it)."""
    return limits.get("total_bytes")


def _check_size(size: int, label: str) -> None:
    if size > _max_input():
        raise limits.breach("total_bytes", f"{label} (pass the thread's mbox, not a whole list's)",
                            size)


def _check_text(data: bytes, label: str) -> None:
    sample = data[:65536]
    if not sample.strip():
        raise KpatchkitError(f"{label} is empty")
    bad = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    if b"\0" in sample or bad > len(sample) // 100 + 4:
        raise KpatchkitError(f"{label} is binary data, not a mail, mbox or patch")


def read_file(path: Path) -> bytes:
    """Read a file (gunzipping ``.gz`` content) with the size limit applied."""
    try:
        with path.open("rb") as fh:
            data = fh.read(_max_input() * 4 + 1)  # gzip may shrink it; never read unbounded
    except OSError as exc:
        raise KpatchkitError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, str(path))
    _check_size(len(data), str(path))
    return data


def _gunzip(data: bytes, label: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            out = gz.read(_max_input() + 1)
    except (OSError, EOFError) as exc:
        raise KpatchkitError(f"{label}: corrupt gzip data ({exc})") from exc
    _check_size(len(out), label)
    return out


def split_mbox(data: bytes, label: str) -> list[Item]:
    """Split an mbox (mboxo or mboxrd: '>From ' is unescaped one level)."""
    messages: list[list[bytes]] = []
    cur: list[bytes] | None = None
    most = limits.get("mails")
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        if _is_separator(line):
            if len(messages) >= most:
                raise limits.breach("mails", label, f"more than {most}")
            cur = []
            messages.append(cur)
        elif cur is not None:
            cur.append(line)
    out = []
    for k, lines in enumerate(messages):
        raw = _MBOXRD_ESC_RE.sub(rb"\1", b"\n".join(lines))
        if raw.strip():
            out.append(Item(raw, f"{label}#{k + 1}"))
    return out


def _is_separator(line: bytes) -> bool:
    # a separator line is short ('From <sha> Mon Sep 17 00:00:00 2001'): never run the regex
    # over a long line
    return line.startswith(b"From ") and len(line) < 512 and bool(_MBOX_FROM_RE.match(line))


def is_mbox(data: bytes) -> bool:
    """True when the first line is an mbox 'From ' separator."""
    return _is_separator(data[:1024].split(b"\n", 1)[0].rstrip(b"\r"))


def is_mail(data: bytes) -> bool:
    """True when the data starts with an RFC 822 header block."""
    first = data.lstrip(b"\n").split(b"\n", 1)[0]
    return bool(_HEADER_LINE_RE.match(first))


def items_from_bytes(data: bytes, label: str) -> tuple[list[Item], str]:
    """Items and kind for the bytes of one file."""
    _check_text(data, label)
    from kpatchkit.fetch.webarchive import html_to_text, is_html

    if is_html(data):
        text = html_to_text(data.decode("utf-8", "replace"))
        return [Item(text.encode(), label, archive_text=True)], "webarchive"
    if is_mbox(data):
        return split_mbox(data, label), "mbox"
    if is_mail(data):
        return [Item(data, label)], "mail"
    return [Item(data, label, archive_text=True)], "webarchive"


def from_directory(path: Path, msgid: str | None = None) -> tuple[list[Item], str]:
    """A maildir (cur/new), a public-inbox git repo, or a folder of patch/mail files."""
    if is_git_mirror(path):
        return from_git_mirror(str(path), msgid), "git-mirror"
    if (path / "cur").is_dir() and (path / "new").is_dir():
        files = sorted(p for d in ("new", "cur") for p in (path / d).iterdir() if p.is_file())
        kind = "maildir"
    else:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        kind = "folder"
    if not files:
        raise KpatchkitError(f"{path} holds no mail or patch files")
    items: list[Item] = []
    total = 0
    limits.check("mails", len(files), str(path))
    for f in files:
        data = read_file(f)
        total += len(data)
        _check_size(total, str(path))
        try:
            sub, _ = items_from_bytes(data, str(f))
        except KpatchkitError as exc:
            # one unreadable file in a folder is that file's problem (load_series decides)
            sub = [Item(data, str(f), error=exc)]
        items.extend(sub)
        limits.check("mails", len(items), str(path))
    return items, kind


def is_git_mirror(path: Path) -> bool:
    """A public-inbox v1 repo (bare or not) or a v2 inbox (git/N.git epochs)."""
    return ((path / "HEAD").is_file() and (path / "objects").is_dir()) or (path / ".git").exists() \
        or (path / "git" / "0.git").is_dir() or (path / "all.git").is_dir()


def _git(repo: Path | None, *args: str, timeout: int = 600, remote: bool = False) -> bytes:
    """Run git in ``repo``. A failure on a local repository is the input's (exit 2); git
    missing, a timeout or a failing remote (clone/fetch over the network) is infrastructure
    (exit 3). A remote command reads the machine's system gitconfig (proxy, CA), as git would."""
    res = g.git(repo, *args, check=False, text=False, timeout=timeout,
                env=g.AS_USER if remote else None)
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip().splitlines()
        why = err[-1] if err else f"exit {res.returncode}"
        cls = InfraError if remote else UserError
        raise cls(f"git {' '.join(args[:2])} failed: {why}")
    return res.stdout


def _cat_blobs(repo: Path, specs: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """``git cat-file --batch`` over ``specs`` (one process for a whole mirror, streamed); a
    repository git cannot read to the end is the input's problem."""
    try:
        yield from g.cat_file_batch(repo, specs)
    except g.GitError as exc:
        raise UserError(f"{repo}: {exc}") from exc


def _ids_in(headers: bytes) -> tuple[str, set[str]]:
    """(Message-ID, ids it refers to) from a mail's raw header block."""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", headers)
    own, refs = "", set()
    for line in unfolded.split(b"\n"):
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        ids = {x.decode("utf-8", "replace") for x in re.findall(rb"<([^<>\s]+)>", value)}
        if key == b"message-id" and ids:
            own = next(iter(ids))
        elif key in (b"in-reply-to", b"references"):
            refs |= ids
    return own, refs


def _thread_specs(found: list[tuple[str, str, set[str]]], msgid: str) -> set[str]:
    """Specs of the messages connected to ``msgid`` (public-inbox threads by references)."""
    want = msgid.strip("<> ")
    members = {want}
    changed = True
    while changed:  # a fixed point: small threads converge in a few rounds
        changed = False
        for _, own, refs in found:
            if own in members and not refs <= members:
                members |= refs
                changed = True
            elif own not in members and refs & members:
                members.add(own)
                changed = True
    return {spec for spec, own, _ in found if own in members}


def from_git_mirror(spec: str, msgid: str | None = None) -> list[Item]:
    """Messages of a public-inbox mirror (one commit per message, the mail in file 'm').

    With ``msgid`` only that message's thread is kept, so a whole list's mirror can be read
    without holding it in memory: headers first, then the thread's mails.
    """
    path = Path(spec)
    if not path.exists():
        path = _mirror_clone(spec)
    repos = sorted((r for r in (path / "git").glob("*.git") if r.stem.isdigit()),
                   key=lambda p: int(p.stem)) \
        if (path / "git").is_dir() else [path]
    items: list[Item] = []
    total = 0
    per_repo = {}
    for repo in repos:
        commits = _git(repo, "rev-list", "--reverse", "--all").decode().split()
        per_repo[repo] = [f"{c}:m" for c in commits]
    if msgid:  # a thread may span epochs: headers of every epoch first
        found = [(s, *_ids_in(data.split(b"\n\n", 1)[0]))
                 for repo, specs in per_repo.items()
                 for s, data in _cat_blobs(repo, specs) if data is not None]
        keep = _thread_specs(found, msgid)
        per_repo = {r: [s for s in specs if s in keep] for r, specs in per_repo.items()}
    for repo, specs in per_repo.items():
        for s, data in _cat_blobs(repo, specs):
            if data is None:
                continue
            total += len(data)
            if total > _max_input():
                raise limits.breach("total_bytes", f"{spec}" + (
                    "" if msgid else " (pass --msgid to read one thread)"), total)
            items.append(Item(data, f"{spec}@{s[:12]}"))
            limits.check("mails", len(items), spec)
    if not items:
        where = f" in the thread of {msgid!r}" if msgid else " (no file 'm' in any commit)"
        raise KpatchkitError(f"{spec} is a git repository but holds no public-inbox messages"
                             + where)
    return items


def _mirror_clone(url: str) -> Path:
    """A mirror clone of ``url`` in the cache (fetched again when it exists)."""
    from kpatchkit.cache import cache_dir, content_hash, locked

    path = cache_dir("inbox") / content_hash(url)
    with locked(path):
        if (path / "HEAD").is_file():
            _git(path, "fetch", "--quiet", "--prune", "origin", timeout=1800, remote=True)
        else:
            tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
            try:
                _git(None, "clone", "--quiet", "--mirror", url, str(tmp), timeout=1800,
                     remote=True)
                tmp.rename(path)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    return path


def lore_url(base: str, msgid: str, what: str) -> str:
    """``BASE/MSGID/what`` with the message id escaped as public-inbox does."""
    quoted = urllib.parse.quote(msgid.strip("<>"), safe="@!$&'()*+,;=:~.-_")
    return f"{base.rstrip('/')}/{quoted}/{what}"


class _Deadline:
    """The one deadline every request of a fetch shares (limit 'request_deadline')."""

    def __init__(self) -> None:
        self.seconds = limits.get("request_deadline")
        self.end = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib would also follow one to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        if not newurl.lower().startswith(("http://", "https://")):
            raise InfraError(f"{req.full_url}: the server redirects to {newurl[:100]!r}, "
                             "which is not http(s)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# HTTP statuses that say the request the user made is wrong (exit 2); every other failure of
# a server (5xx, 401/403, 429, a refused connection, a timeout) is infrastructure (exit 3).
_USER_STATUSES = {400, 414}
_NOT_FOUND = {404, 410}


def _http_read(url: str, deadline: _Deadline, cancel: threading.Event) -> bytes | None:
    """GET ``url`` (blocking; run in a worker thread that the deadline abandons)."""
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    cap = _max_input() * 4 + 1
    timeout = max(0.1, min(limits.get("read_timeout"), deadline.left()))
    try:
        with opener.open(url, timeout=timeout) as resp:
            chunks: list[bytes] = []
            size = 0
            read = getattr(resp, "read1", resp.read)
            while size < cap and not cancel.is_set():
                chunk = read(min(65536, cap - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code in _NOT_FOUND:
            return None
        cls = UserError if exc.code in _USER_STATUSES else InfraError
        raise cls(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "reason", None) or exc
        raise InfraError(f"{url}: cannot fetch ({why})") from exc
    except ValueError as exc:  # not a URL urllib can open
        raise UserError(f"{url}: {exc}") from exc
    return b"".join(chunks)


def _http_get(url: str, deadline: _Deadline | None = None) -> bytes | None:
    """The body at ``url``, None on 404/410; the whole fetch's deadline bounds it, however
    slowly the server sends (its socket timeout is per read)."""
    deadline = deadline or _Deadline()
    box: dict = {}
    cancel = threading.Event()

    def work() -> None:
        try:
            box["data"] = _http_read(url, deadline, cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["exc"] = exc

    worker = threading.Thread(target=work, name="kpatchkit-http", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline.left()))
    if worker.is_alive():
        cancel.set()  # the worker stops at its next read; the process does not wait for it
        raise limits.breach("request_deadline", f"{url}: the server did not finish",
                            deadline.seconds)
    if "exc" in box:
        raise box["exc"]
    data = box["data"]
    if data is None:
        return None
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, url)
    _check_size(len(data), url)
    return data


def from_http(base: str, msgid: str) -> tuple[list[Item], str]:
    """The whole thread (t.mbox.gz), or the one message (raw) if the thread is not served."""
    deadline = _Deadline()
    data = _http_get(lore_url(base, msgid, "t.mbox.gz"), deadline)
    if data is not None:
        _check_text(data, "t.mbox.gz")
        return split_mbox(data, lore_url(base, msgid, "t.mbox.gz")), "http"
    data = _http_get(lore_url(base, msgid, "raw"), deadline)
    if data is None:
        raise UserError(f"{base}: no message {msgid!r} (404 for t.mbox.gz and raw)")
    items, _ = items_from_bytes(data, lore_url(base, msgid, "raw"))
    return items, "http"


def _split_lore_url(url: str) -> tuple[str, str | None]:
    """``https://host/list/MSGID/[raw|t.mbox.gz|T/]`` -> (base, msgid)."""
    parsed = urllib.parse.urlsplit(url)
    parts = [p for p in parsed.path.split("/") if p]
    while parts and parts[-1] in ("raw", "t.mbox.gz", "T", "t", "#t"):
        parts.pop()
    if parts and "@" in urllib.parse.unquote(parts[-1]):
        msgid = urllib.parse.unquote(parts.pop())
        base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, "/" + "/".join(parts), "",
                                        ""))
        return base, msgid
    return url, None


def fetch_source(source: str, msgid: str | None) -> Fetched:
    """Read every message SOURCE holds (see module docstring for the kinds)."""
    if not source or not source.strip():
        raise KpatchkitError("no SOURCE given: pass a mail, mbox, folder, archive text, "
                             "git mirror or lore URL")
    if re.match(r"^(git|ssh)://|^[\w.-]+@[\w.-]+:|^file://|\.git/?$", source):
        return Fetched(from_git_mirror(source, msgid), "git-mirror")
    if re.match(r"^https?://", source):
        base, url_msgid = _split_lore_url(source)
        mid = msgid or url_msgid
        if mid:
            items, kind = from_http(base, mid)
            return Fetched(items, kind, url_msgid)
        return Fetched(from_git_mirror(source, msgid), "git-mirror")
    if source == "-":
        data = sys.stdin.buffer.read(_max_input() + 1)
        _check_size(len(data), "standard input")
        items, kind = items_from_bytes(data, "stdin")
        return Fetched(items, kind)
    path = Path(source).expanduser()
    if path.is_dir():
        items, kind = from_directory(path, msgid)
        return Fetched(items, kind)
    if path.is_file():
        items, kind = items_from_bytes(read_file(path), str(path))
        return Fetched(items, kind)
    if path.exists():
        raise KpatchkitError(f"{source}: not a regular file or directory")
    if "@" in source and "/" not in source:
        base = os.environ.get("KPATCHKIT_LORE_URL", DEFAULT_LORE)
        items, kind = from_http(base, source)
        return Fetched(items, kind, source.strip("<>"))
    raise KpatchkitError(f"{source}: no such file or directory (and not a URL or Message-ID)")

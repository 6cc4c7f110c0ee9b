"""Shared fixtures: paths to ../shared, the real Debian trees (cached), an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kernel_trees import DEBIAN_TREES, debian_tarball, debian_tree  # noqa: F401 - re-exported

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared").resolve()
LORE = SHARED / "fixtures" / "lore"
SEED = SHARED / "seeds" / "000_56cc99f0a5258bf1.txt"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The read-only ../shared folder (fixtures are read from there, never copied)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests read the fixtures from ../shared")
    return SHARED


@pytest.fixture(scope="session")
def lore(shared: Path) -> Path:
    """../shared/fixtures/lore."""
    return LORE


@pytest.fixture(scope="session")
def seed(shared: Path) -> Path:
    """The web-archive seed of 2/2."""
    return SEED


def _loopback(address) -> bool:
    """True for an address on this machine (127.0.0.0/8, ::1, localhost) or a Unix socket."""
    import ipaddress

    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name to resolve: only loopback names are allowed


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: HTTP tests serve fixtures on 127.0.0.1 themselves, and a
    connection to any other address fails the test (not only proxies are cleared)."""
    import socket

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address) -> None:
        if not _loopback(address):
            pytest.fail(f"a test tried to connect to {address!r}: tests use loopback only")

    def connect(self, address):
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


_SHARED_CACHE_MARKS = ("tree", "build", "vm", "lava")


@pytest.fixture(autouse=True)
def _isolated_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that is not marked tree/build/vm/lava gets a cache of its own session: fast tests
    never write into the user's ~/.cache/kpatchkit. Marked tests opt into the shared cache of
    trees and builds (that is what keeps a warm run fast); a test that sets KPATCHKIT_CACHE
    itself keeps its own."""
    if any(request.node.get_closest_marker(m) for m in _SHARED_CACHE_MARKS):
        return
    if {"deb61", "deb612"} & set(request.fixturenames):
        return  # the session's trees live in the shared cache, whoever asks for them first
    if not hasattr(_isolated_cache, "dir"):
        _isolated_cache.dir = tmp_path_factory.mktemp("kpatchkit-cache")  # type: ignore[attr-defined]
    monkeypatch.setenv("KPATCHKIT_CACHE", str(_isolated_cache.dir))  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def deb61() -> str:
    """Name of the tree of Debian's linux-source-6.1 (whatever point release is installed)."""
    return debian_tree("deb61").name


@pytest.fixture(scope="session")
def deb612() -> str:
    """Name of the tree of Debian's linux-source-6.12."""
    return debian_tree("deb612").name





os.environ.setdefault("KPATCHKIT_JOBS", "2")

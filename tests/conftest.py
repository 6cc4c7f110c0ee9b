"""Shared fixtures: paths to ../shared, the real Debian trees (cached), an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network; HTTP tests serve fixtures on 127.0.0.1 themselves."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)


def debian_tarball(version: str) -> Path:
    """Path of Debian's linux-source tarball, or fail with what to install."""
    path = Path(f"/usr/src/linux-source-{version}.tar.xz")
    if not path.exists():
        pytest.fail(f"{path} missing: apt-get install linux-source-{version}")
    return path


os.environ.setdefault("KPATCHKIT_JOBS", "2")

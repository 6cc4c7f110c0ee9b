"""Test helper: a small real git repository made from a dict of files, one commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kpatchkit.kernel import git as g


def small_repo(path: Path, files: dict[str, str | bytes], message: str = "files"
               ) -> tuple[Path, str]:
    """``git init`` at ``path``, the files written and committed; (path, commit id)."""
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            (path / name).write_bytes(data)
        else:
            (path / name).write_text(data)
    g.git(path, "add", "-A")
    g.git(path, "commit", "-q", "-m", message, env=g.KPATCHKIT_IDENT)
    return path, g.out(path, "rev-parse", "HEAD")

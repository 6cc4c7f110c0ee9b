"""The stage-result store: each stage's JSON output, keyed by a hash of its inputs.

A result is written twice: into the run directory (``RUN/.kpatchkit/stages/NAME.json``, so a
run directory is resumable and self-describing) and into the cache
(``review-stages/NAME/KEY.json``, so another ``-o`` or CI's fresh clone reuses it). A lookup
tries the run directory first, then the cache; a result whose key differs is never used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kpatchkit import atomic
from kpatchkit.cache import cache_dir


def _write(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a killed review leaves the old result or the new, never half (nor a temporary)
    atomic.write_text(path, json.dumps(obj, indent=1, default=str))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StageStore:
    """Get and put stage results for one run directory."""

    def __init__(self, run_dir: Path, *, use_cache: bool = True) -> None:
        self.local = run_dir / ".kpatchkit" / "stages"
        self.use_cache = use_cache

    def _shared(self, name: str, key: str) -> Path:
        return cache_dir("review-stages", name) / f"{key}.json"

    def get(self, name: str, key: str) -> dict[str, Any] | None:
        """The stored result of stage ``name`` for inputs ``key``, or None."""
        entry = _read(self.local / f"{name}.json")
        if entry and entry.get("key") == key:
            return entry.get("data")
        if self.use_cache:
            entry = _read(self._shared(name, key))
            if entry and entry.get("key") == key:
                _write(self.local / f"{name}.json", entry)
                return entry.get("data")
        return None

    def put(self, name: str, key: str, data: dict[str, Any]) -> None:
        """Store a stage's result under ``key`` (run directory and cache)."""
        entry = {"stage": name, "key": key, "data": data}
        _write(self.local / f"{name}.json", entry)
        if self.use_cache:
            _write(self._shared(name, key), entry)

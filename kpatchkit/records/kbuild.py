"""Records of the kernel-build service (``kpatchkit.kernel.kbuild``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.records.base import Record


@dataclass
class BuildTree(Record):
    """A prepared out-of-tree build: kpatchkit's checkout ``src`` at ``commit``, ``O=`` dir ``obj``.

    Both belong to kpatchkit (in the cache). ``config_hash`` keys the config (tinyconfig +
    fragments); ``fragments`` are the fragment names in merge order.
    """

    src: Path
    obj: Path
    commit: str
    config_hash: str
    fragments: list[str] = field(default_factory=list)
    root: Path | None = None  # cache/builds/<repo-id>-<config-hash>


@dataclass
class Diagnostic(Record):
    """One compiler diagnostic, with ``file`` relative to the kernel tree."""

    file: str
    line: int
    col: int
    severity: str  # "error", "warning", "note", "fatal error"
    message: str


@dataclass
class CompileResult(Record):
    """Result of compiling a list of kernel objects with the tree's own kbuild."""

    ok: bool
    commit: str
    config_hash: str
    objects: list[str]
    seconds: float
    log: str
    errors: list[Diagnostic] = field(default_factory=list)
    cached: bool = False


@dataclass
class KernelImage(Record):
    """A built bzImage copied into ``cache/images/<commit>-<config-hash>/``."""

    path: Path
    commit: str
    config_hash: str
    build_seconds: float
    cached: bool
    config: Path | None = None  # the final .config beside the image
    system_map: Path | None = None

"""``kernel_src/NAME`` -> TreeInfo: the registry every stage uses to find a kernel tree.

``kernel_src/`` sits at the top of the kpatchkit checkout (``$KPATCHKIT_KERNEL_SRC`` overrides).
Each entry is a symlink into the cache (see ``sources``); a plain directory there that is a git
repository is treated like any user repository (cloned, never modified).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import kpatchkit
from kpatchkit.errors import KpatchkitError
from kpatchkit.records.tree import TreeInfo
from kpatchkit.trees import sources

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_NOT_TREES = {"README", ".gitignore"}


def kernel_src_dir() -> Path:
    """The ``kernel_src/`` directory: env override, else beside the package, else above cwd."""
    env = os.environ.get("KPATCHKIT_KERNEL_SRC")
    if env:
        path = Path(env).expanduser()
    else:
        checkout = Path(kpatchkit.__file__).resolve().parents[1]
        if (checkout / "pyproject.toml").exists() or (checkout / "kernel_src").is_dir():
            path = checkout / "kernel_src"
        else:  # an installed package: look for a checkout around the working directory
            here = Path.cwd().resolve()
            found = next((d / "kernel_src" for d in (here, *here.parents)
                          if (d / "kernel_src").is_dir()), None)
            path = found or here / "kernel_src"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: str) -> str:
    """Validate a tree NAME (a plain file name under kernel_src/)."""
    if not _NAME_RE.match(name):
        raise KpatchkitError(f"bad tree name {name!r}: use letters, digits, '.', '_', '+', '-'")
    return name


def _entry_key(link: Path) -> str | None:
    """The cache key a kernel_src symlink points at (…/trees/<key>/repo), or None."""
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    if not target.is_absolute():
        target = (link.parent / target).resolve()
    return target.parent.name if target.name == "repo" else None


def _link(name: str, tree: TreeInfo) -> None:
    link = kernel_src_dir() / name
    tmp = link.with_name(f".{name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(tree.path)
    tmp.replace(link)  # atomic: concurrent adds of the same tree just rewrite the same link


def add_tree(name: str, source: str, *, force: bool = False) -> TreeInfo:
    """``tree add``: build (or find in the cache) the tree for SOURCE and link kernel_src/NAME."""
    check_name(name)
    link = kernel_src_dir() / name
    tree = sources.materialise(source, name)
    if link.exists() or link.is_symlink():
        same = link.is_symlink() and link.resolve() == tree.path.resolve()
        if not same and not force:
            raise KpatchkitError(f"kernel_src/{name} already exists and is another tree; pick "
                                 "another NAME or pass --force to re-point it")
        if not link.is_symlink():
            raise KpatchkitError(f"kernel_src/{name} is a real directory; kpatchkit will not "
                                 "replace it: pick another NAME")
    _link(name, tree)
    return tree


def _load_link(name: str, link: Path) -> TreeInfo | None:
    key = _entry_key(link)
    return sources.load_entry(key, name) if key else None


def resolve_tree(spec: str) -> TreeInfo:
    """Resolve ``--tree SPEC``: a NAME under kernel_src/, a kernel git tree, a tarball or a URL.

    The returned ``TreeInfo.path`` is always kpatchkit's own repository in the cache; a user's
    repository is only read.
    """
    if not spec:
        raise KpatchkitError("empty --tree; give a name under kernel_src/ or a kernel git tree")
    base = kernel_src_dir()
    if _NAME_RE.match(spec) and (base / spec).is_symlink():
        tree = _load_link(spec, base / spec)
        if tree is not None and tree.kind == "git-local" and Path(tree.origin).is_dir():
            return sources.materialise(tree.origin, spec)  # follow the user's new commits
        if tree is None:
            raise KpatchkitError(f"kernel_src/{spec} points at a missing or unfinished cache "
                                 f"entry; run 'kpatchkit tree add {spec} --from SOURCE --force'")
        return tree
    if _NAME_RE.match(spec) and (base / spec).is_dir():
        return sources.materialise(str(base / spec), spec)  # a user's repo dropped in kernel_src
    path = Path(spec).expanduser()
    if sources._URL_RE.match(spec) or path.exists() or "/" in spec:
        name = check_name(re.sub(r"[^A-Za-z0-9._+-]", "_", path.name.removesuffix(".git"))
                          or "tree")
        return sources.materialise(spec, name)
    known = ", ".join(t.name for t in list_trees()) or "none yet"
    raise KpatchkitError(f"no tree named {spec!r} under {base} (known: {known}); add one with "
                         f"'kpatchkit tree add {spec} --from /usr/src/linux-source-6.1.tar.xz'")


def list_trees() -> list[TreeInfo]:
    """Every tree under kernel_src/ that is ready (symlinks with complete cache entries)."""
    trees = []
    for entry in sorted(kernel_src_dir().iterdir()):
        if entry.name in _NOT_TREES or entry.name.startswith("."):
            continue
        tree = _load_link(entry.name, entry) if entry.is_symlink() else None
        if tree is None and entry.is_dir() and not entry.is_symlink():
            tree = TreeInfo(name=entry.name, path=entry, version="?", kind="git-local",
                            origin=str(entry), head="")
        if tree is not None:
            trees.append(tree)
    return trees

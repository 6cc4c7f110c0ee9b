"""Kernel builds with the tree's own kbuild: config, ``make prepare``, objects, images.

Contract (used by apply, analyze and run; none of them re-implements any of it):

``prepared_build(repo, commit, fragments=DEFAULT_FRAGMENTS) -> BuildTree``
    kpatchkit's own checkout of ``repo`` (a ``git clone --shared --no-checkout`` in the cache, so
    nothing is ever written to ``repo``) detached at ``commit``, plus an ``O=`` build dir holding
    tinyconfig + the fragments (merged with the tree's ``merge_config.sh``, then
    ``olddefconfig``; any requested option that did not stick raises :class:`InfraError`
    naming it) after ``make prepare``. Switching commit is ``git checkout --detach`` in that
    checkout, so only changed files get new mtimes and kbuild rebuilds only what changed: the
    patched kernel reuses the base build.
``compile_objects(repo, commit, objects, fragments=...) -> CompileResult``
    ``make O=obj <objects>`` (e.g. ``arch/x86/kvm/mmu/tdp_mmu.o``); ``ok`` plus gcc
    diagnostics ``errors`` [{file, line, col, severity, message}] with ``file`` relative to the
    tree. Cached by (commit, config hash, objects): a repeat returns the stored result.
``object_command(build, obj) -> list[str]``
    The compiler argv kbuild used for ``obj`` (from ``obj/<dir>/.<name>.o.cmd``; compiled first
    if needed), to be run with ``cwd=build.obj``; source and include paths in it are absolute.
    Replace the source path (last argument) and ``-c -o X`` to preprocess a modified copy.
``build_image(repo, commit, fragments=..., jobs=2) -> KernelImage``
    ``make bzImage``; the image, ``.config`` and ``System.map`` are copied to
    ``cache/images/<commit>-<config-hash>/``; a second call returns it with ``cached=True``
    without touching the tree.

Cache layout (``kpatchkit.cache.cache_dir``)::

    builds/<repo-id>-<config-hash>/src      checkout (one per repo and config; commits switch)
    builds/<repo-id>-<config-hash>/obj      O= dir (.config, objects, vmlinux)
    builds/<repo-id>-<config-hash>/logs/    make logs
    builds/<repo-id>-<config-hash>.lock     flock held for every checkout + make
    compile/<key>.json                      CompileResult per (commit, config hash, objects)
    images/<commit>-<config-hash>/          bzImage, config, System.map, image.json

One build dir serves every commit of a repo for a config, and every operation takes its lock:
``BuildTree.src`` shows ``commit`` only while the caller holds :func:`build_lock` (a later call
for another commit moves it). ``$KPATCHKIT_JOBS`` (default 2) is the make ``-j``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.console import info
from kpatchkit.errors import EXIT_FINDINGS, InfraError, KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.kernel import kconfig
from kpatchkit.records.kbuild import BuildTree, CompileResult, Diagnostic, KernelImage

# The fragments of a debug guest kernel under TCG (kpatchkit.guest.prepare.kernel_fragments;
# the vendor is guest.toml's tcg_vendor), so analyze and compile share the run's build dir.
DEFAULT_FRAGMENTS: tuple[str, ...] = ("kvm-base", "vendor-amd", "selftests", "debug")

# Fixed build identity so that identical inputs give identical images (and no needless rebuilds).
# KBUILD_BUILD_VERSION: without it the "#N" in the version banner counts links in the build
# directory (init/Makefile reads .version), so a patch that changes no compiled code (a VMX-only
# file under the AMD TCG config, a comment) still gave an image of other bytes than its base and
# the run results cache (keyed on image bytes) could not see they are the same kernel.
_KBUILD_ENV = {
    "KBUILD_BUILD_USER": "kpatchkit",
    "KBUILD_BUILD_HOST": "kpatchkit",
    "KBUILD_BUILD_TIMESTAMP": "1970-01-01",
    "KBUILD_BUILD_VERSION": "1",
    "LC_ALL": "C",
}
# Bumped when what goes into an image changes without its commit or config changing (the env
# above), so images built the old way are not taken for new ones.
IMAGE_RECIPE = "2"

_DIAG = re.compile(
    r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?P<col>\d+): "
    r"(?P<sev>fatal error|error|warning|note): (?P<msg>.*)$")


class BuildFailed(KpatchkitError):
    """The kernel did not build at this commit: the patch's fault, not the machine's (exit 1)."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, *, errors: list[Diagnostic], log: Path) -> None:
        super().__init__(message, payload={"errors": [e.to_json() for e in errors],
                                           "log": str(log)})
        self.errors = errors
        self.log = log


def jobs_default() -> int:
    """``$KPATCHKIT_JOBS`` or 2 (the machines have 2 cores shared by several builds)."""
    try:
        return max(1, int(os.environ.get("KPATCHKIT_JOBS", "2")))
    except ValueError:
        return 2


# --------------------------------------------------------------------------- subprocess helpers

def make_env() -> dict[str, str]:
    """The environment for the tree's ``make`` and its scripts: the caller's, less what would
    change the build (git's repository variables, ``ARCH``, ``O``, flags), plus the fixed build
    identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_KBUILD_ENV)
    # Variables the kernel Makefiles would pick up from a caller's environment.
    for var in ("ARCH", "CROSS_COMPILE", "O", "KBUILD_OUTPUT", "KCFLAGS", "LDFLAGS", "CFLAGS"):
        env.pop(var, None)
    return env


def _make(build: BuildTree, targets: Sequence[str], log: Path, *, jobs: int | None = None,
          extra: Sequence[str] = ()) -> tuple[int, str, float]:
    """Run the tree's make for ``targets`` in the O= dir; return (rc, output, seconds)."""
    cmd = ["make", "-C", str(build.src), f"O={build.obj}", f"-j{jobs or jobs_default()}",
           *extra, *targets]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=make_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    seconds = time.monotonic() - start
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {shlex.join(cmd)}\n{proc.stdout}\n[exit {proc.returncode}, "
                   f"{seconds:.1f}s]\n")
    return proc.returncode, proc.stdout, seconds


def tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a tool's output, for an error message."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def parse_diagnostics(output: str, src: Path) -> list[Diagnostic]:
    """gcc diagnostics from make output, with paths made relative to the tree ``src``."""
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    prefix = str(src).rstrip("/") + "/"
    for line in output.splitlines():
        m = _DIAG.match(line.strip())
        if not m:
            continue
        path = m.group("file")
        if path.startswith(prefix):
            path = path[len(prefix):]
        key = (path, m.group("line"), m.group("col"), m.group("sev"), m.group("msg"))
        if key in seen:
            continue
        seen.add(key)
        out.append(Diagnostic(file=path, line=int(m.group("line")), col=int(m.group("col")),
                              severity=m.group("sev"), message=m.group("msg")))
    return out


# --------------------------------------------------------------------------- the build directory

def resolve_commit(repo: Path, commit: str) -> str:
    """Full commit id of ``commit`` (any rev) in ``repo``."""
    if not (Path(repo) / ".git").exists() and not (Path(repo) / "HEAD").exists():
        raise KpatchkitError(f"{repo} is not a git repository; add it with 'kpatchkit tree add'")
    sha = g.rev_parse(Path(repo), commit)
    if sha is None:
        raise KpatchkitError(f"no commit '{commit}' in {repo}")
    return sha


def _repo_id(repo: Path) -> str:
    return content_hash(str(Path(repo).resolve()), length=12)


def build_root(repo: Path, config_hash: str) -> Path:
    """``cache/builds/<repo-id>-<config-hash>`` (not created)."""
    return cache_dir("builds") / f"{_repo_id(repo)}-{config_hash}"


@contextlib.contextmanager
def build_lock(build: BuildTree) -> Iterator[None]:
    """Hold the build dir's lock (checkouts and makes of other callers wait)."""
    assert build.root is not None
    with locked(build.root):
        yield


def _state(root: Path) -> dict:
    path = root / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save_state(root: Path, state: dict) -> None:
    (root / "state.json").write_text(json.dumps(state, indent=1))


def _ensure_checkout(repo: Path, src: Path, sha: str) -> None:
    """kpatchkit's shared clone of ``repo`` at ``sha`` (objects via alternates: repo untouched)."""
    fresh = not (src / ".git").exists()
    if fresh:
        if src.exists():
            shutil.rmtree(src)
        info(f"[kbuild] creating kpatchkit's checkout {src}")
        g.git(src.parent, "clone", "--quiet", "--shared", "--no-checkout",
              str(Path(repo).resolve()), str(src))
        g.git(src, "config", "gc.auto", "0")
    head = g.rev_parse(src, "HEAD")
    if fresh or head != sha:
        # Objects added to repo later (the patched commit) are visible through the alternates.
        g.git(src, "checkout", "--quiet", "--force", "--detach", sha, config=g.FAST_CONFIG)


def _configure(build: BuildTree, frags: list[kconfig.Fragment]) -> None:
    """tinyconfig + fragments (tree's merge_config.sh) + olddefconfig, then check what stuck."""
    logs = build.root / "logs"
    build.obj.mkdir(parents=True, exist_ok=True)
    rc, out, _ = _make(build, ["tinyconfig"], logs / "tinyconfig.log", jobs=1)
    if rc:
        raise InfraError(f"make tinyconfig failed: {tail(out, 5)} (log {logs}/tinyconfig.log)")
    merge = build.src / "scripts" / "kconfig" / "merge_config.sh"
    proc = subprocess.run(
        ["sh", str(merge), "-m", "-O", str(build.obj), str(build.obj / ".config"),
         *[str(f.path) for f in frags]],
        cwd=build.obj, env=make_env(), capture_output=True, text=True)
    (logs / "merge_config.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise InfraError(f"merge_config.sh failed: {tail(proc.stderr or proc.stdout, 5)}")
    rc, out, _ = _make(build, ["olddefconfig"], logs / "olddefconfig.log", jobs=1)
    if rc:
        raise InfraError(f"make olddefconfig failed: {tail(out, 5)}")
    check_config(build, frags)


def check_config(build: BuildTree, frags: Sequence[kconfig.Fragment]) -> None:
    """Raise InfraError naming every requested option that the final .config does not have."""
    final = (build.obj / ".config").read_text()
    bad = kconfig.unmet_options(kconfig.requested_options(frags), final)
    if bad:
        owner = {}
        for f in frags:
            for name in f.options:
                owner[name] = f.name
        what = ", ".join(f"{n}={w} (got {g}, fragment {owner.get(n, '?')})"
                         for n, (w, g) in sorted(bad.items()))
        raise InfraError(f"kconfig options did not stick after olddefconfig: {what}; "
                         "a dependency is missing or the option does not exist in this tree")


def prepared_build(repo: Path, commit: str,
                   fragments: Sequence[str | Path] = DEFAULT_FRAGMENTS) -> BuildTree:
    """Checkout + configured, checked and prepared O= dir for ``commit`` (see module doc)."""
    sha = resolve_commit(repo, commit)
    frags = kconfig.load_fragments(fragments)
    cfg = kconfig.fragments_hash(frags)
    root = build_root(repo, cfg)
    if not root.exists():
        from kpatchkit.prune import evict_builds

        for gone in evict_builds(keep=root):
            info(f"[kbuild] removed the least recently used build directory {gone}")
    root.mkdir(parents=True, exist_ok=True)
    build = BuildTree(src=root / "src", obj=root / "obj", commit=sha, config_hash=cfg,
                      fragments=[f.name for f in frags], root=root)
    with locked(root):
        _prepare_locked(repo, build, frags)
    return build


def _prepare_locked(repo: Path, build: BuildTree, frags: list[kconfig.Fragment]) -> None:
    root = build.root
    _ensure_checkout(repo, build.src, build.commit)
    state = _state(root)
    if not (build.obj / ".config").exists() or state.get("config_hash") != build.config_hash:
        info(f"[kbuild] configuring {build.obj} ({', '.join(build.fragments)})")
        _configure(build, frags)
        state = {"config_hash": build.config_hash}
        _save_state(root, state)
    if state.get("prepared") != build.commit:
        info(f"[kbuild] make prepare at {build.commit[:12]}")
        rc, out, secs = _make(build, ["prepare"], root / "logs" / "prepare.log")
        if rc:
            raise InfraError(f"make prepare failed at {build.commit[:12]}: {tail(out, 8)} "
                             f"(log {root}/logs/prepare.log)")
        # olddefconfig ran again inside make if Kconfig changed between commits: recheck.
        check_config(build, frags)
        state["prepared"] = build.commit
        _save_state(root, state)


# --------------------------------------------------------------------------- objects

def _normalise_object(obj: str) -> str:
    obj = obj.strip().lstrip("./")
    if obj.endswith((".c", ".S")):
        obj = obj[:-2] + ".o"
    if not obj.endswith((".o", ".i", ".s", ".lst")):
        raise KpatchkitError(f"'{obj}' is not a kernel object target (want path/to/file.o)")
    return obj


def compile_objects(repo: Path, commit: str, objects: Sequence[str],
                    fragments: Sequence[str | Path] = DEFAULT_FRAGMENTS) -> CompileResult:
    """Compile ``objects`` at ``commit`` with kbuild; cached by (commit, config, objects)."""
    sha = resolve_commit(repo, commit)
    objs = sorted({_normalise_object(o) for o in objects})
    frags = kconfig.load_fragments(fragments)
    cfg = kconfig.fragments_hash(frags)
    key = content_hash(sha, cfg, *objs)
    memo = cache_dir("compile") / f"{key}.json"
    if memo.exists():
        with contextlib.suppress(ValueError, TypeError):
            result = CompileResult.from_json(json.loads(memo.read_text()))
            result.cached = True
            return result
    build = prepared_build(repo, sha, fragments)
    with build_lock(build):
        _ensure_checkout(repo, build.src, sha)  # another caller may have moved it meanwhile
        log = build.root / "logs" / f"compile-{key}.log"
        info(f"[kbuild] compiling {' '.join(objs)} at {sha[:12]}")
        rc, out, secs = _make(build, objs, log)
    result = CompileResult(ok=rc == 0, commit=sha, config_hash=cfg, objects=objs,
                           seconds=round(secs, 2), log=out,
                           errors=parse_diagnostics(out, build.src))
    memo.write_text(json.dumps(result.to_json()))
    return result


def object_command(build: BuildTree, obj: str) -> list[str]:
    """The compiler argv kbuild used for ``obj`` (run it with ``cwd=build.obj``)."""
    obj = _normalise_object(obj)
    rel = Path(obj)
    cmd_file = build.obj / rel.parent / f".{rel.name}.cmd"
    with build_lock(build):
        if not cmd_file.exists():
            rc, out, _ = _make(build, [obj], build.root / "logs" / "object-command.log")
            if rc or not cmd_file.exists():
                raise BuildFailed(f"{obj} does not compile at {build.commit[:12]}",
                                  errors=parse_diagnostics(out, build.src),
                                  log=build.root / "logs" / "object-command.log")
        text = cmd_file.read_text()
    first = text.splitlines()[0] if text else ""
    if ":=" not in first:
        raise InfraError(f"unexpected kbuild command file {cmd_file}")
    argv = shlex.split(first.split(":=", 1)[1])
    # kbuild chains post-processing (objtool, recordmcount) after ';': keep the compiler only.
    if ";" in argv:
        argv = argv[: argv.index(";")]
    return argv


# --------------------------------------------------------------------------- images

def image_dir(commit: str, config_hash: str) -> Path:
    """``cache/images/<commit>-<config-hash>-r<recipe>`` (not created)."""
    return cache_dir("images") / f"{commit}-{config_hash}-r{IMAGE_RECIPE}"


def _cached_image(dest: Path) -> KernelImage | None:
    meta = dest / "image.json"
    if not (meta.exists() and (dest / "bzImage").exists()):
        return None
    try:
        image = KernelImage.from_json(json.loads(meta.read_text()))
    except (ValueError, TypeError):
        return None
    image.cached = True
    return image


def build_image(repo: Path, commit: str, fragments: Sequence[str | Path] = DEFAULT_FRAGMENTS,
                jobs: int | None = None) -> KernelImage:
    """Build (or find cached) the bzImage for ``commit`` with ``fragments``."""
    sha = resolve_commit(repo, commit)
    cfg = kconfig.fragments_hash(kconfig.load_fragments(fragments))
    dest = image_dir(sha, cfg)
    if image := _cached_image(dest):
        return image
    build = prepared_build(repo, sha, fragments)
    with build_lock(build):
        if image := _cached_image(dest):  # built by another caller while we waited
            return image
        _ensure_checkout(repo, build.src, sha)
        log = build.root / "logs" / f"bzImage-{sha[:12]}.log"
        info(f"[kbuild] make bzImage at {sha[:12]} (-j{jobs or jobs_default()}; cold builds "
             "take 4-5 minutes on 2 cores)")
        rc, out, secs = _make(build, ["bzImage"], log, jobs=jobs)
        if rc:
            errors = parse_diagnostics(out, build.src)
            first = next((e for e in errors if e.severity in ("error", "fatal error")), None)
            where = f": {first.file}:{first.line}: {first.message}" if first else ""
            raise BuildFailed(f"kernel build failed at {sha[:12]}{where} (log {log})",
                              errors=errors, log=log)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy2(build.obj / "arch" / "x86" / "boot" / "bzImage", tmp / "bzImage")
        shutil.copy2(build.obj / ".config", tmp / "config")
        if (build.obj / "System.map").exists():
            shutil.copy2(build.obj / "System.map", tmp / "System.map")
    image = KernelImage(path=dest / "bzImage", commit=sha, config_hash=cfg,
                        build_seconds=round(secs, 1), cached=False, config=dest / "config",
                        system_map=dest / "System.map" if (tmp / "System.map").exists() else None)
    (tmp / "image.json").write_text(json.dumps(image.to_json(), indent=1))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return image

"""The guest's initramfs: Debian's busybox-static, kpatchkit's init, the test binaries.

``/tests/list`` has one line per test, ``NAME|TIMEOUT|PROGRAM ARGS...``; the init
(``data/init.sh``) runs them in order. Archives are cached in ``cache/initramfs/<hash>.cpio.gz``
keyed by every file's content.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash, file_digest, locked
from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.knowledge import ListOf, OneOf, load_toml

DATA = Path(__file__).with_name("data")
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
GUEST_SCHEMA = {
    "stats": ListOf(str, min=1),
    "qemu": {"binary": str, "memory": str, "smp": int, "append": str, "tcg_cpu": str,
             "tcg_vendor": OneOf("amd", "intel"), "kvm_cpu": str},
    "timeouts": {"boot": int, "test_default": int, "slack": int},
}


@dataclass
class GuestTest:
    """One entry of the guest's test list."""

    name: str  # unique within a run (e.g. 'kvm_page_table_test' or 'kvm_page_table_test:thp')
    program: str  # binary name under /tests
    args: list[str] = field(default_factory=list)
    timeout: int = 180


def guest_config() -> dict:
    """data/guest.toml."""
    return load_toml(DATA / "guest.toml", GUEST_SCHEMA)


def find_busybox() -> Path:
    """A statically linked busybox (Debian: busybox-static)."""
    for cand in BUSYBOX_CANDIDATES:
        path = Path(cand)
        if path.exists():
            out = subprocess.run(["file", "-L", str(path)], capture_output=True, text=True)
            if out.returncode or "dynamically" not in out.stdout:
                return path
    raise InfraError("no static busybox found; install Debian's busybox-static")


def render_init(stats: list[str]) -> str:
    """The init script with the stats list filled in."""
    return (DATA / "init.sh").read_text().replace("@STATS@", " ".join(stats))


def render_list(tests: list[GuestTest]) -> str:
    """``/tests/list``."""
    lines = []
    for t in tests:
        for part in (t.name, t.program, *t.args):
            if "|" in part or "\n" in part:
                raise KpatchkitError(f"test {t.name!r}: '|' and newlines are not allowed")
        lines.append(f"{t.name}|{int(t.timeout)}|{' '.join([t.program, *t.args])}")
    return "\n".join(lines) + "\n"


def initramfs_key(tests: list[GuestTest], binaries: dict[str, Path],
                  *, stats: list[str] | None = None) -> str:
    """The content hash of the archive :func:`build_initramfs` makes for these inputs: init
    script, test list (names, programs, args, timeouts), busybox and every test binary's bytes."""
    stats = stats if stats is not None else guest_config()["stats"]
    return content_hash(render_list(tests), files_key(tests, binaries, stats=stats))


def files_key(tests: list[GuestTest], binaries: dict[str, Path],
              *, stats: list[str] | None = None) -> str:
    """The hash of every file of the initramfs but the test list: init script (with its stats
    list), busybox, the bytes of each binary the tests run. The run results cache's key for
    "the initramfs and test binaries" (the list is keyed on its own)."""
    stats = stats if stats is not None else guest_config()["stats"]
    programs = sorted({t.program for t in tests})
    return content_hash(render_init(stats), file_digest(find_busybox()),
                        *[f"{p}:{file_digest(binaries[p])}" for p in programs])


def build_initramfs(tests: list[GuestTest], binaries: dict[str, Path],
                    *, stats: list[str] | None = None) -> Path:
    """A gzipped newc cpio with busybox, init, ``/tests/<program>`` and ``/tests/list``."""
    stats = stats if stats is not None else guest_config()["stats"]
    missing = sorted({t.program for t in tests} - set(binaries))
    if missing:
        raise KpatchkitError(f"no binary for test program(s): {', '.join(missing)}")
    busybox = find_busybox()
    init = render_init(stats)
    listing = render_list(tests)
    programs = sorted({t.program for t in tests})
    key = initramfs_key(tests, binaries, stats=stats)
    dest = cache_dir("initramfs") / f"{key}.cpio.gz"
    if dest.exists():
        return dest
    with locked(dest):
        if dest.exists():
            return dest
        with tempfile.TemporaryDirectory(prefix="kpatchkit-initramfs-") as tmp:
            root = Path(tmp) / "root"
            for d in ("bin", "dev", "proc", "sys", "tmp", "tests", "etc"):
                (root / d).mkdir(parents=True)
            shutil.copy2(busybox, root / "bin" / "busybox")
            (root / "bin" / "sh").symlink_to("busybox")
            (root / "init").write_text(init)
            os.chmod(root / "init", 0o755)
            (root / "tests" / "list").write_text(listing)
            for prog in programs:
                shutil.copy2(binaries[prog], root / "tests" / prog)
                os.chmod(root / "tests" / prog, 0o755)
            files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
            part = dest.with_name(dest.name + ".part")
            with open(part, "wb") as out:
                cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"],
                                        cwd=root, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=cpio.stdout, stdout=out)
                cpio.stdout.close()
                _, err = cpio.communicate(("\n".join(files) + "\n").encode())
                if cpio.returncode or gz.wait():
                    part.unlink(missing_ok=True)
                    raise InfraError(f"cpio/gzip failed: {err.decode()[-300:]}")
            part.rename(dest)
    return dest

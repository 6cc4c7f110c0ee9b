"""The nested-VM payload carried into the test VM for the "boot" scenario.

An initramfs *overlay* (a gzipped newc cpio that is concatenated after the run stage's own
initramfs; the kernel unpacks concatenated archives in order) holding, all under ``/claims``:

- the host's ``qemu-system-x86_64`` and every shared library ``ldd`` lists for it (started
  through the carried dynamic loader with ``--library-path``, so nothing collides with the
  busybox root of the base initramfs);
- the firmware: SeaBIOS (``/usr/share/seabios``), OVMF (``/usr/share/ovmf/OVMF.fd``) and the
  option ROMs QEMU loads for ``-kernel`` (``linuxboot_dma.bin``, ``kvmvapic.bin``);
- the L2 guest: its kernel, an ext2 IDE disk image (busybox, ``/init``, ``DATA_MB`` of data the
  init reads through swiotlb) and a diskless initramfs with the same init but no data;
- ``boot.sh``, the in-guest driver (see ``data/boot.sh``).

Everything is cached by a hash of its inputs (paths, sizes, mtimes of the host files and the
L2 kernel's bytes), so the ~30 MB archive is built once.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash, locked
from kpatchkit.errors import InfraError

DATA = Path(__file__).with_name("data")
QEMU = Path("/usr/bin/qemu-system-x86_64")
BUSYBOX = Path("/usr/bin/busybox")
FIRMWARE = {
    "bios-256k.bin": Path("/usr/share/seabios/bios-256k.bin"),
    "OVMF.fd": Path("/usr/share/ovmf/OVMF.fd"),
}
QEMU_SHARE = Path("/usr/share/qemu")
OPTION_ROMS = ("linuxboot_dma.bin", "linuxboot.bin", "kvmvapic.bin", "pvh.bin")
DEFAULT_DATA_MB = 8


@dataclass
class Payload:
    """The built overlay and what went into it."""

    overlay: Path  # gzipped cpio to append to the test VM's initramfs
    files: list[str]  # paths inside the guest
    size_bytes: int
    data_mb: int
    key: str


def shared_libraries(binary: Path) -> list[Path]:
    """Absolute paths of the libraries ``ldd`` resolves for ``binary`` (loader included)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode:
        raise InfraError(f"ldd {binary} failed: {out.stderr.strip()}")
    libs: list[Path] = []
    for line in out.stdout.splitlines():
        if "not found" in line:
            raise InfraError(f"{binary} needs a library that is not installed: {line.strip()}")
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(Path(m.group(1)))
    if not any("ld-linux" in p.name for p in libs):
        raise InfraError(f"ldd {binary}: no dynamic loader listed")
    return libs


def payload_sources(l2_kernel: Path) -> dict[str, Path]:
    """Map guest path (under /claims) -> host file, for everything but generated images."""
    for path in (QEMU, BUSYBOX, *FIRMWARE.values()):
        if not path.exists():
            raise InfraError(f"{path} is missing: install qemu-system-x86, seabios, ovmf and "
                             "busybox-static")
    files: dict[str, Path] = {"bin/qemu-system-x86_64": QEMU, "bin/busybox": BUSYBOX,
                              "l2/bzImage": l2_kernel, "boot.sh": DATA / "boot.sh"}
    for lib in shared_libraries(QEMU):
        files[f"lib/{lib.name}"] = lib.resolve()
    for name, path in FIRMWARE.items():
        files[f"share/{name}"] = path.resolve()
    for name in OPTION_ROMS:
        if (QEMU_SHARE / name).exists():
            files[f"share/{name}"] = (QEMU_SHARE / name).resolve()
    return files


def _data_bytes(mb: int) -> bytes:
    # Seeded, incompressible data: a hole-free file whose every block is really read.
    return random.Random(0x6B706B).randbytes(mb << 20)


def _l2_root(dest: Path, data_mb: int) -> None:
    for d in ("bin", "dev", "proc", "sys"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    os.symlink("busybox", dest / "bin/sh")
    init = dest / "init"
    shutil.copy2(DATA / "l2-init.sh", init)
    init.chmod(0o755)
    if data_mb:
        (dest / "data").write_bytes(_data_bytes(data_mb))


def build_disk_image(dest: Path, data_mb: int) -> Path:
    """An ext2 image (the L2's IDE disk): busybox, /init and ``data_mb`` MB of data."""
    root = dest.with_suffix(".root")
    shutil.rmtree(root, ignore_errors=True)
    _l2_root(root, data_mb)
    size_mb = data_mb + 16
    dest.unlink(missing_ok=True)
    res = subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-b", "4096", "-d", str(root),
                          str(dest), f"{size_mb}M"], capture_output=True, text=True)
    shutil.rmtree(root, ignore_errors=True)
    if res.returncode:
        raise InfraError(f"mke2fs failed: {res.stderr.strip()}")
    return dest


def write_cpio(root: Path, dest: Path) -> Path:
    """Pack ``root`` as a gzipped newc cpio at ``dest`` (paths relative to ``root``)."""
    names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, capture_output=True,
                           text=True, check=True).stdout
    names = "\n".join(sorted(names.split())) + "\n"
    res = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-R", "0:0"], cwd=root,
                         input=names.encode(), capture_output=True)
    if res.returncode:
        raise InfraError(f"cpio failed: {res.stderr.decode(errors='replace').strip()}")
    tmp = dest.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as fh:
        fh.write(res.stdout)
    tmp.rename(dest)
    return dest


def build_diskless_initrd(dest: Path) -> Path:
    """The L2's initramfs for the diskless comparison boot: same init, no /data."""
    root = dest.with_suffix(".root")
    shutil.rmtree(root, ignore_errors=True)
    _l2_root(root, 0)
    write_cpio(root, dest)
    shutil.rmtree(root, ignore_errors=True)
    return dest


def _inputs_key(sources: dict[str, Path], data_mb: int) -> str:
    parts = [f"data_mb={data_mb}", (DATA / "l2-init.sh").read_text()]
    for guest, host in sorted(sources.items()):
        st = host.stat()
        parts.append(f"{guest}:{host}:{st.st_size}:{int(st.st_mtime)}")
    return content_hash(*parts)


def build_payload(l2_kernel: Path, data_mb: int = DEFAULT_DATA_MB) -> Payload:
    """Build (or reuse) the overlay initramfs for an L2 guest kernel and data size."""
    sources = payload_sources(l2_kernel)
    key = _inputs_key(sources, data_mb)
    out = cache_dir("claims", "payload", key)
    overlay = out / "overlay.cpio.gz"
    with locked(out):
        stage = out / "stage"
        if not overlay.exists():
            shutil.rmtree(stage, ignore_errors=True)
            base = stage / "claims"
            for guest, host in sources.items():
                dest = base / guest
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(host, dest)
            (base / "boot.sh").chmod(0o755)
            build_disk_image(base / "l2/disk.img", data_mb)
            build_diskless_initrd(base / "l2/initrd.cpio.gz")
            write_cpio(stage, overlay)
        files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    return Payload(overlay=overlay, files=["/" + f for f in files],
                   size_bytes=overlay.stat().st_size, data_mb=data_mb, key=key)

"""The nested-VM payload: the carried QEMU's libraries, the L2 disk and initramfs, the overlay."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from kpatchkit.claims import l2payload


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPATCHKIT_CACHE", str(tmp_path / "cache"))


def _cpio_names(archive: Path) -> list[str]:
    data = gzip.decompress(archive.read_bytes())
    out = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True)
    return out.stdout.decode().split()


def test_shared_libraries_are_what_the_loader_needs(tmp_path: Path) -> None:
    libs = l2payload.shared_libraries(l2payload.QEMU)
    names = {p.name for p in libs}
    assert "ld-linux-x86-64.so.2" in names
    assert any(n.startswith("libc.so") for n in names)
    assert len(libs) > 20  # QEMU 7.2 on Debian 12 links about 50
    # The carried set is enough for the carried loader to start QEMU.
    lib = tmp_path / "lib"
    lib.mkdir()
    for p in libs:
        (lib / p.name).write_bytes(p.read_bytes())
        (lib / p.name).chmod(0o755)
    out = subprocess.run([str(lib / "ld-linux-x86-64.so.2"), "--library-path", str(lib),
                          str(l2payload.QEMU), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "QEMU emulator" in out.stdout


def test_disk_image_holds_init_busybox_and_the_data(tmp_path: Path) -> None:
    img = l2payload.build_disk_image(tmp_path / "disk.img", data_mb=3)
    ls = subprocess.run(["debugfs", "-R", "ls -l /", str(img)], capture_output=True,
                        text=True, check=True).stdout
    assert " init" in ls and " data" in ls and " bin" in ls
    stat = subprocess.run(["debugfs", "-R", "stat /data", str(img)], capture_output=True,
                          text=True, check=True).stdout
    assert f"Size: {3 << 20}" in stat
    # The data is really there (no holes): every 4K block is allocated (plus ext2's indirect
    # blocks).
    blocks = subprocess.run(["debugfs", "-R", "blocks /data", str(img)], capture_output=True,
                            text=True, check=True).stdout.split()
    assert (3 << 20) // 4096 <= len(blocks) <= (3 << 20) // 4096 + 4
    init = subprocess.run(["debugfs", "-R", "cat /init", str(img)], capture_output=True,
                          text=True, check=True).stdout
    assert "KPK-L2-DONE" in init and "poweroff" in init


def test_data_is_deterministic_and_incompressible() -> None:
    a, b = l2payload._data_bytes(1), l2payload._data_bytes(1)
    assert a == b and len(a) == 1 << 20
    assert len(gzip.compress(a, 1)) > 0.99 * len(a)


def test_diskless_initrd_has_init_but_no_data(tmp_path: Path) -> None:
    names = _cpio_names(l2payload.build_diskless_initrd(tmp_path / "initrd.cpio.gz"))
    assert "init" in names and "bin/busybox" in names and "data" not in names


def test_overlay_carries_qemu_libs_firmware_and_l2(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Any file stands in for the L2 kernel here; the VM test boots the real one.
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(b"\0" * 4096)
    p = l2payload.build_payload(kernel, data_mb=1)
    names = set(_cpio_names(p.overlay))
    for want in ("claims/bin/qemu-system-x86_64", "claims/lib/ld-linux-x86-64.so.2",
                 "claims/share/bios-256k.bin", "claims/share/OVMF.fd",
                 "claims/share/linuxboot_dma.bin", "claims/l2/bzImage", "claims/l2/disk.img",
                 "claims/l2/initrd.cpio.gz", "claims/boot.sh"):
        assert want in names, want
    libs = {n.rsplit("/", 1)[1] for n in names if n.startswith("claims/lib/")}
    assert libs == {x.name for x in l2payload.shared_libraries(l2payload.QEMU)}
    # Cached: the same inputs give the same archive without rebuilding it.
    mtime = p.overlay.stat().st_mtime_ns
    again = l2payload.build_payload(kernel, data_mb=1)
    assert again.overlay == p.overlay and again.overlay.stat().st_mtime_ns == mtime
    # Another data size is another payload, built anew in a folder of its own. Its archives
    # are only listed, not packed: gzipping QEMU and its libraries again (about 3 s) would
    # prove nothing the first build did not.
    packed: list[Path] = []

    def list_only(root: Path, dest: Path) -> Path:
        packed.append(dest)
        dest.write_bytes(b"")
        return dest

    monkeypatch.setattr(l2payload, "write_cpio", list_only)
    other = l2payload.build_payload(kernel, data_mb=2)
    assert other.key != p.key and other.overlay != p.overlay
    assert packed[-1] == other.overlay and "/claims/l2/disk.img" in other.files

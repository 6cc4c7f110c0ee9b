"""The guest kernel's RAM ends on a 64-page boundary (data/guest.toml, ``mem=``).

mm/page_idle.c reads the idle bitmap in 64-page chunks and returns 0 bytes for a partial last
chunk; with QEMU's ``-m 2G`` SeaBIOS keeps the top 128 KiB and max_pfn lands mid-chunk, which
made access_tracking_perf_test fail on every kernel. A VM run shows the test passing
(tests/run/test_run_vm.py); this checks the setting without booting.
"""

from __future__ import annotations

import re

from kpatchkit.guest.initramfs import guest_config

CHUNK = 64 * 4096  # page_idle's BITMAP_CHUNK_BITS pages of 4 KiB


def _bytes(size: str) -> int:
    num, unit = re.fullmatch(r"(\d+)([KMG])", size.upper()).groups()
    return int(num) << {"K": 10, "M": 20, "G": 30}[unit]


def test_guest_ram_ends_on_a_page_idle_chunk() -> None:
    qemu = guest_config()["qemu"]
    mem = re.search(r"(?:^| )mem=(\S+)", qemu["append"])
    assert mem, "guest.toml append has no mem="
    limit, ram = _bytes(mem.group(1)), _bytes(qemu["memory"])
    assert limit % CHUNK == 0
    # Below QEMU's RAM less SeaBIOS's 128 KiB, and not much below it.
    assert ram - 4 * 2**20 <= limit <= ram - 128 * 2**10

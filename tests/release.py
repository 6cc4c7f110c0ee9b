"""Release independence: the one place that knows how a Debian point release shows up in tests.

Debian ships a new stable point release of ``linux-source-6.1`` / ``linux-source-6.12`` every few
weeks, and the registry then serves only the new one. Nothing the tests compare against a live tree
may therefore depend on ``SUBLEVEL``: goldens spell a tree's version as its series
(``6.12.x``), and a probe or render of the real tree is normalised with :func:`series` /
:func:`normalise_text` before it is compared. ``tests/test_release_independence.py`` fails when a
golden file spells a full point release.
"""

from __future__ import annotations

import re
from pathlib import Path

# A kernel point release VERSION.PATCHLEVEL.SUBLEVEL (3.x to 9.x, as in "Linux 6.1.192",
# "6.12.118+", "v6.1.7-rc1"), not a piece of a longer dotted number (an IP address such as
# 10.5.2.15, a date 2024.6.1.3) and not a two-part number (a 1.05 ratio, a 12.501270 timestamp).
POINT_RELEASE = re.compile(r"(?<![\d.])[3-9]\.\d{1,2}\.\d{1,3}(?![\d]|\.\d)")
_MAKEFILE_FIELD = r"^{}\s*=[ \t]*(\S*)"


def series(version: str) -> str:
    """``"6.12.118"`` (or ``"6.12.118-rc1"``, ``"6.12"``) -> ``"6.12.x"``, what goldens say."""
    parts = version.split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ValueError(f"not a kernel version: {version!r}")
    return f"{parts[0]}.{parts[1]}.x"


def normalise_text(text: str, version: str) -> str:
    """``text`` with the tree's exact ``version`` spelled as its series (``6.12.x``)."""
    return re.sub(rf"(?<![\d.]){re.escape(version)}(?![\d]|\.\d)", series(version), text)


def point_releases(text: str) -> list[tuple[int, str]]:
    """(line number, string) of every full point-release string in ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(0))
            for m in POINT_RELEASE.finditer(text)]


def makefile_version(makefile: Path) -> tuple[int, int, int]:
    """(VERSION, PATCHLEVEL, SUBLEVEL) of a kernel's top Makefile, read, never assumed."""
    text = Path(makefile).read_text(errors="replace")[:2000]
    out = []
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(_MAKEFILE_FIELD.format(key), text, re.M)
        if not m or not m.group(1).isdigit():
            raise ValueError(f"{makefile}: no numeric {key}")
        out.append(int(m.group(1)))
    return out[0], out[1], out[2]


def next_point_release(makefile: Path) -> str:
    """Rewrite ``makefile``'s SUBLEVEL to the next point release (as Debian's next upload
    would); return the new ``VERSION.PATCHLEVEL.SUBLEVEL``. Use on a scratch copy only."""
    major, minor, sub = makefile_version(makefile)
    text = Path(makefile).read_text()
    new, n = re.subn(r"^(SUBLEVEL\s*=[ \t]*)\d+", rf"\g<1>{sub + 1}", text, count=1,
                     flags=re.M)
    assert n == 1, f"{makefile}: SUBLEVEL not rewritten"
    Path(makefile).write_text(new)
    return f"{major}.{minor}.{sub + 1}"

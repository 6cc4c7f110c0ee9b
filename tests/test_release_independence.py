"""No golden file depends on a Debian point release (see tests/release.py).

The registry serves only the newest ``linux-source-6.1`` / ``linux-source-6.12``; a golden that
spells ``6.1.192`` breaks the day Debian ships 6.1.193. Goldens say ``6.1.x`` instead, and tests
normalise the live tree's version with ``release.series()`` before comparing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from release import (
    makefile_version,
    next_point_release,
    normalise_text,
    point_releases,
    series,
)

TESTS = Path(__file__).resolve().parent


def _golden_files() -> list[Path]:
    return sorted(p for d in TESTS.rglob("golden") if d.is_dir()
                  for p in d.rglob("*") if p.is_file())


def test_there_are_goldens_to_check() -> None:
    names = {p.relative_to(TESTS).parts[0] for p in _golden_files()}
    assert {"gentests", "report"} <= names, names


def test_no_golden_file_spells_a_point_release() -> None:
    found = []
    for path in _golden_files():
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(TESTS.parent)}:{line}: {s!r}"
                  for line, s in point_releases(text)]
    assert not found, (
        "golden files spell a full kernel point release, which changes with every Debian "
        "upload; write the series instead (e.g. 6.1.x, see tests/release.py) and normalise the "
        "live tree's version before comparing:\n  " + "\n  ".join(found))


@pytest.mark.parametrize("text,hits", [
    ("Linux 6.1.192.", ["6.1.192"]),
    ("kernel=6.12.118+ cpus=1", ["6.12.118"]),
    ("tagged v6.1.7-rc1", ["6.1.7"]),
    ("deb61 6.1.192)", ["6.1.192"]),
    ("the selftest library of Linux 6.12.x.", []),
    ("patched max 1.05, 0.002 apart, X.XXX", []),
    ("[   12.501270] 6.1 and 6.12", []),
    ("served on 127.0.0.1 and 10.5.2.15, SARIF 2.1.0", []),
])
def test_the_point_release_pattern(text: str, hits: list[str]) -> None:
    assert [s for _, s in point_releases(text)] == hits


def test_series_and_normalising() -> None:
    assert series("6.12.118") == series("6.12.119-rc1") == series("6.12") == "6.12.x"
    assert series("6.1.192") == "6.1.x"
    with pytest.raises(ValueError):
        series("6")
    text = "Linux 6.1.192. Not 6.1.1920 or 16.1.192 or 6.1.19."
    assert normalise_text(text, "6.1.192") == "Linux 6.1.x. Not 6.1.1920 or 16.1.192 or 6.1.19."


def test_next_point_release_rewrites_only_sublevel(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text("# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n"
                        "EXTRAVERSION =\nNAME = Baby Opossum Posse\n\nSUBLEVEL_X = 3\n")
    assert makefile_version(makefile) == (6, 12, 118)
    assert next_point_release(makefile) == "6.12.119"
    assert makefile_version(makefile) == (6, 12, 119)
    assert makefile.read_text().endswith("NAME = Baby Opossum Posse\n\nSUBLEVEL_X = 3\n")

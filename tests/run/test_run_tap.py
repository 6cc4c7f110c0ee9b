"""The TAP 13/14 parser and kpatchkit's metric lines."""

from __future__ import annotations

from kpatchkit.guest import tap

KSELFTEST = """\
TAP version 13
1..4
# Random seed: 0x6b8b4567
ok 1 - vm_create works
not ok 2 - dirty ring # exit=1
ok 3 skip this one # SKIP not on AMD
ok 4 # TODO later
"""

TAP14 = """\
TAP version 14
1..2
# Subtest: nested
    TAP version 14
    1..2
    ok 1 - inner a
    not ok 2 - inner b
not ok 1 - nested
ok 2 - outer
  ---
  duration_ms: 12
  ...
"""


def test_tap13_points_and_directives():
    doc = tap.parse(KSELFTEST)
    assert doc.version == 13 and doc.planned == 4 and doc.complete
    assert [p.outcome for p in doc.points] == ["pass", "fail", "skip", "pass"]
    assert doc.points[1].description == "dirty ring" and doc.points[1].reason == "exit=1"
    assert doc.points[2].reason == "not on AMD"
    assert doc.points[0].diagnostics == ["# Random seed: 0x6b8b4567"]


def test_tap14_subtests_and_yaml():
    doc = tap.parse(TAP14)
    assert doc.version == 14 and len(doc.points) == 2
    nested = doc.points[0]
    assert nested.subtests is not None
    assert [p.outcome for p in nested.subtests.points] == ["pass", "fail"]
    assert doc.points[1].yaml == ["  duration_ms: 12"]


def test_incomplete_and_bail_out():
    doc = tap.parse("TAP version 13\n1..3\nok 1 a\nBail out! no /dev/kvm\n")
    assert doc.bailed == "no /dev/kvm" and not doc.complete
    assert not tap.parse("1..2\nok 1\n").complete


def test_carriage_returns_from_a_serial_port():
    doc = tap.parse("TAP version 13\r\n1..1\r\nok 1 x\r\n")
    assert doc.points[0].description == "x"


def test_metrics_and_phases():
    lines = ["# kpatchkit-stat phase=read pf_taken=1025 pf_fixed=1025",
             "# kpatchkit-stat phase=write_after_read pf_taken=2048 pf_fixed=1024",
             "# kpatchkit-metric faults_per_cow_write=2.000", "unrelated line"]
    metrics, phases = tap.parse_metrics(lines)
    assert metrics == {"faults_per_cow_write": 2.0}
    assert phases["write_after_read"] == {"pf_taken": 2048.0, "pf_fixed": 1024.0}
    assert phases["read"]["pf_taken"] == 1025.0

"""Golden files of the rendered selftests, per selftest library (6.1.x and 6.12.x).

Regenerate after an intended change with ``KPATCHKIT_REGEN=1 pytest tests/gentests``.
The library probes they are rendered from are checked against the real trees in
test_gentests_tree.py, so the goldens are what the real trees get (their version normalised
to the series, whatever point release Debian serves; see tests/release.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gentests_helpers import GOLDEN, REGEN, golden_lib

from kpatchkit.gentests.render import HEADER, binary_name, load_scenarios, render_root

SERIES = ["6.1", "6.12"]


def _source(test) -> str:
    """A rendered test with the helper header it includes (what the compiler sees of ours)."""
    return "".join(Path(h).read_text() for h in test.headers) + test.c_path.read_text()


@pytest.mark.parametrize("series", SERIES)
def test_rendered_tests_match_goldens(series: str, tmp_path: Path) -> None:
    lib = golden_lib(series)
    tests = render_root(Path("/nonexistent"), tmp_path, lib=lib)
    assert [t.scenario for t in tests] == list(load_scenarios())
    golden_dir = GOLDEN / series
    mismatched = []
    assert all(t.headers == [tmp_path / HEADER] for t in tests)
    for path in [tmp_path / HEADER] + [t.c_path for t in tests]:
        text = path.read_text()
        golden = golden_dir / path.name
        if REGEN:
            golden.write_text(text)
        elif not golden.exists() or golden.read_text() != text:
            mismatched.append(path.name)
    stale = {p.name for p in golden_dir.glob("*.c")} - {t.c_path.name for t in tests}
    assert not stale, f"goldens without a scenario: {sorted(stale)}"
    assert not mismatched, (f"rendered output differs from goldens for {mismatched}; "
                            "if intended, regenerate with KPATCHKIT_REGEN=1")


def test_the_two_libraries_render_differently_where_they_differ(tmp_path: Path) -> None:
    """6.1 needs ucall_init() and numbered assert reports; 6.12 neither; both read stats."""
    old = render_root(Path("/x"), tmp_path / "a", ["cow_two_vcpus"], lib=golden_lib("6.1"))
    new = render_root(Path("/x"), tmp_path / "b", ["cow_two_vcpus"], lib=golden_lib("6.12"))
    a, b = _source(old[0]), _source(new[0])
    assert "ucall_init(vm, NULL);" in a and "ucall_init(" not in b
    assert "REPORT_GUEST_ASSERT_2(uc," in a and "REPORT_GUEST_ASSERT(uc);" in b
    assert "VM_MODE_DEFAULT" in a and "VM_SHAPE_DEFAULT" in b
    assert "vcpu_get_stats_fd(vcpu)" in a and "vcpu_get_stats_fd(vcpu)" in b


def test_a_library_with_vcpu_get_stat_uses_it(tmp_path: Path) -> None:
    """From 6.14 the library has vcpu_get_stat(vcpu, stat): use it, not KVM_GET_STATS_FD."""
    lib = golden_lib("6.12")
    lib.stats_api = "vcpu_get_stat"
    text = _source(render_root(Path("/x"), tmp_path, ["cow_anon_thp_off"], lib=lib)[0])
    assert "vcpu_get_stat(vcpu, pf_taken)" in text
    assert "KVM_GET_STATS_FD" not in text.split("*/", 1)[1]


def test_a_library_without_stats_readers_gets_its_own_reader(tmp_path: Path) -> None:
    lib = golden_lib("6.1")
    lib.stats_api = "raw"
    text = _source(render_root(Path("/x"), tmp_path, ["cow_fork"], lib=lib)[0])
    assert "ioctl(vcpu->fd, KVM_GET_STATS_FD, NULL)" in text
    assert "read_stat_data(" not in text


def test_every_scenario_prints_the_contract_lines(tmp_path: Path) -> None:
    """The run stage parses exactly these two formats."""
    for t in render_root(Path("/x"), tmp_path, lib=golden_lib("6.1")):
        text = _source(t)
        assert ('"kpatchkit-stat phase=%s pf_taken=%lu pf_fixed=%lu pf_spurious=%lu '
                'exits=%lu\\n"') in text, t.name
        if t.metric_phase:
            assert '"kpatchkit-metric faults_per_cow_write=%.3f\\n"' in text
            assert f'"{t.metric_phase}", &stats);\n\tcow_metric_print(&stats, TEST_PAGES);' in text
        for phase in t.phases:
            assert f'"{phase}", &stats);' in text, (t.name, phase)
        assert t.name == binary_name(t.scenario)


def test_tap_plan_matches_the_results_each_test_prints(tmp_path: Path) -> None:
    """ksft_finished() fails a test whose plan differs from the results it printed.

    Every result call site counts once, except the two branches of an if/else that print
    one result between them (the huge-zero-page check).
    """
    import re

    for t in render_root(Path("/x"), tmp_path, lib=golden_lib("6.1")):
        text = _source(t)
        body = text[text.index("static void run_test(void)"):]
        sites = len(re.findall(r"\bksft_test_result(?:_pass|_skip|_fail)?\(", body))
        alternatives = len(re.findall(r"\n\telse\n\t\tksft_test_result", body))
        plan = int(re.search(r"ksft_set_plan\((\d+)\);", text).group(1))
        assert sites - alternatives == plan, (t.name, sites, alternatives, plan)

"""gen-tests against the real Debian trees: probe, checkpatch, static compile, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from gentests_helpers import (
    GOLDEN,
    REGEN,
    TREES,
    copy_probe_inputs,
    golden_lib,
    real_tree,
    release_independent,
)
from release import makefile_version, next_point_release, normalise_text, series

from kpatchkit.cli import main
from kpatchkit.errors import KpatchkitError
from kpatchkit.gentests import render_scenarios
from kpatchkit.gentests.probe import SELFTEST_DIR, _rules, probe_tree
from kpatchkit.gentests.render import HEADER, render_root

pytestmark = [pytest.mark.tree, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module", params=sorted(TREES))
def tree(request):
    return real_tree(request.param)


def _assert_evidence_cites_its_pattern(root: Path, lib) -> None:
    """Every feature's evidence "file:line" names a line of ``root`` where that feature's
    (first) pattern in probe.toml matches: true on every release, whatever the line number."""
    rules = _rules()["feature"]
    assert set(lib.evidence) == {k for k, v in lib.features.items() if v}
    for name, where in lib.evidence.items():
        path, line = where.rsplit(":", 1)
        text = (root / path).read_text(errors="replace")
        lines = text.splitlines(keepends=True)
        assert 1 <= int(line) <= len(lines), f"{name}: {where} is past the end of {path}"
        start = sum(len(ln) for ln in lines[:int(line) - 1])
        m = re.compile(rules[name]["patterns"][0], re.M).search(text, start)
        assert m and m.start() < start + len(lines[int(line) - 1]), (
            f"{name}: {where} does not match {rules[name]['patterns'][0]!r}: "
            f"{lines[int(line) - 1]!r}")


def test_probe_of_the_real_tree_is_the_golden_one(tree) -> None:
    """The goldens are rendered from this probe result; a drift here means regenerate both.

    Compared release independently: the version as its series (6.12.x), evidence by file, each
    evidence line checked against its pattern instead of by number.
    """
    lib = probe_tree(Path(tree.path))
    major, minor, sub = makefile_version(Path(tree.path) / "Makefile")
    assert lib.tree_version == f"{major}.{minor}.{sub}" == tree.version
    assert series(lib.tree_version) == f"{TREES[tree.name]}.x"
    if REGEN:
        (GOLDEN / TREES[tree.name] / "library.json").write_text(
            json.dumps(release_independent(lib).to_json(), indent=2) + "\n")
    assert release_independent(lib) == golden_lib(TREES[tree.name])
    _assert_evidence_cites_its_pattern(Path(tree.path), lib)


def test_the_next_point_release_probes_and_renders_the_goldens(tree, tmp_path: Path) -> None:
    """Debian's next upload of this tree (SUBLEVEL + 1, simulated in a scratch copy of what the
    probe reads) gets the same library, and renders the goldens once its version is normalised."""
    root = copy_probe_inputs(Path(tree.path), tmp_path / "tree")
    version = next_point_release(root / "Makefile")
    assert version != tree.version and series(version) == series(tree.version)
    lib = probe_tree(root)
    assert lib.tree_version == version
    assert release_independent(lib) == golden_lib(TREES[tree.name])
    _assert_evidence_cites_its_pattern(root, lib)

    tests = render_root(root, tmp_path / "out")
    golden_dir = GOLDEN / TREES[tree.name]
    assert all(t.tree_version == version for t in tests)
    differ = []
    for path in [tmp_path / "out" / HEADER] + [t.c_path for t in tests]:
        text = path.read_text()
        assert version in text, f"{path.name} does not name the tree's version {version}"
        if normalise_text(text, version) != (golden_dir / path.name).read_text():
            differ.append(path.name)
    assert not differ, f"rendered for {version}, normalised, differs from goldens: {differ}"


def test_rendered_tests_pass_the_trees_checkpatch(tree, tmp_path: Path) -> None:
    tests = render_scenarios(tree, tmp_path)
    checkpatch = Path(tree.path) / "scripts" / "checkpatch.pl"
    files = sorted({*(Path(h) for t in tests for h in t.headers), *(t.c_path for t in tests)})
    assert tmp_path / "cow_util.h" in files
    for path in files:
        proc = subprocess.run(["perl", str(checkpatch), "--no-tree", "-f", str(path)],
                              capture_output=True, text=True)
        totals = [ln for ln in proc.stdout.splitlines() if ln.startswith("total:")]
        assert totals, proc.stdout + proc.stderr
        assert totals[0].startswith("total: 0 errors, 0 warnings"), (path.name, proc.stdout)


@pytest.mark.build
def test_rendered_tests_compile_as_static_binaries(tree, tmp_path: Path) -> None:
    from kpatchkit.gentests.build import build_tests

    tests = render_scenarios(tree, tmp_path)
    binaries = build_tests(tree, tests)
    assert set(binaries) == {t.name for t in tests}
    for name, path in binaries.items():
        headers = subprocess.run(["readelf", "-lh", str(path)], capture_output=True,
                                 text=True, check=True).stdout
        assert "Advanced Micro Devices X86-64" in headers, name
        assert "INTERP" not in headers, f"{name} is dynamically linked"


def test_probe_names_what_a_library_lacks(tree, tmp_path: Path) -> None:
    """A selftest library without vm_set_user_memory_region() cannot host these tests."""
    src = Path(tree.path)
    root = copy_probe_inputs(src, tmp_path / "tree")
    assert probe_tree(root) == probe_tree(src)
    for h in (root / SELFTEST_DIR / "include").glob("*.h"):
        h.write_text(h.read_text().replace("void vm_set_user_memory_region(", "void x("))
    with pytest.raises(KpatchkitError, match="vm_set_user_memory_region"):
        probe_tree(root)


def test_cli_json_is_one_object_with_the_tests(tree, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["gen-tests", "--tree", tree.name, "--out", str(out),
                 "--scenario", "cow_fork", "--scenario", "write_only_control", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == tree.version
    assert [t["scenario"] for t in data["tests"]] == ["cow_fork", "write_only_control"]
    fork = data["tests"][0]
    assert Path(fork["c_path"]).read_text().startswith("// SPDX-License-Identifier: GPL-2.0")
    assert fork["expectations"]["faults_per_cow_write"]["patched"] == {"max": 1.05}
    assert data["tests"][1]["expectations"]["control"] is True


def test_cli_errors_are_one_line_exit_2(tree, tmp_path: Path, capsys) -> None:
    assert main(["gen-tests", "--tree", tree.name, "--out", str(tmp_path),
                 "--scenario", "bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kpatchkit: error: unknown scenario bogus")
    assert main(["gen-tests", "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    for bad in (tmp_path, tmp_path / "no-such-dir" / "x.patch"):
        assert main(["gen-tests", "--tree", tree.name, "--out", str(tmp_path / "o"),
                     "--patch", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"kpatchkit: error: --patch {bad}"), err
    assert not (tmp_path / "o").exists()  # nothing rendered before the check


@pytest.mark.build
def test_a_changed_header_rebuilds_the_tests_that_include_it(tmp_path: Path) -> None:
    """6.1's selftests Makefile does not track header dependencies: the glue must, or a test
    whose .c is unchanged keeps the old helper code."""
    from kpatchkit.kernel.selftests import build_selftests, local_headers

    tree = real_tree("deb61")
    src = tmp_path / "kpatchkit_hdr_probe.c"
    src.write_text('#include "test_util.h"\n#include "probe_msg.h"\n\n'
                   'int main(void)\n{\n\tputs(PROBE_MSG);\n\treturn 0;\n}\n')
    assert local_headers(src) == []
    seen = []
    run = uuid.uuid4().hex  # new contents each run: the binaries cache cannot answer
    for word in (f"first-{run}", f"second-{run}"):
        (tmp_path / "probe_msg.h").write_text(f'#define PROBE_MSG "{word}"\n')
        assert local_headers(src) == [tmp_path / "probe_msg.h"]
        binary = build_selftests(Path(tree.path), tree.head, [], {src.stem: src})[src.stem]
        seen.append(word in subprocess.run(["strings", str(binary)], capture_output=True,
                                           text=True).stdout)
    assert seen == [True, True]
    (tmp_path / "probe_msg.h").rename(tmp_path / "kvm_util.h")
    src.write_text(src.read_text().replace("probe_msg.h", "kvm_util.h"))
    with pytest.raises(KpatchkitError, match="name of a selftest library header"):
        build_selftests(Path(tree.path), tree.head, [], {src.stem: src})


@pytest.mark.build
def test_upstream_patch_applies_and_the_trees_own_make_builds_it(tree, tmp_path: Path) -> None:
    """--patch: git apply --check on the real tree (read only), checkpatch finds only what a
    patch generator must leave to its sender, and in an export of the tree with the patch
    applied the selftests Makefile lists every test and builds one with no override."""
    from kpatchkit.kernel.selftests import _export

    patch = tmp_path / "cow.patch"
    code = main(["gen-tests", "--tree", tree.name, "--out", str(tmp_path / "out"),
                 "--patch", str(patch)])
    assert code == 0
    text = patch.read_text()
    assert "Signed-off-by" not in text and text.count("new file mode") == 10
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=tree.path, check=True)
    proc = subprocess.run(["perl", "scripts/checkpatch.pl", "--no-tree", str(patch)],
                          cwd=tree.path, capture_output=True, text=True)
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith(("ERROR", "WARNING"))]
    assert problems == ["WARNING: added, moved or deleted file(s), does MAINTAINERS need "
                        "updating?", "ERROR: Missing Signed-off-by: line(s)"], proc.stdout

    export = tmp_path / "export"
    _export(Path(tree.path), tree.head, export)
    subprocess.run(["git", "apply", str(patch)], cwd=export, check=True)
    kvm = export / "tools/testing/selftests/kvm"
    listed = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-",
                             "kpk-print"], cwd=kvm, input="kpk-print:\n\t@echo $(TEST_GEN_PROGS)\n",
                            capture_output=True, text=True)
    progs = {Path(p).name for p in listed.stdout.split()}
    assert {"cow_fork_test", "cow_ksm_test", "write_only_control_test"} <= progs, listed
    out = tmp_path / "build"
    built = subprocess.run(["make", "-C", str(kvm), f"OUTPUT={out}", "USERLDFLAGS=-static",
                            f"{out}/x86_64/cow_fork_test"],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    assert (out / "x86_64" / "cow_fork_test").is_file()

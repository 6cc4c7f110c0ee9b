"""gen-tests against the real Debian trees: probe, checkpatch, static compile, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from gentests_helpers import TREES, golden_lib, real_tree

from kpatchkit.cli import main
from kpatchkit.errors import KpatchkitError
from kpatchkit.gentests import render_scenarios
from kpatchkit.gentests.probe import SELFTEST_DIR, probe_tree

pytestmark = [pytest.mark.tree, pytest.mark.timeout(1800)]
SERIES = {"deb61": "6.1", "deb612": "6.12"}


@pytest.fixture(scope="module", params=sorted(TREES))
def tree(request):
    return real_tree(request.param)


def test_probe_of_the_real_tree_is_the_golden_one(tree) -> None:
    """The goldens are rendered from this probe result; a drift here means regenerate both."""
    lib = probe_tree(Path(tree.path))
    assert lib == golden_lib(SERIES[tree.name])
    for where in lib.evidence.values():  # every fact cites a line that exists
        path, line = where.rsplit(":", 1)
        assert int(line) <= len((Path(tree.path) / path).read_text().splitlines())


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
    root = tmp_path / "tree"
    src = Path(tree.path)
    for rel in (SELFTEST_DIR / "include", SELFTEST_DIR / "lib"):
        shutil.copytree(src / rel, root / rel)
    for rel in ("Makefile", "arch/x86/kvm/x86.c", "tools/testing/selftests/kselftest.h"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, root / rel)
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

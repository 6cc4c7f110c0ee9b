"""Helpers for the analyze tests and benchmark: the 6.1 tree, the hand port of the series
(made at test time from the lore fixture, never committed) and the injected-bug corpus."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

TDP = "arch/x86/kvm/mmu/tdp_mmu.c"
REPO = Path(__file__).resolve().parents[2]
LORE = REPO.parent / "shared" / "fixtures" / "lore"


def deb61_repo() -> Path:
    """kpatchkit's git repo of Debian's 6.1.192 (added once from the tarball, cached)."""
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        return Path(resolve_tree("deb61").path)
    except KpatchkitError:
        return Path(add_tree("deb61", "/usr/src/linux-source-6.1.tar.xz").path)


def deb612_repo() -> Path:
    """kpatchkit's git repo of Debian's 6.12 (no .change_pte() there)."""
    from kpatchkit.errors import KpatchkitError
    from kpatchkit.trees.registry import add_tree, resolve_tree

    try:
        return Path(resolve_tree("deb612").path)
    except KpatchkitError:
        return Path(add_tree("deb612", "/usr/src/linux-source-6.12.tar.xz").path)


def git(repo: Path, *args: str, input: str | None = None) -> str:
    """git with a fixed identity; fail loudly."""
    env = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_AUTHOR_DATE="2024-01-01T00:00:00Z", GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          input=input, env=env)
    assert proc.returncode == 0, f"git {args}: {proc.stderr}"
    return proc.stdout.strip()


def _post_image(mail: Path, func: str) -> str:
    """The new body of ``func`` from a patch mail's hunk (context + added lines)."""
    text = mail.read_text()
    diff = text[text.index("\ndiff --git "):]
    lines = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "@@", "diff ", "index ")):
            continue
        if line.startswith(("+", " ")):
            lines.append(line[1:])
        elif line == "":
            lines.append("")
    body = "\n".join(lines)
    start = body.index(f"bool {func}(")
    end = body.index("\n}\n", start) + 3
    return body[start:end]


def _function_span(src: str, signature: str) -> tuple[int, int]:
    start = src.index(signature)
    end = src.index("\n}\n", start) + 3
    return start, end


def port_texts(base_src: str) -> tuple[str, str]:
    """(after 1/2, after 2/2) of 6.1.192's tdp_mmu.c, with the two API renames of the port."""
    s, e = _function_span(base_src, "static bool set_spte_gfn(struct kvm *kvm")
    # 1/2 removes set_spte_gfn() (and the blank line after it) ...
    p1 = base_src[:s] + base_src[e + 1:]
    s2, e2 = _function_span(p1, "bool kvm_tdp_mmu_set_spte_gfn(struct kvm *kvm")
    one = ("bool kvm_tdp_mmu_set_spte_gfn(struct kvm *kvm, struct kvm_gfn_range *range)\n{\n"
           "\t/* Huge pages aren't expected to be modified */\n"
           "\tWARN_ON(pte_huge(range->pte) || range->start + 1 != range->end);\n\n"
           "\treturn false;\n}\n")
    p1 = p1[:s2] + one + p1[e2:]
    # ... and 2/2 gives kvm_tdp_mmu_set_spte_gfn() its prefetching body.
    new = _post_image(LORE / "0002-prefetch-spte.eml", "kvm_tdp_mmu_set_spte_gfn")
    new = new.replace("range->arg.pte", "range->pte").replace("tdp_mmu_iter_set_spte(",
                                                                "tdp_mmu_set_spte(")
    s3, e3 = _function_span(p1, "bool kvm_tdp_mmu_set_spte_gfn(struct kvm *kvm")
    p2 = p1[:s3] + new + p1[e3:]
    return p1, p2


def commit_file(clone: Path, parent: str, path: str, text: str, msg: str) -> str:
    blob = git(clone, "hash-object", "-w", "--stdin", input=text)
    index = clone / ".git" / "kpk-test-index"
    env_index = {"GIT_INDEX_FILE": str(index)}
    os.environ.update(env_index)
    try:
        git(clone, "read-tree", parent)
        git(clone, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        tree = git(clone, "write-tree")
    finally:
        os.environ.pop("GIT_INDEX_FILE", None)
    return git(clone, "commit-tree", tree, "-p", parent, "-m", msg)


@dataclass
class PortedRepo:
    """A shared clone of deb61 with base -> 1/2 -> 2/2 commits (no checkout)."""

    path: Path
    base: str
    p1: str
    head: str


def ported_repo(dest: Path) -> PortedRepo:
    """Clone deb61 (shared objects, no checkout) and commit the hand port of the series."""
    src = deb61_repo()
    if not (dest / ".git").exists():
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(src), str(dest)],
                       check=True)
    base = git(dest, "rev-parse", "HEAD")
    base_src = git(dest, "show", f"{base}:{TDP}") + "\n"
    t1, t2 = port_texts(base_src)
    p1 = commit_file(dest, base, TDP, t1, "KVM: x86/mmu: remove dead code (port 1/2)")
    head = commit_file(dest, p1, TDP, t2, "KVM: x86/mmu: prefetch SPTE (port 2/2)")
    git(dest, "update-ref", "refs/heads/ported", head)
    return PortedRepo(dest, base, p1, head)


@dataclass
class Bug:
    """One injected bug: replace ``old`` by ``new`` in ``TDP``; expect ``check`` on the line
    holding ``marker`` (first occurrence at or after the edit, or in ``marker_after``)."""

    name: str
    check: str
    old: str
    new: str
    marker: str
    marker_after: str = ""  # search the marker after this text (for callers' call sites)

    def apply(self, src: str) -> tuple[str, int]:
        """The bugged source and the expected finding line."""
        assert src.count(self.old) >= 1, f"{self.name}: anchor not found"
        idx = src.index(self.old)
        out = src[:idx] + self.new + src[idx + len(self.old):]
        start = out.index(self.marker_after) if self.marker_after else idx
        pos = out.index(self.marker, start)
        return out, out.count("\n", 0, pos) + 1


BUGS: list[Bug] = [
    Bug("rcu-unlock-twice-in-zap-root", "rcu-unlock-unbalanced",
        "\t__tdp_mmu_zap_root(kvm, root, shared, root->role.level);\n\n\trcu_read_unlock();\n",
        "\t__tdp_mmu_zap_root(kvm, root, shared, root->role.level);\n\n\trcu_read_unlock();\n"
        "\trcu_read_unlock(); /* BUG */\n", "rcu_read_unlock(); /* BUG */"),
    Bug("rcu-unlock-missing-on-retry-path-only", "rcu-leak",
        "\tif (iter.level != fault->goal_level || is_removed_spte(iter.old_spte)) {\n"
        "\t\trcu_read_unlock();\n\t\treturn RET_PF_RETRY;",
        "\tif (iter.level != fault->goal_level || is_removed_spte(iter.old_spte)) {\n"
        "\t\treturn RET_PF_RETRY;", "return RET_PF_RETRY;"),
    Bug("split-error-path-returns-inside-rcu", "rcu-leak",
        "\t\t\t\t\t\t\t      iter.level, ret);\n\t\t\t\tbreak;",
        "\t\t\t\t\t\t\t      iter.level, ret);\n\t\t\t\treturn ret;", "return ret;"),
    Bug("rcu-unlocked-before-target-level", "rcu-outside-read-side",
        "\tret = tdp_mmu_map_handle_target_level(vcpu, fault, &iter);\n\trcu_read_unlock();\n",
        "\trcu_read_unlock();\n\tret = tdp_mmu_map_handle_target_level(vcpu, fault, &iter);\n",
        "ret = tdp_mmu_map_handle_target_level"),
    Bug("cond-resched-under-write-lock", "sleep-in-atomic",
        "\t\ttdp_mmu_zap_root(kvm, root, false);\n}",
        "\t\ttdp_mmu_zap_root(kvm, root, false);\n\tcond_resched(); /* BUG */\n}",
        "cond_resched(); /* BUG */"),
    Bug("cond-resched-inside-rcu-walk", "sleep-in-rcu",
        "\t\tmask &= ~(1UL << (iter.gfn - gfn));\n",
        "\t\tmask &= ~(1UL << (iter.gfn - gfn));\n\t\tcond_resched(); /* BUG */\n",
        "cond_resched(); /* BUG */"),
    Bug("sleeping-alloc-before-dropping-locks", "sleep-in-rcu",
        "sp = __tdp_mmu_alloc_sp_for_split(GFP_NOWAIT | __GFP_ACCOUNT);",
        "sp = __tdp_mmu_alloc_sp_for_split(GFP_KERNEL_ACCOUNT);",
        "sp = tdp_mmu_alloc_sp_for_split(kvm, &iter, shared);",
        marker_after="static int tdp_mmu_split_huge_pages_root("),
    Bug("write-only-setter-under-read-lock", "lock-requirement",
        "\t\tif (tdp_mmu_set_spte_atomic(kvm, &iter, new_spte))\n\t\t\tgoto retry;\n\n"
        "\t\tspte_set = true;\n\t}\n\n\trcu_read_unlock();\n\treturn spte_set;",
        "\t\ttdp_mmu_set_spte(kvm, &iter, new_spte); /* BUG */\n\n"
        "\t\tspte_set = true;\n\t}\n\n\trcu_read_unlock();\n\treturn spte_set;",
        "tdp_mmu_set_spte(kvm, &iter, new_spte); /* BUG */"),
    Bug("non-yield-safe-root-walk-under-read-lock", "lock-requirement",
        "\tfor_each_valid_tdp_mmu_root_yield_safe(kvm, root, slot->as_id, true)\n"
        "\t\tspte_set |= wrprot_gfn_range(",
        "\tfor_each_tdp_mmu_root(kvm, root, slot->as_id)\n\t\tspte_set |= wrprot_gfn_range(",
        "for_each_tdp_mmu_root(kvm, root, slot->as_id)"),
    Bug("unlock-in-the-wrong-mode", "lock-imbalance",
        "\t\tkvm_tdp_mmu_put_root(kvm, root, true);\n\t}\n\n\tread_unlock(&kvm->mmu_lock);",
        "\t\tkvm_tdp_mmu_put_root(kvm, root, true);\n\t}\n\n\twrite_unlock(&kvm->mmu_lock);",
        "write_unlock(&kvm->mmu_lock);"),
    Bug("write-lock-while-held", "double-lock",
        "\tlockdep_assert_held_write(&kvm->mmu_lock);\n\n\t/*\n\t * Check for an existing root",
        "\tlockdep_assert_held_write(&kvm->mmu_lock);\n\twrite_lock(&kvm->mmu_lock); /* BUG */\n"
        "\n\t/*\n\t * Check for an existing root", "write_lock(&kvm->mmu_lock); /* BUG */"),
    Bug("pages-lock-released-twice", "double-unlock",
        "\tlist_add_rcu(&root->link, &kvm->arch.tdp_mmu_roots);\n"
        "\tspin_unlock(&kvm->arch.tdp_mmu_pages_lock);\n",
        "\tlist_add_rcu(&root->link, &kvm->arch.tdp_mmu_roots);\n"
        "\tspin_unlock(&kvm->arch.tdp_mmu_pages_lock);\n"
        "\tspin_unlock(&kvm->arch.tdp_mmu_pages_lock); /* BUG */\n",
        "spin_unlock(&kvm->arch.tdp_mmu_pages_lock); /* BUG */"),
    Bug("sleep-in-handler-run-inside-rcu-walk", "sleep-in-rcu",
        "\ttdp_mmu_set_spte(kvm, iter, 0);\n",
        "\ttdp_mmu_set_spte(kvm, iter, 0);\n\tcond_resched(); /* BUG */\n",
        "return kvm_tdp_mmu_handle_gfn(kvm, range, set_spte_gfn);"),
    Bug("yielding-zap-inside-plain-root-walk", "yield-in-walk",
        "\tfor_each_tdp_mmu_root_yield_safe(kvm, root, false)\n"
        "\t\tflush = tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);",
        "\tfor_each_tdp_mmu_root(kvm, root, 0)\n"
        "\t\tflush = tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);",
        "flush = tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);"),
]


def without_locks(text: str) -> str:
    """Helper for readable assertion messages: strip line numbers."""
    return re.sub(r"\d+", "N", text)


REAL_BUGS = Path(__file__).with_name("data") / "real_bugs.toml"


@dataclass
class Edited:
    """A corpus entry of data/real_bugs.toml: edits to one 6.1.192 file, and what to expect."""

    name: str
    file: str
    function: str
    edits: list
    check: str = ""  # empty: a correct refactor (no finding expected)
    marker: str = ""
    origin: str = ""
    commit: str = ""
    subject: str = ""
    id_verified: bool = False
    verified_by: str = ""  # where id + subject were found together
    cve: str = ""
    note: str = ""

    def apply(self, src: str) -> tuple[str, int]:
        """The edited source and (for a bug) the expected finding line, else 0."""
        first = None
        for old, new in self.edits:
            assert old in src, f"{self.name}: anchor not found: {old[:60]!r}"
            idx = src.index(old)
            first = idx if first is None else min(first, idx)
            src = src[:idx] + new + src[idx + len(old):]
        if not self.marker:
            return src, 0
        pos = src.index(self.marker, first or 0)
        return src, src.count("\n", 0, pos) + 1


def corpus() -> tuple[list[Edited], list[Edited]]:
    """(bugs, refactors) of the real-bug corpus."""
    import tomllib

    data = tomllib.loads(REAL_BUGS.read_text())
    return ([Edited(**b) for b in data["bug"]], [Edited(**r) for r in data["refactor"]])

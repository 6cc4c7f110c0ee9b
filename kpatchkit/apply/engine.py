"""``apply_series``: apply (and if needed port) a series to a tree, in a worktree of its own.

Steps: resolve the base (``base``), refuse an incomplete series whose missing part the tree lacks,
make a branch + worktree in kpatchkit's repository of the tree, ``git am --3way`` each patch; a
patch that does not apply is re-anchored by function (``port``) and committed with its own
authorship; then one ``kpatchkit: port to <version>`` commit holds the API-drift edits
(``drift``); finally the touched objects are compiled (``kernel.kbuild``) and errors are mapped
back to patch lines. The user's repository is never written: ``TreeInfo.path`` is kpatchkit's.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time

from kpatchkit import cache
from kpatchkit.apply import am as amod
from kpatchkit.apply import drift, obsolete, port, store
from kpatchkit.apply.base import check_prerequisites, label, resolve_base
from kpatchkit.console import info
from kpatchkit.errors import InfraError, KpatchkitError
from kpatchkit.kernel import git as g
from kpatchkit.records.applied import (
    Applied,
    CommitInfo,
    CompileCheck,
    CompileError,
    DriftUse,
    MissingSymbol,
    ObsoleteInfo,
    PatchLine,
)
from kpatchkit.records.series import Patch, Series
from kpatchkit.records.tree import TreeInfo

ENGINE_VERSION = "3"  # bump when the way commits are made changes (invalidates cached applies)
C_KEYWORDS = frozenset("""if for while switch return sizeof do else case default goto break
continue typeof __typeof__ defined likely unlikely static inline const volatile struct union enum
void int long short char unsigned signed bool u8 u16 u32 u64 s8 s16 s32 s64 true false
NULL""".split())


def _series_key(tree: TreeInfo, base_commit: str, patches: list[Patch]) -> str:
    chunks = [ENGINE_VERSION, tree.head, base_commit, drift.rules_digest(),
              obsolete.DATA.read_text()]
    for p in patches:
        chunks += [p.subject, p.author, p.email, p.date, p.body, json.dumps(p.trailers), p.diff]
    return cache.content_hash(*chunks)


def patch_line(patches: list[Patch], text: str, path: str | None = None) -> PatchLine | None:
    """The '+' line of a patch diff that reads ``text`` (whitespace-insensitive), if any."""
    want = " ".join(text.split())
    if not want:
        return None
    for p in patches:
        current = None
        for n, line in enumerate(p.diff.splitlines(), 1):
            if line.startswith("+++ "):
                current = line[4:].removeprefix("b/")
            elif line.startswith("+") and " ".join(line[1:].split()) == want:
                if path is None or current is None or current == path:
                    return PatchLine(patch=label(p), line=n, text=line)
    return None


class _Run:
    """State of one apply (kept out of a 300-line function)."""

    def __init__(self, series: Series, tree: TreeInfo, prereqs: list[Series]) -> None:
        self.series, self.tree, self.prereqs = series, tree, prereqs
        self.patches = [p for s in prereqs for p in s.patches] + list(series.patches)
        self.repo = tree.path
        self.commits: list[CommitInfo] = []
        self.notes: list[str] = []
        self.files: list[str] = []
        for p in self.patches:
            for f in p.files:
                if f.path and f.path not in self.files and f.new_path:
                    self.files.append(f.path)

    # -- patches ---------------------------------------------------------------------------
    def apply_patch(self, p: Patch) -> None:
        from kpatchkit.fetch import series_mbox

        before = amod.head(self.wt)
        ok, output = amod.am(self.wt, series_mbox([p]))
        if ok:
            sha = amod.head(self.wt)
            # git am --3way skips a patch whose change the tree already has
            method = "already-applied" if sha == before else "am"
            if method == "already-applied":
                self.notes.append(f"{label(p)}: the tree already has this change (git am: "
                                  f"{output.strip().splitlines()[-1][:100]})")
            self.commits.append(CommitInfo(sha=sha, subject=p.subject, kind="patch",
                                           patch=label(p), author=f"{p.author} <{p.email}>",
                                           method=method))
            return
        info(f"apply: {label(p)} does not apply as mailed; re-anchoring its hunks by function")
        outcomes = []
        touched = []
        for fd in p.files:
            if fd.binary:
                raise port.PortFailure(fd.path, 0, "binary diff cannot be re-anchored")
            target = self.wt / fd.path
            if fd.old_path is None:
                raise port.PortFailure(fd.path, 0, "new file did not apply: " + output[-200:])
            if not target.exists():
                raise port.PortFailure(fd.path, 0, f"{fd.path} is not in the target tree")
            text = target.read_text(errors="surrogateescape")
            new_text, outs = port.reanchor_file(text, fd, self.spell())
            target.write_text(new_text, errors="surrogateescape")
            outcomes += outs
            touched.append(fd.path)
        diff = g.out(self.wt, "diff", "--full-index", "--", *touched) + "\n"
        g.git(self.wt, "checkout", "--quiet", "--", *touched)
        how = "; ".join(f"{o.method} {', '.join(o.functions) or o.file}" for o in outcomes)
        note = f"[kpatchkit: re-anchored on {self.tree.version}: {how}]"
        reanchored = dataclasses.replace(p, diff=diff, diffstat="",
                                         body=(p.body.rstrip("\n") + "\n\n" + note).lstrip())
        ok, output = amod.am(self.wt, series_mbox([reanchored]))
        if not ok:
            raise port.PortFailure(touched[0], 0, "re-anchored diff did not apply: " + output)
        self.commits.append(CommitInfo(sha=amod.head(self.wt), subject=p.subject, kind="patch",
                                       patch=label(p), author=f"{p.author} <{p.email}>",
                                       method="reanchored",
                                       hunks=[o.to_json() for o in outcomes]))
        self.notes += [f"{label(p)}: {o.note}" for o in outcomes if o.note]

    # -- drift -----------------------------------------------------------------------------
    def verdicts(self) -> list[drift.Verdict]:
        """Drift rules probed on the base (cached for the run)."""
        if not hasattr(self, "_verdicts"):
            base = self.base_commit
            self._verdicts = drift.applicable(lambda f: g.show_file(self.repo, base, f))
        return self._verdicts

    def spell(self) -> port.Spell:
        """Patch line -> the target's spelling, so context written in the old API still
        anchors (used for matching only)."""
        rules = [v.rule for v in self.verdicts() if v.applies]
        return lambda line: drift.rewrite_line(line, rules)[0]

    def added_lines(self) -> dict[str, list[int]]:
        """1-based line numbers, in the worktree's files, of lines the series added."""
        out: dict[str, list[int]] = {}
        diff = g.out(self.wt, "diff", "-U0", "--no-color", self.base_commit, "HEAD", "--",
                     *self.files)
        current = None
        for line in diff.splitlines():
            if line.startswith("+++ "):
                current = None if line.endswith("/dev/null") else line[6:]
            m = re.match(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", line)
            if m and current:
                start, count = int(m.group(1)), int(m.group(2) or 1)
                out.setdefault(current, []).extend(range(start, start + count))
        return out

    def port_commit(self) -> list[DriftUse]:
        verdicts = self.verdicts()
        active = [v for v in verdicts if v.applies]
        uses: dict[str, DriftUse] = {}
        self.final_to_original: dict[tuple[str, str], str] = {}
        changed = []
        for path, numbers in self.added_lines().items():
            target = self.wt / path
            lines = target.read_text(errors="surrogateescape").split("\n")
            for n in numbers:
                before = lines[n - 1]
                after, ids = drift.rewrite_line(before, [v.rule for v in active])
                if not ids:
                    continue
                lines[n - 1] = after
                self.final_to_original[(path, " ".join(after.split()))] = before
                pl = patch_line(self.patches, before, path)
                for rid in ids:
                    v = next(v for v in active if v.rule.id == rid)
                    use = uses.setdefault(rid, DriftUse(id=rid, old=v.rule.uses,
                                                        new=v.rule.becomes,
                                                        why="; ".join(v.evidence),
                                                        source=v.rule.source))
                    use.edits.append({"file": path, "line": n, "before": before.strip(),
                                      "after": after.strip(),
                                      "patch_line": pl.to_json() if pl else None})
            if any(u.edits and u.edits[-1]["file"] == path for u in uses.values()):
                target.write_text("\n".join(lines), errors="surrogateescape")
                changed.append(path)
        self.drift_checked = [{"id": v.rule.id, "applies": v.applies, "evidence": v.evidence}
                              for v in verdicts]
        if not changed:
            return []
        body = "\n".join(f"- {u.id}: {u.old} -> {u.new} ({len(u.edits)} line(s)); {u.why}"
                         for u in uses.values())
        message = (f"kpatchkit: port to {self.tree.version}\n\nAPI-drift edits to the lines the "
                   f"series adds, so it builds on {self.tree.version}:\n\n{body}\n")
        sha = amod.commit_all(self.wt, message, changed)
        self.commits.append(CommitInfo(sha=sha, subject=f"kpatchkit: port to {self.tree.version}",
                                       kind="port", author="kpatchkit", method="drift"))
        return list(uses.values())

    # -- symbols ---------------------------------------------------------------------------
    def missing_symbols(self, head: str) -> list[MissingSymbol]:
        wanted: dict[str, tuple[str, str]] = {}  # symbol -> (path, line text)
        defined: set[str] = set()
        for path, numbers in self.added_lines().items():
            lines = (self.wt / path).read_text(errors="surrogateescape").split("\n")
            added = [lines[n - 1] for n in numbers]
            code = [re.sub(r"//.*|/\*.*?\*/|\"(?:\\.|[^\"])*\"", " ", x) for x in added]
            for x in code:
                defined.update(re.findall(r"^#\s*define\s+(\w+)", x))
                m = re.match(r"^[A-Za-z_][\w\s\*]*?\b(\w+)\s*\(", x)
                if m and not x.rstrip().endswith(";"):
                    defined.add(m.group(1))
            comment = False
            for raw, x in zip(added, code, strict=True):
                s = x.strip()
                if comment or s.startswith("*") or s.startswith("/*"):
                    comment = "*/" not in s and (comment or s.startswith("/*"))
                    continue
                syms = (re.findall(r"\b([A-Za-z_]\w*)\s*\(", x)
                        + re.findall(r"\bstruct\s+(\w+)", x)
                        + re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", x))
                for sym in syms:
                    if sym not in C_KEYWORDS and sym not in defined:
                        wanted.setdefault(sym, (path, raw))
        if not wanted:
            return []
        args = ["grep", "-o", "-h", "-w", "-F", "-I"]
        for sym in wanted:
            args += ["-e", sym]
        # Where a kernel symbol a patch may use is defined: the shared headers, the generic KVM
        # code and the patched files' own subsystem (searching all 75k files costs 10+ s).
        dirs = {"include", "virt"}
        for f in self.files:
            parts = f.split("/")
            dirs.add("/".join(parts[:2]) if parts[0] == "arch" and len(parts) > 2 else parts[0])
        specs = [f"{d}/*.{ext}" for d in sorted(dirs) for ext in ("h", "c")]
        proc = g.git(self.repo, *args, self.base_commit, "--", *specs, check=False)
        found = {line.split(":", 1)[-1] for line in proc.stdout.splitlines()}
        out = []
        for sym, (path, raw) in wanted.items():
            if sym in found:
                continue
            original = self.final_to_original.get((path, " ".join(raw.split())), raw)
            out.append(MissingSymbol(symbol=sym, patch_line=patch_line(self.patches, original,
                                                                       path)))
        return out

    # -- compile ---------------------------------------------------------------------------
    def compile(self, commit: str) -> CompileCheck:
        objects = [f[:-2] + ".o" for f in self.files if f.endswith(".c")]
        if not objects:
            return CompileCheck(status="skipped", note="the series touches no .c file")
        try:
            from kpatchkit.kernel import kbuild
            compile_objects = kbuild.compile_objects
        except (ImportError, AttributeError):
            return CompileCheck(status="pending", objects=objects,
                                note="kpatchkit.kernel.kbuild.compile_objects is not available")
        info(f"apply: compiling {' '.join(objects)} at {commit[:12]} (KVM config, cached)")
        try:
            res = compile_objects(self.repo, commit, objects)
        except InfraError as exc:
            return CompileCheck(status="error", objects=objects, note=exc.message)
        errors = []
        for d in res.errors:
            if d.severity not in ("error", "fatal error"):
                continue
            sha, text = self.blame(commit, d.file, d.line)
            original = self.final_to_original.get((d.file, " ".join(text.split())), text)
            pl = patch_line(self.patches, original, d.file) if text else None
            errors.append(CompileError(file=d.file, line=d.line, col=d.col, severity=d.severity,
                                       message=d.message, commit=sha, patch_line=pl))
        return CompileCheck(status="ok" if res.ok else "failed", ok=res.ok, objects=objects,
                            seconds=round(res.seconds, 1), cached=res.cached, errors=errors,
                            log=str(res.log)[-2000:])

    def blame(self, commit: str, path: str, line: int) -> tuple[str | None, str]:
        proc = g.git(self.repo, "blame", "--porcelain", "-L", f"{line},{line}", commit, "--",
                     path, check=False)
        if proc.returncode != 0 or not proc.stdout:
            return None, ""
        first = proc.stdout.split("\n", 1)[0].split()[0]
        text = next((x[1:] for x in proc.stdout.splitlines() if x.startswith("\t")), "")
        return first, text


def _obsolete_info(run: _Run, p: Patch, exc: port.Obsolete) -> ObsoleteInfo:
    return obsolete.obsolete_info(run.repo, run.base_commit, exc.function, exc.file, label(p))


def _preflight(run: _Run, base_commit: str) -> ObsoleteInfo | None:
    """Re-anchor the series in memory on the base's files; report an obsolete verdict early.

    Anything else (a clean apply, a failure) is left to the real ``git am`` + port path.
    """
    run.base_commit = base_commit
    texts: dict[str, str | None] = {}
    for p in run.patches:
        for fd in p.files:
            if fd.old_path is None or fd.binary:
                continue
            if fd.path not in texts:
                texts[fd.path] = g.show_file(run.repo, base_commit, fd.path)
            if texts[fd.path] is None:
                return None
            try:
                texts[fd.path], _ = port.reanchor_file(texts[fd.path], fd, run.spell())
            except port.Obsolete as exc:
                return _obsolete_info(run, p, exc)
            except port.PortFailure:
                return None
    return None


def apply_series(series: Series, tree: TreeInfo, *, prereqs: list[Series] = (),
                 compile: bool = True) -> Applied:
    """Apply ``series`` (after ``prereqs``) to ``tree``; see the module docstring.

    Raises KpatchkitError (exit 2) for an incomplete series whose missing part the tree lacks.
    The returned ``Applied.result`` is "applied", "ported", "failed" or "obsolete".
    """
    t0 = time.monotonic()
    prereqs = list(prereqs)
    if not series.patches:
        raise KpatchkitError("the series has no patch to apply")
    run = _Run(series, tree, prereqs)
    base = resolve_base(tree, series, run.patches)
    check_prerequisites(series, prereqs, base)
    info(f"apply: base {base.commit[:12]} decided by {base.method} "
         f"({'found' if base.found else 'not found'}: {base.reason})")
    key = _series_key(tree, base.commit, run.patches)
    entry = store.entry(key)
    with cache.locked(entry):
        cached = store.load(entry, tree.path)
        if cached is not None:
            cached.cached = True
            store.touch(entry)
            cached.base = base  # same commit; this run's evidence (trailer/blobs) may differ
            stale = cached.compile is None or cached.compile.status in ("pending", "skipped")
            if compile and cached.patched_commit and stale:
                run.final_to_original = {}
                cached.compile = run.compile(cached.patched_commit)
                store.save(entry, cached)
            cached.seconds = round(time.monotonic() - t0, 2)
            return cached
        early = _preflight(run, base.commit)
        if early is not None:
            # The series changes a function the target lacks: no worktree (25-60 s) is needed
            # to say so.
            applied = Applied(result="obsolete", tree=tree.name, tree_version=tree.version,
                              repo=str(tree.path), base=base, base_commit=base.commit,
                              patched_commit=None, worktree=None, branch=None, obsolete=early,
                              series=[f"{label(p)} {p.subject}" for p in run.patches],
                              seconds=round(time.monotonic() - t0, 2))
            store.save(entry, applied)
            return applied
        run.wt = entry / "worktree"
        branch = f"kpatchkit/{amod.slug(run.patches[-1].subject)}-{key[:8]}"
        run.base_commit = base.commit
        run.final_to_original = {}
        run.drift_checked = []
        applied = Applied(result="applied", tree=tree.name, tree_version=tree.version,
                          repo=str(tree.path), base=base, base_commit=base.commit,
                          patched_commit=None, worktree=str(run.wt), branch=branch,
                          series=[f"{label(p)} {p.subject}" for p in run.patches])
        done = False
        try:
            info(f"apply: worktree {run.wt} on branch {branch}")
            if store.recycle_worktree(tree, run.wt, keep=entry):
                info(f"apply: reusing the least recently used worktree of {tree.name} "
                     f"(pool of {store.pool_size()})")
            amod.add_worktree(tree.path, run.wt, branch, base.commit)
            info(f"apply: worktree ready in {time.monotonic() - t0:.1f} s")
            _apply_all(run, applied)
            info(f"apply: {applied.result} in {time.monotonic() - t0:.1f} s")
            applied.commits = run.commits
            applied.notes = run.notes + [f"drift rule {d['id']}: "
                                         f"{'applies' if d['applies'] else 'not needed'} "
                                         f"({'; '.join(d['evidence'])})"
                                         for d in run.drift_checked]
            if applied.result in ("applied", "ported") and compile:
                applied.compile = run.compile(applied.patched_commit)
            elif applied.result in ("applied", "ported"):
                applied.compile = CompileCheck(status="skipped", note="compile=False")
            applied.seconds = round(time.monotonic() - t0, 2)
            store.save(entry, applied)
            done = True
        finally:
            if not done:  # interrupted or crashed: leave no half-made branch behind
                amod.remove_worktree(tree.path, run.wt, branch)
        return applied


def _apply_all(run: _Run, applied: Applied) -> None:
    for p in run.patches:
        try:
            run.apply_patch(p)
        except port.Obsolete as exc:
            applied.result = "obsolete"
            applied.obsolete = _obsolete_info(run, p, exc)
            applied.commits = run.commits
            return
        except port.PortFailure as exc:
            applied.result = "failed"
            applied.failure = {"patch": label(p), "subject": p.subject, "file": exc.file,
                               "hunk": exc.hunk, "reason": exc.reason}
            applied.commits = run.commits
            return
    applied.drift_rules = run.port_commit()
    if applied.drift_rules:
        applied.port_diff = g.out(run.wt, "show", "--format=", "--no-color", "HEAD") + "\n"
    if any(c.method not in ("am", "already-applied") for c in run.commits):
        applied.result = "ported"
    applied.patched_commit = amod.head(run.wt)
    applied.missing_symbols = run.missing_symbols(applied.patched_commit)

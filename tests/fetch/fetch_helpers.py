"""Helpers for the fetch tests: damage a mail like a web archive does, build preimages, git."""

from __future__ import annotations

import email
import email.utils
import re
import subprocess
from email import policy
from pathlib import Path


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git with a fixed identity; return stdout (fail loudly)."""
    env_args = ["-c", "user.name=Test", "-c", "user.email=test@example.org",
                "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    res = subprocess.run(["git", *env_args, *args], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, f"git {args}: {res.stderr}"
    return res.stdout


def diff_of(text: str) -> str:
    """The diff part of a mail body, up to the '-- ' signature."""
    start = text.index("\ndiff --git ") + 1
    end = text.find("\n-- \n", start)
    return text[start:end + 1 if end >= 0 else len(text)]


def damage_diff_lines(diff: str) -> str:
    """The seed's damage: context lines lose every leading blank, runs of whitespace after a
    '+'/'-' marker collapse to one space; file headers and hunk headers survive."""
    out, in_hunk = [], False
    for line in diff.split("\n"):
        if line.startswith("diff --git"):
            in_hunk = False
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line[:1] in ("+", "-"):
            line = line[0] + re.sub(r"^\s+", " ", line[1:])
        elif in_hunk and line[:1] == " ":
            line = line.strip()
        out.append(line)
    return "\n".join(out)


def damage_mail(raw: bytes, *, noise: bool = False) -> str:
    """Render a mail as an lkml.iu.edu-style page copy with the seed's damage."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    body = msg.get_content()
    name, _ = email.utils.parseaddr(str(msg["From"]))
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    head, _, rest = body.partition("\ndiff --git ")
    diff, _, sig = ("diff --git " + rest).partition("\n-- \n")
    head = "\n".join(x.lstrip() for x in head.split("\n"))  # diffstat lines lose their space
    text = head + "\n" + damage_diff_lines(diff) + "\n--\n" + sig
    text = re.sub(r"@[\w.-]+\.(com|org)", "@xxxxxxxxx", text)  # addresses obfuscated
    page = [str(msg["Subject"]), "", f"From: {name}",
            "Date: " + date.strftime("%a %b %d %Y - %H:%M:%S") + " EST", "", "", text]
    if noise:
        page = ["Next message: Someone: \"Re: [PATCH 0/2] something\"",
                "Previous message: Other: \"[PATCH] unrelated\"", *page,
                "Next message: Someone: \"Re: [PATCH 0/2] something\"",
                "Messages sorted by: [ date ] [ thread ] [ subject ] [ author ]"]
    return "\n".join(page)


def old_side(hunk_lines: list[str]) -> list[str]:
    """The preimage lines a hunk expects."""
    return [x[1:] for x in hunk_lines if x[:1] in (" ", "-")]


def build_preimage(diff: str, total_lines: int = 1400) -> list[str]:
    """A file on which ``diff`` applies: each hunk's old side at its line, filler elsewhere."""
    lines = [f"/* filler line {k} */" for k in range(1, total_lines + 1)]
    for m in re.finditer(r"^@@ -(\d+),(\d+) \+\d+(?:,\d+)? @@.*\n((?:[ +\-\\].*\n|\n)*)", diff,
                         re.M):
        start = int(m.group(1))
        body = [x if x else " " for x in m.group(3).split("\n")[:-1]]
        old = old_side(body)
        assert len(old) == int(m.group(2))
        lines[start - 1:start - 1 + len(old)] = old
    return lines

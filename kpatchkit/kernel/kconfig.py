"""Kconfig fragments kept as data, the tree's own merge, and the check that every option stuck.

Fragments live in ``kpatchkit/kernel/data/config/NAME.config`` (``kvm-base``, ``vendor-amd``,
``vendor-intel``, ``debug``, ``kasan``, ``selftests``); a caller may also pass a path to its own
``.config`` fragment. The merged config is: the tree's ``tinyconfig``, then the fragments merged
with the tree's ``scripts/kconfig/merge_config.sh -m``, then ``olddefconfig``. Kconfig silently
drops an option whose dependencies are missing, so :func:`unmet_options` compares the result with
every requested value and the caller turns a mismatch into an error naming the option.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpatchkit.cache import cache_dir, content_hash
from kpatchkit.errors import KpatchkitError

DATA = Path(__file__).with_name("data") / "config"

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class Fragment:
    """One named fragment: its file and the option -> value it asks for ("n" for unset)."""

    name: str
    path: Path
    text: str

    @property
    def options(self) -> dict[str, str]:
        """Requested values; ``# CONFIG_X is not set`` becomes ``"n"``."""
        return parse_config(self.text)


def parse_config(text: str) -> dict[str, str]:
    """Parse ``.config`` syntax into {CONFIG_NAME: value}; unset options map to ``"n"``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _SET.match(line):
            out[m.group(1)] = m.group(2)
        elif m := _UNSET.match(line):
            out[m.group(1)] = "n"
    return out


def available_fragments() -> list[str]:
    """Names of the fragments shipped with kpatchkit."""
    return sorted(p.stem for p in DATA.glob("*.config"))


def load_fragment(spec: str | Path) -> Fragment:
    """Load a shipped fragment by name, or a fragment file by path."""
    path = Path(spec)
    if not (path.suffix == ".config" and path.exists()):
        path = DATA / f"{spec}.config"
    if not path.is_file():
        raise KpatchkitError(
            f"unknown kconfig fragment '{spec}'; use one of {', '.join(available_fragments())} "
            "or a path to a .config fragment")
    return Fragment(name=path.stem, path=path.resolve(), text=path.read_text())


def load_fragments(specs: Sequence[str | Path]) -> list[Fragment]:
    """Load several fragments in merge order."""
    return [load_fragment(s) for s in specs]


def fragments_hash(fragments: Sequence[Fragment], arch: str = "x86_64") -> str:
    """The config hash: base recipe + the fragments' contents, in order.

    It is known before anything is built, so cached images and build directories can be found
    without touching a tree. (The same fragments on another kernel version give another
    ``.config``, but that is keyed by the commit beside this hash.)
    """
    return content_hash("tinyconfig", arch, *[f.text for f in fragments])


def fragment_for_options(options: Iterable[str], base: Sequence[str | Path]) -> Path | None:
    """A fragment file asking for the ``options`` (``KSM`` or ``CONFIG_KSM``, each ``=y``) that
    the ``base`` fragments do not already request; None when they all do.

    Tests name the guest options they need (gen-tests' ``kconfig``); returning None for options
    the base already has keeps the config hash, so no kernel is rebuilt for them. The file is
    content-addressed under the cache, so the same options give the same hash.
    """
    have = requested_options(load_fragments(base))
    want = sorted({o if o.startswith("CONFIG_") else f"CONFIG_{o}" for o in options})
    missing = [o for o in want if have.get(o) != "y"]
    if not missing:
        return None
    text = "# Guest options the tests ask for that kpatchkit's fragments lack\n" + \
        "".join(f"{o}=y\n" for o in missing)
    path = cache_dir("kconfig") / f"tests-{content_hash(text)}.config"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def requested_options(fragments: Sequence[Fragment]) -> dict[str, str]:
    """What the fragments ask for after merging (later fragments win, as in merge_config.sh)."""
    merged: dict[str, str] = {}
    for frag in fragments:
        merged.update(frag.options)
    return merged


def unmet_options(requested: dict[str, str], final_config: str) -> dict[str, tuple[str, str]]:
    """Options whose final value differs from the request: {name: (wanted, got)}."""
    got = parse_config(final_config)
    bad: dict[str, tuple[str, str]] = {}
    for name, want in requested.items():
        have = got.get(name, "n")
        if want != have:
            bad[name] = (want, have)
    return bad

"""A kernel tree's version: from its top Makefile, or from the tree record that holds it."""

from __future__ import annotations

import re
from typing import Any

from kpatchkit.errors import KpatchkitError

_FIELD = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)", re.M)


def makefile_version(text: str) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from a top Makefile's text (the fields it sets)."""
    vals = dict(_FIELD.findall(text))
    return ".".join(v for v in (vals.get("VERSION"), vals.get("PATCHLEVEL"),
                                vals.get("SUBLEVEL")) if v)


def of_tree(tree: Any) -> str:
    """The version a tree record (``TreeInfo`` or its JSON) holds, e.g. ``"6.1.192"``.

    The run stage picks its upstream regression list by it, so a tree without one is the
    user's to fix, never a guess.
    """
    get = tree.get if isinstance(tree, dict) else lambda k: getattr(tree, k, None)
    version = str(get("version") or "")
    if not re.match(r"^\d+\.\d+", version):
        name = get("name")
        raise KpatchkitError(
            f"tree {name or get('path')} has no kernel version (got {version or 'none'}): "
            "kpatchkit reads it from the top Makefile when the tree is added; add it again with "
            f"'kpatchkit tree add {name or 'NAME'} --from SOURCE --force'")
    return version

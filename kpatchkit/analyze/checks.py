"""The checks and their stable ids (used in JSON, SARIF ruleId and the diff matching)."""

from __future__ import annotations

import re

from kpatchkit.cache import content_hash
from kpatchkit.records.checks import CHECKS, Check

__all__ = ["CHECKS", "Check", "fingerprint", "strip_lines"]


def fingerprint(check: str, function: str, message: str) -> str:
    """Line-number-free identity of a finding (as smatch's new_bugs.pl matches)."""
    return content_hash(check, function, strip_lines(message), length=12)


def strip_lines(message: str) -> str:
    """The message with line numbers removed, for matching across versions."""
    return re.sub(r"(line |:)\d+", r"\1N", message)

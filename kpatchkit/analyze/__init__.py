"""kpatchkit.analyze: locking and RCU cross-check of KVM MMU sources, before vs after.

Public API: :func:`analyze_file` and :func:`analyze_diff` (records in
``kpatchkit.records.findings``).
"""

from kpatchkit.analyze.api import DEFAULT_FILE, analyze_diff, analyze_file

__all__ = ["DEFAULT_FILE", "analyze_diff", "analyze_file"]

"""kpatchkit.report."""

"""kpatchkit.review."""

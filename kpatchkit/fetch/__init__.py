"""kpatchkit.fetch."""

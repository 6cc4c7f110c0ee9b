"""kpatchkit.run."""

"""kpatchkit.apply."""

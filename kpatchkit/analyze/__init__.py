"""kpatchkit.analyze."""

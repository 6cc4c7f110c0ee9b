"""kpatchkit.trees."""

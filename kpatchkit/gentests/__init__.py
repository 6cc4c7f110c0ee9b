"""kpatchkit.gentests."""

"""kpatchkit: pre-merge test and static-analysis toolkit for Linux KVM MMU patches."""

__version__ = "0.1.0"

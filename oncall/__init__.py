"""oncall: a self-hosted on-call rotation and paging daemon for small IT MSPs."""

__version__ = "0.1.0"

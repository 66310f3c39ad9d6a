"""Scheduled web-archiving crawler: revisit saved articles, keep every distinct version."""

__version__ = "0.1.0"

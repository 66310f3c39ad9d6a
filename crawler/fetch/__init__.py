"""Fetch stage (Scrapy): the revisit spider and its downloader middlewares; raw responses out, nothing more."""

import inspect

# Importing Scrapy's HTTP/1.1 handler (download_handler.py) calls inspect.stack() three times (Scrapy's
# create_deprecated_class), which looks up each frame's module; for the import system's frozen frames
# (no file on disk) each lookup scanned every loaded module: 0.04 s of every crawl's start. Which
# modules those frames belong to is known, and inspect's own cache takes the answer.
inspect.modulesbyfile.setdefault("<frozen importlib._bootstrap>", "importlib._bootstrap")
inspect.modulesbyfile.setdefault("<frozen importlib._bootstrap_external>", "importlib._bootstrap_external")
inspect.modulesbyfile.setdefault("<frozen runpy>", "runpy")

"""Loaded once by the extraction pool's forkserver: the extraction stack, imported and warmed up.

Every worker is forked from that server, so what is built here is built once per crawl, not once
per worker: above all dateparser's per-language regular expressions, which htmldate's extensive
date search compiles on first use (about 2 s of CPU per worker, 8% of a 600-page crawl's when each worker did it).
"""

from __future__ import annotations

from htmldate.extractors import external_date_parser

from crawler.extract.article import extract  # workers inherit the loaded modules

_SAMPLE = (
    "<html><head><title>Warm-up</title></head><body><article><h1>Warm-up</h1>"
    "<p>Published on 3 March 2021 by Nobody. Aktualisiert am 4. März 2021. 更新于2021年3月5日。</p>"
    "<p>" + "A sentence to extract, so that the page has an article. " * 8 + "</p>"
    "</article></body></html>"
)


def warm_up() -> None:
    """Run one extraction through every stage, and dateparser over every language it knows."""
    extract(_SAMPLE, "https://example.org/warm-up")
    # A string no language reads as a date makes dateparser try (and compile) them all: ~2 s, once.
    external_date_parser("warm-up 12 xyzzy 2021", "%Y-%m-%d")


warm_up()

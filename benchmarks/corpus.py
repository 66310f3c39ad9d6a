"""Where the benchmarks find real pages: $BENCH_CORPUS, else benchmarks/corpus/ (see benchmarks/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "corpus"


def corpus_root() -> Path:
    """The folder of real pages (pages/, wechat/, zh-news/ of gzip-compressed HTML), which may be absent."""
    return Path(os.environ.get("BENCH_CORPUS") or DEFAULT)

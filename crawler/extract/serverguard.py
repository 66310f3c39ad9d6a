"""Loaded first by the extraction pool's forkserver: the server ends when the crawl that started it ends.

The server checks for its parent only between requests, after preloading; a crawl killed during
the warm-up's seconds (more on a loaded machine) left it running them to the end, then some.
"""

from __future__ import annotations

import os

from crawler.extract.pool import exit_with

exit_with(os.getppid())

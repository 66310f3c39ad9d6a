"""Scrapy's RobotsTxtMiddleware, fixed so every request waiting for a host's robots.txt is checked.

In Scrapy 2.13+ the requests that arrive while a host's robots.txt is still downloading all await
the same Deferred through `maybe_deferred_to_future`, whose callback returns None: the first waiter
gets the parser, every other one gets None and is let through unchecked. With one seed per URL and
concurrency above one, that let disallowed pages be fetched at random (tests/test_faults.py
crawls several disallowed seeds on one host to catch it). Each waiter here gets its own Deferred.
"""

from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """RobotsTxtMiddleware whose concurrent waiters all receive the parsed robots.txt."""

    async def robot_parser(self, request: Request) -> Any:
        """The host's robots.txt parser (None when it could not be fetched), waiting for it if in flight."""
        pending = getattr(self, "_parsers", {}).get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            waiter: Deferred = Deferred()

            def share(result: Any) -> Any:
                waiter.callback(result)
                # Returned, not consumed: the next waiter's callback sees the parser too.
                return result

            pending.addCallback(share)
            return await maybe_deferred_to_future(waiter)
        return await super().robot_parser(request)

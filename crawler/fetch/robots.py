"""Scrapy's RobotsTxtMiddleware, fixed so every request waiting for a host's robots.txt is checked.

In Scrapy 2.13+ the requests that arrive while a host's robots.txt is still downloading all await
the same Deferred through `maybe_deferred_to_future`, whose callback returns None: the first waiter
gets the parser, every other one gets None and is let through unchecked. With one seed per URL and
concurrency above one, that let disallowed pages be fetched at random (tests/test_faults.py
crawls several disallowed seeds on one host to catch it). Each waiter here gets its own Deferred.
"""

from __future__ import annotations

from typing import Any

from scrapy import exceptions as scrapy_errors
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import error as net_error
from twisted.internet.defer import Deferred

# Failures of a host that a retry cannot fix: the name does not resolve, nothing listens, TLS fails.
PERMANENT_FAILURES: tuple[type[BaseException], ...] = (
    net_error.DNSLookupError,
    net_error.ConnectionRefusedError,
    net_error.SSLError,
    *(
        cls
        for cls in (
            getattr(scrapy_errors, "CannotResolveHostError", None),
            getattr(scrapy_errors, "DownloadConnectionRefusedError", None),
        )
        if cls is not None
    ),
)


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """RobotsTxtMiddleware whose concurrent waiters all receive the parsed robots.txt.

    When robots.txt fails in a way no retry fixes (no such name, nothing listening), the pages of that
    host fail at once with the same error: fetching them would only fail again, after the download delay.
    """

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        """Remember a host whose robots.txt failed permanently, then let Scrapy settle its waiters."""
        if isinstance(exc, PERMANENT_FAILURES):
            self._permanent_failures()[netloc] = exc
        super()._robots_error(exc, netloc)

    def _permanent_failures(self) -> dict[str, BaseException]:
        """Hosts whose robots.txt failed permanently, with the error."""
        if not hasattr(self, "_failed_hosts"):
            self._failed_hosts: dict[str, BaseException] = {}
        return self._failed_hosts

    def process_request_2(self, rp: Any, request: Request) -> None:
        """Fail a request to a host known to be unreachable; otherwise check robots.txt as Scrapy does."""
        failed = self._permanent_failures().get(urlparse_cached(request).netloc)
        if failed is not None:
            raise type(failed)(*failed.args)
        super().process_request_2(rp, request)

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

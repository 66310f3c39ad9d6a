"""One spider: seed URLs -> raw responses (or failures); no extraction, no database."""

from __future__ import annotations

import gzip
import re
import zlib
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy import exceptions as scrapy_errors
from scrapy.exceptions import IgnoreRequest
from twisted.internet import error as net_error
from twisted.python.failure import Failure
from twisted.web import _newclient

from crawler.fetch.download_handler import ResponseHeadersTooLarge
from crawler.fetch.network_guard import RefusedRequest
from crawler.model import RawResponse


def _scrapy_error(name: str) -> tuple[type[BaseException], ...]:
    """Scrapy's own download error class by name (2.13+), or nothing on older Scrapy."""
    cls = getattr(scrapy_errors, name, None)
    return (cls,) if cls else ()


# Failure types a person can act on, worded for them; checked in order.
_FAILURE_WORDS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((net_error.DNSLookupError, *_scrapy_error("CannotResolveHostError")), "DNS lookup failed"),
    ((net_error.ConnectionRefusedError, *_scrapy_error("DownloadConnectionRefusedError")), "connection refused"),
    ((net_error.TimeoutError, net_error.TCPTimedOutError, *_scrapy_error("DownloadTimeoutError")), "timed out"),
    ((*_scrapy_error("DownloadCancelledError"),), "download cancelled"),
    ((*_scrapy_error("ResponseDataLossError"),), "response body incomplete"),
    ((net_error.ConnectionLost, _newclient.ResponseNeverReceived), "connection lost before a response"),
    ((_newclient.ResponseFailed,), "response failed mid-body"),
    ((net_error.SSLError,), "TLS error"),
    ((*_scrapy_error("UnsupportedURLSchemeError"),), "unsupported URL scheme"),
    ((*_scrapy_error("DownloadFailedError"),), "download failed"),
)


def describe_failure(failure: Failure, timeout: float | None = None, max_bytes: int | None = None) -> str:
    """A readable one-line reason for a failed request (with the retries spent on it, if any)."""
    reason = _reason(failure, timeout, max_bytes)
    request = getattr(failure, "request", None)
    retries = request.meta.get("retry_times", 0) if request is not None else 0
    if retries:
        reason += f"; still failing after {retries} {'retry' if retries == 1 else 'retries'}, see crawl.retries"
    return reason


def _reason(failure: Failure, timeout: float | None, max_bytes: int | None) -> str:
    """The reason of describe_failure, without the retries."""
    exc = failure.value
    detail = " ".join(str(exc).split()) or type(exc).__name__
    specific = _specific_reason(exc, getattr(failure, "request", None), timeout, max_bytes)
    if specific:
        return specific
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in detail.lower():
            return "forbidden by robots.txt"
        return f"request dropped: {detail}"
    for types, words in _FAILURE_WORDS:
        if types and isinstance(exc, types):
            if words == "timed out" and timeout:
                return f"timed out after {timeout:g} s"
            if isinstance(exc, (_newclient.ResponseNeverReceived, _newclient.ResponseFailed)):
                reasons = "; ".join(str(r.value).strip() or type(r.value).__name__ for r in getattr(exc, "reasons", []))
                return f"{words}: {reasons}" if reasons else words
            if detail == type(exc).__name__ or detail.lower().startswith(words.lower()):
                return detail if detail != type(exc).__name__ else words
            return f"{words}: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _specific_reason(
    exc: BaseException, request: scrapy.Request | None, timeout: float | None, max_bytes: int | None
) -> str | None:
    """Wording for failures the generic table would describe vaguely; None for the rest."""
    where = urlsplit(request.url).netloc if request is not None else "the server"
    limit = f"the {max_bytes}-byte limit (crawl.max_response_bytes)" if max_bytes else "the size limit"
    cause = exc.__cause__
    if isinstance(exc, (RefusedRequest, ResponseHeadersTooLarge)):
        return str(exc)
    if isinstance(exc, IgnoreRequest) and getattr(cause, "decompressed_size", None) is not None:
        # Scrapy's HttpCompressionMiddleware stops inflating at DOWNLOAD_MAXSIZE: no OOM, no page.
        return f"compressed body inflates past {limit}: stopped after {cause.decompressed_size} bytes (a compression bomb?)"
    if isinstance(exc, IgnoreRequest) and "max redirections" in str(exc) and request is not None:
        hops = list(request.meta.get("redirect_urls", []))
        looped = len(set(hops + [request.url])) < len(hops) + 1
        kind = "redirect loop" if looped else "too many redirects"
        return f"{kind}: gave up after {len(hops)} redirects (stopped at {request.url})"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile, EOFError)):
        return f"corrupt compressed body: cannot decode its Content-Encoding ({' '.join(str(exc).split()) or type(exc).__name__})"
    if isinstance(exc, _scrapy_error("DownloadCancelledError")):
        declared = re.match(r"Expected to receive (\d+) bytes", str(exc))
        if declared:
            return f"response larger than {limit}: Content-Length is {declared.group(1)}; not downloaded"
        if max_bytes:
            return f"response larger than {limit}: download cancelled mid-body"
    if isinstance(exc, _scrapy_error("ResponseDataLossError")):
        reasons = getattr(cause, "reasons", None) or []
        if any(r.check(net_error.ConnectionDone) for r in reasons):
            return "response body incomplete: the server closed the connection before sending all of Content-Length"
        if any(r.check(net_error.ConnectionLost) for r in reasons):
            return "response body incomplete: the connection was reset mid-body"
    if isinstance(exc, (net_error.ConnectionRefusedError, *_scrapy_error("DownloadConnectionRefusedError"))):
        return f"connection refused by {where}: nothing is listening there (server down or wrong port?)"
    if isinstance(exc, (net_error.TimeoutError, net_error.TCPTimedOutError, *_scrapy_error("DownloadTimeoutError"))):
        if timeout:
            return f"timed out after {timeout:g} s (crawl.timeout): no complete response from {where}"
    return None


class RevisitSpider(scrapy.Spider):
    """Request every target once and yield what came back, success or failure."""

    name = "revisit"

    def __init__(self, targets: list[dict[str, str]], **kwargs: Any):
        super().__init__(**kwargs)
        # Each target: {"seed_id": ..., "url": what is requested (no fragment)}.
        self.targets = targets
        # One bound method for every request: Scrapy checks each callback's source for a generator's
        # `return value` (inspect.getsource, ast.parse), caching by the callback object, and a fresh
        # `self.parse` per request missed that cache every time (5% of a revisit's reactor time).
        self._on_response, self._on_failure = self.parse, self.failed

    async def start(self) -> AsyncIterator[scrapy.Request]:
        """One request per seed; dont_filter because two seeds may share a URL."""
        for target in self.targets:
            # Lazily: Scrapy otherwise queues every start request at once, and a crawl's memory would
            # grow with its number of seeds (Scrapy's documented lazy-start pattern).
            if self.crawler.engine.needs_backout():
                await self.crawler.signals.wait_for(signals.scheduler_empty)
            yield scrapy.Request(
                target["url"],
                callback=self._on_response,
                errback=self._on_failure,
                dont_filter=True,
                meta={
                    "seed_id": target["seed_id"],
                    "requested_url": target["url"],
                    # Rendered in the browser (crawler/fetch/browser.py) when config chose this seed.
                    **({"render": True} if target.get("render") else {}),
                    **({"render_lean": True} if target.get("render") and target.get("known") else {}),
                },
            )

    def parse(self, response: scrapy.http.Response) -> Any:
        """Yield the raw response: status, headers and body as received after decompression."""
        meta = response.meta
        yield RawResponse(
            seed_id=meta["seed_id"],
            url=meta["requested_url"],
            final_url=response.url,
            status=response.status,
            headers={
                k.decode("latin-1").lower(): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()
            },
            body=response.body,
            elapsed=meta.get("download_latency"),
            redirects=list(meta.get("redirect_urls", [])),
            retries=meta.get("retry_times", 0),
            # Set by the WARC middleware: this response's record, and every record of the redirect chain.
            warc=meta.get("warc"),
            warc_records=list(meta.get("warc_records", [])),
            # Set by the render middleware for a page rendered in chromium.
            rendered=bool(meta.get("rendered")),
            screenshot=meta.get("screenshot"),
            viewport=meta.get("viewport"),
            browser_records=meta.get("browser_records") or {},
        )

    def failed(self, failure: Failure) -> Any:
        """Turn a failed request into an item, so no seed is ever lost."""
        request = failure.request
        yield RawResponse(
            seed_id=request.meta["seed_id"],
            url=request.meta["requested_url"],
            final_url=request.url,
            status=None,
            body=b"",
            elapsed=request.meta.get("download_latency"),
            redirects=list(request.meta.get("redirect_urls", [])),
            error=describe_failure(
                failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"), self.settings.getint("DOWNLOAD_MAXSIZE")
            ),
            # No final response, so no record of its own; redirect hops before the failure were archived.
            warc=None,
            warc_records=list(request.meta.get("warc_records", [])),
        )

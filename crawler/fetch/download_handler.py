"""Scrapy's HTTP/1.1 download handler with limits on what a server may send before the body.

DOWNLOAD_MAXSIZE bounds the body only. Twisted's response parser keeps every header line it is sent
(one line is capped at 16 KiB, their number is not, and continuation lines grow one header without
end): a server sending header lines forever grew a crawl by 65 MB a second. A downloader middleware
cannot help, it sees a response only once its headers are complete; the limit has to sit in the
parser. Scrapy itself swaps the parser's class in its protocol (_LenientHTTP11ClientProtocol), and
this handler does the same one level down, with a parser that counts lines and bytes.
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _LenientHTTP11ClientFactory,
    _LenientHTTP11ClientProtocol,
    _LenientHTTPClientParser,
)
from scrapy.exceptions import DownloadFailedError
from twisted.python.failure import Failure

# Generous next to real sites (a few dozen lines, a few KiB; curl allows 300 KiB in all).
DEFAULT_MAX_HEADERS = 500
DEFAULT_MAX_HEADER_BYTES = 256 * 1024


class ResponseHeadersTooLarge(Exception):
    """The server sent more header lines or bytes than the crawl accepts (not retried)."""


class _BoundedHTTPClientParser(_LenientHTTPClientParser):
    """Scrapy's lenient response parser, giving up past a number of header lines or bytes."""

    max_headers = DEFAULT_MAX_HEADERS
    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    _header_lines = 0
    _header_bytes = 0

    def lineReceived(self, line: bytes) -> None:
        self._header_lines += 1
        self._header_bytes += len(line) + 1
        # The status line and the blank line that ends the headers are lines too, not headers.
        if self._header_lines > self.max_headers + 2:
            raise ResponseHeadersTooLarge(
                f"response headers over the limit: more than {self.max_headers} lines (crawl.max_headers); "
                "not downloaded"
            )
        if self._header_bytes > self.max_header_bytes:
            raise ResponseHeadersTooLarge(
                f"response headers over the limit: more than {self.max_header_bytes} bytes "
                "(crawl.max_header_bytes); not downloaded"
            )
        super().lineReceived(line)


class _BoundedHTTP11ClientProtocol(_LenientHTTP11ClientProtocol):
    """Scrapy's protocol with the bounded parser (limits from the factory)."""

    max_headers = DEFAULT_MAX_HEADERS
    max_header_bytes = DEFAULT_MAX_HEADER_BYTES

    def request(self, request: Any) -> Any:
        deferred = super().request(request)
        # The same class swap as Scrapy's: the parser was just created for this request.
        parser = self._parser
        if parser is not None:
            parser.__class__ = _BoundedHTTPClientParser
            parser.max_headers = self.max_headers
            parser.max_header_bytes = self.max_header_bytes
        return deferred

    def dataReceived(self, bytes: bytes) -> None:  # noqa: A002 (Twisted's name)
        """Twisted's dataReceived, aborting the connection when the parser's limit trips."""
        try:
            self._parser.dataReceived(bytes)
        except ResponseHeadersTooLarge:
            # Abort, not Twisted's loseConnection: that would go on reading what an endless sender sends.
            self.transport.abortConnection()
            self._disconnectParser(Failure())
        except BaseException:
            self._giveUp(Failure())


class BoundedHTTP11DownloadHandler(HTTP11DownloadHandler):
    """HTTP11DownloadHandler whose responses may have at most HEADERS_MAX_COUNT lines, HEADERS_MAX_BYTES bytes."""

    def __init__(self, crawler: Any):
        super().__init__(crawler)
        settings = crawler.settings
        protocol = type(
            "BoundedProtocol",
            (_BoundedHTTP11ClientProtocol,),
            {
                "max_headers": settings.getint("HEADERS_MAX_COUNT", DEFAULT_MAX_HEADERS),
                "max_header_bytes": settings.getint("HEADERS_MAX_BYTES", DEFAULT_MAX_HEADER_BYTES),
            },
        )

        class _Factory(_LenientHTTP11ClientFactory):
            def buildProtocol(self, addr: Any) -> Any:
                return protocol(self._quiescentCallback)

        self._pool._factory = _Factory

    async def download_request(self, request: Any) -> Any:
        """Scrapy's download, with a tripped header limit raised as itself: not a retried DownloadFailedError."""
        try:
            return await super().download_request(request)
        except DownloadFailedError as exc:
            for reason in getattr(exc.__cause__, "reasons", None) or ():
                if reason.check(ResponseHeadersTooLarge):
                    # The same server would send the same again: a retry costs time and memory for nothing.
                    raise reason.value from None
            raise

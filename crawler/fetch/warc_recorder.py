"""Scrapy downloader middleware: every seed response written to WARC as received, and conditional GET.

It sits next to the downloader (priority 950, above HttpCompressionMiddleware's 590), so it sees
each response, redirect hops included, before Scrapy decompresses or follows it. The record is on
disk (fsynced) before the response travels on, so the item the spider yields, and the capture row
the pipeline writes from it, only ever point at complete records.

Failed fetches (no response at all) write nothing: a request record alone replays nothing, and
the capture row already keeps the attempt and its reason. robots.txt fetches are not archived:
only requests the spider made for a seed (and their redirects and retries) are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.http import Request, Response

from crawler.archive.store import Store
from crawler.warc import Exchange, StoredPayload, WarcWriterFiles, payload_digest

# Request meta key of a page requisite (crawler/run/requisite_fetcher.py): the seed whose article loads it.
REQUISITE_META = "requisite_of"


def _pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy Headers as (name, value) text pairs, one per value."""
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, values in headers.items()
        for value in values
    ]


class WarcArchiveMiddleware:
    """Archive each seed response in WARC and send If-None-Match / If-Modified-Since from the last capture."""

    def __init__(self, db_path: str, writer: WarcWriterFiles | None):
        self.db_path = db_path
        self.writer = writer
        # URL -> the response record holding its last stored payload; kept current during the run.
        self.payloads: dict[str, StoredPayload] = {}
        # Requested URL -> ETag / Last-Modified of its last successful capture.
        self.validators: dict[str, dict[str, Any]] = {}
        # Payload digest -> the requisite response record holding it (this run's; older ones from the store).
        self.by_digest: dict[str, StoredPayload] = {}
        self._store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "WarcArchiveMiddleware":
        """Build the writer from the WARC_* settings the runner sets."""
        settings = crawler.settings
        writer = None
        if settings.getbool("WARC_ENABLED", True):
            writer = WarcWriterFiles(
                Path(settings["WARC_DIR"]),
                operator=settings.get("WARC_OPERATOR") or "",
                rotate_bytes=settings.getint("WARC_ROTATE_BYTES"),
                info={
                    "http-header-user-agent": settings.get("USER_AGENT"),
                    "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
                },
            )
        middleware = cls(settings["ARCHIVE_DB"], writer)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self, spider: Any = None) -> None:
        """Load the last stored payload of every URL and the validators of every seed URL."""
        store = Store(Path(self.db_path), create=False)
        try:
            self.payloads = {
                uri: StoredPayload(uri, row["date"], row["record_id"], row["payload_digest"])
                for uri, row in store.last_payloads().items()
            }
            self.validators = store.validators()
        finally:
            store.close()

    def spider_closed(self, spider: Any = None) -> None:
        """Close the current WARC file."""
        if self.writer is not None:
            self.writer.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _write_browser_traffic(self, request: Request, response: Response) -> None:
        """A rendered page: write what the browser received (the page as sent, then its images, scripts...).

        The rendered DOM Scrapy hands on is what extraction reads; the WARC keeps the server's bytes.
        """
        exchanges = request.meta.pop("render_exchanges")
        page = next((e for e in reversed(exchanges) if e.url == response.url and not 300 <= e.status < 400), None)
        records, loaded = [], {}
        for exchange in exchanges:
            previous = self.payloads.get(exchange.url)
            if exchange is not page:
                previous = self._same_payload(exchange.body, previous)
            written = self.writer.write(exchange, previous)
            if written.record_type == "response":
                stored = StoredPayload(written.target_uri, written.date, written.record_id, written.payload_digest)
                self.payloads[exchange.url] = stored
                if exchange is not page:
                    self.by_digest[written.payload_digest] = stored
            record = written.as_dict()
            records.append(record)
            if exchange is page:
                request.meta["warc"] = record
            else:
                loaded[exchange.url] = dict(record, body_bytes=len(exchange.body))
        request.meta["warc_records"] = [*request.meta.get("warc_records", []), *records]
        # What the browser loaded, by URL: requisites found in the article are taken from here, not fetched again.
        request.meta["browser_records"] = loaded

    def _same_payload(self, body: bytes, previous: StoredPayload | None) -> StoredPayload | None:
        """previous when it holds this body, else the newest stored payload with the body's digest (any URL)."""
        digest = payload_digest(body)
        if previous is not None and previous.digest == digest:
            return previous
        known = self.by_digest.get(digest)
        if known is None:
            if self._store is None:
                self._store = Store(Path(self.db_path), create=False)
            row = self._store.payload_by_digest(digest)
            if row is not None:
                known = self.by_digest[digest] = StoredPayload(
                    row["target_uri"], row["date"], row["record_id"], row["payload_digest"])
        return known or previous

    def process_request(self, request: Request, spider: Any = None) -> None:
        """Add the conditional-GET headers to a seed's first request."""
        # A copied request (redirect, retry) must not carry the previous hop's record as its own.
        request.meta.pop("warc", None)
        if "seed_id" not in request.meta or request.url != request.meta.get("requested_url"):
            return None
        known = self.validators.get(request.url)
        if known:
            if known["etag"] and b"If-None-Match" not in request.headers:
                request.headers["If-None-Match"] = known["etag"]
            if known["last_modified"] and b"If-Modified-Since" not in request.headers:
                request.headers["If-Modified-Since"] = known["last_modified"]
        return None

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        """Write the exchange (or a revisit) to WARC and note where it is in the request's meta."""
        if self.writer is None or not ("seed_id" in request.meta or REQUISITE_META in request.meta):
            return response
        if request.meta.get("render_exchanges") is not None:
            self._write_browser_traffic(request, response)
            return response
        exchange = Exchange(
            url=response.url,
            method=request.method,
            request_headers=_pairs(request.headers),
            status=response.status,
            protocol=response.protocol or "HTTP/1.1",
            response_headers=_pairs(response.headers),
            body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
        )
        previous = self.payloads.get(response.url)
        if REQUISITE_META in request.meta:
            # An image shared by articles (or moved to a new URL) is stored once: a revisit record
            # refers to the payload wherever it was first archived.
            previous = self._same_payload(response.body, previous)
        written = self.writer.write(exchange, previous)
        if written.record_type == "response":
            self.payloads[response.url] = StoredPayload(
                written.target_uri, written.date, written.record_id, written.payload_digest
            )
            if REQUISITE_META in request.meta:
                self.by_digest[written.payload_digest] = self.payloads[response.url]
        record = written.as_dict()
        request.meta["warc"] = record
        # A new list: meta is copied shallowly on redirect, so the hops must not share one.
        request.meta["warc_records"] = [*request.meta.get("warc_records", []), record]
        return response

"""Scrapy downloader middleware: every seed response written to WARC as received, and conditional GET.

It sits next to the downloader (priority 950, above HttpCompressionMiddleware's 590), so it sees
each response, redirect hops included, before Scrapy decompresses or follows it. The record is on
disk (fsynced) before the response travels on, so the item the spider yields, and the capture row
the pipeline writes from it, only ever point at complete records. The fsync runs on a thread and
is shared: records written while one is under way wait for the next, so a crawl pays one fsync per
batch of concurrent responses rather than one per response (the disk's ~5-10 ms each, on the
reactor's thread, were a third of a revisit's time).

Failed fetches (no response at all) write nothing: a request record alone replays nothing, and
the capture row already keeps the attempt and its reason. robots.txt fetches are not archived:
only requests the spider made for a seed (and their redirects and retries) are.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Protocol

from scrapy import signals
from scrapy.http import Request, Response
from scrapy.utils.misc import load_object

from crawler.warc import (
    Exchange,
    StoredPayload,
    WarcWriterFiles,
    fsync_handle,
    payload_digest,
    payload_on_disk,
    prepare_exchange,
)

# Request meta key of a page requisite (crawler/run/requisite_fetcher.py): the seed whose article loads it.
REQUISITE_META = "requisite_of"


class FetchHistory(Protocol):
    """What the recorder reads of earlier runs; the run passes the archive's Store (WARC_HISTORY setting).

    The fetch stage never imports the archive: the class comes by dotted path, as Scrapy's own components do.
    """

    # Rows of response records: target_uri, date, record_id, payload_digest, filename, offset, length.
    def last_payloads(self) -> dict[str, dict[str, Any]]: ...
    def validators(self) -> dict[str, dict[str, Any]]: ...
    def payload_by_digest(self, digest: str) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy Headers as (name, value) text pairs, one per value."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers.items() for value in values]


class GroupSync:
    """Makes a writer's records durable: one fsync on a thread for all records written before it starts."""

    def __init__(self, writer: WarcWriterFiles):
        self.writer = writer
        self._waiting: list[asyncio.Future[None]] = []
        self._running = False
        self.rounds = 0  # fsyncs made: how far below one per record the batching got

    async def durable(self) -> None:
        """Return once everything written so far is on disk (WarcError when the disk refused it)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._sync_rounds())
        await future

    async def _sync_rounds(self) -> None:
        """fsync until no one waits: each round covers every record written before it began."""
        try:
            while self._waiting:
                waiting, self._waiting = self._waiting, []
                error: BaseException | None = None
                handle = self.writer.sync_handle()
                if handle is not None:
                    self.rounds += 1
                    try:
                        await asyncio.to_thread(fsync_handle, handle)
                    except Exception as exc:  # noqa: BLE001 - handed to every waiter, who raises it
                        error = exc
                for future in waiting:
                    if not future.done():
                        future.set_exception(error) if error else future.set_result(None)
        finally:
            self._running = False


class WarcArchiveMiddleware:
    """Archive each seed response in WARC and send If-None-Match / If-Modified-Since from the last capture."""

    def __init__(
        self, db_path: str, writer: WarcWriterFiles | None, history: Callable[..., FetchHistory] | None = None
    ):
        self.db_path = db_path
        self.writer = writer
        # Opens the archive's record of earlier runs: history(path, create=False).
        self.history = history
        # URL -> the response record holding its last stored payload; kept current during the run.
        self.payloads: dict[str, StoredPayload] = {}
        # Requested URL -> ETag / Last-Modified of its last successful capture.
        self.validators: dict[str, dict[str, Any]] = {}
        # Payload digest -> the requisite response record holding it (this run's; older ones from the store).
        self.by_digest: dict[str, StoredPayload] = {}
        self._store: FetchHistory | None = None
        self.sync = GroupSync(writer) if writer is not None else None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "WarcArchiveMiddleware":
        """Build the writer from the WARC_* settings the run sets (crawler/run/scrapy_settings.py)."""
        settings = crawler.settings
        writer = None
        if settings.getbool("WARC_ENABLED", True):
            writer = WarcWriterFiles(
                Path(settings["WARC_DIR"]),
                operator=settings.get("WARC_OPERATOR") or "",
                rotate_bytes=settings.getint("WARC_ROTATE_BYTES"),
                fsync_each=False,  # GroupSync makes each response's records durable before it travels on
                info={
                    "http-header-user-agent": settings.get("USER_AGENT"),
                    "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
                },
            )
        history = load_object(settings["WARC_HISTORY"]) if settings.get("WARC_HISTORY") else None
        middleware = cls(settings["ARCHIVE_DB"], writer, history)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self, spider: Any = None) -> None:
        """Load the last stored payload of every URL and the validators of every seed URL."""
        if self.history is None:
            return
        store = self.history(Path(self.db_path), create=False)
        try:
            rows = store.last_payloads()
            self.validators = store.validators()
        finally:
            store.close()
        lost = {uri for uri, row in rows.items() if not self._on_disk(row)}
        self.payloads = {
            uri: StoredPayload(uri, row["date"], row["record_id"], row["payload_digest"])
            for uri, row in rows.items()
            if uri not in lost
        }
        # A payload whose WARC file is gone must be fetched and written whole again: no revisit may
        # point at it, and a conditional GET answered 304 would leave nothing but such a revisit.
        for uri in lost:
            self.validators.pop(uri, None)

    def _on_disk(self, row: Any) -> bool:
        """True when the WARC file of a stored response record is there and holds it."""
        return self.writer is None or payload_on_disk(self.writer.directory, row)

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

    def _stored_payload(self, request: Request, response: Response) -> StoredPayload | None:
        """The stored payload a revisit of this response would refer to: its URL's last one, or for a
        requisite any stored payload with the same bytes."""
        previous = self.payloads.get(response.url)
        if REQUISITE_META in request.meta:
            # An image shared by articles (or moved to a new URL) is stored once: a revisit record
            # refers to the payload wherever it was first archived.
            previous = self._same_payload(response.body, previous)
        return previous

    def _same_payload(self, body: bytes, previous: StoredPayload | None) -> StoredPayload | None:
        """previous when it holds this body, else the newest stored payload with the body's digest (any URL)."""
        digest = payload_digest(body)
        if previous is not None and previous.digest == digest:
            return previous
        known = self.by_digest.get(digest)
        if known is None and self.history is not None:
            if self._store is None:
                self._store = self.history(Path(self.db_path), create=False)
            row = self._store.payload_by_digest(digest)
            if row is not None and self._on_disk(row):
                known = self.by_digest[digest] = StoredPayload(
                    row["target_uri"], row["date"], row["record_id"], row["payload_digest"]
                )
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

    async def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        """Write the exchange (or a revisit) to WARC, on disk, and note where it is in the request's meta."""
        if self.writer is None or not ("seed_id" in request.meta or REQUISITE_META in request.meta):
            return response
        if request.meta.get("render_exchanges") is not None:
            self._write_browser_traffic(request, response)
        else:
            await self._write_exchange(request, response)
        assert self.sync is not None
        await self.sync.durable()
        return response

    async def _write_exchange(self, request: Request, response: Response) -> None:
        """Write one fetched exchange (or a revisit record) and note the record in the request's meta."""
        exchange = Exchange(
            url=response.url,
            method=request.method,
            request_headers=header_pairs(request.headers),
            status=response.status,
            protocol=response.protocol or "HTTP/1.1",
            response_headers=header_pairs(response.headers),
            body=response.body,
            ip_address=str(response.ip_address) if response.ip_address else None,
        )
        previous = self._stored_payload(request, response)
        # Gzip and SHA-1 on a thread (both release the GIL: 1.5 ms a 130 KB page off the reactor), then
        # appended here, where the file's order is decided.
        prepared = await asyncio.to_thread(prepare_exchange, exchange, previous)
        if prepared.record.record_type == "response":
            # Meanwhile another response may have stored the same bytes (two seeds with one URL, an
            # image shared by articles): this one then refers to it, as if they had come in turn.
            stored = self._stored_payload(request, response)
            if stored is not None and stored is not previous and stored.digest == prepared.record.payload_digest:
                prepared = prepare_exchange(exchange, stored)  # a revisit record: no body to compress
        written = self.writer.append(prepared)
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

"""`crawler ingest`: the one process that writes the archive for a cluster.

It reads the results stream through the consumer group `writers` (entries it read but did not
acknowledge before a crash come first on restart), and for each result:

1. skips it when the run already has a capture of the seed (a result delivered twice);
2. writes its exchanges to WARC (fsynced), as the local crawl's WARC middleware would;
3. hands the response to the local crawl's own ArchivePipeline (analysis, version, diffs,
   schedule, one transaction), with the text the worker extracted;
4. only then acknowledges and deletes the entry, and marks the seed done; a run whose seeds are
   all done is finished (and the CDXJ index rewritten).

A crash between any two steps leaves the archive consistent: WARC records are on disk before any
row points at them, and a capture committed but not acknowledged is found again at step 1.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from crawler.config import Settings
from crawler.errors import CrawlerError, RunLockedError
from crawler.archive.lock import archive_lock
from crawler.archive.store import Store
from crawler.model import RawResponse
from crawler.warc import WARC_DIR_NAME, Exchange, StoredPayload, WarcWriterFiles, payload_on_disk

from crawler.cluster.queue import GROUP, Queue, decode_message

log = logging.getLogger(__name__)

INGEST_LOCK = ".crawler-ingest.lock"
CONSUMER = "ingest"
BATCH = 32
BLOCK_MS = 500


@dataclass
class IngestSummary:
    """What an ingest process did."""

    captures: int = 0
    duplicates: int = 0
    lost: int = 0
    runs_finished: list[int] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"ingest: {self.captures} captures written, {self.duplicates} duplicate results dropped, "
            f"{self.lost} tasks lost by workers, {len(self.runs_finished)} runs finished"
        )


class Writer:
    """Turns stream entries into captures, through the local crawl's pipeline."""

    def __init__(self, settings: Settings, archive_dir: Path, queue: Queue, verbose: int = 0):
        from scrapy.settings import Settings as ScrapySettings
        from scrapy.statscollectors import MemoryStatsCollector

        from crawler.run.pipeline import ArchivePipeline
        from crawler.run.scrapy_settings import scrapy_settings

        self.settings = settings
        self.queue = queue
        store = Store.in_archive(archive_dir)  # creates or migrates the archive if needed
        self.db_path = store.path
        store.close()
        # Change analysis (noise patterns, diffs) in one pool process under crawl.page_time_limit, as in a
        # local run: a site's own pattern that backtracks must not stall the only writer.
        workers = 0 if settings.crawl.extract_workers == 0 else 1
        scrapy = ScrapySettings(scrapy_settings(settings, self.db_path, 0, verbose, workers))
        # The pipeline needs a crawler only for its settings and stats: both are real Scrapy objects.
        crawler = SimpleNamespace(settings=scrapy)
        crawler.stats = MemoryStatsCollector(crawler)
        self.pipeline = ArchivePipeline.from_crawler(crawler)
        self.pipeline.open_spider()
        self.store: Store = self.pipeline.store
        self.loop = asyncio.new_event_loop()
        self.warc_dir = self.db_path.parent / WARC_DIR_NAME
        self.warc = None
        if settings.warc.enabled:
            self.warc = WarcWriterFiles(
                self.warc_dir,
                operator=settings.warc.operator,
                rotate_bytes=settings.warc.rotate_bytes,
                info={
                    "http-header-user-agent": settings.crawl.user_agent,
                    "robots": "obey" if settings.crawl.obey_robots_txt else "ignore",
                },
            )
        self.summary = IngestSummary()

    def close(self) -> None:
        if self.warc is not None:
            self.warc.close()
        self.pipeline.close_spider()
        self.loop.close()

    # -- one entry -----------------------------------------------------------------

    def handle(self, fields: dict[bytes, bytes]) -> tuple[int, str]:
        """Write one stream entry's capture unless the run has it already; returns (run id, seed id)."""
        import json

        if b"lost" in fields:
            task = json.loads(fields[b"lost"])
            attempts = int(fields.get(b"attempts", b"0"))
            item = RawResponse(
                seed_id=task["seed"],
                url=task["url"],
                final_url=task["url"],
                error=f"no result: {attempts} workers took this page and none delivered it "
                "(killed or hung on it; see cluster.lease and cluster.max_attempts)",
            )
            exchanges: list[dict[str, Any]] = []
            final = False
        else:
            message = decode_message(fields[b"result"])
            task, exchanges = message["task"], message["exchanges"]
            item = RawResponse.from_message(message["item"])
            final = message["final_exchange"]
            if message["same_body"]:
                item.body = exchanges[-1]["body"]
        run_id, seed_id = int(task["run"]), task["seed"]
        if self.store.has_capture(run_id, seed_id):
            self.summary.duplicates += 1
            return run_id, seed_id
        records = self._write_warc(exchanges)
        item.warc_records = records
        item.warc = records[-1] if final and records else None
        self.pipeline.run_id = run_id
        self.loop.run_until_complete(self.pipeline.process_item(item))
        if b"lost" in fields:
            self.summary.lost += 1
        self.summary.captures += 1
        return run_id, seed_id

    def _last_payload(self, uri: str) -> StoredPayload | None:
        """The response record holding uri's last stored payload (what a revisit record refers to)."""
        row = self.store.last_payload(uri)
        # A payload whose WARC file is gone is written whole again, not referred to by a revisit.
        if row is None or not payload_on_disk(self.warc_dir, row):
            return None
        return StoredPayload(uri, row["date"], row["record_id"], row["payload_digest"])

    def _write_warc(self, exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write each exchange (redirect hops first) as the WARC middleware would; their descriptions."""
        if self.warc is None:
            return []
        written, recent = [], {}
        for raw in exchanges:
            exchange = Exchange(
                url=raw["url"],
                method=raw["method"],
                request_headers=[tuple(p) for p in raw["request_headers"]],
                status=raw["status"],
                protocol=raw["protocol"],
                response_headers=[tuple(p) for p in raw["response_headers"]],
                body=raw["body"],
                ip_address=raw.get("ip_address"),
            )
            previous = recent.get(exchange.url) or self._last_payload(exchange.url)
            record = self.warc.write(exchange, previous)
            if record.record_type == "response":
                recent[exchange.url] = StoredPayload(
                    record.target_uri, record.date, record.record_id, record.payload_digest
                )
            written.append(record.as_dict())
        return written

    # -- runs ----------------------------------------------------------------------

    def finish_run(self, run_id: int) -> None:
        """What a local run does at its end: close the run, rewrite the CDXJ index, announce changes."""
        from crawler.run.lifecycle import announce_run, finish_run

        finish_run(self.store, self.settings, run_id)
        announce_run(self.settings, self.db_path.parent, run_id)
        self.queue.close_run(run_id)
        self.summary.runs_finished.append(run_id)
        log.info("run %s finished", run_id)

    def finish_complete_runs(self) -> None:
        """Finish every open run with no seed left (also one whose last entry was a duplicate)."""
        for run_id in self.queue.open_runs():
            if self.queue.remaining(run_id) == 0:
                self.finish_run(run_id)


def run_ingest(settings: Settings, archive_dir: Path, verbose: int = 0, exit_when_idle: bool = False) -> IngestSummary:
    """Write results into the archive until SIGTERM or SIGINT (or, with exit_when_idle, until no work is left)."""
    from crawler.cluster.coordinator import queue_for

    queue = queue_for(settings)
    queue.ensure_group()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping after the current entry", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with archive_lock(archive_dir, INGEST_LOCK, what="ingest"):
            _create_archive(archive_dir)
            writer = Writer(settings, archive_dir, queue, verbose)
            try:
                _loop(writer, queue, stop, exit_when_idle)
            finally:
                writer.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return writer.summary


def _create_archive(archive_dir: Path, timeout: float = 120) -> None:
    """Create (or migrate) the archive under the run lock, so a coordinator starting at the same
    moment does not run the same migration beside it; the lock is held only that long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with archive_lock(archive_dir):
                Store.in_archive(archive_dir).close()
            return
        except RunLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # a coordinator enqueueing (a second or two), or a local run


def _loop(writer: Writer, queue: Queue, stop: threading.Event, exit_when_idle: bool) -> None:
    import redis

    results = queue.keys.results
    # Entries read before a crash and never acknowledged come first ("0"), then new ones (">").
    cursor = "0"
    writer.finish_complete_runs()
    while not stop.is_set():
        try:
            queue.reap()
            response = queue.r.xreadgroup(
                GROUP, CONSUMER, {results: cursor}, count=BATCH, block=None if cursor == "0" else BLOCK_MS
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            queue.ensure_group()
            continue
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis restarting: wait for it; what was read and not acknowledged is read again.
            log.warning("cannot reach Redis (%s); retrying in 1 s", exc)
            stop.wait(1)
            cursor = "0"
            continue
        entries = response[0][1] if response else []
        if cursor == "0" and not entries:
            cursor = ">"
            continue
        for entry_id, fields in entries:
            if not fields:  # an entry deleted after it was read: nothing left to do
                queue.r.xack(results, GROUP, entry_id)
                continue
            try:
                run_id, seed_id = writer.handle(fields)
            except CrawlerError:
                raise
            except Exception as exc:
                # Left unacknowledged: it is read again when ingest restarts.
                raise CrawlerError(
                    f"cannot ingest stream entry {entry_id.decode()}: {type(exc).__name__}: {exc}"
                ) from exc
            if queue.complete(entry_id, run_id, seed_id) == 0 and run_id in queue.open_runs():
                writer.finish_run(run_id)
            if stop.is_set():
                break
        if not entries and cursor == ">":
            writer.finish_complete_runs()
            if exit_when_idle and not queue.open_runs() and queue.waiting() == 0:
                break

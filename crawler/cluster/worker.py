"""`crawler worker`: lease tasks from Redis, fetch and extract them, push the results to the stream.

The fetching stack is the local crawl's (RevisitSpider's requests, items and failure wording; the
network guard, robots.txt and size limits), fed by scrapy-redis's RedisSpider: requests come from
Redis when the spider is idle, and a timer tops the worker up to `crawl.concurrent_requests`
tasks in hand. scrapy-redis's own queue is not used to hand out work: a request it pops is lost
with a killed worker. Here every task is leased (crawler/cluster/queue.py) and renewed while the
worker holds it, and its lease is dropped only in the transaction that delivers its result.

A worker never touches the archive: WARC records are written by the writer from the exchanges
recorded here, as received (before decompression), redirect hops included.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.spiders import RedisMixin
from twisted.internet import task as twisted_task

from crawler.changes.outcome import fingerprint_needed, markup_unchanged, rules_from_settings
from crawler.changes.pool_tasks import pre_extract, pre_extract_in_pool_process
from crawler.config import Settings
from crawler.changes.intervals import parse_duration
from crawler.extract.article import SiteProfile
from crawler.extract.fingerprint import rules_salt
from crawler.extract.markup import Markup
from crawler.extract.pool import PagePool, PageTimeout, PoolProcessDied, exit_with
from crawler.fetch.spider import RevisitSpider
from crawler.warc import payload_digest
from crawler.fetch.warc_recorder import header_pairs
from crawler.model import RawResponse

from crawler.cluster.queue import Queue, connect, encode_message

log = logging.getLogger(__name__)

# How often the worker tops up its tasks, renews its leases and looks for lost ones (seconds).
TICK = 0.5


class WorkerSpider(RedisMixin, RevisitSpider):
    """RevisitSpider fed from the cluster's task queue instead of a list of targets."""

    name = "cluster-worker"

    def __init__(self, **kwargs: Any):
        super().__init__(targets=[], **kwargs)
        # Task bytes by seed id: the leases this worker holds (each seed is in one task at a time).
        self.held: dict[str, bytes] = {}
        self.delivered = 0
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> "WorkerSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.setup_redis(crawler)  # scrapy-redis: the connection, and new requests when idle
        spider.queue = Queue(
            spider.server,
            settings["CLUSTER_KEY_PREFIX"],
            settings.getfloat("CLUSTER_LEASE_SECONDS"),
            settings.getint("CLUSTER_MAX_ATTEMPTS"),
        )
        spider.redis_key = spider.queue.keys.tasks
        spider.capacity = settings.getint("CONCURRENT_REQUESTS")
        spider.worker_id = settings["CLUSTER_WORKER_ID"]
        spider.last_renew = 0.0
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.closed_, signal=signals.spider_closed)
        crawler.signals.connect(spider.stopping_, signal=signals.engine_stopped)
        return spider

    # -- feeding --------------------------------------------------------------------

    def opened(self, spider: Any = None) -> None:
        self.ticker = twisted_task.LoopingCall(self.tick)
        self.ticker.start(TICK, now=True).addErrback(lambda f: log.error("worker tick failed: %s", f.value))

    def tick(self) -> None:
        """Top up, renew the leases held, hand out lost ones, say this worker is alive."""
        import redis

        if self.stopping:
            return
        try:
            self._tick()
        except redis.RedisError as exc:
            # Redis restarting or unreachable for a moment: the next tick tries again. Leases not
            # renewed meanwhile may be handed out again; the writer drops a second result.
            log.warning("cannot reach Redis (%s); retrying", exc)

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self.last_renew >= self.queue.lease_seconds / 3:
            self.last_renew = now
            self.queue.renew(self.held.values())
            self.queue.reap()
            self.server.set(
                self.queue.keys.worker(self.worker_id), os.getpid(), ex=max(2, int(self.queue.lease_seconds))
            )
        self.schedule_next_requests()

    def next_requests(self):  # scrapy-redis calls this when idle; the ticker too
        engine = getattr(self.crawler, "engine", None)
        if self.stopping or engine is None or not engine.running:
            return  # shutting down (SIGTERM): finish what is in hand, take nothing new
        for data in self.queue.lease(self.capacity - len(self.held)):
            task = json.loads(data)
            self.held[task["seed"]] = data
            meta = {"seed_id": task["seed"], "requested_url": task["url"], "task": task}
            yield scrapy.Request(task["url"], callback=self.parse, errback=self.failed, dont_filter=True, meta=meta)

    def spider_idle(self) -> None:
        if self.stopping:
            return
        self.schedule_next_requests()
        raise DontCloseSpider

    # -- results --------------------------------------------------------------------

    def parse(self, response: scrapy.http.Response) -> Any:
        for item in super().parse(response):
            item.task = response.meta["task"]
            yield item

    def failed(self, failure: Any) -> Any:
        for item in super().failed(failure):
            item.task = failure.request.meta["task"]
            yield item

    def deliver(self, task: dict[str, Any], message: bytes) -> None:
        """Push a result and drop its lease (one transaction)."""
        data = self.held.pop(task["seed"], None) or json.dumps(task, ensure_ascii=False, sort_keys=True).encode()
        self.queue.deliver(data, message)
        self.delivered += 1

    # -- stopping -------------------------------------------------------------------

    def stopping_(self) -> None:
        self.stopping = True

    def closed_(self, spider: Any = None, reason: str = "") -> None:
        """Stopping cleanly: tasks held but not delivered go back to the queue at once."""
        self.stopping = True
        if getattr(self, "ticker", None) is not None and self.ticker.running:
            self.ticker.stop()
        released = self.queue.release(self.held.values())
        self.held.clear()
        self.server.delete(self.queue.keys.worker(self.worker_id))
        if released:
            log.info("gave %d unfinished task(s) back to the queue", released)


class ExchangeRecorderMiddleware:
    """Records each seed response as it came over the wire (for the writer's WARC) and sends the
    task's validators as a conditional GET. Takes the place of WarcArchiveMiddleware in a worker."""

    def process_request(self, request: scrapy.Request, spider: Any = None) -> None:
        request.meta.pop("warc", None)
        task = request.meta.get("task")
        if task is None or request.url != request.meta.get("requested_url"):
            return None
        if task.get("etag") and b"If-None-Match" not in request.headers:
            request.headers["If-None-Match"] = task["etag"]
        if task.get("last_modified") and b"If-Modified-Since" not in request.headers:
            request.headers["If-Modified-Since"] = task["last_modified"]
        return None

    def process_response(self, request: scrapy.Request, response: scrapy.http.Response, spider: Any = None) -> Any:
        if "task" not in request.meta:
            return response
        exchange = {
            "url": response.url,
            "method": request.method,
            "request_headers": header_pairs(request.headers),
            "status": response.status,
            "protocol": response.protocol or "HTTP/1.1",
            "response_headers": header_pairs(response.headers),
            "body": response.body,
            "ip_address": str(response.ip_address) if response.ip_address else None,
        }
        # As WarcArchiveMiddleware: "warc" is this response's record (here, its exchange) and
        # "warc_records" every hop's; a new list, since meta is copied shallowly on redirect.
        request.meta["warc"] = {"payload_digest": payload_digest(response.body)}
        request.meta["warc_records"] = [*request.meta.get("warc_records", []), exchange]
        return response


def _extraction_context() -> Any:
    """The page pool's process context: a forkserver preloading (and warming up) the extraction stack.

    As crawler/run/pipeline.py's, minus the change analysis, which the writer does: a worker runs for
    long, so the warm-up repays itself.
    """
    context = multiprocessing.get_context("forkserver")
    # serverguard first: the server ends with this worker even during the warm-up.
    # The tasks' module last: a pool process would otherwise import it (and this module's Scrapy) itself.
    context.set_forkserver_preload(
        ["crawler.extract.serverguard", "crawler.extract.warmup", "crawler.changes.pool_tasks"]
    )
    return context


class ResultPipeline:
    """Extract in the worker (in a page pool, under crawl.page_time_limit), then deliver the result to the stream."""

    def __init__(self, profiles: list[SiteProfile]):
        self.profiles = profiles
        self.salt = ""
        self.workers = 0
        self.page_time_limit: float | None = None
        self.pool: PagePool | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ResultPipeline":
        profiles, removal, noise = rules_from_settings(crawler.settings)
        pipeline = cls(profiles)
        # The writer's salt (crawler/run/pipeline.py): the same rules give the same fingerprints.
        pipeline.salt = rules_salt(tuple(profiles), removal, noise)
        pipeline.workers = crawler.settings.getint("ARCHIVE_EXTRACT_WORKERS")
        pipeline.page_time_limit = crawler.settings.getfloat("ARCHIVE_PAGE_TIME_LIMIT") or None
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        """Start the page pool (its processes start with the first pages and end with this worker)."""
        if self.workers > 0:
            self.pool = PagePool(
                self.workers,
                _extraction_context(),
                initializer=exit_with,
                initargs=(os.getpid(),),
                limit=self.page_time_limit,
            )

    def close_spider(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    async def _extract(self, item: RawResponse, task: dict[str, Any]) -> dict[str, Any] | None | bool:
        """pre_extract() under the page limit: a page past it, or one that kills two pool processes, gets an
        error instead (the writer records it failed, like a local run); without a pool, in this process."""
        args = (item, self.profiles, task.get("known_payload"), task.get("known_fingerprint"), self.salt)
        if self.pool is None:
            return pre_extract(*args)
        for _attempt in (1, 2):
            try:
                # On a thread, as in the local pipeline: the wait for an answer blocks.
                extracted, fingerprint = await self.pool.run_async(pre_extract_in_pool_process, *args)
            except PageTimeout:
                item.error = (
                    f"extraction and change analysis stopped after {self.page_time_limit:g} s "
                    "(crawl.page_time_limit); the page is kept in the WARC file"
                )
                return False
            except PoolProcessDied as exc:
                reason = f"{exc} twice while analysing this page; the page is kept in the WARC file"
                continue
            if fingerprint is not None:
                item.reader_fingerprint = fingerprint
            return extracted
        item.error = reason
        return False

    def _unchanged_by_markup(self, item: RawResponse, task: dict[str, Any]) -> bool:
        """True when new bytes differ from the current version's page only in volatile spans (~1 ms, no parse).

        Then the page's reader fingerprint is the task's (the coordinator sends a markup only with the
        fingerprint it stands for): it is set on item, and nothing is extracted.
        """
        known, fingerprint = task.get("known_markup"), task.get("known_fingerprint")
        if not known or item.rendered or not fingerprint_needed(item, task.get("known_payload"), fingerprint):
            return False
        if not markup_unchanged(item, Markup(*known), self.salt):
            return False
        item.reader_fingerprint = fingerprint
        self.crawler.stats.inc_value("cluster/unchanged_by_markup")
        return True

    async def process_item(self, item: RawResponse, spider: Any = None) -> dict[str, Any]:
        spider = spider or self.crawler.spider
        task, item.task = item.task, None
        exchanges, item.warc_records = item.warc_records, []
        final = item.warc is not None
        if self._unchanged_by_markup(item, task):
            extracted = False  # the writer's fast path: no pool, no parse (crawler/run/pipeline.py does the same)
        else:
            extracted = await self._extract(item, task)
        if extracted is not False:
            item.extracted, item.extracted_by_worker = extracted, True
        elif task.get("known_fingerprint") and item.reader_fingerprint == task["known_fingerprint"]:
            # The writer decides "unchanged" from the fingerprint alone: the decoded body stays here
            # (the exchanges still carry the bytes the WARC must keep).
            item.body_bytes, item.body = len(item.body or b""), None
        item.warc = None
        body = item.body or b""
        # The decoded body is usually the received one: send it once.
        same_body = final and exchanges and exchanges[-1]["body"] == body
        if same_body:
            item.body = None
        message = {
            "task": task,
            "item": item.to_message(),
            "exchanges": exchanges,
            "final_exchange": final,
            "same_body": bool(same_body),
            "worker": spider.worker_id,
        }
        spider.deliver(task, encode_message(message))
        self.crawler.stats.inc_value("cluster/delivered")
        return {"seed_id": item.seed_id, "status": item.status}


def worker_settings(settings: Settings, worker_id: str, verbose: int = 0) -> dict[str, Any]:
    """Scrapy settings of a worker: the local crawl's, with the archive parts swapped for Redis ones."""
    from crawler.run.scrapy_settings import scrapy_settings
    from crawler.scrapy_section import WARC_WRITER

    # Extraction in a page pool, as in a local run: no page may hold a worker past crawl.page_time_limit.
    wanted = settings.crawl.extract_workers
    pool_size = (os.cpu_count() or 1) if wanted == "auto" else int(wanted)
    result = scrapy_settings(settings, Path(os.devnull), 0, verbose, pool_size)
    cluster = settings.cluster
    middlewares = dict(result["DOWNLOADER_MIDDLEWARES"])
    # The writer (ingest) archives what workers send; a worker writes no WARC file of its own.
    middlewares[WARC_WRITER] = None
    middlewares["crawler.cluster.worker.ExchangeRecorderMiddleware"] = 950
    # After robots.txt (100): a seed request waiting for robots.txt must not hold a domain slot.
    middlewares["crawler.cluster.polite.ClusterPolitenessMiddleware"] = 900
    result.update(
        ITEM_PIPELINES={"crawler.cluster.worker.ResultPipeline": 300},
        DOWNLOADER_MIDDLEWARES=middlewares,
        REDIS_URL=cluster.redis_url,
        CLUSTER_KEY_PREFIX=cluster.key_prefix,
        CLUSTER_LEASE_SECONDS=parse_duration(cluster.lease),
        CLUSTER_MAX_ATTEMPTS=cluster.max_attempts,
        CLUSTER_WORKER_ID=worker_id,
        # Per-domain concurrency and delay hold for the whole cluster (polite.py); the local
        # slots must not add their own on top.
        CLUSTER_PER_DOMAIN=settings.crawl.concurrent_per_domain,
        CLUSTER_DOWNLOAD_DELAY=settings.crawl.download_delay,
        CONCURRENT_REQUESTS_PER_DOMAIN=settings.crawl.concurrent_requests,
        DOWNLOAD_DELAY=0,
        # The stats dump on close says how much this worker did; quiet otherwise.
        STATS_DUMP=False,
    )
    return result


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_worker(settings: Settings, verbose: int = 0) -> tuple[str, int, int]:
    """Run a worker until SIGTERM or SIGINT: its id, the results it delivered, and how many its markup decided."""
    from scrapy.crawler import CrawlerProcess

    from crawler.run.scrapy_settings import QUIET_LOGGERS, ItemErrorLines

    connect(settings.cluster.redis_url).close()  # an unreachable Redis is one clear error, before Scrapy starts
    worker_id = new_worker_id()
    process = CrawlerProcess(worker_settings(settings, worker_id, verbose))
    if not verbose:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if verbose < 2:
        # One line per result that could not be sent, not the page body and a traceback.
        logging.getLogger("scrapy.core.scraper").addFilter(ItemErrorLines("could not deliver"))
    crawler = process.create_crawler(WorkerSpider)
    errors: list[str] = []
    process.crawl(crawler).addErrback(lambda failure: errors.append(f"{type(failure.value).__name__}: {failure.value}"))
    process.start()
    if errors:
        from crawler.errors import CrawlerError

        raise CrawlerError(f"the worker could not start: {errors[0]}")
    by_markup = crawler.stats.get_value("cluster/unchanged_by_markup", 0) if crawler.stats else 0
    return worker_id, crawler.spider.delivered if crawler.spider else 0, by_markup

"""Scrapy item pipeline: extract -> version -> store, in that order, one transaction per capture."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from crawler.changes.outcome import (
    analyse,
    fingerprint_needed,
    markup_unchanged,
    needs_extraction,
    page_fingerprint,
    rules_from_settings,
)
from crawler.changes.pool_tasks import analyse_in_pool_process, init_pool_process
from crawler.changes.intervals import RevisitPolicy, account_key, next_state, publication_time
from crawler.extract.article import SiteProfile
from crawler.extract.fingerprint import rules_salt
from crawler.extract.markup import Markup
from crawler.changes.noise import NoiseRules
from crawler.extract.pool import PagePool, PageTimeout, PoolProcessDied
from crawler.changes.removal import RemovalRules
from crawler.changes.seed_state import DEFAULT_CONFIRM
from crawler.archive.store import Store
from crawler.model import RawResponse
from crawler.run.evidence import evidence_collector


def extraction_context(warm: bool = True) -> multiprocessing.context.BaseContext:
    """The pool's process context: forkserver, its server preloading (and with warm, warming up) the extraction stack."""
    # forkserver, not fork: the crawl process has a running reactor and threads by the time the pool
    # starts. The server imports the extraction stack once and forks each worker from it, ready to go.
    # The warm-up (dateparser's every language, seconds of CPU) repays itself over many pages only:
    # a small run's one worker compiles what its few pages need.
    context = multiprocessing.get_context("forkserver")
    # serverguard first: a crawl killed during the warm-up's seconds must not leave the server behind.
    # The tasks' module last (crawler.changes.pool_tasks, with the analysis): the warm-up is the extract
    # stage's, and imports no later one.
    warmup = ["crawler.extract.warmup"] if warm else []
    context.set_forkserver_preload(["crawler.extract.serverguard", *warmup, "crawler.changes.pool_tasks"])
    return context


def start_extraction_server(warm: bool = True) -> None:
    """Start the pool's forkserver now, so its seconds of warm-up overlap the crawl's own start-up.

    The server loads crawler.extract.warmup on the other core while this process reads seeds and starts
    Scrapy; without this it would start at the first response, with fetched pages waiting for it.
    """
    from multiprocessing import forkserver

    extraction_context(warm)
    forkserver.ensure_running()


class ArchivePipeline:
    """Turn each raw response into a capture (and maybe a version) in the archive."""

    def __init__(self, db_path: str, run_id: int, profiles: list[SiteProfile]):
        self.db_path = db_path
        self.run_id = run_id
        self.profiles = profiles
        self.store: Store | None = None
        self.policy = RevisitPolicy()
        self.workers = 0
        self.warm_workers = True
        self.pool: PagePool | None = None
        # Seconds one page's extraction and change analysis may take in a worker (None: no limit).
        self.page_time_limit: float | None = None
        self.removal = RemovalRules()
        self.state_confirm = DEFAULT_CONFIRM
        self.noise = NoiseRules()
        self.accounts: dict[str, str] = {}
        self.evidence = None

    @property
    def salt(self) -> str:
        """The digest of the rules this crawl extracts and compares under (for reader fingerprints)."""
        if not hasattr(self, "_salt"):
            self._salt = rules_salt(tuple(self.profiles), self.removal, self.noise)
        return self._salt

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ArchivePipeline":
        """Read the archive path, run id, site profiles and rules from the crawler's settings."""
        settings = crawler.settings
        profiles, removal, noise = rules_from_settings(settings)
        pipeline = cls(settings["ARCHIVE_DB"], settings.getint("ARCHIVE_RUN_ID"), profiles)
        pipeline.crawler = crawler
        pipeline.policy = RevisitPolicy(**settings.getdict("ARCHIVE_REVISIT_POLICY"))
        pipeline.accounts = dict(settings.getdict("ARCHIVE_ACCOUNTS"))
        pipeline.workers = settings.getint("ARCHIVE_EXTRACT_WORKERS")
        pipeline.removal, pipeline.noise = removal, noise
        pipeline.warm_workers = settings.getbool("ARCHIVE_EXTRACT_WARM", True)
        pipeline.page_time_limit = settings.getfloat("ARCHIVE_PAGE_TIME_LIMIT") or None
        pipeline.state_confirm = settings.getint("ARCHIVE_STATE_CONFIRM", DEFAULT_CONFIRM)
        # Images and a screenshot with each new version (docs/evidence.md); None when all of it is off.
        pipeline.evidence = evidence_collector(crawler)
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        """Open the archive once for the whole crawl, and the extraction pool if one is wanted."""
        self.store = Store(self.db_path, create=False)
        if self.workers > 0:
            self.pool = PagePool(
                self.workers,
                extraction_context(self.warm_workers),
                initializer=init_pool_process,
                initargs=(tuple(self.profiles), os.getpid(), self.removal, self.noise),
                limit=self.page_time_limit,
            )

    def close_spider(self, spider: Any = None) -> None:
        """Close the archive and the pool."""
        if self.pool is not None:
            self.pool.shutdown()
        if self.store is not None:
            self.store.close()

    def _original(self, seed_id: str) -> str | None:
        """The seed's normalised original text (read per capture: each seed comes once per run)."""
        row = self.store.seed(seed_id)
        return row["original_text"] if row else None

    async def _analyse_in_pool(self, args: tuple) -> Any:
        """analyse() in a pool worker, under the page limit; a page that trips it, or kills two workers, fails."""
        item = args[0]
        for _attempt in (1, 2):
            try:
                # On a thread (PagePool.run_async): starting a worker waits for the forkserver's seconds
                # of warm-up, and the wait for a page's answer blocks; on the reactor they would time
                # downloads out.
                return await self.pool.run_async(analyse_in_pool_process, *args)
            except PageTimeout:
                reason = (
                    f"extraction and change analysis stopped after {self.page_time_limit:g} s "
                    "(crawl.page_time_limit); the page is kept in the WARC file"
                )
                self.crawler.stats.inc_value("archive/page_time_limit")
                break
            except PoolProcessDied as exc:
                # Killed from outside (the OOM killer, a person) or by this page: one more try
                # on a new worker tells which; the run goes on either way.
                self.crawler.stats.inc_value("archive/worker_died")
                reason = f"{exc} twice while analysing this page; the page is kept in the WARC file"
        # Outside the pool: a failed capture with the reason, decided without parsing the page.
        return analyse(replace(item, error=reason), *args[1:4], self.profiles)

    async def process_item(self, item: RawResponse, spider: Any = None) -> dict[str, Any]:
        """Analyse the response (in the pool when there is one) and write the capture in one transaction."""
        seed_id = item.seed_id
        latest = self.store.latest_version(seed_id)
        known, known_fingerprint = self.store.current_response(seed_id, latest["id"]) if latest else (None, None)
        if item.rendered:
            # The same HTML shell can build another article (text fetched by script): a rendered
            # page is always extracted, never judged unchanged by its bytes or its fingerprint.
            known = known_fingerprint = None
        markup_wanted = False
        if fingerprint_needed(item, known, known_fingerprint):
            # New bytes for a known page. When only its scripts' code, its comments and its volatile
            # attribute values changed (crawler/extract/markup.py: ~1 ms, no parse), its reader
            # fingerprint is that of the capture whose markup it matches: no pool, no extraction.
            known_markup = self.store.current_markup(seed_id, latest["id"])
            if known_markup is None:
                markup_wanted = True  # the pool notes this page's markup if its fingerprint matches
            elif markup_unchanged(item, Markup(*known_markup[:2]), self.salt):
                item.reader_fingerprint = known_markup[2]
                self.crawler.stats.inc_value("archive/unchanged_by_markup")
        if self.pool is None and fingerprint_needed(item, known, known_fingerprint):
            # New bytes for a known page: a tenth of an extraction tells whether a reader sees anything
            # new. With a pool, its process computes this (analyse_in_pool_process).
            item.reader_fingerprint = page_fingerprint(item, self.salt)
        meta = self.store.current_metadata(latest)
        args = (
            item,
            self.run_id,
            self._original(seed_id),
            latest,
            known,
            meta,
            known_fingerprint,
            markup_wanted,
        )
        # Failures, 304s, unchanged bytes and unchanged fingerprints are decided without extracting:
        # no trip to the pool (an all-unchanged revisit never even starts it).
        if self.pool is not None and needs_extraction(item, latest, known, known_fingerprint):
            result = await self._analyse_in_pool(args)
        else:
            result = analyse(
                *args[:4],
                self.profiles,
                known_payload=known,
                removal_rules=self.removal,
                known_metadata=meta,
                noise=self.noise,
                known_fingerprint=known_fingerprint,
                fingerprint_salt=self.salt,
                markup_wanted=markup_wanted,
            )
        front_date, extracted_date, first_seen = self.store.seed_timing(seed_id)
        if extracted_date is None and result.new_version is not None:
            extracted_date = result.new_version.published
        evidence = None
        if self.evidence is not None and result.new_version is not None:
            evidence = await self.evidence.collect(item, result.new_version, self.profiles)
            result.capture.requisites_note = evidence.note
        if item.rendered:
            result.capture.rendered = 1
        due = next_state(
            result.capture.outcome,
            self.store.due_state(seed_id, self.policy.interval),
            self.policy,
            datetime.now(timezone.utc),
            first_version=latest is None,
            published_at=publication_time(front_date, extracted_date, first_seen),
        )
        author = result.new_version.author if result.new_version else (latest or {}).get("author")
        if author and "author" in self.accounts.values():
            # Accounts by author are known only once a page has been read.
            self.store.assign_accounts({seed_id: account_key(item.url, self.accounts, author)})
        capture_id, version_id = self.store.record_capture(
            result.capture,
            new_version=result.new_version,
            diffs=result.diffs,
            version_id=result.current_version_id,
            # Already on disk: the downloader middleware fsyncs each WARC record before the item exists.
            warc_records=item.warc_records or (),
            due=due,
            metadata_changes=result.metadata_changes,
            state_confirm=self.state_confirm,
            requisites=evidence.requisites if evidence else (),
            screenshot=evidence.screenshot if evidence else None,
        )
        self.crawler.stats.inc_value(f"archive/outcome/{result.capture.outcome}")
        return {
            "seed_id": seed_id,
            "capture_id": capture_id,
            "version_id": version_id,
            "outcome": result.capture.outcome,
            "error": result.capture.error,
        }

"""Scrapy item pipeline: extract -> version -> store, in that order, one transaction per capture."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from crawler.capture import analyse, needs_extraction
from crawler.due import RevisitPolicy, next_state
from crawler.extract import BUILTIN_PROFILES, SiteProfile
from crawler.noise import NoiseRules
from crawler.removal import RemovalRules
from crawler.seedstate import DEFAULT_CONFIRM
from crawler.store import Store
from crawler.evidence import evidence_collector


_WORKER_PROFILES: Sequence[SiteProfile] = BUILTIN_PROFILES
_WORKER_REMOVAL = RemovalRules()
_WORKER_NOISE = NoiseRules()


def _init_worker(
    profiles: Sequence[SiteProfile],
    crawl_pid: int | None = None,
    removal: RemovalRules | None = None,
    noise: NoiseRules | None = None,
) -> None:
    """Give a pool process the site profiles once, not with every page; it ends with the crawl."""
    global _WORKER_PROFILES, _WORKER_REMOVAL, _WORKER_NOISE
    _WORKER_PROFILES = profiles
    _WORKER_REMOVAL = removal or RemovalRules()
    # Plain strings cross the process boundary; each site's patterns compile once here (noise.compiled).
    _WORKER_NOISE = noise or NoiseRules()
    if crawl_pid is not None:
        _exit_with(crawl_pid)


def _exit_with(pid: int) -> None:
    """End this worker when process pid ends, even by SIGKILL (Linux pidfd; elsewhere nothing).

    A killed crawl never shuts its pool down: its workers (and the forkserver, which they keep
    alive) would wait for work forever, a few processes leaked per crash.
    """
    if not hasattr(os, "pidfd_open"):
        return
    try:
        watched = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)

    def watch() -> None:
        # A pidfd becomes readable when the process exits: a blocking wait, no polling.
        select.select([watched], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-crawl", daemon=True).start()


def _analyse_in_worker(
    item: Mapping[str, Any],
    run_id: int,
    original: str | None,
    latest: Mapping[str, Any] | None,
    known_payload: str | None,
    known_metadata: Mapping[str, Any] | None = None,
):
    """analyse() in a pool process: extraction, normalisation and diffing off the reactor thread."""
    return analyse(
        item, run_id, original, latest, _WORKER_PROFILES, known_payload=known_payload,
        removal_rules=_WORKER_REMOVAL, known_metadata=known_metadata, noise=_WORKER_NOISE,
    )


def extraction_context() -> multiprocessing.context.BaseContext:
    """The pool's process context: forkserver, its server preloading and warming up the extraction stack."""
    # forkserver, not fork: the crawl process has a running reactor and threads by the time the pool
    # starts. The server imports the extraction stack once and forks each worker from it, ready to go.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["crawler.warmup"])
    return context


def start_extraction_server() -> None:
    """Start the pool's forkserver now, so its seconds of warm-up overlap the crawl's own start-up.

    The server loads crawler.warmup on the other core while this process reads seeds and starts
    Scrapy; without this it would start at the first response, with fetched pages waiting for it.
    """
    from multiprocessing import forkserver

    extraction_context()
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
        self.pool: ProcessPoolExecutor | None = None
        self.removal = RemovalRules()
        self.state_confirm = DEFAULT_CONFIRM
        self.noise = NoiseRules()
        self.evidence = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ArchivePipeline":
        """Read the archive path, run id and site profiles from the crawler's settings."""
        settings = crawler.settings
        configured = [
            SiteProfile(
                name=p["name"],
                domains=tuple(p.get("domains") or ()),
                content=p["content"],
                title=p.get("title"),
                author=p.get("author"),
                signature=p.get("signature"),
            )
            for p in settings.getlist("ARCHIVE_PROFILES")
        ]
        # Profiles from config come first so they can replace a built-in one for the same site.
        pipeline = cls(settings["ARCHIVE_DB"], settings.getint("ARCHIVE_RUN_ID"), configured + list(BUILTIN_PROFILES))
        pipeline.crawler = crawler
        pipeline.policy = RevisitPolicy(**settings.getdict("ARCHIVE_REVISIT_POLICY"))
        pipeline.workers = settings.getint("ARCHIVE_EXTRACT_WORKERS")
        removal = settings.getdict("ARCHIVE_REMOVAL")
        if removal:
            pipeline.removal = RemovalRules(**removal)
        pipeline.state_confirm = settings.getint("ARCHIVE_STATE_CONFIRM", DEFAULT_CONFIRM)
        # Images and a screenshot with each new version (docs/evidence.md); None when all of it is off.
        pipeline.evidence = evidence_collector(crawler)
        noise = settings.getdict("ARCHIVE_NOISE")
        if noise:
            pipeline.noise = NoiseRules.from_config(noise.get("ignore"), builtin=noise.get("builtin", True))
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        """Open the archive once for the whole crawl, and the extraction pool if one is wanted."""
        self.store = Store(self.db_path, create=False)
        if self.workers > 0:
            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=extraction_context(),
                initializer=_init_worker,
                initargs=(tuple(self.profiles), os.getpid(), self.removal, self.noise),
            )

    def close_spider(self, spider: Any = None) -> None:
        """Close the archive and the pool."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.store is not None:
            self.store.close()

    def _original(self, seed_id: str) -> str | None:
        """The seed's normalised original text (read per capture: each seed comes once per run)."""
        row = self.store.seed(seed_id)
        return row["original_text"] if row else None

    async def process_item(self, item: dict[str, Any], spider: Any = None) -> dict[str, Any]:
        """Analyse the response (in the pool when there is one) and write the capture in one transaction."""
        seed_id = item["seed_id"]
        latest = self.store.latest_version(seed_id)
        known = self.store.current_payload(seed_id, latest["id"]) if latest else None
        if item.get("rendered"):
            # The same HTML shell can build another article (text fetched by script): a rendered
            # page is always extracted, never judged unchanged by its bytes.
            known = None
        meta = self.store.current_metadata(latest)
        args = (item, self.run_id, self._original(seed_id), latest, known, meta)
        # Failures, 304s and unchanged bytes are decided without parsing: no trip to the pool (an
        # all-unchanged revisit never even starts it).
        if self.pool is not None and needs_extraction(item, latest, known):
            # Submitted from a thread: the first submit starts the forkserver, which loads and warms up
            # the extraction stack for seconds; on the reactor thread that would time downloads out.
            submitted = await asyncio.to_thread(self.pool.submit, _analyse_in_worker, *args)
            result = await asyncio.wrap_future(submitted)
        else:
            result = analyse(
                *args[:4], self.profiles, known_payload=known, removal_rules=self.removal, known_metadata=meta,
                noise=self.noise,
            )
        evidence = None
        if self.evidence is not None and result.new_version is not None:
            evidence = await self.evidence.collect(item, result.new_version, self.profiles)
            result.capture.requisites_note = evidence.note
        if item.get("rendered"):
            result.capture.rendered = 1
        due = next_state(
            result.capture.outcome,
            self.store.due_state(seed_id, self.policy.interval),
            self.policy,
            datetime.now(timezone.utc),
            first_version=latest is None,
        )
        capture_id, version_id = self.store.record_capture(
            result.capture,
            new_version=result.new_version,
            diffs=result.diffs,
            version_id=result.current_version_id,
            # Already on disk: the downloader middleware fsyncs each WARC record before the item exists.
            warc_records=item.get("warc_records") or (),
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

"""One local crawl run: prepared in the archive, fetched and analysed by Scrapy here, finished, announced.

The run's steps live beside it: seeding.py (seed rows), selection.py (which seeds), lifecycle.py
(prepare and finish, shared with the cluster), scrapy_settings.py and process.py (the Scrapy process).
"""

from __future__ import annotations

import gc
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from crawler.archive.lock import archive_lock
from crawler.archive.store import Store
from crawler.config import Settings
from crawler.errors import CrawlerError
from crawler.run.lifecycle import RunSummary, announce_run, finish_run, one_line, prepare_run
from crawler.run.process import Target, check_extraction_stack, extract_workers, run_scrapy, warm_pool
from crawler.run.scrapy_settings import render_plan, render_target

log = logging.getLogger(__name__)


def crawl(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str] = (),
    trigger: str = "manual",
    verbose: int = 0,
    on_capture: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    due_only: bool = False,
    now: datetime | None = None,
) -> RunSummary:
    """Crawl the wanted seeds (all crawlable ones by default, or only the due ones) as one recorded run.

    Holds the archive lock for the whole run, so runs never overlap (RunLockedError otherwise).
    (With cluster.redis_url set, `crawler run` enqueues the due seeds instead: crawler/cluster/coordinator.py.)
    """
    started: list[int] = []
    try:
        with archive_lock(archive_dir):
            return _locked_crawl(
                settings,
                seeds_dir,
                archive_dir,
                wanted,
                trigger,
                verbose,
                on_capture,
                on_start,
                due_only,
                now,
                started,
            )
    finally:
        if started:
            # After the lock is released: a slow notification target must not make the next cron run
            # exit 75. The Atom feed and notifications are logged, never raised: they cannot fail the run.
            announce_run(settings, archive_dir, started[0])


def _locked_crawl(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str],
    trigger: str,
    verbose: int,
    on_capture: Callable[[dict[str, Any]], None] | None,
    on_start: Callable[[int], None] | None,
    due_only: bool,
    now: datetime | None,
    started: list[int],
) -> RunSummary:
    """The body of crawl(), run while holding the archive lock; the run's id is appended to started."""
    prepared, store = prepare_run(settings, seeds_dir, archive_dir, wanted, trigger, due_only, now)
    run_id, targets, warnings = prepared.run_id, prepared.targets, prepared.warnings
    del prepared
    try:
        started.append(run_id)
        captured = store.seeds_with_versions()
    finally:
        store.close()
    # Seed bodies are in the archive now; holding thousands of parsed seeds through the crawl would
    # make memory grow with the number of seeds: keep each target's id and URL, and nothing else.
    render = render_plan(settings)
    targets = [Target(s.id, s.fetch_url, render_target(render, s.id, s.fetch_url), s.id in captured) for s in targets]
    if not all(t.known for t in targets) and extract_workers(settings, len(targets)):
        from crawler.run.pipeline import start_extraction_server

        # Seeds never captured will all need extraction: start the pool's server now rather than at
        # the first response, so its seconds of warm-up overlap Scrapy's start-up. A revisit of known
        # seeds may need no extraction at all, and leaves the server to the first page that does.
        start_extraction_server(warm=warm_pool(targets))
    # The parsed seeds' garbage goes now (none of it may outlive the run).
    gc.collect()
    if on_start:
        on_start(len(targets))
    status, error = "completed", None
    # Scrapy's start-up makes a million objects that live as long as the run, which the collector
    # walked again and again (a tenth of a revisit's time): paused until run_scrapy freezes them and
    # turns it back on, and as it was again once the run is over (nothing left frozen).
    gc.disable()
    try:
        if targets:
            check_extraction_stack()
            run_scrapy(settings, store.path, run_id, targets, verbose, on_capture)
    except CrawlerError as exc:
        status, error = "failed", str(exc)
        raise
    except BaseException as exc:
        # Ctrl-C outside Scrapy's own handling, or a bug of ours: the run failed, no seed did.
        status, error = "failed", one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    finally:
        gc.unfreeze()
        gc.enable()
        store = Store(store.path)
        try:
            # Seeds the run never reached get no capture: the failure was the run's, not theirs, and
            # they stay due for the next run (DESIGN: a capture is a fetch attempt).
            finish_run(store, settings, run_id, status, error)
            by_outcome = store.by_outcome(run_id)
            summary = RunSummary(
                run_id,
                len(targets),
                by_outcome,
                status,
                warnings,
                failure_reasons=store.failure_reasons(run_id),
            )
        finally:
            store.close()
    return summary

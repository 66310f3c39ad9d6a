"""The coordinator: `crawler run` / `crawler crawl` with cluster.redis_url set enqueue instead of crawling.

Seeds are loaded, synced and selected exactly as for a local run (the runner's own functions);
each selected seed becomes one task in Redis carrying what a worker needs without the database:
its URL, the validators for a conditional GET and the payload digest of its current version.
A seed still in flight from an earlier run (not yet captured) is not enqueued again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from crawler.config import Settings
from crawler.errors import CrawlerError
from crawler.changes.intervals import iso, parse_duration
from crawler.archive.lock import archive_lock
from crawler.run.crawl import (
    RunSummary, due_seed_ids, first_per_id, seed_accounts, seed_interval_of, seed_row, seed_warnings, select_seeds,
)
from crawler.seeds import load_seeds
from crawler.archive.store import Store

from crawler.cluster.queue import Queue, connect


@dataclass
class EnqueuedSummary(RunSummary):
    """A run handed to the cluster: its captures arrive through `crawler ingest`."""

    skipped_in_flight: int = 0

    def line(self) -> str:
        extra = f" ({self.skipped_in_flight} still in flight from an earlier run)" if self.skipped_in_flight else ""
        return f"run {self.run_id}: {self.seeds} seeds enqueued for the cluster{extra}"


def queue_for(settings: Settings) -> Queue:
    """The cluster queue these settings name (connects and pings Redis)."""
    cluster = settings.cluster
    return Queue(
        connect(cluster.redis_url), cluster.key_prefix, parse_duration(cluster.lease), cluster.max_attempts
    )


def task_context(store: Store, seed_id: str, url: str) -> dict[str, Any]:
    """What a worker needs to fetch a seed politely and cheaply: validators and the current payload."""
    context: dict[str, Any] = {}
    latest = next(iter(store.query(
        "SELECT id FROM versions WHERE seed_id = ? ORDER BY version DESC LIMIT 1", [seed_id])), None)
    if latest:
        context["known_payload"], context["known_fingerprint"] = store.current_response(seed_id, latest["id"])
    # As Store.validators(), for one seed's URL: its last successful capture that carried a validator.
    # By seed (the captures_seed index), not by URL alone: captures has no index on url, and a
    # per-URL lookup would scan every capture for every seed enqueued.
    row = next(iter(store.query(
        """
        SELECT etag, last_modified FROM captures
        WHERE seed_id = ? AND url = ? AND (outcome IN ('new_version', 'unchanged')
              OR (outcome = 'not_modified' AND (etag IS NOT NULL OR last_modified IS NOT NULL)))
        ORDER BY id DESC LIMIT 1
        """, [seed_id, url])), None)
    if row and (row["etag"] or row["last_modified"]):
        context["etag"], context["last_modified"] = row["etag"], row["last_modified"]
    return context


def enqueue_run(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str] = (),
    trigger: str = "manual",
    due_only: bool = False,
    now: datetime | None = None,
) -> EnqueuedSummary:
    """Select the seeds as a local run would, record the run, and enqueue one task per seed."""
    queue = queue_for(settings)  # before anything is written: no run row for an unreachable Redis
    from redis import RedisError
    with archive_lock(archive_dir):
        seeds = load_seeds(seeds_dir, settings.seeds.urls)
        targets = select_seeds(seeds, wanted)
        warnings = seed_warnings([] if wanted else seeds)
        rows = [
            seed_row(s, seed_interval_of(settings, s, warnings) if s.status == "ok" else None)
            for s in first_per_id(seeds)
        ]
        del seeds
        store = Store.in_archive(archive_dir)
        try:
            _mark_interrupted_runs(store, queue)
            store.sync_seeds(rows)
            store.assign_accounts(seed_accounts(settings, targets))
            if due_only:
                due = set(due_seed_ids(store, settings, now or datetime.now(timezone.utc)))
                targets = [s for s in targets if s.id in due]
            busy = queue.in_flight([s.id for s in targets])
            targets = [replace(s, body="", extra={}) for s in targets if s.id not in busy]
            run_id = store.start_run(trigger, len(targets), pid=os.getpid())
            tasks = [
                {"run": run_id, "seed": s.id, "url": s.fetch_url, **task_context(store, s.id, s.fetch_url)}
                for s in targets
            ]
            try:
                queue.enqueue(run_id, tasks)
            except RedisError as exc:
                store.finish_run(run_id, status="failed", error=f"could not enqueue: {exc}")
                raise CrawlerError(f"run {run_id}: cannot enqueue its seeds in Redis ({exc}); "
                                   "the run is marked failed and its seeds stay due") from None
            status = "running"
            if not tasks:
                # Nothing to wait for: the run is recorded as a local run that found nothing due.
                store.finish_run(run_id)
                status = "completed"
        finally:
            store.close()
    return EnqueuedSummary(run_id, len(targets), {}, status, warnings, skipped_in_flight=len(busy))


def _mark_interrupted_runs(store: Store, queue: Queue) -> None:
    """Runs left `running` that the cluster does not know: a local run or a coordinator killed before
    it enqueued. (Runs the cluster is still writing stay running.) The archive lock is held, so no
    local run is going on."""
    open_runs = set(queue.open_runs())
    for row in list(store.query("SELECT id FROM runs WHERE status = 'running'")):
        if row["id"] not in open_runs:
            store.finish_run(row["id"], status="failed",
                             error="interrupted: the process ended before the run finished")

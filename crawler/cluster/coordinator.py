"""The coordinator: `crawler run` with cluster.redis_url set enqueues the due seeds instead of crawling.

Seeds are loaded, synced and selected exactly as for a local run (crawler/run/lifecycle.py's prepare_run);
each selected seed becomes one task in Redis carrying what a worker needs without the database:
its URL, the validators for a conditional GET and the payload digest of its current version.
A seed still in flight from an earlier run (not yet captured) is not enqueued again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from crawler.archive.lock import archive_lock
from crawler.archive.store import Store
from crawler.changes.intervals import parse_duration
from crawler.config import Settings
from crawler.errors import CrawlerError
from crawler.run.lifecycle import RunSummary, prepare_run
from crawler.warc import WARC_DIR_NAME, payload_on_disk

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
    return Queue(connect(cluster.redis_url), cluster.key_prefix, parse_duration(cluster.lease), cluster.max_attempts)


def task_context(store: Store, seed_id: str, url: str) -> dict[str, Any]:
    """What a worker needs to fetch a seed politely and cheaply: validators, the current payload and markup."""
    context: dict[str, Any] = {}
    latest = store.latest_version_id(seed_id)
    if latest is not None:
        context["known_payload"], context["known_fingerprint"] = store.current_response(seed_id, latest)
        # The markup of the version's page (crawler/extract/markup.py): a worker that finds only fresh
        # tokens in it decides "unchanged" without parsing the page or using its pool. Only when it
        # stands for known_fingerprint, the one fingerprint the writer compares with.
        markup = store.current_markup(seed_id, latest)
        if markup is not None and context["known_fingerprint"] and markup[2] == context["known_fingerprint"]:
            context["known_markup"] = list(markup[:2])
    row = store.seed_validators(seed_id, url)
    if row and (row["etag"] or row["last_modified"]) and not _payload_lost(store, url):
        context["etag"], context["last_modified"] = row["etag"], row["last_modified"]
    return context


def _payload_lost(store: Store, url: str) -> bool:
    """True when the WARC file holding url's last stored payload is gone (a 304 would leave nothing to replay)."""
    record = store.last_payload(url)
    return record is not None and not payload_on_disk(store.path.parent / WARC_DIR_NAME, record)


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
        prepared, store = prepare_run(
            settings,
            seeds_dir,
            archive_dir,
            wanted,
            trigger,
            due_only,
            now,
            mark_interrupted=lambda store: _mark_interrupted_runs(store, queue),
            exclude=queue.in_flight,
        )
        try:
            run_id, warnings = prepared.run_id, prepared.warnings
            targets = [replace(s, body="", extra={}) for s in prepared.targets]
            del prepared.targets[:]
            tasks = [
                {"run": run_id, "seed": s.id, "url": s.fetch_url, **task_context(store, s.id, s.fetch_url)}
                for s in targets
            ]
            try:
                queue.enqueue(run_id, tasks)
            except RedisError as exc:
                store.finish_run(run_id, status="failed", error=f"could not enqueue: {exc}")
                raise CrawlerError(
                    f"run {run_id}: cannot enqueue its seeds in Redis ({exc}); "
                    "the run is marked failed and its seeds stay due"
                ) from None
            status = "running"
            if not tasks:
                # Nothing to wait for: the run is recorded as a local run that found nothing due.
                store.finish_run(run_id)
                status = "completed"
        finally:
            store.close()
    return EnqueuedSummary(run_id, len(targets), {}, status, warnings, skipped_in_flight=prepared.skipped)


def _mark_interrupted_runs(store: Store, queue: Queue) -> None:
    """Runs left `running` that the cluster does not know: a local run or a coordinator killed before
    it enqueued. (Runs the cluster is still writing stay running.) The archive lock is held, so no
    local run is going on."""
    open_runs = set(queue.open_runs())
    for run_id in store.running_run_ids():
        if run_id not in open_runs:
            store.finish_run(run_id, status="failed", error="interrupted: the process ended before the run finished")

"""A run's life in the archive, shared by local and cluster runs: prepared (seeds synced, targets
chosen, run row started), finished (run row closed, CDXJ index rewritten), then announced."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection, Sequence

from crawler.archive.lock import archive_lock
from crawler.archive.store import Store
from crawler.config import Settings
from crawler.errors import CrawlerError
from crawler.notify import announce
from crawler.run.seeding import first_per_id, seed_accounts, seed_interval_of, seed_row, seed_warnings
from crawler.run.selection import due_seed_ids, select_seeds
from crawler.seeds import Seed, load_seeds
from crawler.warc import INDEX_NAME, WARC_DIR_NAME, index_marks, write_index

log = logging.getLogger(__name__)


# Taken by the feed and notifications after a run, so two runs finishing together never send twice.
NOTIFY_LOCK_NAME = ".notify.lock"


@dataclass
class RunSummary:
    """What a run did, for the one-line summary."""

    run_id: int
    seeds: int
    by_outcome: dict[str, int]
    status: str
    # One line per seed that was not crawled or needs a look (broken, no URL, shared URL), for stderr.
    seed_warnings: list[str] = field(default_factory=list)
    # The commonest reasons of the run's failed captures, with their counts, commonest first.
    failure_reasons: list[tuple[str, int]] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed after a run."""
        n = self.by_outcome.get
        fetched = sum(v for k, v in self.by_outcome.items() if k != "failed")
        parts = [
            f"{fetched} fetched",
            f"{n('new_version', 0)} new versions",
            f"{n('unchanged', 0) + n('not_modified', 0)} unchanged",
            f"{n('gone', 0)} gone",
            f"{n('removed', 0)} removed",
            f"{n('no_content', 0)} no content",
            f"{n('failed', 0)} failed",
        ]
        return f"run {self.run_id}: {self.seeds} seeds, " + ", ".join(parts)

    def failure_lines(self) -> list[str]:
        """One line per common failure reason, to print under the summary."""
        lines = [f"  {count} failed: {reason}" for reason, count in self.failure_reasons]
        unreached = self.seeds - sum(self.by_outcome.values())
        if self.status == "completed" and unreached > 0:
            # Never expected: every request ends in a capture. Said rather than hidden; they stay due.
            lines.append(
                f"  {unreached} not fetched: the crawl never answered for them (they stay due); "
                "please report this with -vv output"
            )
        return lines


def announce_run(settings: Settings, archive_dir: Path, run_id: int) -> None:
    """Rewrite the feed and send the notifications after a run, one process at a time (a skipped one sends next time)."""
    try:
        with archive_lock(archive_dir, name=NOTIFY_LOCK_NAME, what="notification round"):
            store = Store.in_archive(archive_dir, create=False)
            try:
                # A run that captured nothing (it could not start) has nothing to announce: the feed stays.
                if store.by_outcome(run_id):
                    announce(store, settings, archive_dir, run_id)
            finally:
                store.close()
    except CrawlerError as exc:
        log.info("notify: skipped: %s", exc)


def one_line(text: str) -> str:
    """Text on one line: an error message must never span lines (logs, cron mail, the runs table)."""
    return " ".join(text.split())


@dataclass
class PreparedRun:
    """A run started in the archive: its id, the seeds it fetches and the warnings to print."""

    run_id: int
    targets: list[Seed]
    warnings: list[str]
    # Seeds left out because exclude named them (a cluster's seeds still in flight from an earlier run).
    skipped: int = 0


def prepare_run(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str] = (),
    trigger: str = "manual",
    due_only: bool = False,
    now: datetime | None = None,
    mark_interrupted: Callable[[Store], object] | None = None,
    exclude: Callable[[list[str]], Collection[str]] | None = None,
) -> tuple[PreparedRun, Store]:
    """Seeds synced into the archive, the run's seeds chosen and its row started; with the store, still open.

    Called under the archive lock, by a local run and by the cluster's coordinator alike.
    mark_interrupted closes the runs a killed process left `running` (default: all of them);
    exclude names the chosen seeds not to fetch now.
    """
    seeds = load_seeds(seeds_dir, settings.seeds.urls)
    targets = select_seeds(seeds, wanted)
    warnings = seed_warnings([] if wanted else seeds)
    rows = [
        seed_row(s, seed_interval_of(settings, s, warnings) if s.status == "ok" else None) for s in first_per_id(seeds)
    ]
    store = Store.in_archive(archive_dir)
    try:
        if mark_interrupted is None:
            store.mark_interrupted_runs()
        else:
            mark_interrupted(store)
        store.sync_seeds(rows)
        store.assign_accounts(seed_accounts(settings, seeds))
        if due_only:
            due = set(due_seed_ids(store, settings, now or datetime.now(timezone.utc)))
            targets = [s for s in targets if s.id in due]
        skipped = 0
        if exclude is not None:
            busy = exclude([s.id for s in targets])
            skipped = len(busy)
            targets = [s for s in targets if s.id not in busy]
        run_id = store.start_run(trigger, len(targets), pid=os.getpid())
    except BaseException:
        store.close()
        raise
    return PreparedRun(run_id, targets, warnings, skipped), store


def finish_run(
    store: Store, settings: Settings, run_id: int, status: str = "completed", error: str | None = None
) -> None:
    """Close the run's row and bring the WARC files' CDXJ index up to date: the end of every crawl, local or cluster."""
    store.finish_run(run_id, status=status, error=error)
    if settings.warc.enabled:
        update_index(store)


def update_index(store: Store) -> int:
    """Add the records written since the CDXJ index was last written to it (or write it whole); its line count.

    Whole, every run took time in proportion to the archive (a SURT key and a JSON line per record
    ever written): merged, a run's end costs what its own records cost, plus reading the index once.
    """
    path = store.path.parent / WARC_DIR_NAME / INDEX_NAME
    covered, upto = index_marks(path), store.record_marks()
    if covered is not None and covered.keys() == upto.keys():
        return write_index(path, store.warc_records(after=covered, upto=upto), upto, merge=True)
    return write_index(path, store.warc_records(upto=upto), upto)

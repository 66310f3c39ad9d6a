"""Which seeds a run fetches: the ones named, or the due ones within the fetch budget."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from crawler.archive.store import Store
from crawler.changes.intervals import (
    RECHECK_ACCOUNT_CAUSES,
    RISK_CAUSES,
    Candidate,
    iso,
    plan_visits,
    publication_time,
)
from crawler.config import Settings
from crawler.errors import SeedError
from crawler.seeds import Seed


def select_seeds(seeds: Sequence[Seed], wanted: Sequence[str]) -> list[Seed]:
    """The crawlable seeds among those named (all crawlable seeds when none are named)."""
    if not wanted:
        return [s for s in seeds if s.status == "ok"]
    by_id = {s.id: s for s in seeds}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise SeedError(f"no seed named {', '.join(unknown)} in the seeds folder; see 'crawler seeds'")
    not_ok = [by_id[w] for w in wanted if by_id[w].status != "ok"]
    if not_ok:
        s = not_ok[0]
        raise SeedError(f"seed {s.id} cannot be crawled: {s.problem}")
    return [by_id[w] for w in wanted]


def fetch_budget(store: Store, settings: Settings, now: datetime) -> int | None:
    """How many fetches this run may make (schedule.max_fetches_per_hour / _per_run), None for no limit."""
    schedule = settings.schedule
    limits = []
    if schedule.max_fetches_per_run is not None:
        limits.append(schedule.max_fetches_per_run)
    if schedule.max_fetches_per_hour is not None:
        spent = store.fetches_since(iso(now - timedelta(hours=1)))
        limits.append(max(schedule.max_fetches_per_hour - spent, 0))
    return min(limits) if limits else None


def due_seed_ids(store: Store, settings: Settings, now: datetime, limit: int | None = None) -> list[str]:
    """The seeds to visit now: every due seed, or within the fetch budget the most valuable ones.

    limit overrides the budget the settings give (the takedown simulation passes its own).
    """
    if limit is None:
        limit = fetch_budget(store, settings, now)
    if limit is None:
        return store.due_seed_ids(iso(now))
    policy = settings.schedule.policy()
    candidates = [
        Candidate(
            row["id"],
            row["next_due_at"],
            row["last_capture_at"],
            publication_time(row["date"], row["extracted_date"], row["first_seen_at"]),
            row["account"],
            row["state"],
            row["interval_seconds"],
        )
        for row in store.due_candidates(iso(now))
    ]
    risks = {account: count for account, (count, _) in store.account_removals(RISK_CAUSES).items()}
    alerts = {account: latest for account, (_, latest) in store.account_removals(RECHECK_ACCOUNT_CAUSES).items()}
    return plan_visits(candidates, now, policy, limit, risks, alerts)

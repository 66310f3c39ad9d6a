"""Seeds into the archive: each seed's row, its starting revisit interval, and the warnings a run prints."""

from __future__ import annotations

import json
from typing import Any, Sequence

from crawler.changes.intervals import account_key, seed_interval
from crawler.changes.normalise import markdown_to_text, text_sha256
from crawler.config import Settings
from crawler.errors import SeedError
from crawler.seeds import Seed


def seed_row(seed: Seed, base_interval: float | None = None) -> dict[str, Any]:
    """The seeds-table row of a parsed seed, with its normalised original text and revisit interval."""
    original = markdown_to_text(seed.body) if seed.body else ""
    return {
        "id": seed.id,
        "url": seed.url,
        "fetch_url": seed.fetch_url,
        "title": seed.title,
        "status": seed.status,
        "problem": seed.problem,
        "url_from": seed.url_from,
        "date": seed.date,
        "fetch_date": seed.fetch_date,
        "source": seed.source,
        "front_matter": json.dumps(seed.extra, ensure_ascii=False, default=str) if seed.extra else None,
        "path": str(seed.path),
        "original_text": original or None,
        "original_sha256": text_sha256(original) if original else None,
        "base_interval_seconds": round(base_interval) if base_interval is not None else None,
    }


def seed_accounts(settings: Settings, seeds: Sequence[Seed]) -> dict[str, str | None]:
    """Each seed's account from its URL (schedule.accounts); accounts by author come with captures."""
    rules = settings.schedule.accounts
    return {s.id: account_key(s.fetch_url, rules) for s in seeds if s.status == "ok"} if rules else {}


def seed_warnings(seeds: Sequence[Seed]) -> list[str]:
    """One line per seed a full crawl skips or should flag: broken, without URL, sharing a URL."""
    lines = []
    for seed in seeds:
        if seed.status == "broken":
            lines.append(f"warning: seed {seed.id} skipped: {seed.path}: {seed.problem}")
        elif seed.status == "no_url":
            lines.append(f"note: seed {seed.id} not fetched: {seed.problem}")
        elif seed.problem:
            lines.append(f"warning: seed {seed.id}: {seed.problem}")
    return lines


def first_per_id(seeds: Sequence[Seed]) -> list[Seed]:
    """The first seed of each id: a second file with the same id (a.txt beside a.md) is reported, never stored.

    Stored, its broken row replaced the good seed's, which was then never revisited.
    """
    seen: set[str] = set()
    first = []
    for seed in seeds:
        if seed.id not in seen:
            seen.add(seed.id)
            first.append(seed)
    return first


def seed_interval_of(settings: Settings, seed: Seed, warnings: list[str] | None = None) -> float:
    """A seed's starting revisit interval; a bad `revisit` in its front matter is a warning (or a SeedError)."""
    schedule = settings.schedule
    try:
        return seed_interval(schedule.policy(), seed.id, seed.fetch_url, seed.extra, schedule.seeds, schedule.urls)
    except ValueError as exc:
        if warnings is None:
            raise SeedError(f"{seed.path}: front matter 'revisit': {exc}") from None
        # One seed's typo must not stop every other seed's run: it keeps the default interval.
        warnings.append(
            f"warning: seed {seed.id}: {seed.path}: front matter 'revisit': {exc}; "
            f"using schedule.interval ({schedule.interval})"
        )
        return schedule.policy().interval

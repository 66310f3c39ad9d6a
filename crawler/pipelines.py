"""Scrapy item pipeline: extract -> version -> store, in that order, one transaction per capture."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from crawler.capture import analyse
from crawler.due import RevisitPolicy, next_state
from crawler.extract import BUILTIN_PROFILES, SiteProfile
from crawler.store import Store


class ArchivePipeline:
    """Turn each raw response into a capture (and maybe a version) in the archive."""

    def __init__(self, db_path: str, run_id: int, profiles: list[SiteProfile]):
        self.db_path = db_path
        self.run_id = run_id
        self.profiles = profiles
        self.store: Store | None = None
        self.originals: dict[str, str | None] = {}
        self.policy = RevisitPolicy()

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
        return pipeline

    def open_spider(self, spider: Any = None) -> None:
        """Open the archive once for the whole crawl."""
        self.store = Store(self.db_path, create=False)

    def close_spider(self, spider: Any = None) -> None:
        """Close the archive."""
        if self.store is not None:
            self.store.close()

    def _original(self, seed_id: str) -> str | None:
        """The seed's normalised original text, read once per seed."""
        if seed_id not in self.originals:
            row = self.store.seed(seed_id)
            self.originals[seed_id] = row["original_text"] if row else None
        return self.originals[seed_id]

    def process_item(self, item: dict[str, Any], spider: Any = None) -> dict[str, Any]:
        """Analyse the response and write the capture; returns a small summary item."""
        seed_id = item["seed_id"]
        latest = self.store.latest_version(seed_id)
        result = analyse(item, self.run_id, self._original(seed_id), latest, self.profiles)
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
        )
        self.crawler.stats.inc_value(f"archive/outcome/{result.capture.outcome}")
        return {
            "seed_id": seed_id,
            "capture_id": capture_id,
            "version_id": version_id,
            "outcome": result.capture.outcome,
            "error": result.capture.error,
        }

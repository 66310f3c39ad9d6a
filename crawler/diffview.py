"""Diffs between any two texts of a seed (original or versions), for `crawler diff`."""

from __future__ import annotations

from pathlib import Path

from crawler.errors import CrawlerError
from crawler.store import Store
from crawler.timefmt import local_time
from crawler.versions import diff_texts


def _text(store: Store, seed_id: str, which: str, original: str | None) -> tuple[str, str]:
    """The (label, text) named by 'original', 'latest' or a version number."""
    if which == "original":
        if original is None:
            raise CrawlerError(f"seed {seed_id} has no original text to compare with")
        return "original", original
    row = store.latest_version(seed_id) if which == "latest" else None
    if which != "latest":
        try:
            number = int(which)
        except ValueError:
            raise CrawlerError(f"'{which}' is not a version: use 'original', 'latest' or a number") from None
        row = store.version(seed_id, number)
    if row is None:
        if which == "latest":
            raise CrawlerError(f"seed {seed_id} has no version yet: {_last_attempt(store, seed_id)}")
        raise CrawlerError(
            f"seed {seed_id} has no version {which}; see 'crawler status' for how many it has"
        )
    return f"version {row['version']}", row["text"]


def _last_attempt(store: Store, seed_id: str) -> str:
    """What the seed's last fetch attempt did, and what to do next, for a seed with no version."""
    capture = store.last_capture(seed_id)
    if capture is None:
        return f"it was never fetched; run 'crawler crawl {seed_id}'"
    when = local_time(capture["fetched_at"])
    reason = f": {capture['error']}" if capture.get("error") else ""
    return (
        f"its last attempt ({when}) was {capture['outcome']}{reason}; "
        f"run 'crawler crawl {seed_id}' once the page can be reached"
    )


def seed_diff(archive_dir: Path, seed_id: str, base: str = "original", target: str = "latest") -> list[str]:
    """Unified-diff lines of a seed's target text against its base text."""
    store = Store.in_archive(archive_dir, create=False)
    try:
        seed = store.seed(seed_id)
        if seed is None:
            raise CrawlerError(f"no seed {seed_id} in the archive; see 'crawler status'")
        old_label, old = _text(store, seed_id, base, seed["original_text"])
        new_label, new = _text(store, seed_id, target, seed["original_text"])
    finally:
        store.close()
    result = diff_texts(old, new, old_label=old_label, new_label=new_label)
    header = f"{seed_id}: {new_label} against {old_label}, similarity {result.similarity:.3f}"
    if not result.diff:
        return [header, "(no differences)"]
    return [header, *result.diff.splitlines()]

"""Plain records passed from the pipeline to the store: no behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


def utcnow() -> str:
    """The current UTC time as an ISO 8601 string with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class CaptureRecord:
    """One fetch attempt, as the pipeline saw it."""

    run_id: int
    seed_id: str
    url: str
    outcome: str
    fetched_at: str = field(default_factory=utcnow)
    final_url: str | None = None
    status_code: int | None = None
    error: str | None = None
    # Why the article is removed (crawler/changes/removal.py CAUSES), or blocked_by_site for a wall; and
    # the notice the page showed. Both None for every other capture.
    cause: str | None = None
    notice: str | None = None
    elapsed_ms: int | None = None
    content_type: str | None = None
    body_bytes: int | None = None
    redirects: list[str] = field(default_factory=list)
    title: str | None = None
    # Where the response is in the WARC files, and the validators for the next conditional GET.
    warc_filename: str | None = None
    warc_offset: int | None = None
    warc_length: int | None = None
    warc_record_id: str | None = None
    payload_digest: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    # What a reader sees, hashed (crawler/extract/fingerprint.py): the next visit skips extraction on a match.
    reader_fingerprint: str | None = None
    # Evidence (docs/evidence.md): 1 when rendered in the browser; what limited the page's requisites.
    rendered: int | None = None
    requisites_note: str | None = None
    # An unchanged capture whose text differs from its version only by counters or times written as
    # prose: [{"old": sentence, "new": sentence}, ...] (crawler/changes/volatile.py); None otherwise.
    ignored_changes: list | None = None


@dataclass
class VersionRecord:
    """A new distinct text of a seed, with its metadata."""

    text: str
    text_sha256: str  # SHA-256 of text (UTF-8), as anyone checking the archive computes it
    compare_sha256: str | None = None  # of the comparison form without noise: what decides "distinct" (crawler.changes.versions)
    title: str | None = None
    author: str | None = None
    published: str | None = None
    sitename: str | None = None
    canonical_url: str | None = None
    profile: str | None = None


@dataclass
class DiffRecord:
    """A version compared with the original or with the previous version."""

    base: str
    similarity: float
    chars_added: int
    chars_removed: int
    diff: str
    ops: list
    base_version_id: int | None = None
    # Share of the original's sentences still present (base "original" only; None for "previous").
    retained: float | None = None
    change: str | None = None  # minor | edit | major | rewrite (crawler.changes.versions.classify_change)

"""The typed records that cross stages: the raw response (fetch -> pipeline, and the cluster stream),
and the capture, version and diff records (pipeline -> archive). No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any


def utcnow() -> str:
    """The current UTC time as an ISO 8601 string with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RawResponse:
    """What the spider got for one seed: a response as received (decompressed), or why there is none.

    The spider yields it as its Scrapy item; the pipeline analyses it; a cluster worker sends it on
    the results stream (to_message / from_message).
    """

    seed_id: str
    url: str  # as requested: the seed's fetch URL
    final_url: str | None = None  # after redirects
    status: int | None = None  # None: no response at all (error says why)
    headers: dict[str, list[str]] = field(default_factory=dict)  # names lower-case
    body: bytes | None = b""  # None: a cluster worker sent body_bytes instead (unchanged by fingerprint)
    elapsed: float | None = None  # download latency, seconds
    redirects: list[str] = field(default_factory=list)
    retries: int = 0  # spent before this response (a 503 retried, then kept)
    error: str | None = None  # why the fetch failed (a readable line)
    # Set by the WARC recorder: this response's record, and every record of the redirect chain.
    warc: dict[str, Any] | None = None
    warc_records: list[dict[str, Any]] = field(default_factory=list)
    # Set by the render middleware for a page rendered in chromium.
    rendered: bool = False
    screenshot: Any = None
    viewport: Any = None
    browser_records: dict[str, Any] = field(default_factory=dict)
    # Added on the way to the archive: the page's reader fingerprint (crawler/extract/fingerprint.py),
    # the extraction a cluster worker did already (extracted None then means "no article text"),
    # and the body's size when the body itself was not sent.
    reader_fingerprint: str | None = None
    extracted: dict[str, Any] | None = None
    extracted_by_worker: bool = False
    body_bytes: int | None = None
    # The cluster task the response answers (a worker's own bookkeeping; never sent on the stream).
    task: dict[str, Any] | None = None

    @property
    def page_url(self) -> str:
        """Where the page was in the end: the final URL, else the requested one."""
        return self.final_url or self.url

    def header(self, name: str) -> str | None:
        """The first value of a response header."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def media_type(self) -> str:
        """The response's media type, lower-case (text/html when the server names none)."""
        return (self.header("content-type") or "text/html").split(";")[0].strip().lower()

    @property
    def payload_digest(self) -> str | None:
        """The WARC payload digest of the response's body (None without a record)."""
        return (self.warc or {}).get("payload_digest")

    @property
    def succeeded(self) -> bool:
        """A 2xx response: the only kind that can hold an article."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def to_message(self) -> dict[str, Any]:
        """The fields as plain values for the cluster's results stream (the task travels beside it)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "task"}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "RawResponse":
        """Back from to_message() (unknown keys are dropped; a message from before extracted_by_worker
        says so by carrying "extracted")."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in message.items() if k in known}
        values.setdefault("extracted_by_worker", "extracted" in message)
        return cls(**values)


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
    # The page's markup digest and span layout (crawler/extract/markup.py), kept where a version's text
    # was read: a later page with the same markup needs no parse (None where not computed or refused).
    markup_digest: str | None = None
    markup_layout: str | None = None
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
    compare_sha256: str | None = (
        None  # of the comparison form without noise: what decides "distinct" (crawler.changes.versions)
    )
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

"""A raw response -> outcome, new version and diffs: pure, no Scrapy, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from crawler.extract import SiteProfile, decode_html, extract
from crawler.records import CaptureRecord, DiffRecord, VersionRecord
from crawler.textnorm import clean_text, text_sha256
from crawler.versions import diff_texts

GONE_STATUSES = frozenset({404, 410})
# Content types that can hold an article; anything else (PDF, images, archives) is not extracted.
TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")


@dataclass
class Analysis:
    """What one fetch means for the archive."""

    capture: CaptureRecord
    new_version: VersionRecord | None = None
    diffs: list[DiffRecord] = field(default_factory=list)
    # The unchanged current version a capture points at (None for a new version or no text).
    current_version_id: int | None = None


def header(raw: Mapping[str, Any], name: str) -> str | None:
    """The first value of a response header (names are lower-case in raw items)."""
    values = raw.get("headers", {}).get(name.lower())
    return values[0] if values else None


def archive_columns(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The capture's WARC location (from the spider's item) and its HTTP validators."""
    warc = raw.get("warc") or {}
    return {
        "warc_filename": warc.get("filename"),
        "warc_offset": warc.get("offset"),
        "warc_length": warc.get("length"),
        "warc_record_id": warc.get("record_id"),
        "payload_digest": warc.get("payload_digest"),
        "etag": header(raw, "etag"),
        "last_modified": header(raw, "last-modified"),
    }


def analyse(
    raw: Mapping[str, Any],
    run_id: int,
    original_text: str | None,
    latest: Mapping[str, Any] | None,
    profiles: Sequence[SiteProfile],
    known_payload: str | None = None,
) -> Analysis:
    """Decide a capture's outcome and, for a changed text, its new version and diffs.

    known_payload is the payload digest of a response whose text is the latest version: a body
    with that digest is unchanged without extracting it again (the revisit fast path).
    """
    content_type = header(raw, "content-type")
    elapsed = raw.get("elapsed")
    capture = CaptureRecord(
        run_id=run_id,
        seed_id=raw["seed_id"],
        url=raw["url"],
        outcome="failed",
        final_url=raw.get("final_url"),
        status_code=raw.get("status"),
        elapsed_ms=round(elapsed * 1000) if elapsed is not None else None,
        content_type=content_type,
        body_bytes=len(raw.get("body") or b""),
        redirects=list(raw.get("redirects") or []),
        **archive_columns(raw),
    )
    result = Analysis(capture)
    status = raw.get("status")
    if raw.get("error") or status is None:
        capture.error = raw.get("error") or "no response"
        return result
    if status in GONE_STATUSES:
        capture.outcome, capture.error = "gone", f"HTTP {status}"
        return result
    if status == 304:
        # Conditional GET: the server says the copy we hold is current.
        capture.outcome = "not_modified"
        result.current_version_id = latest["id"] if latest else None
        return result
    if 300 <= status < 400:
        location = header(raw, "location") or "nowhere"
        capture.error = f"HTTP {status} redirect to {location} not followed (not http/https, or too many redirects)"
        return result
    if status >= 400 or status < 200:
        retry_after = header(raw, "retry-after")
        capture.error = f"HTTP {status}" + (f" (Retry-After: {retry_after})" if retry_after else "")
        return result

    digest = (raw.get("warc") or {}).get("payload_digest")
    if known_payload and latest is not None and digest == known_payload:
        # The same bytes as a response whose text is the latest version: the same text.
        capture.outcome = "unchanged"
        result.current_version_id = latest["id"]
        return result

    body = raw.get("body") or b""
    media_type = (content_type or "text/html").split(";")[0].strip().lower()
    if media_type not in TEXT_TYPES:
        capture.outcome, capture.error = "no_content", f"not an HTML page: {media_type}"
        return result
    html = decode_html(body, content_type)
    extracted = extract(html, raw.get("final_url") or raw["url"], profiles) if html.strip() else None
    text = clean_text(extracted.text) if extracted else ""
    if not text:
        capture.outcome = "no_content"
        capture.error = "empty response body" if not body else "no article text found on the page"
        return result
    capture.title = extracted.title

    sha = text_sha256(text)
    if latest is not None and latest["text_sha256"] == sha:
        capture.outcome = "unchanged"
        result.current_version_id = latest["id"]
        return result

    capture.outcome = "new_version"
    result.new_version = VersionRecord(
        text=text,
        text_sha256=sha,
        title=extracted.title,
        author=extracted.author,
        published=extracted.date,
        sitename=extracted.sitename,
        canonical_url=extracted.canonical_url,
        profile=extracted.profile,
    )
    new_label = f"version {(latest['version'] if latest else 0) + 1}"
    if original_text:
        result.diffs.append(_diff_record("original", original_text, text, "original", new_label, None))
    if latest is not None:
        old_label = f"version {latest['version']}"
        result.diffs.append(_diff_record("previous", latest["text"], text, old_label, new_label, latest["id"]))
    return result


def _diff_record(
    base: str, old: str, new: str, old_label: str, new_label: str, base_version_id: int | None
) -> DiffRecord:
    """Diff new against old as a record for the diffs table."""
    diff = diff_texts(old, new, old_label=old_label, new_label=new_label)
    return DiffRecord(
        base=base,
        similarity=round(diff.similarity, 4),
        chars_added=diff.chars_added,
        chars_removed=diff.chars_removed,
        diff=diff.diff,
        ops=diff.ops,
        base_version_id=base_version_id,
    )

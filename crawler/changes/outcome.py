"""A raw response -> outcome, new version and diffs: pure, no Scrapy, no database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from crawler.changes.metadata import MetadataChange, metadata_changes
from crawler.extract.article import Extracted, SiteProfile, decode_html, extract, load_page
from crawler.extract.fingerprint import reader_fingerprint, strip_volatile, tree_digest
from crawler.extract.markup import Markup, page_markup, same_markup
from crawler.model import CaptureRecord, DiffRecord, RawResponse, VersionRecord
from crawler.changes.removal import Page, RemovalRules, assess
from crawler.changes.noise import NoiseRules
from crawler.changes.normalise import clean_text
from crawler.changes.versions import (
    Sentences,
    bounded_diff_text,
    bounded_ops,
    classify_against_original,
    diff_texts,
    ignorable_changes,
    sentences,
)
from crawler.urls import is_http_scheme

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
    # Title, author or date that differ from the seed's known metadata (crawler/changes/metadata.py).
    metadata_changes: list[MetadataChange] = field(default_factory=list)


def archive_columns(raw: RawResponse) -> dict[str, Any]:
    """The capture's WARC location (from the spider's item) and its HTTP validators."""
    warc = raw.warc or {}
    return {
        "warc_filename": warc.get("filename"),
        "warc_offset": warc.get("offset"),
        "warc_length": warc.get("length"),
        "warc_record_id": warc.get("record_id"),
        "payload_digest": warc.get("payload_digest"),
        "etag": raw.header("etag"),
        "last_modified": raw.header("last-modified"),
    }


def rules_from_settings(settings: Any) -> tuple[list[SiteProfile], RemovalRules, NoiseRules]:
    """Site profiles (configured ones first, so they replace a built-in one), removal and noise rules
    from a crawl's Scrapy settings (ARCHIVE_PROFILES, ARCHIVE_REMOVAL, ARCHIVE_NOISE)."""
    from crawler.extract.article import BUILTIN_PROFILES

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
    removal = settings.getdict("ARCHIVE_REMOVAL")
    noise = settings.getdict("ARCHIVE_NOISE")
    return (
        configured + list(BUILTIN_PROFILES),
        RemovalRules(**removal) if removal else RemovalRules(),
        NoiseRules.from_config(noise.get("ignore"), builtin=noise.get("builtin", True)) if noise else NoiseRules(),
    )


# The gates before extraction, one place for the pipeline, analyse() and a cluster worker alike.


def needs_extraction(
    raw: RawResponse,
    latest: Mapping[str, Any] | None,
    known_payload: str | None,
    known_fingerprint: str | None = None,
) -> bool:
    """False when analyse() decides from the status, the payload digest or the reader fingerprint alone.

    latest is the seed's newest version (anything not None: there is one).
    """
    if not raw.succeeded:
        return False
    if latest is None:
        return True
    if known_payload and raw.payload_digest == known_payload:
        return False
    return not (known_fingerprint and raw.reader_fingerprint == known_fingerprint)


def fingerprint_needed(raw: RawResponse, known_payload: str | None, known_fingerprint: str | None) -> bool:
    """True when new bytes of a known page need their reader fingerprint (a tenth of an extraction)."""
    return bool(known_fingerprint) and raw.reader_fingerprint is None and raw.payload_digest != known_payload


def unreadable(raw: RawResponse) -> str | None:
    """Why extraction cannot read the body (not a text media type, or binary whatever it says), else None."""
    media_type = raw.media_type
    if media_type not in TEXT_TYPES:
        return f"not an HTML page: {media_type}"
    sniffed = _binary_kind(raw.body or b"")
    if sniffed:
        return f"not an HTML page: the body is {sniffed} although Content-Type says {media_type}"
    return None


def page_fingerprint(raw: RawResponse, salt: str = "") -> str | None:
    """The reader fingerprint of a 2xx HTML response (crawler/extract/fingerprint.py); None for anything else.

    About a tenth of an extraction's CPU: the page is decoded and parsed as extraction would, then hashed.
    """
    if not raw.succeeded or not raw.body or unreadable(raw):
        return None
    html = decode_html(raw.body, raw.header("content-type"))
    tree = load_page(html) if html.strip() else None
    if tree is None:
        return None
    strip_volatile(tree)
    return reader_fingerprint(tree_digest(tree), raw.page_url, raw.media_type, salt)


def markup_unchanged(raw: RawResponse, known: Markup, salt: str = "") -> bool:
    """True when a 2xx HTML response is known's page with only its volatile spans changed (no parse: ~1 ms).

    Then its reader fingerprint is that of known's capture (crawler/extract/markup.py says why).
    """
    if not raw.succeeded or not raw.body or unreadable(raw):
        return False
    html = decode_html(raw.body, raw.header("content-type"))
    return same_markup(html, raw.page_url, raw.media_type, known, salt)


def _keep_markup(capture: CaptureRecord, html: str, raw: RawResponse, salt: str) -> None:
    """Note the page's markup on a capture that read its version's text, for the next visits' check."""
    markup = page_markup(html, raw.page_url, raw.media_type, salt)
    if markup is not None:
        capture.markup_digest, capture.markup_layout = markup.digest, markup.layout


def analyse(
    raw: RawResponse,
    run_id: int,
    original_text: str | None,
    latest: Mapping[str, Any] | None,
    profiles: Sequence[SiteProfile],
    known_payload: str | None = None,
    removal_rules: RemovalRules | None = None,
    known_metadata: Mapping[str, Any] | None = None,
    noise: NoiseRules | None = None,
    known_fingerprint: str | None = None,
    fingerprint_salt: str = "",
    markup_wanted: bool = False,
) -> Analysis:
    """Decide a capture's outcome and, for a changed text, its new version and diffs.

    known_payload is the payload digest of a response whose text is the latest version: a body
    with that digest is unchanged without extracting it again (the revisit fast path).
    known_fingerprint is that response's reader fingerprint: a page with the same fingerprint
    (raw.reader_fingerprint, computed by the caller) gives extraction the same input, so it is
    unchanged too, whatever its script tokens and data- attributes say.
    known_metadata is the seed's current title, author and published (default: latest's), for drift.
    noise says what page noise (counters, timestamps) comparisons ignore (default: the built-in patterns).
    markup_wanted: the seed's version has no markup noted yet; a page found unchanged by its fingerprint
    notes its own (a new version always does).
    """
    content_type = raw.header("content-type")
    elapsed = raw.elapsed
    capture = CaptureRecord(
        run_id=run_id,
        seed_id=raw.seed_id,
        url=raw.url,
        outcome="failed",
        final_url=raw.final_url,
        status_code=raw.status,
        elapsed_ms=round(elapsed * 1000) if elapsed is not None else None,
        content_type=content_type,
        # A cluster worker that decided from the fingerprint sends the size, not the body.
        body_bytes=raw.body_bytes if raw.body is None and raw.body_bytes is not None else len(raw.body or b""),
        redirects=list(raw.redirects or []),
        **archive_columns(raw),
    )
    result = Analysis(capture)
    status = raw.status
    if raw.error or status is None:
        capture.error = raw.error or "no response"
        return result
    if status in GONE_STATUSES:
        capture.outcome, capture.error = "gone", _http(status)
        return result
    if status == 304:
        # Conditional GET: the server says the copy we hold is current.
        capture.outcome = "not_modified"
        result.current_version_id = latest["id"] if latest else None
        return result
    if 300 <= status < 400:
        capture.error = _unfollowed_redirect(status, raw.header("location"))
        return result
    if status >= 400 or status < 200:
        retry_after = raw.header("retry-after")
        retries = raw.retries or 0
        notes = [f"Retry-After: {retry_after}"] if retry_after else []
        if retries:
            notes.append(f"still failing after {retries} {'retry' if retries == 1 else 'retries'}, see crawl.retries")
        capture.error = _http(status) + (f" ({'; '.join(notes)})" if notes else "")
        return result

    if known_payload and latest is not None and raw.payload_digest == known_payload:
        # The same bytes as a response whose text is the latest version: the same text (and page).
        capture.outcome = "unchanged"
        capture.reader_fingerprint = known_fingerprint
        result.current_version_id = latest["id"]
        return result
    capture.reader_fingerprint = raw.reader_fingerprint
    if known_fingerprint and latest is not None and capture.reader_fingerprint == known_fingerprint:
        # What extraction would read is what it read for the latest version: the same text.
        capture.outcome = "unchanged"
        result.current_version_id = latest["id"]
        if markup_wanted and raw.body:
            _keep_markup(capture, decode_html(raw.body, content_type), raw, fingerprint_salt)
        return result

    body = raw.body or b""
    media_type = raw.media_type
    problem = unreadable(raw)
    if problem:
        capture.outcome, capture.error = "no_content", problem
        return result
    html = decode_html(body, content_type)
    if raw.extracted_by_worker:
        # Extracted already by a cluster worker (crawler/cluster), with the same profiles.
        extracted = Extracted(**raw.extracted) if raw.extracted else None
    else:
        extracted = extract(html, raw.page_url, profiles) if html.strip() else None
    if extracted is not None and extracted.page_digest and capture.reader_fingerprint is None:
        capture.reader_fingerprint = reader_fingerprint(
            extracted.page_digest, raw.page_url, media_type, fingerprint_salt
        )
    text = clean_text(extracted.text) if extracted else ""
    # Before versioning: a takedown notice, soft 404 or verification wall must not become a version.
    verdict = assess(
        Page(
            raw.url,
            raw.final_url,
            raw.redirects or (),
            html,
            text,
            latest["text"] if latest is not None else original_text,
        ),
        removal_rules or RemovalRules(),
    )
    if verdict:
        capture.outcome, capture.error = verdict.outcome, verdict.error
        capture.cause, capture.notice = verdict.cause, verdict.notice
        capture.title = extracted.title if extracted else None
        return result
    if not text:
        capture.outcome = "no_content"
        capture.error = "empty response body" if not body else "no article text found on the page"
        return result
    capture.title = extracted.title
    result.metadata_changes = metadata_changes(
        known_metadata if known_metadata is not None else latest,
        {"title": extracted.title, "author": extracted.author, "published": extracted.date},
    )

    page_noise = (noise or NoiseRules()).for_url(raw.page_url)
    new_sentences = sentences(text, page_noise)
    sha = new_sentences.sha256
    previous = None
    if latest is not None and latest.get("compare_sha256") != sha:
        # The stored hash may predate these noise rules (config edited, older crawler): the
        # latest text, compared under today's rules, decides.
        previous = sentences(latest["text"], page_noise)
    if latest is not None and (previous is None or previous.sha256 == sha):
        capture.outcome = "unchanged"
        result.current_version_id = latest["id"]
        return result
    if previous is not None:
        # Counters and times written as prose ("viewed 12,345 times", "更新于2小时前") change by themselves.
        ignored = ignorable_changes(previous, new_sentences)
        if ignored is not None:
            capture.outcome = "unchanged"
            capture.ignored_changes = ignored or None
            result.current_version_id = latest["id"]
            return result

    capture.outcome = "new_version"
    _keep_markup(capture, html, raw, fingerprint_salt)
    result.new_version = VersionRecord(
        text=text,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        compare_sha256=sha,
        title=extracted.title,
        author=extracted.author,
        published=extracted.date,
        sitename=extracted.sitename,
        canonical_url=extracted.canonical_url,
        profile=extracted.profile,
    )
    new_label = f"version {(latest['version'] if latest else 0) + 1}"
    if original_text:
        original = sentences(original_text, page_noise)
        result.diffs.append(diff_record("original", original, new_sentences, "original", new_label, None))
    if previous is not None:
        old_label = f"version {latest['version']}"
        result.diffs.append(diff_record("previous", previous, new_sentences, old_label, new_label, latest["id"]))
    return result


# Signatures of binary files that servers (or misconfigured CMSs) send labelled as HTML.
_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "gzip-compressed data"),
)


def _binary_kind(body: bytes) -> str | None:
    """What a body is when its first bytes are a known binary signature, else None."""
    head = body[:64].lstrip()[:8]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _http(status: int) -> str:
    """'HTTP 503 Service Unavailable' (the number alone for a status without a standard name)."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _unfollowed_redirect(status: int, location: str | None) -> str:
    """Why a 3xx response reached the archive instead of being followed."""
    if not location:
        return f"{_http(status)} without a Location header: nothing to follow"
    scheme = urlsplit(location).scheme.lower()
    if scheme and not is_http_scheme(scheme):
        return f"{_http(status)} redirect to {location} not followed: only http and https URLs are fetched"
    return f"{_http(status)} to {location} not followed (only 301, 302, 303, 307 and 308 redirects are)"


def diff_record(
    base: str,
    old: str | Sentences,
    new: str | Sentences,
    old_label: str,
    new_label: str,
    base_version_id: int | None,
) -> DiffRecord:
    """Diff new against old (texts, or texts already split) as a record for the diffs table."""
    diff = diff_texts(old, new, old_label=old_label, new_label=new_label)
    return DiffRecord(
        base=base,
        similarity=round(diff.similarity, 4),
        chars_added=diff.chars_added,
        chars_removed=diff.chars_removed,
        diff=bounded_diff_text(diff.diff),
        ops=bounded_ops(diff.ops),
        base_version_id=base_version_id,
        retained=round(diff.retained, 4) if base == "original" else None,
        # Against the original, what is kept leads: chrome, wraps and Markdown of a saved copy are no change.
        change=classify_against_original(diff.retained, diff.novel) if base == "original" else diff.change,
    )

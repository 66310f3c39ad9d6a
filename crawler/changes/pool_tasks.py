"""What pool processes run: a local crawl's analysis of one page, a cluster worker's extraction of one page.

Its own module, light on purpose: a pool process imports the module of the function it is sent
before it runs it. Sent from crawler/run/pipeline.py or crawler/cluster/worker.py, each pool process
imported Scrapy, Twisted and the crawl's whole stack (580 modules, 0.4 s of CPU a process) to run
code that needs none of it. The forkserver preloads this module instead, once, for every process.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from crawler.changes.noise import NoiseRules
from crawler.changes.outcome import (
    Analysis,
    analyse,
    fingerprint_needed,
    needs_extraction,
    page_fingerprint,
    unreadable,
)
from crawler.changes.removal import RemovalRules
from crawler.extract.article import BUILTIN_PROFILES, SiteProfile, decode_html, extract
from crawler.extract.fingerprint import rules_salt
from crawler.extract.pool import exit_with
from crawler.model import RawResponse

# A local crawl's rules, given once per pool process by init_pool_process (not with every page).
_PROFILES: Sequence[SiteProfile] = BUILTIN_PROFILES
_REMOVAL = RemovalRules()
_NOISE = NoiseRules()
_SALT = ""


def init_pool_process(
    profiles: Sequence[SiteProfile],
    crawl_pid: int | None = None,
    removal: RemovalRules | None = None,
    noise: NoiseRules | None = None,
) -> None:
    """Give a pool process the site profiles and rules once; it ends with the crawl (crawl_pid)."""
    global _PROFILES, _REMOVAL, _NOISE, _SALT
    _PROFILES = profiles
    _REMOVAL = removal or RemovalRules()
    # Plain strings cross the process boundary; each site's patterns compile once here (noise.compiled).
    _NOISE = noise or NoiseRules()
    _SALT = rules_salt(tuple(profiles), _REMOVAL, _NOISE)
    if crawl_pid is not None:
        exit_with(crawl_pid)


def analyse_in_pool_process(
    item: RawResponse,
    run_id: int,
    original: str | None,
    latest: Mapping[str, Any] | None,
    known_payload: str | None,
    known_metadata: Mapping[str, Any] | None = None,
    known_fingerprint: str | None = None,
    markup_wanted: bool = False,
) -> Analysis:
    """analyse() in a pool process: fingerprint, extraction, normalisation and diffing off the reactor thread."""
    if fingerprint_needed(item, known_payload, known_fingerprint):
        # New bytes for a known page: the fingerprint (a tenth of an extraction) says whether there is
        # anything to extract; computed here, it costs the reactor nothing.
        item.reader_fingerprint = page_fingerprint(item, _SALT)
    return analyse(
        item,
        run_id,
        original,
        latest,
        _PROFILES,
        known_payload=known_payload,
        removal_rules=_REMOVAL,
        known_metadata=known_metadata,
        noise=_NOISE,
        known_fingerprint=known_fingerprint,
        fingerprint_salt=_SALT,
        markup_wanted=markup_wanted,
    )


def pre_extract(
    item: RawResponse,
    profiles: list[SiteProfile],
    known_payload: str | None,
    known_fingerprint: str | None = None,
    salt: str = "",
) -> dict[str, Any] | None | bool:
    """The extraction the writer's analyse() would do, done in a cluster worker: a dict (or None for no text).

    False when there is nothing to extract (not a 2xx page, not HTML, the same bytes as the current
    version, or the same reader fingerprint: the writer's fast paths). The gates are analyse()'s own
    (crawler/changes/outcome.py); a task with neither digest nor fingerprint is a seed with no version yet.
    """
    latest = {} if known_payload or known_fingerprint else None
    if item.succeeded and fingerprint_needed(item, known_payload, known_fingerprint):
        item.reader_fingerprint = page_fingerprint(item, salt)
    if not needs_extraction(item, latest, known_payload, known_fingerprint) or unreadable(item):
        return False
    html = decode_html(item.body or b"", item.header("content-type"))
    extracted = extract(html, item.page_url, profiles) if html.strip() else None
    return vars(extracted).copy() if extracted else None


def pre_extract_in_pool_process(
    item: RawResponse,
    profiles: list[SiteProfile],
    known_payload: str | None,
    known_fingerprint: str | None,
    salt: str,
) -> tuple[dict[str, Any] | None | bool, str | None]:
    """pre_extract() in a pool process: its result, and the reader fingerprint it set on (this copy of) item."""
    return pre_extract(item, profiles, known_payload, known_fingerprint, salt), item.reader_fingerprint

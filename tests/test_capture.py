"""Which responses need the extraction pool: those analyse() cannot decide from status and digest."""

from __future__ import annotations

import pytest

from crawler.changes.outcome import analyse, needs_extraction
from crawler.extract.article import BUILTIN_PROFILES
from crawler.model import RawResponse
from pages import EN_PARAGRAPHS, article_page

PAGE = article_page("Library budget approved", EN_PARAGRAPHS, lang="en").encode()
LATEST = {
    "id": 7,
    "version": 1,
    "text": "\n".join(EN_PARAGRAPHS),
    "text_sha256": "x",
    "title": None,
    "author": None,
    "published": None,
}


def raw(status: int | None, digest: str = "sha1:NEW", error: str | None = None) -> RawResponse:
    """A spider item as the pipeline receives it."""
    return RawResponse(
        seed_id="s",
        url="http://127.0.0.1/a",
        status=status,
        error=error,
        body=PAGE,
        headers={"content-type": ["text/html; charset=utf-8"], "location": ["http://127.0.0.1/b"]},
        warc={"payload_digest": digest},
    )


@pytest.mark.parametrize(
    ("item", "latest", "known", "outcome"),
    [
        (raw(None, error="timed out"), LATEST, "sha1:OLD", "failed"),
        (raw(404), LATEST, "sha1:OLD", "gone"),
        (raw(304), LATEST, "sha1:OLD", "not_modified"),
        (raw(302), LATEST, "sha1:OLD", "failed"),
        (raw(503), LATEST, "sha1:OLD", "failed"),
        (raw(200, "sha1:OLD"), LATEST, "sha1:OLD", "unchanged"),
    ],
)
def test_decided_without_extraction(item: RawResponse, latest: dict, known: str, outcome: str) -> None:
    assert not needs_extraction(item, latest, known)
    # With no profiles and a page that would extract, only an early decision gives these outcomes.
    assert analyse(item, 1, None, latest, (), known_payload=known).capture.outcome == outcome


@pytest.mark.parametrize(("latest", "known"), [(None, None), (LATEST, "sha1:OLD"), (LATEST, None)])
def test_new_bytes_need_extraction(latest: dict | None, known: str | None) -> None:
    item = raw(200, "sha1:NEW")
    assert needs_extraction(item, latest, known)
    assert analyse(item, 1, None, latest, BUILTIN_PROFILES, known_payload=known).capture.outcome in (
        "new_version",
        "unchanged",
    )

"""Reader fingerprints: invisible per-request noise skips extraction; anything a reader sees does not."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from helpers import LocalServer, Project
from crawler.changes.outcome import analyse, needs_extraction, page_fingerprint
from crawler.model import RawResponse
from crawler.extract.article import BUILTIN_PROFILES
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body, wechat_page

TITLE = "Council approves library budget"
PAGE = article_page(TITLE, EN_PARAGRAPHS, lang="en").replace(
    "</head>",
    '<meta property="article:published_time" content="2024-03-01T08:00:00Z">'
    '<script type="application/ld+json">{"@type": "NewsArticle", "author": {"name": "Ana Lopez"}}</script>'
    '<script src="/app.js?v=1"></script></head>',
)


def noisy(page: str, token: str) -> str:
    """The page as a site sends it per request: script token, nonce, data- attribute, comment, new script."""
    return (
        page.replace("<body>", f'<body data-request-id="{token}" data-csrf="{token}">')
        .replace(
            "</head>",
            f'<script nonce="{token}">window.csrf = "{token}";</script><!-- rendered in {token} ms --></head>',
        )
        .replace("</body>", f"<script>track('{token}')</script></body>")
    )


def raw(html: str, url: str = "http://127.0.0.1:8000/a") -> RawResponse:
    """A 200 HTML response as the spider hands it on."""
    return RawResponse(
        seed_id="s",
        url=url,
        status=200,
        headers={"content-type": ["text/html; charset=utf-8"]},
        body=html.encode("utf-8"),
    )


def fingerprint(html: str, url: str = "http://127.0.0.1:8000/a") -> str | None:
    return page_fingerprint(raw(html, url))


def test_invisible_noise_keeps_the_fingerprint() -> None:
    base = fingerprint(PAGE)
    assert base is not None
    assert fingerprint(noisy(PAGE, "a1b2c3")) == base
    assert fingerprint(noisy(PAGE, "zz99")) == base


EDITS = {
    "one word in the article": lambda p: p.replace("modest increase", "large increase"),
    "one Chinese character": None,  # see the Chinese test below
    "the title": lambda p: p.replace(f"<title>{TITLE}", f"<title>{TITLE} (updated)"),
    "the headline": lambda p: p.replace(f"<h1>{TITLE}", "<h1>Council rejects library budget"),
    "the publication date in a meta tag": lambda p: p.replace("2024-03-01T08:00:00Z", "2024-03-02T08:00:00Z"),
    "the author in JSON-LD": lambda p: p.replace("Ana Lopez", "Ben Chan"),
    "the byline": lambda p: p.replace("作者：李明", "作者：王芳"),
    "a class trafilatura reads": lambda p: p.replace("<main><article>", '<main><article class="comments">'),
    "a hidden paragraph shown": lambda p: p.replace("<p>Critics", '<p style="display:none">Critics'),
    "a lazy image": lambda p: p.replace("</article>", '<img data-src="/a.jpg"></article>'),
    "a cache-busted script source": lambda p: p.replace("app.js?v=1", "app.js?v=2"),
}


@pytest.mark.parametrize("what", [k for k, v in EDITS.items() if v is not None])
def test_anything_a_reader_or_extraction_could_see_changes_it(what: str) -> None:
    edited = EDITS[what](PAGE)
    assert edited != PAGE
    if what == "a cache-busted script source":
        # Scripts are not what a reader sees: their sources may change freely.
        assert fingerprint(edited) == fingerprint(PAGE)
    else:
        assert fingerprint(edited) != fingerprint(PAGE), what
        assert fingerprint(noisy(edited, "t1")) != fingerprint(noisy(PAGE, "t2")), what


def test_a_two_character_edit_in_chinese_changes_it() -> None:
    page = wechat_page("档案", ZH_PARAGRAPHS)
    edited = page.replace("四十篇", "三十篇")
    assert edited != page and fingerprint(edited) != fingerprint(page)


def test_url_and_media_type_are_part_of_it() -> None:
    assert fingerprint(PAGE, "http://127.0.0.1:8000/a") != fingerprint(PAGE, "http://127.0.0.2:8000/a")
    xhtml = replace(raw(PAGE), headers={"content-type": ["application/xhtml+xml"]})
    assert page_fingerprint(xhtml) != fingerprint(PAGE)


def test_no_fingerprint_for_what_is_not_an_html_page() -> None:
    assert page_fingerprint(replace(raw(PAGE), status=404)) is None
    assert page_fingerprint(replace(raw(PAGE), headers={"content-type": ["application/pdf"]})) is None
    assert page_fingerprint(replace(raw(""), body=b"")) is None


def test_a_matching_fingerprint_decides_without_extracting() -> None:
    """analyse() answers 'unchanged' from the fingerprint alone: even a body it could not extract."""
    first = analyse(raw(PAGE), 1, None, None, BUILTIN_PROFILES)
    assert first.capture.outcome == "new_version" and first.capture.reader_fingerprint == fingerprint(PAGE)
    latest = {
        "id": 7,
        "version": 1,
        "text": first.new_version.text,
        "text_sha256": first.new_version.text_sha256,
        "title": first.new_version.title,
        "author": None,
        "published": None,
    }
    revisit = raw(noisy(PAGE, "x"))
    revisit.warc = {"payload_digest": "sha1:OTHER"}
    revisit.reader_fingerprint = page_fingerprint(revisit)
    assert not needs_extraction(revisit, latest, "sha1:KNOWN", first.capture.reader_fingerprint)
    revisit.body = b"\x00 not even HTML"  # never read: the fingerprint decided
    result = analyse(
        revisit,
        2,
        None,
        latest,
        BUILTIN_PROFILES,
        known_payload="sha1:KNOWN",
        known_fingerprint=first.capture.reader_fingerprint,
    )
    assert (result.capture.outcome, result.current_version_id, result.new_version) == ("unchanged", 7, None)


def test_crawls_skip_invisible_noise_and_catch_every_edit(page_server: LocalServer, project: Project) -> None:
    """Real crawls: noise on every request makes no version; a one-word edit under noise does."""
    url = page_server.page("/a", noisy(PAGE, "first"))
    project.seed("a", url, seed_body(TITLE, EN_PARAGRAPHS))
    for token in ("second", "third"):
        assert project.run("crawl").returncode == 0
        page_server.page("/a", noisy(PAGE, token))
    assert project.run("crawl").returncode == 0
    page_server.page("/a", noisy(EDITS["one word in the article"](PAGE), "fourth"))
    assert project.run("crawl").returncode == 0
    captures = project.rows("SELECT outcome, payload_digest, reader_fingerprint FROM captures ORDER BY id")
    assert [c["outcome"] for c in captures] == ["new_version", "unchanged", "unchanged", "new_version"]
    assert len({c["payload_digest"] for c in captures}) == 4, "every response's bytes differed"
    assert captures[0]["reader_fingerprint"] == captures[1]["reader_fingerprint"] == captures[2]["reader_fingerprint"]
    assert captures[3]["reader_fingerprint"] != captures[0]["reader_fingerprint"]
    (diff,) = project.rows("SELECT diff FROM diffs WHERE base = 'previous'")
    changed = [line for line in diff["diff"].splitlines() if re.match(r"[+-][^+-]", line)]
    assert any("large increase" in line for line in changed) and any("modest increase" in line for line in changed)
    # The WARC keeps every response whole: the bytes changed, so no revisit record stands for them.
    records = project.rows("SELECT record_type FROM warc_records ORDER BY id")
    assert [r["record_type"] for r in records] == ["response"] * 4


def test_the_year_check_matches_its_regular_expression() -> None:
    # _has_year finds years without a lookbehind (for speed); it must agree with the plain expression
    # on every string, letters and digits of other scripts included.
    import random
    import re

    from crawler.extract.fingerprint import _has_year

    reference = re.compile(r"(?<![0-9A-Za-z])(?:19|20)\d\d(?![0-9A-Za-z])")
    rng = random.Random(7)
    alphabet = "0129aZ_ -.\u4e2d\u00e9\u0669"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(50_000)]
    samples += ["2019", "a2019", "2019a", "x12019 2020", "v1.2019", "token-2019-x", "a8f2019b", "\u4e2d2019\u4e2d"]
    disagree = [s for s in samples if bool(reference.search(s)) != _has_year(s)]
    assert disagree == []
    assert sum(map(_has_year, samples)) > 100  # the samples hold years, not only non-years

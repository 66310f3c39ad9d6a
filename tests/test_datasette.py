"""The archive in Datasette: metadata, canned queries, Chinese search, the plugin's pages, escaping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import yaml
from datasette.app import Datasette

from web_archive import INSERTED_EN, INSERTED_ZH, NO_URL_TEXT, WebArchive, build

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "crawler" / "web" / "metadata.yml"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> WebArchive:
    """The archive built by real crawls (see tests/web_archive.py)."""
    return build(tmp_path_factory.mktemp("web"))


def fetch(web: WebArchive, *paths: str) -> list[Any]:
    """GET each path from a Datasette serving the archive with the project's metadata and plugin."""

    async def run() -> list[Any]:
        # No metadata passed: the plugin supplies the archive's own, as it does for `crawler serve`.
        ds = Datasette([str(web.db_path)])
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def page(web: WebArchive, path: str) -> lxml.html.HtmlElement:
    """An HTML page, parsed, after checking it answered 200."""
    (response,) = fetch(web, path)
    assert response.status_code == 200, (path, response.text[:500])
    return lxml.html.fromstring(response.text)


def test_plugin_is_registered_through_the_entry_point() -> None:
    import importlib.metadata

    points = importlib.metadata.entry_points(group="datasette")
    assert any(p.value == "crawler.web" for p in points), "pip install alone must register the plugin"


def test_latest_diff_against_the_original_is_two_clicks_from_home(web: WebArchive) -> None:
    home = page(web, "/")
    (articles_link,) = {a.get("href") for a in home.iter("a") if a.text_content().strip() == "Articles"}
    articles = page(web, articles_link)  # click 1
    row = next(tr for tr in articles.iter("tr") if "zh_article" in tr.text_content())
    (diff_link,) = [a.get("href") for a in row.iter("a") if a.text_content() == "latest vs original"]
    diff = page(web, diff_link)  # click 2
    inserted = [el.text_content() for el in diff.find_class("crawler-ins")]
    assert INSERTED_ZH in inserted, "the sentence added since the original is marked as inserted, whole"
    assert not diff.find_class("crawler-del"), "nothing was deleted from the Chinese article"
    assert "Version 2 against the original" in diff.text_content()


def test_diff_page_links_previous_version_original_texts_and_raw_responses(web: WebArchive) -> None:
    (version,) = fetch(web, "/archive/versions.json?seed_id=en_article&version=2&_shape=array")
    version_id = version.json()[0]["id"]
    diff = page(web, f"/-/diff/{version_id}?base=previous")
    links = {a.text_content().strip(): a.get("href") for a in diff.iter("a")}
    assert links["← version 1"] == "/-/compare/en_article?from=original&to=1"
    assert links["vs original"] == "/-/compare/en_article?from=original&to=2"
    assert links["side by side"] == "/-/compare/en_article?from=1&to=2&view=side"
    assert [el.text_content() for el in diff.find_class("crawler-ins")] == [INSERTED_EN]
    evidence = [a.get("href") for a in diff.find_class("crawler-evidence")[0].iter("a")]
    assert "/-/text/en_article/1" in evidence and "/-/text/en_article/2" in evidence
    raw = [h for h in evidence if h.endswith("/raw")]
    assert len(raw) == 2, "both captures' raw responses are linked"
    response = page(web, raw[1])
    assert " 200 OK" in response.text_content() and INSERTED_EN in response.text_content()
    (replay,) = fetch(web, raw[1].replace("/raw", "/page"))
    assert "sandbox" in replay.headers["content-security-policy"], "the archived page runs no script"


def test_any_two_texts_inline_and_side_by_side_with_measures_that_agree(web: WebArchive) -> None:
    (inline, side, data) = fetch(
        web,
        "/-/compare/zh_article?from=1&to=2",
        "/-/compare/zh_article?from=1&to=2&view=side",
        "/-/compare/zh_article.json?from=1&to=2",
    )
    measures = data.json()
    assert measures["change"] and 0 < measures["similarity"] < 1 and measures["chars_added"] == len(INSERTED_ZH)
    shown = lxml.html.fromstring(inline.text).get_element_by_id("measures").text_content()
    assert f"+{measures['chars_added']}" in shown and measures["change"] in shown
    side_html = lxml.html.fromstring(side.text)
    rows = side_html.find_class("crawler-side-row")
    assert any(INSERTED_ZH in r.text_content() for r in side_html.find_class("crawler-side-insert"))
    assert len(rows) > 2
    (same,) = fetch(web, "/-/compare/zh_article.json?from=2&to=2")
    assert same.json()["changed"] is False and same.json()["change"] is None, "no class beside no change"


def test_texts_are_pages_of_paragraphs(web: WebArchive) -> None:
    from pages import ZH_PARAGRAPHS

    original = page(web, "/-/text/zh_article/original")
    paragraphs = [p.text_content() for p in original.find_class("crawler-text")[0].iter("p")]
    assert paragraphs == ZH_PARAGRAPHS
    version = page(web, "/-/text/zh_article/2")
    assert INSERTED_ZH in [p.text_content() for p in version.find_class("crawler-text")[0].iter("p")]
    (missing,) = fetch(web, "/-/text/zh_article/9")
    assert missing.status_code == 404


def test_home_page_lists_events_linked_to_their_evidence(web: WebArchive) -> None:
    home = page(web, "/")
    events = home.find_class("crawler-event")
    assert len(events) == 2, "two new versions"
    for event in events:
        (evidence,) = event.find_class("crawler-event-evidence")
        assert evidence.get("href").startswith("/-/diff/") and evidence.get("href").endswith("?base=previous")
    (data,) = fetch(web, "/-/home.json")
    assert {e["seed_id"] for e in data.json()["events"]} == {"zh_article", "en_article"}
    assert "license" not in home.text_content().lower(), "no data licence is claimed over archived articles"


def test_articles_filter_by_state_and_site_and_sort(web: WebArchive) -> None:
    (alive, new, by_title) = fetch(
        web, "/-/articles.json?state=alive", "/-/articles.json?state=new&sort=title", "/-/articles.json?sort=title"
    )
    assert {a["id"] for a in alive.json()["articles"]} == {"zh_article", "en_article"}
    assert "notes" in {a["id"] for a in new.json()["articles"]}
    titles = [(a["title"] or a["id"]).casefold() for a in by_title.json()["articles"]]
    assert titles == sorted(titles)
    (site,) = fetch(web, "/-/articles.json?site=127.0.0.1")
    assert {a["id"] for a in site.json()["articles"]} == {"zh_article", "en_article"}


def test_the_atom_feed_is_served(web: WebArchive) -> None:
    import feedparser

    (response,) = fetch(web, "/-/crawler/changes.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.text)
    assert len(feed.entries) == 2 and all("version 2" in e.title for e in feed.entries)


def test_labels_follow_the_browsers_language_or_the_choice(web: WebArchive) -> None:
    async def run() -> list[Any]:
        ds = Datasette([str(web.db_path)])
        return [
            await ds.client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}),
            await ds.client.get("/?_lang=en", headers={"Accept-Language": "zh-CN"}),
            await ds.client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}),
        ]

    chinese, chosen, english = asyncio.run(run())
    assert (
        "最近发生了什么" in chinese.text
        and "What happened" not in lxml.html.fromstring(chinese.text).find(".//h1").text
    )
    assert "What happened" in chosen.text and chosen.cookies.get("crawler_lang") == "en"
    assert "What happened" in english.text


def test_table_cells_in_peoples_units(web: WebArchive) -> None:
    captures = page(web, "/archive/captures")
    assert captures.find(".//time") is not None and "new version" in captures.text_content()
    due = page(web, "/archive/due_next")
    assert "h" in due.text_content() and due.find(".//time") is not None


def test_archived_html_is_shown_as_text_everywhere(web: WebArchive) -> None:
    (version,) = fetch(web, "/archive/versions.json?seed_id=en_article&version=1&_shape=array")
    version_id = version.json()[0]["id"]
    for path in (
        f"/-/diff/{version_id}?base=original",
        f"/archive/versions/{version_id}",
        "/archive/diffs",
        "/-/article/en_article",
        "/archive/search_texts?q=comments",
    ):
        (response,) = fetch(web, path)
        assert response.status_code == 200, path
        assert "<script>document" not in response.text, f"{path} let archived HTML through"
    (response,) = fetch(web, f"/archive/versions/{version_id}")
    assert "&lt;script&gt;document" in response.text, "the archived <script> is visible as text"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "人工智能",
            {
                "zh_article",
                "000_4387e3e1fc3e043d",
                "001_c906cd5f6364476e",
                "002_506cf2e3bbd555df",
                "003_65f32d716cf2f4db",
                "004_55c08d260c197553",
            },
        ),
        ("微信", {"000_4387e3e1fc3e043d", "003_65f32d716cf2f4db", "004_55c08d260c197553"}),
        ("sustainability", {"notes"}),
        ("Library", {"en_article"}),
    ],
)
def test_search_finds_chinese_words_and_english_words(web: WebArchive, query: str, expected: set[str]) -> None:
    canned, box = fetch(
        web,
        f"/archive/search_texts.json?q={query}&_shape=array",
        f"/archive/search.json?_search={query}&_shape=array&_size=max",
    )
    assert canned.status_code == 200 and box.status_code == 200, (canned.text[:300], box.text[:300])
    assert {row["seed_id"] for row in canned.json()} == expected, "search canned query"
    assert {row["seed_id"] for row in box.json()} == expected, "the table search box"
    for row in canned.json():
        assert f"⟦{query.lower()}" in row["snippet"].lower(), row["snippet"]


def test_search_excerpts_are_marked_in_html(web: WebArchive) -> None:
    html = page(web, "/archive/search_texts?q=微信")
    marks = [m.text_content() for m in html.iter("mark")]
    assert marks and set(marks) == {"微信"}


def test_search_of_an_original_and_of_versions(web: WebArchive) -> None:
    (canned,) = fetch(web, "/archive/search_texts.json?q=新的说明文字&_shape=array")
    rows = canned.json()
    assert [(r["seed_id"], r["kind"], r["version"]) for r in rows] == [("zh_article", "version", 2)], (
        "only version 2 has the sentence added on the second crawl"
    )
    (notes,) = fetch(web, "/archive/search_texts.json?q=ledger&_shape=array")
    assert [(r["kind"], r["seed_id"]) for r in notes.json()] == [("original", "notes")]
    assert NO_URL_TEXT.split(".")[0] in fetch(web, "/archive/seeds/notes")[0].text


def test_every_canned_query_runs(web: WebArchive) -> None:
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    queries = metadata["databases"]["archive"]["queries"]
    assert {
        "search_texts",
        "recent_changes",
        "removed_or_gone",
        "never_captured_or_failing",
        "article_timeline",
        "most_changed",
        "due_next",
    } <= set(queries)
    results = fetch(web, *(f"/archive/{name}.json?_shape=array&q=微信&seed=zh_article" for name in queries))
    by_name = dict(zip(queries, results))
    for name, response in by_name.items():
        assert response.status_code == 200, (name, response.text[:300])
    assert {r["seed_id"] for r in by_name["recent_changes"].json()} == {"zh_article", "en_article"}
    timeline = by_name["article_timeline"].json()
    assert [r["outcome"] for r in timeline] == ["new_version", "new_version"]
    never = {r["seed_id"] for r in by_name["never_captured_or_failing"].json()}
    assert "notes" in never and "000_4387e3e1fc3e043d" in never and "zh_article" not in never
    assert [r["seed_id"] for r in by_name["most_changed"].json()][:2] and all(
        r["versions"] == 2 for r in by_name["most_changed"].json()
    )


def test_metadata_describes_every_table_and_view_users_meet(web: WebArchive) -> None:
    (response,) = fetch(web, "/archive.json")
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["archive"]["tables"]
    names = {t["name"] for t in response.json()["tables"] if not t["hidden"]} | {
        v["name"] for v in response.json()["views"]
    }
    missing = {n for n in names if not n.startswith("search_fts")} - set(metadata)
    assert not missing, f"no description for {missing}"
    conn = web.project.db()
    try:
        undescribed = {
            f"{name}.{column[1]}"
            for name in names
            if not name.startswith("search_fts")
            for column in conn.execute(f"PRAGMA table_info('{name}')")
            if column[1] not in metadata[name].get("columns", {})
        }
    finally:
        conn.close()
    assert not undescribed, f"columns without a description: {sorted(undescribed)}"
    captures = page(web, "/archive/captures?_facet=outcome")
    assert "fetch attempt" in captures.text_content() and captures.find_class("facet-info")
    (columns,) = captures.find_class("crawler-columns")
    assert columns.tag == "details" and columns.get("open") is None, "column descriptions folded above the rows"
    assert captures.find_class("crawler-facets")[0].tag == "details"
    assert "licen" not in captures.text_content().lower(), "no data licence is claimed over archived articles"


def test_seed_overview_and_changes_views(web: WebArchive) -> None:
    (overview, changes) = fetch(
        web,
        "/archive/seed_overview.json?_shape=array&id=zh_article",
        "/archive/changes.json?_shape=array&seed_id=zh_article&version=2",
    )
    row = overview.json()[0]
    assert row["versions"] == 2 and row["last_outcome"] == "new_version" and row["captures"] == 2
    assert 0.85 < row["similarity_to_original"] < 1
    change = changes.json()[0]
    assert change["chars_added"] == len(INSERTED_ZH) and change["chars_removed"] == 0
    html = page(web, "/archive/seed_overview")
    links = {a.get("href") for a in html.iter("a")}
    assert "/-/article/zh_article" in links and f"/-/diff/{row['latest_version_id']}?base=original" in links


def test_article_page_has_a_timeline_versions_and_captures(web: WebArchive) -> None:
    html = page(web, "/-/article/zh_article")
    svg = html.find_class("crawler-timeline")[0]
    assert len(svg.find_class("crawler-new_version")) == 2, "both captures found a new version"
    assert svg.find_class("crawler-similarity"), "similarity to the original is drawn as a line"
    versions = html.find_class("crawler-versions")[0].text_content()
    assert "vs original" in versions and "vs previous" in versions
    (missing,) = fetch(web, "/-/article/no_such_seed")
    assert missing.status_code == 404


def test_unknown_version_is_404(web: WebArchive) -> None:
    (response,) = fetch(web, "/-/diff/999999")
    assert response.status_code == 404


def test_serve_outside_the_project_has_the_archive_metadata(web: WebArchive, tmp_path: Path) -> None:
    """`crawler serve` in a folder holding only archive/: descriptions, canned queries and home links."""
    import json
    import shutil
    import urllib.request

    from helpers import crawler_serve

    shutil.copytree(web.project.archive, tmp_path / "archive")
    with crawler_serve(cwd=tmp_path) as base:
        with urllib.request.urlopen(f"{base}/-/metadata.json") as response:
            metadata = json.load(response)
        with urllib.request.urlopen(f"{base}/") as response:
            home = lxml.html.fromstring(response.read())
    queries = metadata["databases"]["archive"]["queries"]
    assert len(queries) >= 5
    assert metadata["databases"]["archive"]["tables"]["captures"]["description"]
    assert "license" not in metadata, "no licence is claimed over archived articles"
    assert "/-/articles" in {a.get("href") for a in home.iter("a")}


def test_a_users_metadata_adds_to_the_archives(web: WebArchive, tmp_path: Path) -> None:
    """A metadata file of the user's overrides a key and adds a query; the shipped ones stay."""

    async def run() -> dict[str, Any]:
        ds = Datasette(
            [str(web.db_path)],
            metadata={
                "title": "Our archive",
                "databases": {"archive": {"queries": {"mine": {"sql": "SELECT 1 AS one"}}}},
            },
        )
        return (await ds.client.get("/-/metadata.json")).json()

    metadata = asyncio.run(run())
    shipped = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    assert metadata["title"] == "Our archive"
    assert set(metadata["databases"]["archive"]["queries"]) == {"mine", *shipped["databases"]["archive"]["queries"]}


# Seed ids people give their files: spaces, Chinese, and the characters that end a URL path.
AWKWARD_IDS = ["two words", "档案 笔记", "what? #1", "50% off"]


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of seeds with awkward ids and one whose front matter URL is javascript: (no crawl needed)."""
    from helpers import Project
    from crawler.run.seeding import seed_row
    from crawler.seeds import load_seeds
    from crawler.archive.store import Store

    project = Project(tmp_path_factory.mktemp("awkward"))
    project.seeds.mkdir()
    for seed_id in AWKWARD_IDS:
        project.seed(seed_id, f"https://example.org/{len(seed_id)}", f"The saved text of {seed_id}.")
    (project.seeds / "script.md").write_text(
        "---\nurl: javascript:alert(document.domain)\n---\nText.\n", encoding="utf-8"
    )
    store = Store.in_archive(project.archive)
    try:
        store.sync_seeds(seed_row(seed) for seed in load_seeds(project.seeds, {}))
    finally:
        store.close()
    return project.db_path


def fetch_db(db_path: Path, *paths: str) -> list[Any]:
    """GET each path from a Datasette serving db_path with the project's metadata and plugin."""

    async def run() -> list[Any]:
        ds = Datasette([str(db_path)], metadata=yaml.safe_load(METADATA.read_text(encoding="utf-8")))
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def test_every_seed_id_links_to_its_own_article_page(awkward: Path) -> None:
    (articles,) = fetch_db(awkward, "/-/articles")
    hrefs = [a.get("href") for a in lxml.html.fromstring(articles.text).iter("a")]
    links = [h for h in hrefs if h.startswith("/-/article/")]
    assert len(links) == len(AWKWARD_IDS) + 1
    for link, response in zip(links, fetch_db(awkward, *links)):
        assert response.status_code == 200, link
    pages = {
        h: lxml.html.fromstring(r.text).find(".//h1").text_content() for h, r in zip(links, fetch_db(awkward, *links))
    }
    # Each link opens its own seed (the title is the saved text's first line).
    assert sorted(pages.values()) == sorted([f"The saved text of {i}." for i in AWKWARD_IDS] + ["Text."])


def test_only_http_urls_become_links(awkward: Path) -> None:
    for response in fetch_db(awkward, "/-/articles", "/-/article/script"):
        hrefs = [a.get("href") or "" for a in lxml.html.fromstring(response.text).iter("a")]
        assert not [h for h in hrefs if h.lower().startswith("javascript:")]
        assert "javascript:alert(document.domain)" in response.text, "the URL is still shown, as text"


def test_feed_links_only_http_urls(tmp_path: Path) -> None:
    from crawler.notify import write_feed

    event = {
        "kind": "state",
        "new_state": "gone",
        "old_state": "alive",
        "since": "2026-01-01T00:00:00+00:00",
        "at": "2026-01-01T00:00:00+00:00",
        "seed_id": "script",
        "event": "e1",
    }
    write_feed(tmp_path / "a.atom", [dict(event, url="javascript:alert(1)")], tmp_path)
    write_feed(tmp_path / "b.atom", [dict(event, url="https://example.org/a")], tmp_path)
    assert "<link" not in (tmp_path / "a.atom").read_text(encoding="utf-8").split("<entry>")[1]
    assert 'href="https://example.org/a"' in (tmp_path / "b.atom").read_text(encoding="utf-8")


def test_a_gone_article_has_its_banner_and_its_event(tmp_path: Path) -> None:
    """An article alive once, then 404 on the captures that confirm it: the banner and the home page say so."""
    import hashlib

    from helpers import Project
    from crawler.archive.store import Store
    from crawler.model import CaptureRecord, VersionRecord
    from crawler.run.seeding import seed_row
    from crawler.seeds import load_seeds

    project = Project(tmp_path)
    project.seeds.mkdir()
    project.seed("lost", "https://example.org/lost", "The saved text of the lost article.", title="The lost article")
    store = Store.in_archive(project.archive)
    try:
        store.sync_seeds(seed_row(seed) for seed in load_seeds(project.seeds, {}))
        run = store.start_run("manual", 1)
        text = "The saved text of the lost article."
        store.record_capture(
            CaptureRecord(
                run_id=run,
                seed_id="lost",
                url="https://example.org/lost",
                outcome="new_version",
                fetched_at="2026-11-01T08:00:00+00:00",
                status_code=200,
            ),
            new_version=VersionRecord(text=text, text_sha256=hashlib.sha256(text.encode()).hexdigest()),
        )
        for day in (2, 3, 4):
            store.record_capture(
                CaptureRecord(
                    run_id=run,
                    seed_id="lost",
                    url="https://example.org/lost",
                    outcome="gone",
                    fetched_at=f"2026-11-0{day}T08:00:00+00:00",
                    status_code=404,
                    error="HTTP 404 Not Found",
                )
            )
    finally:
        store.close()
    article, home = fetch_db(project.db_path, "/-/article/lost", "/")
    banner = lxml.html.fromstring(article.text).find_class("crawler-banner")[0].text_content()
    assert "This article is gone" in banner and "HTTP 404" in banner and "First seen gone" in banner
    assert "The saved text of the lost article." in banner, "the last good text is in the banner"
    (event,) = lxml.html.fromstring(home.text).find_class("crawler-event-gone")
    assert "gone: HTTP 404 Not Found" in event.text_content()
    assert event.find_class("crawler-event-evidence")[0].get("href") == "/-/article/lost#status"


def test_the_page_as_archived_shows_its_archived_images_and_runs_no_script(tmp_path: Path) -> None:
    """A crawled page with an image and a lazy one: replayed from the archive, its script dropped."""
    from urllib.parse import parse_qs, urlsplit

    from helpers import TEST_CONFIG, LocalServer, Project
    from evidence_site import BLUE, RED
    from pages import EN_PARAGRAPHS, article_page

    project = Project(tmp_path)
    project.seeds.mkdir()
    project.config.write_text(TEST_CONFIG, encoding="utf-8")
    with LocalServer() as server:
        images = (
            '<img src="/red.png" alt="red"><img src="/blank.gif" data-src="/blue.png" alt="blue">'
            '<script>document.title = "pwned"</script>'
        )
        html = article_page("Images", EN_PARAGRAPHS, lang="en").replace("</h1>", "</h1>" + images, 1)
        url = server.page("/a", html)
        server.page("/red.png", RED, content_type="image/png")
        server.page("/blue.png", BLUE, content_type="image/png")
        project.seed("images", url, "\n\n".join(EN_PARAGRAPHS), title="Images")
        assert project.run("crawl").returncode == 0
    (capture,) = project.rows("SELECT id FROM captures WHERE seed_id = 'images'")
    (replay,) = fetch_db(project.db_path, f"/-/capture/{capture['id']}/page")
    assert replay.status_code == 200 and "sandbox" in replay.headers["content-security-policy"]
    dom = lxml.html.fromstring(replay.text)
    assert not dom.xpath("//script") and "pwned" not in replay.text
    sources = [img.get("src") for img in dom.iter("img")]
    assert all(s.startswith(f"/-/capture/{capture['id']}/resource?url=") for s in sources), sources
    assert [parse_qs(urlsplit(s).query)["url"][0].rsplit("/", 1)[1] for s in sources] == ["red.png", "blue.png"]
    red, blue, other = fetch_db(project.db_path, *sources, f"/-/capture/{capture['id']}/resource?url={url}")
    assert (red.status_code, red.headers["content-type"], red.content) == (200, "image/png", RED)
    assert blue.content == BLUE, "the lazy image shows what a reader's browser loaded"
    assert other.status_code == 404, "only images and stylesheets archived with the page are served"

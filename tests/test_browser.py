"""`crawler serve` in real headless Chromium (Playwright on Debian's chromium), at a desktop's and a phone's width.

One archive for the module: `crawler demo` (an English edit, a Chinese edit, a WeChat takedown, by real
crawls) and a seed with 500 captures over 75 days (written through the store). One `crawler serve`, one
browser; pages are read with JavaScript off, as no page may need it. Screenshots go to
$CRAWLER_SCREENSHOTS when set (to look at them), else to the module's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import TEST_CONFIG, LocalServer, Project, crawler_serve
from evidence_site import BLUE, RED
from pages import EN_PARAGRAPHS, article_page
from web_archive import HOSTILE, LONG_SEED, add_long_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium")

WIDTHS = (1400, 390)
REMOVED = "demo-wechat-factory"
ZH_SEED, EN_SEED = "demo-zh-river", "demo-en-council"
IMAGES_SEED = "images"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The archive served by `crawler serve`; yields its base URL and the ids the tests open."""
    project = Project(tmp_path_factory.mktemp("browser"))
    project.seeds.mkdir(parents=True)
    project.config.write_text(TEST_CONFIG, encoding="utf-8")
    demo = project.run("demo")
    assert demo.returncode == 0, demo.stderr
    add_long_history(project)
    # A page with an image, a lazy image and a script: its page as archived is replayed from the archive.
    with LocalServer() as server:
        extra = (
            '<img src="/red.png" alt="red"><img src="/blank.gif" data-src="/blue.png" alt="blue">'
            '<script>document.title = "pwned"</script>'
        )
        url = server.page(
            "/images", article_page("Images", EN_PARAGRAPHS, lang="en").replace("</h1>", "</h1>" + extra, 1)
        )
        server.page("/red.png", RED, content_type="image/png")
        server.page("/blue.png", BLUE, content_type="image/png")
        project.seed(IMAGES_SEED, url, "\n\n".join(EN_PARAGRAPHS), title="Images")
        crawled = project.run("crawl", IMAGES_SEED)
        assert crawled.returncode == 0, crawled.stderr
    images = project.rows("SELECT id FROM captures WHERE seed_id = ?", IMAGES_SEED)[0]["id"]
    ids = {
        r["seed_id"] + ":" + str(r["version"]): r["id"]
        for r in project.rows("SELECT id, seed_id, version FROM versions")
    }
    capture = project.rows(
        "SELECT id FROM captures WHERE seed_id = ? AND outcome = 'new_version' ORDER BY id DESC LIMIT 1", EN_SEED
    )[0]["id"]
    root = Path(__file__).resolve().parent.parent
    with crawler_serve("--archive", str(project.archive), "--config", str(project.config), cwd=root) as base:
        yield {"base": base, "versions": ids, "capture": capture, "images_capture": images}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    from crawler.fetch.browser import launch_options

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(**launch_options(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def tab(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A page at a desktop's or a phone's width, JavaScript off, English."""
    width = request.param
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False, locale="en-GB", is_mobile=width < 600
    )
    page = context.new_page()
    page.width = width
    yield page
    context.close()


def shoot(page: Any, name: str, tmp_path: Path) -> Path:
    """A full-page PNG, saved where $CRAWLER_SCREENSHOTS says (or in tmp_path)."""
    folder = Path(os.environ.get("CRAWLER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{page.width}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, "a real, non-blank image"
    return path


def pages(site: dict[str, Any]) -> dict[str, str]:
    """Every kind of page a person reads, by name."""
    v = site["versions"]
    return {
        "home": "/",
        "articles": "/-/articles?sort=title",
        "article-removed": f"/-/article/{REMOVED}",
        "article-long-timeline": f"/-/article/{LONG_SEED}",
        "text-original": f"/-/text/{ZH_SEED}/original",
        "text-version": f"/-/text/{LONG_SEED}/3",
        "diff-zh": f"/-/diff/{v[ZH_SEED + ':2']}?base=previous",
        "diff-zh-side": f"/-/compare/{ZH_SEED}?from=1&to=2&view=side",
        "diff-en": f"/-/diff/{v[EN_SEED + ':2']}?base=original",
        "diff-en-side": f"/-/compare/{EN_SEED}?from=original&to=2&view=side",
        "diff-long": f"/-/compare/{LONG_SEED}?from=original&to=3",
        "raw": f"/-/capture/{site['capture']}/raw",
        "page-as-archived": f"/-/capture/{site['images_capture']}/page",
        "removed-query": "/archive/removed_or_gone",
        "due-query": "/archive/due_next",
        "changes-query": "/archive/recent_changes",
        "captures-table": "/archive/captures",
    }


def overflow(page: Any) -> tuple[int, int, list[str]]:
    """The document's scroll width, the viewport's width, and the elements sticking out of it."""
    return page.evaluate("""() => [document.documentElement.scrollWidth, innerWidth,
        [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className)]""")


def test_no_page_is_wider_than_the_viewport(site: dict[str, Any], tab: Any, tmp_path: Path) -> None:
    wide = {}
    for name, path in pages(site).items():
        response = tab.goto(site["base"] + path)
        assert response.status == 200, (name, path)
        scroll, inner, culprits = overflow(tab)
        if scroll > inner:
            wide[name] = (scroll, culprits)
    assert not wide, f"wider than {tab.width} px: {wide}"


def test_a_removed_article_has_a_banner_with_cause_notice_bracket_and_last_good_text(
    site: dict[str, Any], tab: Any, tmp_path: Path
) -> None:
    tab.goto(site["base"] + f"/-/article/{REMOVED}")
    banner = tab.locator(".crawler-banner")
    assert banner.is_visible()
    box = banner.bounding_box()
    assert box["y"] < 900 and box["width"] <= tab.width, "the banner is on the first screen, within the width"
    text = banner.inner_text()
    assert "This article was removed" in text and "censored" in text and "此内容因违规无法查看" in text
    assert "Last seen alive" in text and "First seen removed" in text
    assert "偷排废水" in banner.locator(".crawler-lastgood").inner_text(), "the last good text is right there"
    assert tab.locator("time").first.get_attribute("title").endswith("UTC"), "UTC on hover"
    shoot(tab, "article-removed", tmp_path)


def test_a_chinese_diff_marks_characters_not_sentences(site: dict[str, Any], tab: Any, tmp_path: Path) -> None:
    tab.goto(site["base"] + pages(site)["diff-zh"])
    inserted = tab.locator(".crawler-diff ins").all_inner_texts()
    deleted = tab.locator(".crawler-diff del").all_inner_texts()
    assert "进度较慢" in inserted and "至今没有" in deleted, (inserted, deleted)
    around = tab.locator(".crawler-diff del", has_text="至今没有").evaluate(
        "d => [d.previousSibling.textContent, d.nextSibling.textContent]"
    )
    assert around[0].endswith("补偿款") and around[1] == "发放", "the unchanged characters around stay unmarked"
    measures = tab.locator("#measures").inner_text()
    assert "similarity" in measures and "edit" in measures and "%" in measures
    shoot(tab, "diff-zh", tmp_path)
    tab.goto(site["base"] + pages(site)["diff-zh-side"])
    assert tab.locator(".crawler-side-new ins", has_text="进度较慢").is_visible()
    shoot(tab, "diff-zh-side", tmp_path)


def test_an_english_diff_marks_words_and_folds_open_without_script(
    site: dict[str, Any], tab: Any, tmp_path: Path
) -> None:
    tab.goto(site["base"] + pages(site)["diff-en"])
    assert {"six", "three"} <= set(tab.locator(".crawler-diff ins").all_inner_texts())
    shoot(tab, "diff-en", tmp_path)
    tab.goto(site["base"] + pages(site)["diff-long"])
    fold = tab.locator("details.crawler-fold").first
    hidden = fold.locator("p").first
    assert not hidden.is_visible()
    fold.locator("summary").click()
    assert hidden.is_visible(), "the folded paragraphs open on a click, JavaScript off"
    assert tab.locator(".crawler-diff p").count() > 3, "paragraphs are kept"
    tab.goto(site["base"] + pages(site)["diff-en-side"])
    shoot(tab, "diff-en-side", tmp_path)


def test_a_timeline_of_500_captures_is_bars_by_period_each_a_link(
    site: dict[str, Any], tab: Any, tmp_path: Path
) -> None:
    tab.goto(site["base"] + f"/-/article/{LONG_SEED}")
    svg = tab.locator("svg.crawler-timeline:visible")
    assert svg.count() == 1
    box = svg.bounding_box()
    assert box["width"] <= tab.width
    bars = svg.locator("g.crawler-bar")
    assert 8 <= bars.count() <= 80, "500 dots become a bar per day or week"
    labels = svg.locator("text").all_text_contents()
    assert any("-" in label and label[:2].isdigit() for label in labels), f"a dated axis: {labels}"
    assert svg.locator("g.crawler-flag").count() == 9, "a flag per new version"
    shoot(tab, "article-long-timeline", tmp_path)
    title = bars.nth(2).locator("title").text_content()
    count = int(title.split(": ")[1].split(" ")[0])
    href = svg.locator("a:has(g.crawler-bar)").nth(2).get_attribute("href")
    assert parse_qs(urlsplit(href).query)["seed_id"] == [LONG_SEED]
    tab.goto(site["base"] + href)
    assert tab.locator("table.rows-and-columns tbody tr").count() == count, "the bar opens its own captures"


def test_home_page_events_link_to_their_diffs(site: dict[str, Any], tab: Any, tmp_path: Path) -> None:
    tab.goto(site["base"] + "/")
    shoot(tab, "home", tmp_path)
    events = tab.locator(".crawler-event")
    tones = [events.nth(i).get_attribute("class") for i in range(events.count())]
    assert any("crawler-event-removed" in tone for tone in tones), "the takedown is an event"
    first = events.first.bounding_box()
    assert first["y"] < 400, "events come first"
    diffs = [a.get_attribute("href") for a in tab.locator(".crawler-event-version .crawler-event-evidence").all()]
    assert len(diffs) >= 2
    for href in diffs:
        tab.goto(site["base"] + href)
        assert tab.locator(".crawler-diff ins, .crawler-diff del").count() > 0, href
    tab.goto(site["base"] + "/")
    tab.locator(".crawler-event-removed .crawler-event-evidence").first.click()
    assert tab.locator(".crawler-banner").is_visible(), "the removal opens on its banner"


def test_archived_script_never_runs_and_shows_as_text(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context()  # JavaScript on: the archived <script> must still not run
    page = context.new_page()
    try:
        for path in (
            f"/-/text/{LONG_SEED}/3",
            f"/-/compare/{LONG_SEED}?from=2&to=3",
            f"/-/compare/{LONG_SEED}?from=2&to=3&view=side",
            f"/-/article/{LONG_SEED}",
        ):
            page.goto(site["base"] + path)
            assert page.evaluate("document.documentElement.dataset.pwned") is None, path
        page.goto(site["base"] + f"/-/text/{LONG_SEED}/3")
        assert HOSTILE.split(" in the")[0] in page.locator(".crawler-text").inner_text()
    finally:
        context.close()


def test_chinese_labels_by_the_browsers_language(site: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(locale="zh-CN", java_script_enabled=False, viewport={"width": 390, "height": 900})
    page = context.new_page()
    try:
        page.goto(site["base"] + f"/-/article/{REMOVED}")
        assert "此文章已被删除" in page.locator(".crawler-banner h2").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    finally:
        context.close()


def test_the_page_as_archived_loads_its_archived_images_in_the_sandbox(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context()  # JavaScript on: the page's own script must still not run
    page = context.new_page()
    try:
        page.goto(site["base"] + f"/-/capture/{site['images_capture']}/page")
        page.wait_for_load_state("load")
        loaded = page.evaluate("[...document.images].map(i => [i.alt, i.naturalWidth])")
        assert loaded == [["red", 24], ["blue", 30]], "both images, the lazy one too, from the archive"
        assert page.title() == "Images", "the archived script did not run"
    finally:
        context.close()

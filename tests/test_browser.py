"""`crawler serve` seen in a real headless Chromium: rendered diff, escaped archive text, screenshots.

Screenshots go to $CRAWLER_SCREENSHOTS when set (to look at them), else to the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import lxml.html
import pytest

from helpers import crawler_serve
from web_archive import HOSTILE, INSERTED_EN, INSERTED_ZH, WebArchive, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, WebArchive]]:
    """`crawler serve` on a free port over an archive built by real crawls; yields its base URL."""
    web = build(tmp_path_factory.mktemp("browser"))
    root = Path(__file__).resolve().parent.parent
    with crawler_serve("--archive", str(web.project.archive), "--config", str(root / "config" / "crawler.yaml"),
                       cwd=root) as base:
        yield base, web


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once (root in CI needs --no-sandbox)."""
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--no-first-run", "--window-size=1280,1400", *args],
        capture_output=True, text=True, timeout=120,
    )


def rendered(url: str) -> lxml.html.HtmlElement:
    """The page's DOM after Chromium loaded it and ran whatever scripts it has."""
    result = chromium("--dump-dom", url)
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return lxml.html.fromstring(result.stdout)


def screenshot(url: str, name: str, tmp_path: Path) -> Path:
    """A PNG of the page, saved where $CRAWLER_SCREENSHOTS says (or in tmp_path)."""
    folder = Path(os.environ.get("CRAWLER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    result = chromium(f"--screenshot={path}", url)
    assert result.returncode == 0 and path.exists(), result.stderr[-2000:]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, "a real, non-blank image"
    return path


def test_diff_page_in_a_browser_marks_the_insertion_and_runs_no_archived_script(served, tmp_path: Path) -> None:
    base, web = served
    articles = rendered(base + "/-/articles")
    row = next(tr for tr in articles.iter("tr") if "en_article" in tr.text_content())
    (href,) = [a.get("href") for a in row.iter("a") if a.text_content() == "latest vs original"]
    dom = rendered(base + href)
    inserted = [el.text_content().strip() for el in dom.find_class("crawler-ins")]
    assert any(INSERTED_EN in text for text in inserted), "the added sentence is rendered as an insertion, whole"
    (page_root,) = dom.xpath("/html")
    assert page_root.get("data-pwned") is None, "the <script> in the archived text ran"
    assert not [s for s in dom.iter("script") if "data-pwned" in (s.text or "")], "archived <script> became an element"
    assert HOSTILE.split(" in the")[0] in dom.find_class("crawler-diff")[0].text_content(), "shown as text instead"
    screenshot(base + href, "diff-en-latest-vs-original", tmp_path)


def test_screenshots_of_the_overview_the_article_page_and_a_chinese_diff(served, tmp_path: Path) -> None:
    base, web = served
    overview = rendered(base + "/-/articles")
    listed = {a.get("href").rsplit("/", 1)[-1] for a in overview.iter("a") if "/-/article/" in (a.get("href") or "")}
    assert {"en_article", "zh_article", "notes", "000_4387e3e1fc3e043d"} <= listed
    article = rendered(base + "/-/article/zh_article")
    assert article.find_class("crawler-timeline"), "the timeline SVG is in the page"
    (href,) = {a.get("href") for a in article.find_class("crawler-latest-diff")}
    diff = rendered(base + href)
    assert any(INSERTED_ZH in el.text_content() for el in diff.find_class("crawler-ins"))
    shots = [
        screenshot(base + "/-/articles", "overview", tmp_path),
        screenshot(base + "/-/article/zh_article", "article-zh", tmp_path),
        screenshot(base + href, "diff-zh-latest-vs-original", tmp_path),
        screenshot(base + "/archive/search_texts?q=%E5%BE%AE%E4%BF%A1", "search-weixin", tmp_path),
    ]
    assert len({p.read_bytes() for p in shots}) == len(shots), "each page looks different"

"""Evidence of what readers saw: images with each new version, rendering in chromium, screenshots (issue #17).

Real crawls of a local site (tests/evidence_site.py) in a subprocess each; the WARC files are read
back with warcio. Tests that need the browser are skipped when chromium or Playwright is missing.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path
from typing import Iterator

import lxml.html
import pytest
from warcio.archiveiterator import ArchiveIterator

from helpers import ROOT, TEST_CONFIG, Project
from evidence_site import (
    BLUE,
    GREEN,
    JS_PARAGRAPHS,
    RED,
    SVG_WITH_SCRIPT,
    bomb_png,
    lazy_article,
    png,
    serve_site,
    with_images,
)
from fault_server import FaultServer, hang, respond
from pages import EN_PARAGRAPHS, article_page, seed_body

CHROMIUM = "/usr/bin/chromium"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt install chromium)"
    try:
        import playwright  # noqa: F401
        import scrapy_playwright  # noqa: F401
    except ImportError:
        return "Playwright not installed (pip install -e '.[test]')"
    return None


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


@pytest.fixture
def site() -> Iterator[FaultServer]:
    """The evidence site on a free port of 127.0.0.1."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()


def warc_records(project: Project) -> list[tuple[str, str, bytes]]:
    """(type, target URI, payload) of every response, revisit and resource record in the archive's WARC files."""
    found = []
    for path in sorted((project.archive / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type in ("response", "revisit", "resource"):
                    found.append(
                        (
                            record.rec_type,
                            record.rec_headers.get_header("WARC-Target-URI"),
                            record.content_stream().read(),
                        )
                    )
    return found


def image_hits(server: FaultServer) -> int:
    """Requests the site has had for images."""
    return sum(count for path, count in server.hits.items() if path.startswith("/img/"))


@needs_browser
def test_images_rendering_and_screenshots_for_new_versions_only(site: FaultServer, project: Project) -> None:
    urls = serve_site(site)
    project.seed("lazy", urls["lazy"], seed_body("Library budget", EN_PARAGRAPHS))
    project.seed("other", urls["other"], "The museum reopened.")
    project.seed("script", urls["script"], seed_body("Ferry terminal to close", JS_PARAGRAPHS))
    project.config.write_text(TEST_CONFIG + "render:\n  screenshots: true\n  seeds: [script]\n", encoding="utf-8")

    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    assert "3 new versions" in result.stdout

    # The page built by script has a version with its text, and says it was rendered.
    script = project.rows(
        "SELECT c.rendered, v.text FROM captures c JOIN versions v ON v.id = c.version_id WHERE c.seed_id = 'script'"
    )
    assert script and script[0]["rendered"] == 1 and JS_PARAGRAPHS[1] in script[0]["text"]

    # Every image once in WARC; the shared one once as a response and once as a revisit.
    records = warc_records(project)
    by_payload = Counter(payload for kind, _, payload in records if kind == "response")
    for image in (RED, BLUE, GREEN):
        assert by_payload[image] == 1, "each image's bytes are stored exactly once"
    revisits = [uri for kind, uri, _ in records if kind == "revisit"]
    assert revisits == [urls["lazy"].split("/news/")[0] + "/img/shared.png"]
    # The lazy image came from data-src; the placeholder and the logo outside the article were not fetched.
    assert site.hits["/img/lazy.png"] == 1 and site.hits["/img/blank.gif"] == 0 and site.hits["/img/logo.png"] == 0
    # ... with the Referer a browser sends from the article.
    assert site.last_headers["/img/lazy.png"].get("referer") == urls["lazy"]

    requisites = project.rows(
        "SELECT c.seed_id, r.url, r.outcome, r.width, r.height, r.warc_record_id "
        "FROM requisites r JOIN captures c ON c.id = r.capture_id ORDER BY r.id"
    )
    by_seed = {}
    for row in requisites:
        by_seed.setdefault(row["seed_id"], []).append(row)
    assert [r["url"].rsplit("/", 1)[1] for r in by_seed["lazy"]] == ["lazy.png", "shared.png"]
    assert sorted(r["outcome"] for r in by_seed["lazy"] + by_seed["other"]) == ["archived", "archived", "duplicate"]
    assert (by_seed["lazy"][0]["width"], by_seed["lazy"][0]["height"]) == (24, 12)
    assert [r["url"].rsplit("/", 1)[1] for r in by_seed["script"]] == ["ferry.png"]
    # Each requisite points at a WARC record the index knows.
    linked = project.rows(
        "SELECT count(*) AS n FROM requisites r JOIN warc_records w ON w.record_id = r.warc_record_id"
    )
    assert linked[0]["n"] == len(requisites)

    # Every new version has a screenshot: a PNG in a WARC resource record, linked from the version.
    shots = project.rows("SELECT s.version_id, s.target_uri, s.width, s.mime FROM screenshots s ORDER BY s.version_id")
    versions = project.rows("SELECT id FROM versions ORDER BY id")
    assert [s["version_id"] for s in shots] == [v["id"] for v in versions]
    resources = {uri: payload for kind, uri, payload in records if kind == "resource"}
    assert set(resources) == {s["target_uri"] for s in shots} == {f"urn:view:{u}" for u in urls.values()}
    assert all(payload.startswith(b"\x89PNG") for payload in resources.values())
    index = (project.archive / "warc" / "index.cdxj").read_text(encoding="utf-8")
    lines = index.splitlines()
    assert sum(line.startswith("urn:view:") for line in lines) == 3
    assert sum('"mime": "warc/revisit"' in line for line in lines) == 1
    indexer = ROOT / ".venv-pywb" / "bin" / "cdx-indexer"
    if indexer.exists():  # pywb's own index of the same files (images, revisits, screenshots) is ours
        files = sorted(p.name for p in (project.archive / "warc").glob("*.warc.gz"))
        built = subprocess.run(
            [str(indexer), "-j", "-s", *files],
            cwd=project.archive / "warc",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sorted(built.stdout.splitlines()) == sorted(lines)

    # An unchanged revisit: no image fetched (not even by the browser), no screenshot, no requisite.
    hits_before, records_before = image_hits(site), len(project.rows("SELECT id FROM requisites"))
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    assert "0 new versions, 3 unchanged" in result.stdout
    assert image_hits(site) == hits_before
    assert len(project.rows("SELECT id FROM screenshots")) == 3
    assert len(project.rows("SELECT id FROM requisites")) == records_before

    # An edit: the new version's images are fetched again and stored as revisits; a new screenshot.
    site.route("/news/library", respond(200, lazy_article(EN_PARAGRAPHS[:2] + ["The mayor resigned."])))
    result = project.run("crawl", "lazy")
    assert result.returncode == 0, result.stderr
    assert "1 new versions" in result.stdout
    newest = project.rows("SELECT r.outcome FROM requisites r WHERE r.capture_id = (SELECT max(id) FROM captures)")
    assert [r["outcome"] for r in newest] == ["duplicate", "duplicate"]
    assert len(project.rows("SELECT id FROM screenshots")) == 4
    assert Counter(p for k, _, p in warc_records(project) if k == "response")[RED] == 1

    # Datasette: the diff page shows both versions' screenshots as thumbnails that open full size.
    latest = project.rows("SELECT id FROM versions WHERE seed_id = 'lazy' AND version = 2")[0]["id"]
    shots = project.rows(
        "SELECT s.id, s.filename FROM screenshots s JOIN versions v ON v.id = s.version_id "
        "WHERE v.seed_id = 'lazy' ORDER BY v.version"
    )
    diff, article, full = datasette_get(
        project, f"/-/diff/{latest}?base=previous", "/-/article/lazy", f"/-/screenshot/{shots[1]['id']}"
    )
    assert diff.status_code == 200 and article.status_code == 200
    figures = lxml.html.fromstring(diff.text).cssselect("figure.crawler-screenshot")
    assert [f.cssselect("img")[0].get("src") for f in figures] == [f"/-/screenshot/{s['id']}" for s in shots]
    assert [f.cssselect("a")[0].get("href") for f in figures] == [f"/-/screenshot/{s['id']}" for s in shots]
    assert len(lxml.html.fromstring(article.text).cssselect("a.crawler-screenshot-link")) == 2
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert full.content in {p for k, _, p in warc_records(project) if k == "resource"}


def datasette_get(project: Project, *paths: str) -> list:
    """GET each path from an in-process Datasette on the project's archive (the plugin included)."""
    from datasette.app import Datasette

    async def run() -> list:
        ds = Datasette([str(project.db_path)])
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def test_requisites_stay_bounded_on_bad_input(site: FaultServer, project: Project) -> None:
    images = "\n".join(
        [
            '<img src="/img/hangs.png">',
            '<img src="/img/huge.png">',
            '<img src="/img/bomb.png">',
            '<img src="/img/script.svg">',
            '<img src="/img/fine.png">',
            *(f'<img src="/img/many/{n}.png">' for n in range(10_000)),
        ]
    )
    site.route("/img/hangs.png", hang())
    site.route("/img/huge.png", respond(200, png(10, 10) + b"\x00" * 300_000, "image/png"))
    site.route("/img/bomb.png", respond(200, bomb_png(), "image/png"))
    site.route("/img/script.svg", respond(200, SVG_WITH_SCRIPT, "image/svg+xml"))
    site.route("/img/fine.png", respond(200, png(8, 8), "image/png"))
    url = site.route(
        "/news/flood", respond(200, with_images(article_page("Library budget", EN_PARAGRAPHS, lang="en"), images))
    )
    project.seed("flood", url, seed_body("Library budget", EN_PARAGRAPHS))
    project.config.write_text(
        TEST_CONFIG + "requisites:\n  max_images: 8\n  timeout: 1\n  max_bytes: 100000\n", encoding="utf-8"
    )

    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    capture = project.rows("SELECT id, outcome, requisites_note FROM captures")[0]
    # The article itself is captured whatever its images do.
    assert capture["outcome"] == "new_version"
    assert capture["requisites_note"] == "10005 images in the article, the first 8 fetched (requisites.max_images)"
    rows = {r["url"].rsplit("/img/", 1)[1]: r for r in project.rows("SELECT * FROM requisites ORDER BY position")}
    assert len(rows) == 8 and sum(1 for k in site.hits if k.startswith("/img/many/")) == 3
    assert rows["hangs.png"]["outcome"] == "failed" and "timed out after 1 s" in rows["hangs.png"]["error"]
    assert rows["huge.png"]["outcome"] == "failed" and "100000-byte limit" in rows["huge.png"]["error"]
    assert rows["bomb.png"]["outcome"] == "archived"
    assert (rows["bomb.png"]["width"], rows["bomb.png"]["height"]) == (50_000, 50_000)
    assert "decompression bomb" in rows["bomb.png"]["problem"]
    assert rows["script.svg"]["outcome"] == "archived" and "SVG carries script" in rows["script.svg"]["problem"]
    assert rows["fine.png"]["outcome"] == "archived" and rows["fine.png"]["problem"] is None


def test_requisites_off_and_missing_chromium_are_one_line(site: FaultServer, project: Project) -> None:
    urls = serve_site(site)
    project.seed("lazy", urls["lazy"], seed_body("Library budget", EN_PARAGRAPHS))
    project.config.write_text(
        TEST_CONFIG + "requisites:\n  images: false\n"
        "render:\n  screenshots: true\n  seeds: [lazy]\n  chromium: /nonexistent/chromium\n",
        encoding="utf-8",
    )
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "chromium" in line]
    assert warnings == [
        "warning: chromium not found at /nonexistent/chromium: rendering and screenshots are off "
        "for this run; install it (apt install chromium) or set render.chromium to its path"
    ]
    assert "1 new versions" in result.stdout
    assert image_hits(site) == 0
    assert project.rows("SELECT count(*) AS n FROM screenshots")[0]["n"] == 0
    assert project.rows("SELECT rendered FROM captures")[0]["rendered"] is None


@needs_browser
def test_a_rendered_page_whose_text_comes_from_an_api_is_compared_by_its_text(
    site: FaultServer, project: Project
) -> None:
    shell = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Story</title></head>
<body><main id="app">Loading…</main><script>
fetch("/api/story.json").then(r => r.json()).then(story => {
  document.getElementById("app").innerHTML = "<article><h1>" + story.title + "</h1>"
    + story.paragraphs.map(p => "<p>" + p + "</p>").join("") + "</article>";
  document.title = story.title;
});
</script></body></html>"""
    import json

    def story(paragraphs: list[str]) -> str:
        return json.dumps({"title": "Ferry terminal to close", "paragraphs": paragraphs})

    url = site.route("/app/story", respond(200, shell))
    site.route("/api/story.json", respond(200, story(JS_PARAGRAPHS), "application/json"))
    project.seed("app", url, seed_body("Ferry terminal to close", JS_PARAGRAPHS))
    project.config.write_text(TEST_CONFIG + "render:\n  urls: ['*/app/*']\n", encoding="utf-8")
    assert "1 new versions" in project.run("crawl").stdout
    # The HTML shell stays byte for byte the same; only the text its script fetches changes.
    site.route(
        "/api/story.json", respond(200, story(JS_PARAGRAPHS[:2] + ["The terminal will stay open."]), "application/json")
    )
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    assert "1 new versions" in result.stdout
    latest = project.rows("SELECT text FROM versions WHERE version = 2")
    assert latest and "The terminal will stay open." in latest[0]["text"]
    # The browser's traffic is in WARC: the shell as sent (then a revisit), and both API answers.
    records = warc_records(project)
    assert [kind for kind, uri, _ in records if uri == url] == ["response", "revisit"]
    answers = [payload for kind, uri, payload in records if uri == site.url("/api/story.json")]
    assert len(answers) == 2 and b"The terminal will stay open." in answers[1]

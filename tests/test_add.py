"""`crawler add`: a URL becomes a seed whose original is the text found by one real fetch."""

from __future__ import annotations

import yaml

from helpers import LocalServer, Project
from crawler.run.add import slug_for
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page


def front_matter(path) -> tuple[dict, str]:
    """A seed file's front matter and body."""
    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(front), body


def test_slugs_are_file_names_from_host_and_path() -> None:
    assert slug_for("https://Blog.Example.org/2024/05/story.html?id=7#top") == "blog.example.org-2024-05-story-id-7"
    assert slug_for("http://127.0.0.1:8000/新闻/一") == "127.0.0.1"
    assert len(slug_for("https://example.org/" + "a" * 500)) <= 80


def test_add_fetches_once_and_the_text_becomes_the_original(page_server: LocalServer, project: Project) -> None:
    url = page_server.page("/news/zh-story", article_page("人工智能与新闻编辑室", ZH_PARAGRAPHS))
    result = project.run("add", url)
    assert result.returncode == 0, result.stderr
    path = project.seeds / "127.0.0.1-news-zh-story.md"
    assert f"added 127.0.0.1-news-zh-story: {path}" in result.stdout
    meta, body = front_matter(path)
    assert meta["url"] == url and meta["title"] == "人工智能与新闻编辑室" and meta["fetch_date"]
    assert ZH_PARAGRAPHS[1] in body
    assert page_server.requests.count("/news/zh-story") == 1, "fetched once"
    (seed,) = project.rows("SELECT * FROM seeds WHERE id = '127.0.0.1-news-zh-story'")
    assert seed["status"] == "ok" and ZH_PARAGRAPHS[2] in seed["original_text"]
    (diff,) = project.rows(
        "SELECT d.similarity FROM diffs d JOIN versions v ON v.id = d.version_id "
        "WHERE v.seed_id = '127.0.0.1-news-zh-story' AND d.base = 'original'"
    )
    assert diff["similarity"] == 1.0, "version 1 is the original"
    found = project.rows(
        "SELECT kind FROM search_fts f JOIN search_docs d ON d.id = f.rowid "
        "WHERE search_fts MATCH '\"档 案 管 理 员\"' ORDER BY kind"
    )
    assert [r["kind"] for r in found] == ["original", "version"]
    # The next visit compares with that original: same page, no new version.
    again = project.run("crawl")
    assert again.returncode == 0, again.stderr
    outcomes = project.rows("SELECT outcome FROM captures WHERE seed_id = '127.0.0.1-news-zh-story' ORDER BY id")
    assert [r["outcome"] for r in outcomes] == ["new_version", "unchanged"]


def test_add_refuses_duplicates_and_existing_files(page_server: LocalServer, project: Project) -> None:
    url = page_server.page("/en/library", article_page("Library budget approved", EN_PARAGRAPHS, lang="en"))
    assert project.run("add", "--title", "My title", url).returncode == 0
    meta, _ = front_matter(project.seeds / "127.0.0.1-en-library.md")
    assert meta["title"] == "My title"
    before = (project.seeds / "127.0.0.1-en-library.md").read_bytes()
    twice = project.run("add", url + "#section")
    assert twice.returncode == 1 and "already watched by seed 127.0.0.1-en-library" in twice.stderr
    (project.seeds / "127.0.0.1-other.md").write_text("hand-written seed\n", encoding="utf-8")
    other = page_server.page("/other", article_page("Other", EN_PARAGRAPHS, lang="en"))
    clash = project.run("add", other)
    assert clash.returncode == 1 and "a seed named 127.0.0.1-other exists already" in clash.stderr
    assert (project.seeds / "127.0.0.1-other.md").read_text(encoding="utf-8") == "hand-written seed\n"
    assert (project.seeds / "127.0.0.1-en-library.md").read_bytes() == before
    bad = project.run("add", "ftp://example.org/file")
    assert bad.returncode == 1 and "unsupported scheme" in bad.stderr


def test_add_from_a_file_keeps_what_was_found_and_explains_the_rest(page_server: LocalServer, project: Project) -> None:
    good = page_server.page("/a", article_page("Library budget approved", EN_PARAGRAPHS, lang="en"))
    missing = page_server.url("/missing")
    listing = project.root / "urls.txt"
    listing.write_text(f"# to watch\n{good}\tCouncil library story\n\n{missing}\n", encoding="utf-8")
    result = project.run("add", "--from-file", str(listing))
    assert result.returncode == 1
    assert "added 127.0.0.1-a:" in result.stdout
    assert f"not added: {missing}: HTTP 404" in result.stderr
    assert sorted(p.name for p in project.seeds.iterdir()) == ["127.0.0.1-a.md"], "no file for the 404"
    meta, _ = front_matter(project.seeds / "127.0.0.1-a.md")
    assert meta["title"] == "Council library story"
    (gone,) = project.rows("SELECT status, problem FROM seeds WHERE id = '127.0.0.1-missing'")
    assert gone["status"] == "broken" and "crawler add found no article" in gone["problem"]
    assert project.rows("SELECT outcome FROM captures WHERE seed_id = '127.0.0.1-missing'") == [{"outcome": "gone"}]
    assert project.run("seeds", "--check").returncode == 0, "the folder holds only good seeds"

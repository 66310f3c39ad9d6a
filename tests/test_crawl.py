"""End to end: the real Scrapy stack against a local HTTP server, each crawl in its own process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers import Project, LocalServer, crawler_env, free_port
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body, wechat_page

EDITED_OLD = "修改最多的是标题和导语部分。"
EDITED_NEW = "修改最多的是标题、导语和结论部分。"


def serve_articles(server: LocalServer, project: Project) -> None:
    """Three articles (WeChat-style, GBK news, English) and a seed for each."""
    zh_title = "档案员如何发现被修改的文章"
    project.seed(
        "wechat", server.page("/s/wechat", wechat_page(zh_title, ZH_PARAGRAPHS)), seed_body(zh_title, ZH_PARAGRAPHS)
    )
    gbk_html = article_page(zh_title, ZH_PARAGRAPHS, charset="gb2312").encode("gbk")
    project.seed(
        "gbk",
        server.page("/news/gbk.html", gbk_html, content_type="text/html"),
        seed_body(zh_title, ZH_PARAGRAPHS),
    )
    en_title = "Council approves library budget"
    project.seed(
        "english",
        server.page("/en/library", article_page(en_title, EN_PARAGRAPHS, lang="en")),
        seed_body(en_title, EN_PARAGRAPHS),
    )


def test_first_crawl_revisit_and_edit(page_server: LocalServer, project: Project) -> None:
    serve_articles(page_server, project)

    first = project.run("crawl")
    assert first.returncode == 0, first.stderr
    assert "3 seeds" in first.stdout and "3 new versions" in first.stdout
    versions = project.rows("SELECT seed_id, version, text FROM versions ORDER BY seed_id")
    assert [(v["seed_id"], v["version"]) for v in versions] == [("english", 1), ("gbk", 1), ("wechat", 1)]
    by_seed = {v["seed_id"]: v["text"] for v in versions}
    assert "Sundays from next spring" in by_seed["english"]
    assert "档案管理员认为" in by_seed["gbk"], "GBK page must decode to the right Chinese text"
    assert "档案管理员认为" in by_seed["wechat"]
    assert "关注公众号" not in by_seed["wechat"], "WeChat profile chrome must stay out of the article"
    original_diffs = project.rows("SELECT base, similarity FROM diffs ORDER BY version_id")
    assert [d["base"] for d in original_diffs] == ["original"] * 3
    assert all(d["similarity"] > 0.9 for d in original_diffs), original_diffs

    again = project.run("crawl")
    assert again.returncode == 0, again.stderr
    assert "0 new versions, 3 unchanged" in again.stdout
    assert len(project.rows("SELECT id FROM versions")) == 3
    unchanged = project.rows("SELECT seed_id, version_id FROM captures WHERE outcome = 'unchanged'")
    assert len(unchanged) == 3 and all(c["version_id"] for c in unchanged)

    edited = [p.replace(EDITED_OLD, EDITED_NEW) for p in ZH_PARAGRAPHS]
    page_server.page("/s/wechat", wechat_page("档案员如何发现被修改的文章", edited))
    third = project.run("crawl", "wechat")
    assert third.returncode == 0, third.stderr
    assert "1 seeds" in third.stdout and "1 new versions" in third.stdout
    v2 = project.rows("SELECT id, version FROM versions WHERE seed_id = 'wechat' ORDER BY version DESC")[0]
    assert v2["version"] == 2
    diffs = {d["base"]: d for d in project.rows("SELECT * FROM diffs WHERE version_id = ?", v2["id"])}
    assert set(diffs) == {"original", "previous"}
    changed = [
        line for line in diffs["previous"]["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [f"-{EDITED_OLD}", f"+{EDITED_NEW}"]
    assert 0.9 < diffs["previous"]["similarity"] < 1.0

    shown = project.run("diff", "wechat", "--from", "1")
    assert shown.returncode == 0, shown.stderr
    assert f"-{EDITED_OLD}" in shown.stdout and f"+{EDITED_NEW}" in shown.stdout

    status = project.run("status")
    assert status.returncode == 0
    assert "wechat" in status.stdout and "new_version" in status.stdout

    conn = project.db()
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        runs = conn.execute("SELECT status, trigger FROM runs").fetchall()
        assert [tuple(r) for r in runs] == [("completed", "manual")] * 3
    finally:
        conn.close()


def test_gone_failed_and_no_url(page_server: LocalServer, project: Project) -> None:
    project.seed("missing", page_server.url("/nothing-here"), "A page that is not there.")
    project.seed("deleted", page_server.page("/deleted", "gone for good", status=410), "A deleted page.")
    dead = f"http://127.0.0.1:{free_port()}/article"
    project.seed("unreachable", dead, "A page on a server that is down.")
    project.seed("notes", None, "Saved without a URL.\n")
    project.seed("empty", page_server.page("/empty", b""), "An empty answer.")

    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    captures = {c["seed_id"]: c for c in project.rows("SELECT * FROM captures")}
    assert set(captures) == {"missing", "deleted", "unreachable", "empty"}, "a seed without URL is not fetched"
    assert (captures["missing"]["outcome"], captures["missing"]["status_code"]) == ("gone", 404)
    assert (captures["deleted"]["outcome"], captures["deleted"]["status_code"]) == ("gone", 410)
    assert captures["unreachable"]["outcome"] == "failed"
    assert "connection refused" in captures["unreachable"]["error"]
    assert captures["empty"]["outcome"] == "no_content"
    assert "2 gone" in result.stdout and "1 failed" in result.stdout
    assert (
        project.rows("SELECT original_text FROM seeds WHERE id = 'notes'")[0]["original_text"] == "Saved without a URL."
    )
    assert project.rows("SELECT count(*) AS n FROM versions")[0]["n"] == 0


def test_extraction_pool_and_unchanged_fast_path(page_server: LocalServer, project: Project) -> None:
    project.config.write_text(project.config.read_text() + "  extract_workers: 2\n", encoding="utf-8")
    serve_articles(page_server, project)
    first = project.run("-v", "crawl")
    assert first.returncode == 0, first.stderr
    assert "3 new versions" in first.stdout
    texts = {r["seed_id"]: r["text"] for r in project.rows("SELECT seed_id, text FROM versions")}
    assert "档案管理员认为" in texts["gbk"] and "Sundays from next spring" in texts["english"]

    again = project.run("crawl")
    assert "0 new versions, 3 unchanged" in again.stdout
    revisits = project.rows(
        "SELECT c.payload_digest, c.title, c.version_id, v.id AS current FROM captures c "
        "JOIN versions v ON v.seed_id = c.seed_id WHERE c.outcome = 'unchanged'"
    )
    # Same bytes as the response that made the version: no second extraction (no title read again).
    assert len(revisits) == 3
    assert all(r["payload_digest"] and r["title"] is None and r["version_id"] == r["current"] for r in revisits)


def _listening_inodes(pid: int) -> set[str]:
    """Socket inodes of process pid that listen for TCP connections (Linux /proc)."""
    sockets = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            sockets.add(target[8:-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                listening.add(fields[9])
    return sockets & listening


def test_a_crawl_opens_no_remote_control_door(page_server: LocalServer, project: Project, tmp_path: Path) -> None:
    # Scrapy 2.19's RemoteControl extension listens on localhost for Python code to run and writes
    # its token under the user's state folder; a crawl must do neither.
    page_server.page("/held", article_page("A held page", EN_PARAGRAPHS), hold=True)
    page_server.gate.clear()
    project.seed("held", page_server.url("/held"), "A held page.")
    state = tmp_path / "state"
    crawl = subprocess.Popen(
        project.command("crawl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=crawler_env(XDG_STATE_HOME=str(state)),
    )
    try:
        assert page_server.reached.wait(timeout=60), "the crawl never fetched"
        listening = _listening_inodes(crawl.pid)
        job_files = list(state.rglob("*.json"))
    finally:
        page_server.gate.set()
        out, err = crawl.communicate(timeout=120)
    assert crawl.returncode == 0, err
    assert listening == set()
    assert job_files == []
    assert project.rows("SELECT outcome FROM captures") == [{"outcome": "new_version"}]


def _refresh_page(http_equiv: str, target: str) -> str:
    """A bare page that sends its reader on to target at once, as takedown notices often do."""
    return (
        f'<html><head><meta http-equiv="{http_equiv}" content="0; url={target}"><title>Moved</title></head>'
        "<body><p>This page has moved.</p></body></html>"
    )


def test_meta_refresh_is_followed_however_the_page_spells_it(page_server: LocalServer, project: Project) -> None:
    # The crawler looks at the raw bytes before Scrapy's meta-refresh check (crawler/fetch/refresh.py);
    # a refresh in any case, or in UTF-16, must still be followed.
    page_server.page("/moved", article_page("Where it went", EN_PARAGRAPHS, lang="en"))
    page_server.page("/plain", _refresh_page("refresh", "/moved"))
    page_server.page("/upper", _refresh_page("REFRESH", "/moved"))
    utf16 = _refresh_page("Refresh", "/moved").encode("utf-16")  # with its byte order mark
    page_server.page("/wide", utf16, content_type="text/html")
    for name in ("plain", "upper", "wide"):
        project.seed(name, page_server.url(f"/{name}"), "Where it went.")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    rows = project.rows("SELECT seed_id, final_url, outcome FROM captures ORDER BY seed_id")
    assert [(r["seed_id"], r["final_url"].rsplit("/", 1)[1], r["outcome"]) for r in rows] == [
        ("plain", "moved", "new_version"),
        ("upper", "moved", "new_version"),
        ("wide", "moved", "new_version"),
    ]


def test_the_raw_byte_look_skips_only_pages_without_a_refresh() -> None:
    from crawler.fetch.refresh import may_refresh

    assert not may_refresh(article_page("Plain", EN_PARAGRAPHS, lang="en").encode())
    assert may_refresh(_refresh_page("REFRESH", "/x").encode())
    assert may_refresh("<html>…".encode("utf-16"))  # a byte order mark: not ASCII-compatible
    ebcdic = _refresh_page("refresh", "/x").encode("cp037")
    assert may_refresh(ebcdic, b"text/html; charset=cp037")
    # Past the first 4,096 characters Scrapy does not look either.
    late = ("<html><head><title>t</title></head><body>" + "x" * 20000 + "refresh</body></html>").encode()
    assert not may_refresh(late)


def test_a_run_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """crawl() pauses and freezes the collector for Scrapy's start-up; a caller that goes on gets it back."""
    import gc

    from crawler.config import load_settings
    from crawler.run.crawl import crawl

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "no-url.md").write_text("A saved article without a URL.\n", encoding="utf-8")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    summary = crawl(load_settings(environ={}), seeds, tmp_path / "archive")
    assert summary.status == "completed"
    assert gc.isenabled() and gc.get_freeze_count() == 0

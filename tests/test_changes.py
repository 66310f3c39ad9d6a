"""Change intelligence end to end: removals, seed state, metadata drift, the Atom feed and notifications."""

from __future__ import annotations

import json
from html import escape
from typing import Iterator

import feedparser
import pytest
from click.testing import CliRunner

from helpers import TEST_CONFIG, LocalServer, Project, Route, free_port
from crawler.cli import cli
from crawler.model import CaptureRecord, VersionRecord
from crawler.archive.store import Store
from pages import CHROME, EN_PARAGRAPHS, FOOTER, ZH_PARAGRAPHS, article_page, seed_body, wechat_page

TITLE = "档案员如何发现被修改的文章"


def wechat_notice(title: str, desc: str = "") -> str:
    """A page in WeChat's notice template (weui-msg), as served in place of a deleted or blocked article."""
    extra = f'<p class="weui-msg__desc">{escape(desc)}</p>' if desc else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title></title><link rel="stylesheet" href="https://res.wx.qq.com/open/libs/weui/1.1.0/weui.min.css">
<script>window.logs = {{pagetime: {{}}}};</script></head>
<body id="activity-detail" class="zh_CN">
<div class="weui-msg">
  <div class="weui-msg__icon-area"><i class="weui-icon-warn weui-icon_msg"></i></div>
  <div class="weui-msg__text-area">
    <h2 class="weui-msg__title">{escape(title)}</h2>
    {extra}
  </div>
</div>
<script>document.addEventListener("touchstart", function() {{}}, false);</script>
</body></html>"""


def not_found_page() -> str:
    """A site's 'page does not exist' answer, served with status 200 inside the usual navigation."""
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>页面不存在 - 示例新闻网</title></head>
<body>{CHROME}<main><h1>抱歉，页面不存在</h1><p>您访问的页面不存在或已被删除。</p></main>{FOOTER}</body></html>"""


def crawl(project: Project, *args: str) -> None:
    """Run `crawler crawl` and require it to succeed."""
    result = project.run("crawl", *args)
    assert result.returncode == 0, result.stderr


def captures(project: Project, seed_id: str) -> list[dict]:
    """The seed's captures, oldest first."""
    return project.rows("SELECT * FROM captures WHERE seed_id = ? ORDER BY id", seed_id)


def seed_state(project: Project, seed_id: str) -> dict:
    """The seed's state columns."""
    return project.rows(
        "SELECT state, state_since, last_seen_alive_at, pending_state, pending_count, pending_since "
        "FROM seeds WHERE id = ?",
        seed_id,
    )[0]


def test_removed_gone_and_articles_that_stay(page_server: LocalServer, project: Project) -> None:
    project.config.write_text(
        TEST_CONFIG + 'removal:\n  notices:\n    "127.0.0.1": ["withdrawn by (?:the )?editors"]\n', encoding="utf-8"
    )
    original = seed_body(TITLE, ZH_PARAGRAPHS)
    project.seed("deleted", page_server.page("/s/deleted", wechat_notice("该内容已被发布者删除")), original)
    project.seed("violation", page_server.page("/s/violation", wechat_notice("此内容因违规无法查看")), original)
    project.seed(
        "expired",
        page_server.page("/s/expired", wechat_notice("链接已过期", "可在公众号历史消息中查看")),
        original,
    )
    # A real article that quotes the notice wording is still an article.
    quoting = ZH_PARAGRAPHS + ["有读者说，他收藏的文章打开后只剩一句“该内容已被发布者删除”。"]
    project.seed("article", page_server.page("/s/article", wechat_page(TITLE, quoting)), seed_body(TITLE, quoting))
    page_server.page("/", article_page("示例新闻网首页", ["今日要闻：图书馆周日开放。", "天气：晴。"]))
    page_server.routes["/news/2024/old-story.html"] = Route(302, b"", {"Location": "/"})
    project.seed("moved_home", page_server.url("/news/2024/old-story.html"), original)
    project.seed("soft404", page_server.page("/news/soft404.html", not_found_page()), original)
    # Much shorter than the saved text, but without not-found wording: a short page, not a removal.
    project.seed("short", page_server.page("/news/short.html", article_page("休刊通知", ["本周休刊一期。"])), original)
    withdrawn = article_page("Library budget", EN_PARAGRAPHS + ["This story was withdrawn by the editors."], lang="en")
    project.seed("configured", page_server.page("/en/withdrawn", withdrawn), seed_body("Library budget", EN_PARAGRAPHS))
    project.seed("missing", page_server.url("/nothing-here"), original)
    # WeChat's rate-limit wall wears the notice template, but says nothing about the article.
    wall = wechat_notice("环境异常", "当前环境异常，完成验证后即可继续访问。")
    project.seed("verify", page_server.page("/s/verify", wall), original)

    crawl(project)
    outcome = {c["seed_id"]: (c["outcome"], c["error"]) for c in project.rows("SELECT * FROM captures")}
    assert outcome["deleted"] == ("removed", "WeChat notice: 该内容已被发布者删除")
    assert outcome["violation"] == ("removed", "WeChat notice: 此内容因违规无法查看")
    assert outcome["expired"] == ("removed", "WeChat notice: 链接已过期 可在公众号历史消息中查看")
    assert outcome["article"] == ("new_version", None)
    assert outcome["moved_home"] == ("removed", f"soft 404: redirected to the site's home page {page_server.url('/')}")
    assert outcome["soft404"][0] == "removed"
    assert outcome["soft404"][1].startswith("soft 404: text fell to ") and "页面不存在" in outcome["soft404"][1]
    assert outcome["short"][0] == "new_version"
    assert outcome["configured"] == (
        "removed",
        "takedown notice on the page: 'withdrawn by the editors' (removal.notices)",
    )
    assert outcome["missing"] == ("gone", "HTTP 404 Not Found")
    assert outcome["verify"] == (
        "failed",
        "blocked: a verification page instead of the article ('环境异常'); retried later",
    )
    versions = {v["seed_id"] for v in project.rows("SELECT seed_id FROM versions")}
    assert versions == {"article", "short"}, "a notice page must never become a version"

    # One answer is not enough to call a seed removed, even its first; an article is alive at once.
    assert seed_state(project, "article")["state"] == "alive"
    first = seed_state(project, "deleted")
    assert (first["state"], first["pending_state"], first["pending_count"]) == (None, "removed", 1)

    crawl(project)
    states = {r["id"]: r["state"] for r in project.rows("SELECT id, state FROM seeds")}
    assert states == {
        "deleted": "removed",
        "violation": "removed",
        "expired": "removed",
        "article": "alive",
        "moved_home": "removed",
        "soft404": "removed",
        "short": "alive",
        "configured": "removed",
        "missing": "gone",
        "verify": "failing",
    }
    deleted = seed_state(project, "deleted")
    assert deleted["state_since"] == captures(project, "deleted")[0]["fetched_at"], (
        "a state dates from its first capture"
    )
    assert deleted["last_seen_alive_at"] is None
    changes = project.rows("SELECT old_state, new_state, reason FROM state_changes WHERE seed_id = 'deleted'")
    assert changes == [{"old_state": None, "new_state": "removed", "reason": "WeChat notice: 该内容已被发布者删除"}]


def test_state_changes_only_when_captures_agree(page_server: LocalServer, project: Project) -> None:
    article = wechat_page(TITLE, ZH_PARAGRAPHS)
    project.seed("wechat", page_server.page("/s/a", article), seed_body(TITLE, ZH_PARAGRAPHS))
    crawl(project)
    alive = seed_state(project, "wechat")
    first_at = captures(project, "wechat")[0]["fetched_at"]
    assert (alive["state"], alive["state_since"], alive["last_seen_alive_at"]) == ("alive", first_at, first_at)

    page_server.page("/s/a", wechat_notice("该内容已被发布者删除"))
    crawl(project)
    assert captures(project, "wechat")[-1]["outcome"] == "removed"
    once = seed_state(project, "wechat")
    assert (once["state"], once["pending_state"], once["pending_count"]) == ("alive", "removed", 1)

    page_server.page("/s/a", article)  # back again: the removal was a blip
    crawl(project)
    back = seed_state(project, "wechat")
    assert (back["state"], back["pending_state"], back["pending_count"]) == ("alive", None, 0)
    seen_alive = captures(project, "wechat")[-1]["fetched_at"]
    assert back["last_seen_alive_at"] == seen_alive

    page_server.page("/s/a", wechat_notice("此内容因违规无法查看"))
    crawl(project)
    crawl(project)
    removed = seed_state(project, "wechat")
    shots = captures(project, "wechat")
    assert [c["outcome"] for c in shots] == ["new_version", "removed", "unchanged", "removed", "removed"]
    assert (removed["state"], removed["state_since"]) == ("removed", shots[3]["fetched_at"])
    assert removed["last_seen_alive_at"] == seen_alive
    assert project.rows("SELECT count(*) AS n FROM versions")[0]["n"] == 1
    logged = project.rows("SELECT old_state, new_state, capture_id, reason FROM state_changes ORDER BY id")
    assert logged == [
        {"old_state": None, "new_state": "alive", "capture_id": shots[0]["id"], "reason": None},
        {
            "old_state": "alive",
            "new_state": "removed",
            "capture_id": shots[4]["id"],
            "reason": "WeChat notice: 此内容因违规无法查看",
        },
    ]

    listed = project.run("changes", "--json")
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    assert [(e["kind"], e.get("old_state"), e.get("new_state")) for e in events] == [("state", "alive", "removed")]


def test_metadata_drift_without_text_change(page_server: LocalServer, project: Project) -> None:
    project.seed("wechat", page_server.page("/s/a", wechat_page(TITLE, ZH_PARAGRAPHS)), seed_body(TITLE, ZH_PARAGRAPHS))
    crawl(project)
    retitled = wechat_page("震惊！档案员发现文章被改", ZH_PARAGRAPHS)
    page_server.page("/s/a", retitled)
    crawl(project)
    crawl(project)  # the same new title again: already known, not a second change
    page_server.page("/s/a", retitled.replace("2024-03-01", "2024-05-20"))
    crawl(project)

    assert [c["outcome"] for c in captures(project, "wechat")] == ["new_version", "unchanged", "unchanged", "unchanged"]
    drift = project.rows("SELECT field, old_value, new_value, version_id, capture_id FROM metadata_changes ORDER BY id")
    shots = captures(project, "wechat")
    version_id = shots[0]["version_id"]
    assert drift == [
        {
            "field": "title",
            "old_value": TITLE,
            "new_value": "震惊！档案员发现文章被改",
            "version_id": version_id,
            "capture_id": shots[1]["id"],
        },
        {
            "field": "published",
            "old_value": "2024-03-01",
            "new_value": "2024-05-20",
            "version_id": version_id,
            "capture_id": shots[3]["id"],
        },
    ]
    listed = project.run("changes")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and all("\twechat\tmetadata\t" in line for line in lines)
    assert 'title: "档案员如何发现被修改的文章" -> "震惊！档案员发现文章被改"' in lines[0]
    assert 'published: "2024-03-01" -> "2024-05-20"' in lines[1]


@pytest.fixture
def hook() -> Iterator[LocalServer]:
    """A local endpoint recording the JSON bodies POSTed to it (Apprise's json:// target), in hook.posts."""
    with LocalServer() as server:
        yield server


def test_feed_and_notifications_once_per_change(page_server: LocalServer, project: Project, hook: LocalServer) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hook"
    project.config.write_text(
        TEST_CONFIG + f"notify:\n  apprise:\n    - json://127.0.0.1:{hook.port}/hook\n    - {dead}\n", encoding="utf-8"
    )
    project.seed("wechat", page_server.page("/s/a", wechat_page(TITLE, ZH_PARAGRAPHS)), seed_body(TITLE, ZH_PARAGRAPHS))
    crawl(project)
    assert hook.posts == [], "a seed's first version and first state are not changes"
    feed = feedparser.parse((project.archive / "changes.atom").read_text(encoding="utf-8"))
    assert not feed.bozo and feed.entries == []

    edited = [p.replace("修改最多的是标题和导语部分。", "修改最多的是标题、导语和结论部分。") for p in ZH_PARAGRAPHS]
    page_server.page("/s/a", wechat_page(TITLE, edited))
    result = project.run("crawl")
    assert result.returncode == 0, "a notification target that is down must not fail the run"
    assert "could not send version:2" in result.stderr
    # The title ends with the change measure when there is one (", edit").
    assert len(hook.posts) == 1 and hook.posts[0]["title"].startswith(f"{TITLE}: version 2")
    assert "similarity" in hook.posts[0]["message"] and page_server.url("/s/a") in hook.posts[0]["message"]

    crawl(project)  # nothing new
    assert len(hook.posts) == 1, "never twice for the same version"
    version_entry = feedparser.parse((project.archive / "changes.atom").read_text(encoding="utf-8")).entries
    assert len(version_entry) == 1

    page_server.page("/s/a", wechat_notice("该内容已被发布者删除"))
    crawl(project)
    assert len(hook.posts) == 1, "one removed answer is not a removal yet"
    crawl(project)
    assert len(hook.posts) == 2
    assert hook.posts[1]["title"] == f"{TITLE}: removed, author_deleted (was alive)"
    assert "WeChat notice: 该内容已被发布者删除" in hook.posts[1]["message"]
    assert "Cause: author_deleted: 该内容已被发布者删除." in hook.posts[1]["message"]
    assert "Last seen alive " in hook.posts[1]["message"] and " → first seen removed " in hook.posts[1]["message"]

    sent = project.rows("SELECT event, status, attempts, target_url FROM notifications ORDER BY id")
    assert [(r["event"], r["status"]) for r in sent if r["status"] == "sent"] == [
        ("version:2", "sent"),
        ("state:2", "sent"),
    ]
    failed = [r for r in sent if r["status"] == "failed"]
    # The dead target is retried on later runs (up to notify.max_attempts), then left alone.
    assert {r["event"] for r in failed} == {"version:2", "state:2"}
    assert max(r["attempts"] for r in failed) == 4

    feed = feedparser.parse((project.archive / "changes.atom").read_text(encoding="utf-8"))
    assert not feed.bozo, feed.bozo_exception
    # Newest first, each entry linking to the article, with a stable id of its own.
    assert [e.title for e in feed.entries] == [f"{TITLE}: removed, author_deleted (was alive)", hook.posts[0]["title"]]
    assert all(e.link == page_server.url("/s/a") for e in feed.entries)
    assert len({e.id for e in feed.entries}) == 2 and feed.entries[1].id == version_entry[0].id
    assert "WeChat notice: 该内容已被发布者删除" in feed.entries[0].content[0].value
    assert "+修改最多的是标题、导语和结论部分。" in feed.entries[1].content[0].value


def test_change_events_newest_within_limit(tmp_path) -> None:
    store = Store.in_archive(tmp_path)
    try:
        store.sync_seeds([{"id": "a", "url": "https://example.org/a", "status": "ok", "original_text": "第一句。"}])
        run = store.start_run("manual", 1)
        for n, text in enumerate(["第一句。", "第二句。", "第三句。", "第四句。"]):
            store.record_capture(
                CaptureRecord(
                    run, "a", "https://example.org/a", "new_version", fetched_at=f"2026-01-0{n + 1}T00:00:00+00:00"
                ),
                new_version=VersionRecord(text, f"sha{n}"),
            )
        every = store.change_events("")
        assert [e["event"] for e in every] == ["version:2", "version:3", "version:4"], "version 1 is no change"
        assert [e["event"] for e in store.change_events("", limit=2)] == ["version:3", "version:4"]
        assert [e["event"] for e in store.change_events("2026-01-04")] == ["version:4"]
    finally:
        store.close()
    listed = CliRunner().invoke(cli, ["--archive", str(tmp_path), "changes", "--since", "2026-01-03", "--json"], env={})
    assert listed.exit_code == 0, listed.output
    assert [e["version"] for e in json.loads(listed.stdout)] == [3, 4]
    bad = CliRunner().invoke(cli, ["--archive", str(tmp_path), "changes", "--since", "last week"], env={})
    assert bad.exit_code == 2 and "neither a duration" in bad.output

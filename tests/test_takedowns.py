"""Takedowns: typed causes from notice pages, brackets, age-aware revisits, accounts and the fetch budget."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest

from helpers import TEST_CONFIG, LocalServer, Project
from crawler.config import load_settings
from crawler.changes.intervals import (
    DEFAULT_AGE_CURVE,
    Candidate,
    DueState,
    RevisitPolicy,
    account_key,
    age_interval,
    check_account_rule,
    iso,
    next_state,
    plan_visits,
    publication_time,
)
from crawler.errors import ConfigError
from crawler.model import CaptureRecord
from crawler.changes.removal import CAUSES, Page, assess, cause_words
from crawler.archive.store import Store
from pages import ZH_PARAGRAPHS, seed_body, wechat_page
from test_changes import wechat_notice

TITLE = "档案员如何发现被修改的文章"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR = 3600.0

# Every notice WeChatscope counted (issue #18), as the title of WeChat's weui-msg page, with its cause.
NOTICES = [
    ("该内容已被发布者删除", "author_deleted"),
    ("此内容因违规无法查看", "censored"),
    ("此帐号已被屏蔽", "account_blocked"),
    ("此内容被投诉且经审核涉嫌侵权，无法查看", "complaint"),
    ("该公众号已迁移", "account_migrated"),
    ("此内容被多人投诉，相关的内容无法进行查看", "complaint"),
    ("此帐号已自主注销，内容无法查看", "account_closed"),
    ("链接已过期", "expired"),
]
# Verification and rate-limit walls: the article may be there; never a removal, never a version.
WALLS = [
    ("环境异常", "当前环境异常，完成验证后即可继续访问。"),
    ("请完成验证", "为了保护你的网络安全，请完成验证后继续访问。"),
    ("访问过于频繁，请稍后再试", ""),
]


def notice_page(html: str) -> Page:
    """A notice page as the capture analysis sees it: no article text, a saved original to compare with."""
    return Page("https://mp.weixin.qq.com/s/abc", None, (), html, "", "\n".join(ZH_PARAGRAPHS))


@pytest.mark.parametrize(("notice", "cause"), NOTICES)
def test_every_listed_notice_has_its_cause(notice: str, cause: str) -> None:
    verdict = assess(notice_page(wechat_notice(notice)))
    assert (verdict.outcome, verdict.cause, verdict.notice) == ("removed", cause, notice)
    assert verdict.error == f"WeChat notice: {notice}", "captures.error keeps its meaning"
    assert cause in CAUSES
    assert cause_words(verdict.cause, verdict.notice) == f"{cause}: {notice}"


@pytest.mark.parametrize(("title", "desc"), WALLS)
def test_verification_walls_are_failures_blocked_by_site(title: str, desc: str) -> None:
    verdict = assess(notice_page(wechat_notice(title, desc)))
    assert (verdict.outcome, verdict.cause) == ("failed", "blocked_by_site")
    assert verdict.error.startswith("blocked: a verification page instead of the article")


def test_configured_notices_carry_their_cause(tmp_path: Path) -> None:
    path = tmp_path / "crawler.yaml"
    path.write_text(
        "removal:\n  notices:\n    example.org:\n"
        "      - '本文已下线'\n"
        "      - {pattern: '应相关部门要求', cause: censored}\n"
        "      - {pattern: '请输入图中文字', cause: blocked_by_site}\n",
        encoding="utf-8",
    )
    rules = load_settings(path, environ={}).removal.rules()
    html = "<html><body><p>{}</p></body></html>"
    page = lambda text: Page("https://news.example.org/a", None, (), html.format(text), text, None)  # noqa: E731
    plain, censored, wall = (
        assess(page(t), rules) for t in ("本文已下线", "应相关部门要求，本文不予显示", "请输入图中文字")
    )
    assert (plain.outcome, plain.cause) == ("removed", "taken_down")
    assert (censored.outcome, censored.cause, censored.notice) == ("removed", "censored", "应相关部门要求")
    assert (wall.outcome, wall.cause) == ("failed", "blocked_by_site")
    other = Page("https://example.com/a", None, (), html.format("应相关部门要求"), "应相关部门要求", None)
    assert assess(other, rules) is None or assess(other, rules).cause != "censored"

    path.write_text("removal:\n  notices:\n    example.org: [{pattern: 'x', cause: banned}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"removal\.notices.*unknown cause 'banned'; use one of author_deleted"):
        load_settings(path, environ={})
    path.write_text("schedule:\n  accounts: {example.org: 'cookie:x'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"schedule\.accounts.*write query:NAME, host, path:N or author"):
        load_settings(path, environ={})


def test_notices_walls_and_gone_pages_from_a_local_server(page_server: LocalServer, project: Project) -> None:
    original = seed_body(TITLE, ZH_PARAGRAPHS)
    for n, (notice, _) in enumerate(NOTICES):
        project.seed(f"notice{n}", page_server.page(f"/s/n{n}", wechat_notice(notice)), original)
    for n, (title, desc) in enumerate(WALLS):
        project.seed(f"wall{n}", page_server.page(f"/s/w{n}", wechat_notice(title, desc)), original)
    project.seed("gone404", page_server.url("/s/missing"), original)
    project.seed("gone410", page_server.page("/s/410", "<html><body>Gone</body></html>", status=410), original)
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr

    rows = {r["seed_id"]: r for r in project.rows("SELECT seed_id, outcome, cause, notice, error FROM captures")}
    for n, (notice, cause) in enumerate(NOTICES):
        assert (rows[f"notice{n}"]["outcome"], rows[f"notice{n}"]["cause"], rows[f"notice{n}"]["notice"]) == (
            "removed",
            cause,
            notice,
        )
        assert rows[f"notice{n}"]["error"] == f"WeChat notice: {notice}"
    for n in range(len(WALLS)):
        assert (rows[f"wall{n}"]["outcome"], rows[f"wall{n}"]["cause"]) == ("failed", "blocked_by_site")
    assert (rows["gone404"]["outcome"], rows["gone404"]["cause"]) == ("gone", None)
    assert (rows["gone410"]["outcome"], rows["gone410"]["error"]) == ("gone", "HTTP 410 Gone")
    assert project.rows("SELECT count(*) AS n FROM versions")[0]["n"] == 0, "no notice or wall is a version"


def test_cause_and_bracket_in_feed_changes_and_datasette(page_server: LocalServer, project: Project) -> None:
    article = wechat_page(TITLE, ZH_PARAGRAPHS)
    project.seed("violation", page_server.page("/s/v", article), seed_body(TITLE, ZH_PARAGRAPHS))
    assert project.run("crawl").returncode == 0
    alive_at = project.rows("SELECT fetched_at FROM captures")[0]["fetched_at"]
    page_server.page("/s/v", wechat_notice("此内容因违规无法查看"))
    assert project.run("crawl").returncode == 0
    assert project.run("crawl").returncode == 0
    first_removed = project.rows("SELECT fetched_at FROM captures WHERE outcome = 'removed' ORDER BY id")[0][
        "fetched_at"
    ]

    listed = project.run("changes")
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.strip()
    local = lambda value: datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")  # noqa: E731
    assert "\tviolation\tstate\tremoved, censored (was alive)\t" in line
    assert "censored: 此内容因违规无法查看" in line
    assert f"last seen alive {local(alive_at)}" in line and f"→ first seen removed {local(first_removed)}" in line

    events = json.loads(project.run("changes", "--json").stdout)
    assert (events[0]["cause"], events[0]["notice"]) == ("censored", "此内容因违规无法查看")
    assert (events[0]["last_seen_alive_at"], events[0]["since"]) == (alive_at, first_removed)

    entry = feedparser.parse((project.archive / "changes.atom").read_text(encoding="utf-8")).entries[0]
    assert entry.title == f"{TITLE}: removed, censored (was alive)"
    body = entry.content[0].value
    assert "Cause: censored: 此内容因违规无法查看." in body
    assert f"Last seen alive {local(alive_at)}" in body and f"first seen removed {local(first_removed)}" in body

    # What Datasette shows: the removals view and the removed_or_gone canned query's columns.
    removal = project.rows("SELECT * FROM removals")
    assert [
        (r["cause"], r["cause_in_words"], r["last_seen_alive_at"], r["first_seen_removed_at"]) for r in removal
    ] == [("censored", "censored: 此内容因违规无法查看", alive_at, first_removed)]
    import yaml

    from helpers import ROOT

    metadata = yaml.safe_load((ROOT / "crawler" / "web" / "metadata.yml").read_text(encoding="utf-8"))
    canned = metadata["databases"]["archive"]["queries"]["removed_or_gone"]["sql"]
    shown = project.rows(canned)
    assert [(r["cause_in_words"], r["last_seen_alive_at"], r["first_seen_removed_at"]) for r in shown] == [
        ("censored: 此内容因违规无法查看", alive_at, first_removed)
    ]


def test_age_curve_is_dense_while_young_then_backs_off_geometrically() -> None:
    curve = DEFAULT_AGE_CURVE
    assert [age_interval(curve, h * HOUR) for h in (1, 24, 48, 72)] == [
        pytest.approx(v) for v in (2 ** (23 / 24) * HOUR, HOUR, HOUR, HOUR)
    ]
    middle = age_interval(curve, 84 * HOUR)  # halfway from (72h, 1h) to (96h, 1d): the geometric mean
    assert middle == pytest.approx((HOUR * 86400) ** 0.5)
    assert age_interval(curve, 10 * 365 * 86400) == 30 * 86400
    assert age_interval((), 5.0) is None


def test_publication_time_front_matter_then_extracted_then_first_seen() -> None:
    assert publication_time("2026-02-27", "2026-02-01", "2026-03-01T00:00:00+00:00") == datetime(
        2026, 2, 27, tzinfo=timezone.utc
    )
    assert publication_time("2024-10-16T20:02:20+08:00", None, None) == datetime(
        2024, 10, 16, 12, 2, 20, tzinfo=timezone.utc
    )
    assert publication_time("not a date", "2026-02-01", None) == datetime(2026, 2, 1, tzinfo=timezone.utc)
    assert publication_time(None, None, "2026-03-01T10:00:00+00:00") == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_age_curve_combined_with_adaptation_and_failure_backoff() -> None:
    policy = RevisitPolicy()
    young, old = T0 - timedelta(hours=30), T0 - timedelta(days=400)
    start = DueState(86400, 86400, 0, iso(T0))
    unchanged = next_state("unchanged", start, policy, T0, published_at=young)
    assert unchanged.interval == 1.5 * 86400, "the adaptive interval still grows while unchanged"
    assert unchanged.next_due_at == iso(T0 + timedelta(hours=1)), "but a young article is due again within the hour"
    assert next_state("unchanged", start, policy, T0, published_at=old).next_due_at == iso(T0 + timedelta(days=1.5))
    changed = next_state("new_version", DueState(86400, 20 * 86400, 0, iso(T0)), policy, T0, published_at=old)
    assert changed.next_due_at == iso(T0 + timedelta(hours=1)), "a change still brings an old article back soon"
    failed = next_state("failed", start, policy, T0, published_at=young)
    assert (failed.failures, failed.next_due_at) == (1, iso(T0 + timedelta(hours=1)))
    third = next_state("failed", DueState(86400, 86400, 2, iso(T0)), policy, T0, published_at=young)
    assert third.next_due_at == iso(T0 + timedelta(hours=4)), "failures back off whatever the age"
    assert next_state("removed", start, policy, T0, published_at=young).next_due_at == iso(T0 + timedelta(days=1.5))
    assert next_state("unchanged", start, RevisitPolicy(age_curve=()), T0, published_at=young).next_due_at == iso(
        T0 + timedelta(days=1.5)
    ), "an empty curve turns age-awareness off"


def test_account_keys() -> None:
    rules = {
        "mp.weixin.qq.com": "query:__biz",
        "example.org": "host",
        "blog.example.org": "path:1",
        "news.example.com": "author",
    }
    url = "https://mp.weixin.qq.com/s?__biz=MzA5NzQ0NjQ2MA==&mid=2650&idx=1&sn=ab"
    assert account_key(url, rules) == "mp.weixin.qq.com?__biz=MzA5NzQ0NjQ2MA=="
    assert account_key("https://mp.weixin.qq.com/s/AbCdEf", rules) is None, "a short link names no account"
    assert account_key("https://www.example.org/a/b", rules) == "www.example.org"
    assert account_key("https://blog.example.org/alice/post-1", rules) == "blog.example.org/alice"
    assert account_key("https://news.example.com/1", rules, author="李明") == "news.example.com:李明"
    assert account_key("https://other.net/1", rules) is None
    with pytest.raises(ValueError):
        check_account_rule("path:zero")


def candidate(
    seed_id: str, age_hours: float, waited_hours: float, account: str | None = None, state: str | None = None
) -> Candidate:
    """A due seed published age_hours before T0 and last visited waited_hours before it."""
    return Candidate(
        seed_id,
        iso(T0 - timedelta(hours=waited_hours)),
        iso(T0 - timedelta(hours=waited_hours)),
        T0 - timedelta(hours=age_hours),
        account,
        state,
        86400,
    )


def test_budget_goes_to_the_most_valuable_visits() -> None:
    policy = RevisitPolicy()
    never = Candidate("never", iso(T0), None, T0 - timedelta(days=300))
    seeds = [
        candidate("old", 24 * 200, 30),  # a 200-day-old article, 30 h since its last visit
        candidate("young", 30, 2),  # a day-old article, 2 h since its last visit
        candidate("fresh_wait", 30, 1),
        candidate("risky", 24 * 5, 2, account="acct"),
        candidate("calm", 24 * 5, 2, account="calm"),
        candidate("gone", 30, 3, state="removed"),
    ]
    order = plan_visits([*seeds, never], T0, policy)
    assert order[0] == "never", "a seed never captured comes first"
    assert order.index("young") < order.index("fresh_wait") < order.index("old")
    assert order.index("young") < order.index("gone"), "a confirmed removal is worth its own interval, not its age's"
    risky = plan_visits(seeds, T0, policy, risks={"acct": 3})
    assert risky.index("risky") < risky.index("calm"), "an account's removals raise its seeds' priority"
    alerted = plan_visits(seeds, T0, policy, limit=1, alerts={"calm": iso(T0 - timedelta(minutes=30))})
    assert alerted == ["calm"], "a seed whose account was censored since its last visit goes first"
    assert plan_visits([*seeds, never], T0, policy, limit=3) == order[:3]


def test_no_seed_starves_under_a_tight_budget() -> None:
    """Twenty young articles and one old one, one visit an hour: the old one still gets its turn."""
    policy = RevisitPolicy()
    last = {f"young{n}": T0 - timedelta(hours=1) for n in range(20)}
    last["old"] = T0 - timedelta(hours=1)
    published = {seed_id: T0 - timedelta(hours=30) for seed_id in last}
    published["old"] = T0 - timedelta(days=200)
    visited_old = None
    for hour in range(24 * 40):
        now = T0 + timedelta(hours=hour)
        due = [Candidate(s, iso(last[s]), iso(last[s]), published[s]) for s in last]
        (chosen,) = plan_visits(due, now, policy, limit=1)
        last[chosen] = now
        if chosen == "old":
            visited_old = hour
            break
    assert visited_old is not None and visited_old < 24 * 40


def test_censorship_makes_the_accounts_other_seeds_due_at_once(tmp_path: Path) -> None:
    store = Store.in_archive(tmp_path)
    later = iso(T0 + timedelta(days=2))
    try:
        store.sync_seeds(
            [{"id": s, "url": f"https://x/{s}", "status": "ok"} for s in ("a", "b", "c", "d", "e")], now=iso(T0)
        )
        store.assign_accounts({"a": "biz1", "b": "biz1", "c": "biz1", "d": "biz2", "e": "biz1"})
        store.db.execute("UPDATE seeds SET next_due_at = ?", [later])
        store.db.execute("UPDATE seeds SET state = 'removed' WHERE id = 'e'")
        run = store.start_run("cron", 1)
        due = DueState(86400, 86400, 0, later)
        at = iso(T0 + timedelta(hours=5))
        store.record_capture(
            CaptureRecord(
                run, "c", "https://x/c", "removed", fetched_at=at, cause="author_deleted", notice="该内容已被发布者删除"
            ),
            due=due,
        )
        assert {r["id"] for r in store.query("SELECT id FROM seeds WHERE next_due_at <= ?", [at])} == set(), (
            "an author's own deletion says nothing about the account's other articles"
        )
        store.record_capture(
            CaptureRecord(
                run, "a", "https://x/a", "removed", fetched_at=at, cause="censored", notice="此内容因违规无法查看"
            ),
            due=due,
        )
        now_due = {r["id"] for r in store.query("SELECT id FROM seeds WHERE next_due_at <= ?", [at])}
        assert now_due == {"b", "c"}, "the account's other live seeds, not other accounts, not removed ones"
        assert store.account_removals({"censored", "author_deleted"}) == {"biz1": (2, at)}
    finally:
        store.close()


def page_seeds(page_server: LocalServer, project: Project, count: int) -> None:
    """count seeds whose pages are articles."""
    for n in range(count):
        url = page_server.page(f"/a{n}", wechat_page(f"{TITLE}{n}", ZH_PARAGRAPHS))
        project.seed(f"s{n}", url, seed_body(TITLE, ZH_PARAGRAPHS))


def test_fetch_budget_per_run_and_per_hour(page_server: LocalServer, project: Project) -> None:
    page_seeds(page_server, project, 5)
    project.config.write_text(TEST_CONFIG + "schedule:\n  max_fetches_per_run: 2\n", encoding="utf-8")
    for _ in range(3):
        assert project.run("run").returncode == 0
    per_run = [
        r["n"]
        for r in project.rows(
            "SELECT count(c.id) AS n FROM runs r LEFT JOIN captures c ON c.run_id = r.id GROUP BY r.id ORDER BY r.id"
        )
    ]
    assert per_run == [2, 2, 1], "never more than the budget; the seeds left out come next"
    assert project.rows("SELECT count(DISTINCT seed_id) AS n FROM captures")[0]["n"] == 5

    project.config.write_text(TEST_CONFIG + "schedule:\n  max_fetches_per_hour: 6\n", encoding="utf-8")
    page_seeds(page_server, project, 8)  # three more seeds, due at once
    assert project.run("run").returncode == 0
    assert project.rows("SELECT count(*) AS n FROM captures")[0]["n"] == 6, "5 fetched this hour already: 1 more"
    assert project.run("run").returncode == 0
    assert project.rows("SELECT count(*) AS n FROM captures")[0]["n"] == 6, "the hour's budget is spent"


def test_a_crawl_schedules_young_articles_by_their_age(page_server: LocalServer, project: Project) -> None:
    today = datetime.now(timezone.utc) - timedelta(hours=30)
    for seed_id, published in (("young", today.isoformat(timespec="seconds")), ("old", "2020-05-01")):
        url = page_server.page(f"/s/{seed_id}", wechat_page(TITLE, ZH_PARAGRAPHS))
        (project.seeds / f"{seed_id}.md").write_text(
            f"---\nurl: {url}\ndate: {published}\n---\n\n{seed_body(TITLE, ZH_PARAGRAPHS)}", encoding="utf-8"
        )
    assert project.run("crawl").returncode == 0
    rows = {
        r["id"]: r
        for r in project.rows(
            "SELECT s.id, s.next_due_at, c.fetched_at FROM seeds s JOIN captures c ON c.seed_id = s.id"
        )
    }
    wait = {
        k: datetime.fromisoformat(r["next_due_at"]) - datetime.fromisoformat(r["fetched_at"]) for k, r in rows.items()
    }
    # next_due_at counts from when the capture was written, a moment after fetched_at.
    assert abs(wait["young"] - timedelta(hours=1)) < timedelta(minutes=1), "a day-old article is due within the hour"
    assert abs(wait["old"] - timedelta(days=1)) < timedelta(minutes=1), "an old one starts at the seed's interval"

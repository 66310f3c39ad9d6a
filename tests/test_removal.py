"""The pure parts of change intelligence: removal signs, the seed state machine and metadata drift."""

from __future__ import annotations

import pytest

from crawler.config import load_settings
from crawler.changes.metadata import MetadataChange, metadata_changes
from crawler.errors import ConfigError
from crawler.changes.removal import Page, RemovalRules, assess, removal_reason
from crawler.changes.seed_state import SeedState, next_seed_state
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, wechat_page
from test_changes import not_found_page, wechat_notice

ARTICLE_TEXT = "\n".join(ZH_PARAGRAPHS)


def page(
    html: str,
    text: str = "",
    url: str = "https://example.org/news/1.html",
    final_url: str | None = None,
    redirects: tuple[str, ...] = (),
    reference: str | None = ARTICLE_TEXT,
) -> Page:
    """A Page as the capture analysis builds it."""
    return Page(url, final_url or url, redirects, html, text, reference)


def test_redirect_to_home_page_is_a_soft_404_but_not_from_a_home_page():
    home = "<html><body><p>Welcome</p></body></html>"
    moved = page(home, "Welcome", final_url="https://example.org/", redirects=("https://example.org/news/1.html",))
    assert removal_reason(moved) == "soft 404: redirected to the site's home page https://example.org/"
    # http -> https of a home page, or a redirect to another article, is no removal.
    start = page(
        home, "Welcome", url="http://example.org/", final_url="https://example.org/", redirects=("http://example.org/",)
    )
    assert removal_reason(start) is None
    other = page(
        home, "Welcome", final_url="https://example.org/news/2.html", redirects=("https://example.org/news/1.html",)
    )
    assert removal_reason(other) is None
    assert removal_reason(moved, RemovalRules(home_redirect=False)) is None


def test_wechat_notice_template_but_not_an_article_with_a_dialog():
    assert (
        removal_reason(page(wechat_notice("此内容因违规无法查看"), "此内容因违规无法查看"))
        == "WeChat notice: 此内容因违规无法查看"
    )
    assert removal_reason(page(wechat_notice(""), "")) == "WeChat notice page (weui-msg) instead of the article"
    # An article page that also carries a weui-msg dialog (sharing prompts do) keeps its article.
    short_article = wechat_page("短文", ["今天只说一句话。"]).replace(
        "</body>", '<div class="weui-msg"><h2 class="weui-msg__title">分享成功</h2></div></body>'
    )
    assert removal_reason(page(short_article, "今天只说一句话。", reference=None)) is None


def test_verification_wall_is_a_failed_fetch_not_a_removal():
    wall = page(wechat_notice("环境异常", "当前环境异常，完成验证后即可继续访问。"), "")
    verdict = assess(wall)
    assert (verdict.outcome, verdict.cause, verdict.error) == (
        "failed",
        "blocked_by_site",
        "blocked: a verification page instead of the article ('环境异常'); retried later",
    )
    assert removal_reason(wall) is None


def test_builtin_notices_only_on_pages_without_an_article():
    quoting = ZH_PARAGRAPHS + ["他收藏的文章打开后只剩一句“该内容已被发布者删除”。"]
    html = article_page("标题", quoting)
    assert removal_reason(page(html, "\n".join(quoting))) is None
    short = article_page("标题", ["该内容已被发布者删除"])
    assert (
        removal_reason(page(short, "该内容已被发布者删除", reference=None))
        == "takedown notice on the page: '该内容已被发布者删除'"
    )


def test_configured_notices_apply_to_their_domain_only():
    html = article_page("Budget", EN_PARAGRAPHS + ["This story was withdrawn."], lang="en")
    text = "\n".join(EN_PARAGRAPHS + ["This story was withdrawn."])
    rules = RemovalRules(notices={"example.org": [r"story was withdrawn"]})
    assert removal_reason(page(html, text, url="https://www.example.org/a"), rules) == (
        "takedown notice on the page: 'story was withdrawn' (removal.notices)"
    )
    assert removal_reason(page(html, text, url="https://example.com/a"), rules) is None
    everywhere = RemovalRules(notices={"*": [r"story was withdrawn"]})
    assert removal_reason(page(html, text, url="https://example.com/a"), everywhere) is not None


def test_collapse_needs_not_found_wording_and_a_reference():
    gone = not_found_page()
    reason = removal_reason(page(gone, ""))
    assert reason is not None and reason.startswith("soft 404: text fell to 0 of ") and "页面不存在" in reason
    # Without a previous text (and no saved original) there is nothing to have collapsed from.
    assert removal_reason(page(gone, "", reference=None)) is None
    # A short page without such wording is a short page.
    brief = article_page("休刊", ["本周休刊一期。"])
    assert removal_reason(page(brief, "本周休刊一期。")) is None
    # Not-found wording inside a full article is the article's own text.
    lost = ZH_PARAGRAPHS + ["页面不存在的链接越来越多。"]
    assert removal_reason(page(article_page("标题", lost), "\n".join(lost))) is None
    custom = article_page("x", ["Dieser Artikel ist nicht mehr verfügbar."])
    assert removal_reason(page(custom, "")) is None
    assert removal_reason(page(custom, ""), RemovalRules(not_found=[r"nicht mehr verfügbar"])) is not None


def run_states(outcomes: list[str], confirm: int = 2) -> list[SeedState]:
    """The states after each outcome, the n-th capture at time Tn."""
    state, seen = SeedState(), []
    for n, outcome in enumerate(outcomes):
        state = next_seed_state(state, outcome, f"T{n}", confirm)
        seen.append(state)
    return seen


def test_state_changes_after_agreeing_captures():
    seen = run_states(["new_version", "failed", "unchanged", "removed", "no_content", "removed", "gone"])
    assert [s.state for s in seen] == ["alive", "alive", "alive", "alive", "alive", "removed", "removed"]
    assert seen[0].state_since == "T0" and seen[5].state_since == "T3", "dated from the first agreeing capture"
    assert seen[1].pending_state == "failing" and seen[2].pending_state is None
    assert seen[4].pending_count == 1, "no_content neither confirms nor breaks a run"
    assert seen[5].last_seen_alive_at == "T2"
    assert (seen[6].pending_state, seen[6].pending_count, seen[6].pending_since) == ("gone", 1, "T6")


def test_first_state_alive_at_once_anything_else_confirmed():
    assert [s.state for s in run_states(["gone", "gone"])] == [None, "gone"]
    assert [s.state for s in run_states(["failed", "unchanged"])] == [None, "alive"]
    assert [s.state for s in run_states(["removed"] * 3, confirm=3)] == [None, None, "removed"]
    assert [s.state for s in run_states(["removed", "removed"], confirm=1)] == ["removed", "removed"]


def test_metadata_drift():
    known = {"title": "Old title", "author": "Li Ming", "published": "2024-03-01"}
    assert metadata_changes(known, {"title": "New title", "author": None, "published": "2024-03-01"}) == [
        MetadataChange("title", "Old title", "New title")
    ]
    assert metadata_changes(known, {"title": " Old  title ", "author": "Li Ming", "published": "2024-05-20"}) == [
        MetadataChange("published", "2024-03-01", "2024-05-20")
    ]
    assert metadata_changes({"title": None}, {"title": "Now titled"}) == [MetadataChange("title", None, "Now titled")]
    assert metadata_changes(None, {"title": "First"}) == []


def test_bad_notice_pattern_is_a_config_error(tmp_path):
    path = tmp_path / "crawler.yaml"
    path.write_text('removal:\n  notices:\n    example.org: ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"bad value for 'removal\.notices\.example\.org\.0\.pattern' .*'\(unclosed' is not a regular expression",
    ):
        load_settings(path, environ={})

"""Is the article gone although the page answered? Takedown notices and soft 404s, with their causes (pure: no I/O).

Four signs, checked in order, each giving a typed cause (``CAUSES``), the notice the page showed
and a one-line reason for ``captures.error`` (a verification wall shown instead of the article,
such as WeChat's 环境异常 page, is a failed fetch with cause ``blocked_by_site`` instead):

1. a redirect that ends on the site's home page (the classic soft 404);
2. WeChat's notice template (``div.weui-msg``) in place of an article (``#js_content``);
3. a notice pattern (built-in takedown wording, or ``removal.notices`` for the page's domain);
4. text that collapsed to a small share of the previous version (or of the saved original, before
   the first version) on a page that says "not found" (页面不存在, page not found, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping, Sequence
from urllib.parse import urlsplit

from crawler.urls import domain_key, host_in, host_of

if TYPE_CHECKING:
    import lxml.html

# Why an article was taken down: the vocabulary of captures.cause for outcome `removed`
# (docs/takedowns.md). The words are what feeds and notifications say when a page shows no notice.
CAUSES: dict[str, str] = {
    "author_deleted": "deleted by its author or publisher",
    "account_closed": "the account was closed by its owner",
    "censored": "taken down for violating regulations",
    "account_blocked": "the whole account was blocked",
    "account_migrated": "the account moved elsewhere",
    "complaint": "taken down after a complaint (infringement or many reports)",
    "expired": "the link expired",
    "soft_404": "the site answers with its home page or a not-found page",
    "taken_down": "a takedown notice that does not say why",
}
# The cause of a failed capture that is the site's doing, not the article's: never a removal.
BLOCKED_BY_SITE = "blocked_by_site"
FAILURE_CAUSES: dict[str, str] = {
    BLOCKED_BY_SITE: "a verification page, captcha or rate limit instead of the article",
}
ALL_CAUSES: dict[str, str] = {**CAUSES, **FAILURE_CAUSES}
DEFAULT_NOTICE_CAUSE = "taken_down"

# Takedown wording that is never an article's own text on a page that has (almost) no article,
# each with its cause; the first that matches decides (specific wording before generic).
# WeChat's notices first (counted in WeChatscope's feed), then common Chinese and English phrasings.
BUILTIN_NOTICE_CAUSES: tuple[tuple[str, str], ...] = (
    (r"此内容被投诉且经审核涉嫌侵权|涉嫌侵权，无法查看", "complaint"),
    (r"此内容被(?:多人)?投诉", "complaint"),
    (r"此内容因违规无法查看", "censored"),
    (r"此内容因涉嫌违反相关法律法规", "censored"),
    (r"已停止访问该网页", "censored"),
    (r"(?:帐|账)号已自主注销", "account_closed"),
    (r"(?:该|此)(?:公众)?(?:帐|账)号已(?:被)?(?:屏蔽|封禁|冻结)", "account_blocked"),
    (r"(?:该|此)(?:公众)?(?:帐|账)号(?:已被|因违规)", "account_blocked"),
    (r"(?:该|此)?公众号已迁移|(?:帐|账)号已迁移", "account_migrated"),
    (r"链接已过期", "expired"),
    (r"该内容已被发布者删除", "author_deleted"),
    (r"(?:该|此|本)(?:内容|文章|页面|帖子|博文)已被?(?:作者|发布者|博主)删除", "author_deleted"),
    (r"(?:该|此|本)(?:内容|文章|页面|帖子|博文)已被?(?:管理员)?删除", "taken_down"),
    (r"(?:内容|文章)已(?:下架|删除|被删除)", "taken_down"),
    (r"this (?:content|article|post|page) (?:has been|was) (?:removed|deleted|taken down)", "taken_down"),
    (r"(?:content|article|post) (?:is )?no longer available", "taken_down"),
)
BUILTIN_NOTICES: tuple[str, ...] = tuple(pattern for pattern, _ in BUILTIN_NOTICE_CAUSES)

# "Not found" wording: with a collapsed text it says the article is gone; alone it proves nothing.
BUILTIN_NOT_FOUND: tuple[str, ...] = (
    r"页面(?:不存在|未找到|找不到|已删除|走丢)",
    r"找不到(?:该|您要的|你要的|您访问的|相关)?(?:页面|文章|内容)",
    r"(?:文章|内容|资源|帖子)不存在",
    r"\b404\b",
    r"page not found",
    r"\bnot found\b",
    r"(?:does not|doesn't|no longer) exists?",
    r"(?:could not|cannot|can't|couldn't) be found",
    r"no longer available",
)

# A verification wall, captcha or rate limit shown instead of the article (WeChat's "环境异常" page
# uses the same weui-msg template as its takedown notices): the article may well be there, so the
# capture fails with cause blocked_by_site: never a removal, never a version.
BUILTIN_BLOCKED: tuple[str, ...] = (
    r"环境异常",
    r"完成验证后即可继续访问",
    r"请(?:先)?完成(?:安全|身份|人机)?验证",
    r"(?:请)?(?:输入|填写)验证码",
    r"(?:访问|操作|请求)(?:过于|太)频繁",
    r"请在微信客户端打开",
    r"verify (?:that )?you are (?:a )?human",
    r"are you a robot",
    r"complete the (?:security check|captcha)",
)

# Paths that are a site's home page.
_HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/index.shtml", "/default.aspx", "/home"})
_INVISIBLE_TAGS = ("script", "style", "noscript", "template")


@dataclass(frozen=True)
class RemovalRules:
    """What counts as a removal (from the config's removal: section)."""

    # Domain (a host or a parent domain; "*" for every site) -> its notices: a regular expression
    # (cause taken_down) or a (regular expression, cause) pair; cause blocked_by_site makes a wall.
    notices: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    not_found: Sequence[str] = ()  # extra not-found wording, for every site
    collapse_ratio: float = 0.2  # text at most this share of the previous one has collapsed
    notice_max_chars: int = 200  # built-in notices count only on pages with no longer article text
    home_redirect: bool = True


@dataclass(frozen=True)
class Page:
    """What the capture analysis knows about one answered page."""

    url: str  # requested
    final_url: str | None
    redirects: Sequence[str]
    html: str
    text: str  # extracted article text, "" when none
    reference: str | None  # the latest version's text, else the seed's original


@dataclass(frozen=True)
class Verdict:
    """A page that is no article: removed (with a cause from CAUSES) or failed (blocked_by_site)."""

    outcome: str  # removed | failed
    cause: str
    error: str  # the one-line reason kept in captures.error
    notice: str | None = None  # what the page said (the notice's wording), when it said something


def removal_reason(page: Page, rules: RemovalRules = RemovalRules()) -> str | None:
    """Why page is a removed article, or None when it is not."""
    verdict = assess(page, rules)
    return verdict.error if verdict and verdict.outcome == "removed" else None


def notice_cause(notice: str, default: str = DEFAULT_NOTICE_CAUSE) -> str:
    """The cause a notice's wording names (BUILTIN_NOTICE_CAUSES), else default."""
    for pattern, cause in BUILTIN_NOTICE_CAUSES:
        if _compiled(pattern).search(notice):
            return cause
    return default


def cause_words(cause: str | None, notice: str | None = None, error: str | None = None) -> str | None:
    """A cause said in words with the notice, e.g. "censored: 此内容因违规无法查看" (None without a cause)."""
    if not cause:
        return None
    return f"{cause}: {notice or error or ALL_CAUSES.get(cause, cause)}"


def assess(page: Page, rules: RemovalRules = RemovalRules()) -> Verdict | None:
    """A Verdict for a removed article or a verification wall, else None (an article, or no verdict)."""
    if rules.home_redirect and page.redirects:
        home = _home_redirect(page.url, page.final_url)
        if home:
            return Verdict("removed", "soft_404", f"soft 404: redirected to the site's home page {home}")
    chars = _chars(page.text)
    short = chars <= rules.notice_max_chars
    configured = _domain_patterns(rules.notices, page.final_url or page.url)
    collapsed = bool(page.reference) and chars <= rules.collapse_ratio * _chars(page.reference or "")
    if not (short or configured or collapsed):
        # A long article: nothing in it can be a notice (the common case costs no second parse).
        return None
    # Imported here: the config imports this module, and the CLI should not load trafilatura to read it.
    from trafilatura import load_html

    tree = load_html(page.html) if page.html.strip() else None
    if tree is None:
        return None
    notice = _wechat_notice(tree) if short else None
    visible = _visible_text(tree)
    if short:
        match = _first_match(BUILTIN_BLOCKED, visible)
        if match:
            return Verdict(
                "failed",
                BLOCKED_BY_SITE,
                f"blocked: a verification page instead of the article ({_quote(match)}); retried later",
                _shorten(notice or match),
            )
    for pattern, cause in configured:
        match = _compiled(pattern).search(visible)
        if match:
            wording = _shorten(match.group())
            if cause == BLOCKED_BY_SITE:
                return Verdict(
                    "failed",
                    cause,
                    f"blocked: a verification page instead of the article ({_quote(wording)}, removal.notices); "
                    "retried later",
                    wording,
                )
            return Verdict(
                "removed", cause, f"takedown notice on the page: {_quote(wording)} (removal.notices)", wording
            )
    if short and notice is not None:
        if notice:
            return Verdict("removed", notice_cause(notice), f"WeChat notice: {notice}", _shorten(notice))
        return Verdict("removed", DEFAULT_NOTICE_CAUSE, "WeChat notice page (weui-msg) instead of the article")
    if short:
        for pattern, cause in BUILTIN_NOTICE_CAUSES:
            match = _compiled(pattern).search(visible)
            if match:
                return Verdict(
                    "removed", cause, f"takedown notice on the page: {_quote(match.group())}", _shorten(match.group())
                )
    if collapsed:
        match = _first_match((*BUILTIN_NOT_FOUND, *rules.not_found), visible)
        if match:
            base = _chars(page.reference or "")
            return Verdict(
                "removed",
                "soft_404",
                f"soft 404: text fell to {chars} of {base} characters and the page says {_quote(match)}",
                _shorten(match),
            )
    return None


def _home_redirect(url: str, final_url: str | None) -> str | None:
    """The home page URL a redirect ended on, when the requested URL was not a home page itself."""
    if not final_url:
        return None
    try:
        start, end = urlsplit(url), urlsplit(final_url)
    except ValueError:
        return None
    if (
        end.path.lower() in _HOME_PATHS
        and not end.query
        and not (start.path.lower() in _HOME_PATHS and not start.query)
    ):
        return final_url
    return None


def _wechat_notice(tree: lxml.html.HtmlElement) -> str | None:
    """The title of WeChat's weui-msg notice when it stands in for the article ("" untitled), else None."""
    if not tree.xpath("//div[contains(concat(' ', normalize-space(@class), ' '), ' weui-msg ')]"):
        return None
    # An article page that happens to carry a weui-msg dialog is still an article.
    if any(" ".join(node.text_content().split()) for node in tree.xpath("//*[@id='js_content']")):
        return None
    parts = tree.xpath("//*[contains(@class, 'weui-msg__title') or contains(@class, 'weui-msg__desc')]")
    return " ".join(" ".join(p.text_content().split()) for p in parts).strip()


def _visible_text(tree: lxml.html.HtmlElement) -> str:
    """The page's title and body text without scripts and styles, whitespace collapsed."""
    from lxml import etree

    etree.strip_elements(tree, *_INVISIBLE_TAGS, with_tail=False)
    return " ".join(tree.text_content().split())


def _domain_patterns(notices: Mapping[str, Sequence[Any]], url: str) -> list[tuple[str, str]]:
    """The configured (pattern, cause) pairs that apply to url's host ("*" applies everywhere)."""
    host = host_of(url)
    found: list[tuple[str, str]] = []
    for domain, patterns in notices.items():
        if domain_key(domain) == "*" or host_in(host, domain):
            found.extend(notice_entry(entry) for entry in patterns)
    return found


def notice_entry(entry: Any) -> tuple[str, str]:
    """A configured notice as (pattern, cause): a bare pattern, a pair, or a mapping with pattern and cause."""
    if isinstance(entry, str):
        return entry, DEFAULT_NOTICE_CAUSE
    if isinstance(entry, Mapping):
        return entry["pattern"], entry.get("cause") or DEFAULT_NOTICE_CAUSE
    pattern, cause = entry
    return pattern, cause or DEFAULT_NOTICE_CAUSE


def _first_match(patterns: Sequence[str], text: str) -> str | None:
    """The text matched by the first pattern that matches, else None."""
    for pattern in patterns:
        match = _compiled(pattern).search(text)
        if match:
            return match.group()
    return None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    """A case-insensitive compiled pattern, compiled once per process."""
    return re.compile(pattern, re.IGNORECASE)


_WHITESPACE = re.compile(r"\s+")


def _chars(text: str) -> int:
    """Characters of text that are not whitespace (a length that CJK and Latin text share)."""
    return len(_WHITESPACE.sub("", text))


def _shorten(text: str, limit: int = 200) -> str:
    """Notice wording as stored: whitespace collapsed, at most limit characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(matched: str) -> str:
    """A matched phrase for an error message, shortened."""
    matched = " ".join(matched.split())
    return f"'{matched[:80]}'"

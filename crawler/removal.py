"""Is the article gone although the page answered? Takedown notices and soft 404s (pure: no I/O).

Four signs, checked in order, each giving a reason for ``captures.error`` (a verification wall
shown instead of the article, such as WeChat's 环境异常 page, is a failed fetch instead):

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
from typing import TYPE_CHECKING, Mapping, Sequence
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import lxml.html

# Takedown wording that is never an article's own text on a page that has (almost) no article:
# WeChat's notices first, then common Chinese and English phrasings.
BUILTIN_NOTICES: tuple[str, ...] = (
    r"该内容已被发布者删除",
    r"此内容因违规无法查看",
    r"链接已过期",
    r"此内容被(?:多人)?投诉",
    r"此内容因涉嫌违反相关法律法规",
    r"(?:该|此)(?:公众)?(?:帐|账)号(?:已被|因违规)",
    r"已停止访问该网页",
    r"(?:该|此|本)(?:内容|文章|页面|帖子|博文)已被?(?:作者|发布者|管理员)?删除",
    r"(?:内容|文章)已(?:下架|删除|被删除)",
    r"this (?:content|article|post|page) (?:has been|was) (?:removed|deleted|taken down)",
    r"(?:content|article|post) (?:is )?no longer available",
)

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

# A verification wall or rate limit shown instead of the article (WeChat's "环境异常" page uses the
# same weui-msg template as its takedown notices): the article may well be there, so not a removal.
BUILTIN_BLOCKED: tuple[str, ...] = (
    r"环境异常",
    r"完成验证后即可继续访问",
    r"访问过于频繁",
    r"请在微信客户端打开",
)

# Paths that are a site's home page.
_HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/index.shtml", "/default.aspx", "/home"})
_INVISIBLE_TAGS = ("script", "style", "noscript", "template")


@dataclass(frozen=True)
class RemovalRules:
    """What counts as a removal (from the config's removal: section)."""

    # Domain (a host or a parent domain; "*" for every site) -> regular expressions of its notices.
    notices: Mapping[str, Sequence[str]] = field(default_factory=dict)
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


def removal_reason(page: Page, rules: RemovalRules = RemovalRules()) -> str | None:
    """Why page is a removed article, or None when it is not."""
    verdict = assess(page, rules)
    return verdict[1] if verdict and verdict[0] == "removed" else None


def assess(page: Page, rules: RemovalRules = RemovalRules()) -> tuple[str, str] | None:
    """("removed", why) for a removed article, ("failed", why) for a verification wall, else None."""
    if rules.home_redirect and page.redirects:
        home = _home_redirect(page.url, page.final_url)
        if home:
            return "removed", f"soft 404: redirected to the site's home page {home}"
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
            return "failed", f"blocked: a verification page instead of the article ({_quote(match)}); retried later"
        if notice is not None:
            return "removed", f"WeChat notice: {notice}" if notice else "WeChat notice page (weui-msg) instead of the article"
    for pattern in configured:
        match = _compiled(pattern).search(visible)
        if match:
            return "removed", f"takedown notice on the page: {_quote(match.group())} (removal.notices)"
    if short:
        match = _first_match(BUILTIN_NOTICES, visible)
        if match:
            return "removed", f"takedown notice on the page: {_quote(match)}"
    if collapsed:
        match = _first_match((*BUILTIN_NOT_FOUND, *rules.not_found), visible)
        if match:
            base = _chars(page.reference or "")
            return "removed", f"soft 404: text fell to {chars} of {base} characters and the page says {_quote(match)}"
    return None


def _home_redirect(url: str, final_url: str | None) -> str | None:
    """The home page URL a redirect ended on, when the requested URL was not a home page itself."""
    if not final_url:
        return None
    try:
        start, end = urlsplit(url), urlsplit(final_url)
    except ValueError:
        return None
    if end.path.lower() in _HOME_PATHS and not end.query and not (start.path.lower() in _HOME_PATHS and not start.query):
        return final_url
    return None


def _wechat_notice(tree: lxml.html.HtmlElement) -> str | None:
    """The title of WeChat's weui-msg notice when it stands in for the article ("" untitled), else None."""
    if not tree.xpath("//div[contains(concat(' ', normalize-space(@class), ' '), ' weui-msg ')]"):
        return None
    # An article page that happens to carry a weui-msg dialog is still an article.
    if any(" ".join(node.text_content().split()) for node in tree.xpath("//*[@id='js_content']")):
        return None
    parts = tree.xpath(
        "//*[contains(@class, 'weui-msg__title') or contains(@class, 'weui-msg__desc')]"
    )
    return " ".join(" ".join(p.text_content().split()) for p in parts).strip()


def _visible_text(tree: lxml.html.HtmlElement) -> str:
    """The page's title and body text without scripts and styles, whitespace collapsed."""
    from lxml import etree

    etree.strip_elements(tree, *_INVISIBLE_TAGS, with_tail=False)
    return " ".join(tree.text_content().split())


def _domain_patterns(notices: Mapping[str, Sequence[str]], url: str) -> list[str]:
    """The configured notice patterns that apply to url's host ("*" applies everywhere)."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        host = ""
    found: list[str] = []
    for domain, patterns in notices.items():
        domain = domain.strip().strip(".").lower()
        if domain == "*" or (host and (host == domain or host.endswith("." + domain))):
            found.extend(patterns)
    return found


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


def _quote(matched: str) -> str:
    """A matched phrase for an error message, shortened."""
    matched = " ".join(matched.split())
    return f"'{matched[:80]}'"


def check_patterns(patterns: Sequence[str]) -> None:
    """Raise ValueError naming the first pattern that is not a valid regular expression."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None

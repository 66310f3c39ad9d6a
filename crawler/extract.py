"""Article text and metadata from a fetched page: a site profile's body first, trafilatura on the whole page otherwise."""

from __future__ import annotations

import codecs
import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence
from urllib.parse import urlsplit

import charset_normalizer
import lxml.html
from cssselect import SelectorError
from lxml import etree
from lxml.cssselect import CSSSelector
from lxml.html import builder as E
from trafilatura import bare_extraction, extract_metadata
from trafilatura.settings import Extractor
from w3lib.encoding import html_to_unicode, resolve_encoding


@lru_cache(maxsize=256)
def _compile(css: str) -> CSSSelector:
    """Compile a CSS selector once; profiles reuse a handful of them on every page."""
    return CSSSelector(css)


@dataclass(frozen=True)
class SiteProfile:
    """CSS selectors describing one site's article template."""

    name: str
    domains: tuple[str, ...] = ()
    content: str = ""
    title: str | None = None
    author: str | None = None
    signature: str | None = None

    def __post_init__(self) -> None:
        """Normalise domains and reject invalid selectors when the profile is built, not on the first page."""
        # Config hands over lists and mixed case; matching wants a hashable, lower-case tuple.
        object.__setattr__(self, "domains", tuple(d.strip().strip(".").lower() for d in self.domains if d.strip()))
        for css in (self.content, self.title, self.author, self.signature):
            if css:
                try:
                    _compile(css)
                except SelectorError as err:
                    raise ValueError(f"site profile {self.name!r}: invalid CSS selector {css!r}: {err}") from err


BUILTIN_PROFILES: tuple[SiteProfile, ...] = (
    SiteProfile(
        name="wechat",
        domains=("mp.weixin.qq.com",),
        content="#js_content",
        title="#activity-name",
        author="#js_name",
        signature="div#js_content.rich_media_content",
    ),
    SiteProfile(
        name="csdn",
        domains=("blog.csdn.net",),
        content="#content_views",
        title="h1#articleContentId, h1.title-article",
        author=".follow-nickName, #uid",
        signature="div#content_views",
    ),
)


@dataclass(frozen=True)
class Extracted:
    """Main text of a page and its metadata."""

    text: str
    title: str | None
    author: str | None
    date: str | None
    sitename: str | None
    canonical_url: str | None
    profile: str | None
    language: str | None = None


# Built once: an Extractor only holds static settings and trafilatura copies it before changing
# anything, so sharing it across calls and threads is safe. No url and no metadata here: metadata
# is extracted per call (extract_metadata) so that htmldate's "no date after today" bound is
# computed per page, not frozen at import time in a long-running scheduler.
_PAGE_OPTIONS = Extractor(output_format="python", comments=False, tables=True)
# The profile's subtree is the article by construction: favour recall so short posts are kept.
_SUBTREE_OPTIONS = Extractor(output_format="python", comments=False, tables=True, recall=True)

_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)
# lxml refuses a str that still carries an encoding declaration; the text is already decoded.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Control characters that never occur in HTML text but fill binary files (PDF streams, images).
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BINARY_SAMPLE = 4096
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_LANGUAGE_XPATH = etree.XPath(
    "//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language')='content-language']/@content"
    " | //meta[@property='og:locale']/@content"
)


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode a response body: HTTP charset, BOM, <meta> declaration, then detection."""
    _, text = html_to_unicode(content_type, body, auto_detect_fun=_detect_encoding)
    return text


def _detect_encoding(body: bytes) -> str | None:
    """Guess the encoding of a body that declares none."""
    try:
        # Incremental so that a body truncated inside a multi-byte character still counts as UTF-8.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    match = charset_normalizer.from_bytes(body).best()
    if match is None:
        return None
    # w3lib only widens declared encodings (gb2312 -> gb18030); do the same for detected ones.
    return resolve_encoding(match.encoding)


def choose_profile(
    html_tree_or_html: lxml.html.HtmlElement | str,
    url: str,
    profiles: Sequence[SiteProfile] = BUILTIN_PROFILES,
) -> SiteProfile | None:
    """Pick the profile whose domain matches the URL's host, else the first whose signature is in the page."""
    host = _hostname(url)
    if host:
        for profile in profiles:
            if any(host == domain or host.endswith("." + domain) for domain in profile.domains):
                return profile
    if isinstance(html_tree_or_html, str):
        tree = _parse(html_tree_or_html)
        if tree is None:
            return None
    else:
        tree = html_tree_or_html
    for profile in profiles:
        if profile.signature and _compile(profile.signature)(tree):
            return profile
    return None


def extract(html: str, url: str, profiles: Sequence[SiteProfile] = BUILTIN_PROFILES) -> Extracted | None:
    """Extract the main text and metadata of a page; None when it has no main content."""
    tree = _parse(html)
    if tree is None:
        return None
    profile = choose_profile(tree, url, profiles)
    text = _profile_text(tree, profile) if profile is not None else None
    if text is None:
        profile = None
        document = bare_extraction(tree, options=_PAGE_OPTIONS)
        text = _clean_text(document.text) if document is not None else None
        if text is None:
            return None
    # default_url stays None so canonical_url is what the page declares, never the fetch URL echoed back.
    meta = extract_metadata(tree)
    title = author = None
    if profile is not None:
        title = _first_text(tree, profile.title)
        author = _first_text(tree, profile.author)
    return Extracted(
        text=text,
        title=title or meta.title,
        author=author or meta.author,
        date=meta.date,
        sitename=meta.sitename,
        canonical_url=meta.url,
        profile=profile.name if profile is not None else None,
        language=_language(tree),
    )


def _parse(html: str) -> lxml.html.HtmlElement | None:
    """Parse a whole document; None for empty, binary or unparsable input."""
    html = _XML_DECLARATION.sub("", html, count=1)
    sample = html[:_BINARY_SAMPLE]
    if len(_BINARY_CHARS.findall(sample)) > len(sample) // 100:
        return None
    try:
        return lxml.html.document_fromstring(html, parser=_PARSER)
    except (etree.ParserError, ValueError):
        # ParserError: "Document is empty"; ValueError: characters lxml cannot take.
        return None


def _hostname(url: str) -> str:
    """Lower-case host of a URL, empty when there is none."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        # Malformed URLs (e.g. an unbalanced IPv6 bracket) just match no domain.
        return ""


def _profile_text(tree: lxml.html.HtmlElement, profile: SiteProfile) -> str | None:
    """Text of the profile's content subtree, None when it is missing or empty."""
    if not profile.content:
        return None
    node = next((n for n in _compile(profile.content)(tree) if n.text_content().strip()), None)
    if node is None:
        return None
    body = copy.deepcopy(node)
    body.tail = None
    _unhide(body)
    document = bare_extraction(E.HTML(E.BODY(body)), options=_SUBTREE_OPTIONS)
    return _clean_text(document.text) if document is not None else None


def _unhide(root: lxml.html.HtmlElement) -> None:
    """Drop inline styles that would make trafilatura discard visible article text."""
    # trafilatura discards every element whose style mentions "hidden": that catches WeChat's
    # #js_content (visibility: hidden until its script runs) and the overflow: hidden layout
    # boxes of WeChat editors. Only display: none below the root is really invisible.
    root.attrib.pop("style", None)
    for element in root.iterdescendants(etree.Element):
        style = element.get("style")
        if style is not None and not _DISPLAY_NONE.search(style):
            del element.attrib["style"]


def _clean_text(text: str | None) -> str | None:
    """One paragraph per line, blank lines and surrounding spaces dropped; None when empty."""
    if not text:
        return None
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line) or None


def _first_text(tree: lxml.html.HtmlElement, css: str | None) -> str | None:
    """Whitespace-collapsed text of the first element matching css that has any."""
    if not css:
        return None
    for element in _compile(css)(tree):
        text = " ".join(element.text_content().split())
        if text:
            return text
    return None


def _language(tree: lxml.html.HtmlElement) -> str | None:
    """Language the page declares: <html lang>, Content-Language or og:locale."""
    candidates = [tree.get("lang"), tree.get("xml:lang")]
    candidates.extend(_LANGUAGE_XPATH(tree))
    for value in candidates:
        # Content-Language may list several ("zh-CN, en"); og:locale uses "zh_CN".
        language = (value or "").split(",")[0].strip().replace("_", "-")
        if language:
            return language
    return None

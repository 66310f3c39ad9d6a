"""Article text and metadata of a fetched page: a site profile's body first, else trafilatura on the whole page."""

from __future__ import annotations

import codecs
import copy
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Sequence

import charset_normalizer
import lxml.html
from cssselect import SelectorError
from lxml import etree
from lxml.cssselect import CSSSelector
from lxml.html import builder as E
from htmldate import find_date
import trafilatura.utils
from trafilatura import bare_extraction, load_html
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document, Extractor
from w3lib.encoding import html_to_unicode, resolve_encoding

from crawler.extract.fingerprint import strip_volatile, tree_digest
from crawler.urls import host_in, host_of


# lxml.html asks a Python method for the class of every element it hands to Python code, about 5,000
# times per page in trafilatura's passes. lxml's C-level default lookup gives the same HtmlElement (and
# comment, PI, entity) classes; only form controls lose their subclasses, which trafilatura never uses.
# Extraction is ~10% faster and its output identical on the 990 corpus pages (tests/test_extract.py).
FAST_ELEMENT_CLASSES = etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement,
    comment=lxml.html.HtmlComment,
    pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity,
)


def use_fast_element_classes(parser: etree.XMLParser | None = None) -> None:
    """Give trafilatura's HTML parser (or parser) lxml's C-level element-class lookup."""
    parser = parser if parser is not None else getattr(trafilatura.utils, "HTML_PARSER", None)
    if parser is not None:
        parser.set_element_class_lookup(FAST_ELEMENT_CLASSES)


use_fast_element_classes()


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
    # SHA-256 of the page extraction read (crawler/extract/fingerprint.py): equal digests, equal extraction.
    page_digest: str | None = None


# Built once: an Extractor only holds static settings and trafilatura copies it before changing
# anything, so sharing it across calls and threads is safe. No url and no metadata here: metadata
# is extracted per call (extract_metadata) so that htmldate's "no date after today" bound is
# computed per page, not frozen at import time in a long-running scheduler.
_PAGE_OPTIONS = Extractor(output_format="python", comments=False, tables=True)
# The profile's subtree is the article by construction: favour recall so short posts are kept.
_SUBTREE_OPTIONS = Extractor(output_format="python", comments=False, tables=True, recall=True)

_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# "<script .../>" opens a script in HTML (browsers ignore the slash on non-void elements) but closes
# it for libxml2, whose tree then holds the code as page text: it would be extracted and, changing
# on every visit, make versions out of scripts.
_SELF_CLOSED_RAW = re.compile(r"<((?:script|style)\b[^<>]*?)\s*/>", re.IGNORECASE)
# A numeric character reference to a character XML forbids (C0 controls but tab, line feed and
# carriage return; U+FFFE, U+FFFF), read as HTML reads references: at most 8 hex or 10 decimal digits,
# the ";" optional. One pass with a fixed replacement (no Python call per reference of a page).
_INVALID_REF = re.compile(
    "&#(?:[xX](?:"
    + "|".join(
        f"0{{0,{zeros}}}(?:{digits})(?![0-9a-fA-F])|0{{{zeros}}}(?:{digits})"
        for zeros, digits in ((7, "[1-8bBcCeEfF]"), (6, "1[0-9a-fA-F]"), (4, "[fF]{3}[eEfF]"))
    )
    + ")|(?:"
    + "|".join(
        f"0{{0,{zeros}}}(?:{digits})(?![0-9])|0{{{zeros}}}(?:{digits})"
        for zeros, digits in ((9, "[1-8]"), (8, "1[124-9]|2[0-9]|3[01]"), (5, "6553[45]"))
    )
    + "));?"
)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd details div dl dt fieldset figcaption figure footer form"
    " h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_CONTAINER_TAGS = ("div", "section", "article")
_LANGUAGE_XPATH = etree.XPath(
    "//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language')='content-language']/@content"
    " | //meta[@property='og:locale']/@content"
)


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode a response body: HTTP charset, BOM, <meta> declaration, then detection; valid UTF-8 wins."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=_detect_encoding)
    # Pages re-saved or re-served as UTF-8 often keep their old "gb2312" declaration (all the
    # "GBK" pages of the zh corpus do). Multi-byte GBK/Big5/Latin text is practically never
    # valid UTF-8, so a body that is valid, non-ASCII UTF-8 is decoded as UTF-8 whatever it declares.
    if codecs.lookup(encoding).name != "utf-8" and not body.isascii() and _is_utf8(body):
        return body.decode("utf-8-sig", errors="replace")
    if content_type and not _decodes_as(body, encoding):
        # The HTTP charset does not fit the bytes (a GBK page served as "charset=utf-8"): ignore the
        # header and use the page's own <meta> declaration or detection, as browsers effectively do.
        return html_to_unicode(None, body, auto_detect_fun=_detect_encoding)[1]
    return text


def _decodes_as(body: bytes, encoding: str) -> bool:
    """True when body decodes strictly as encoding (a character cut off at the end allowed)."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(body, final=False)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _is_utf8(body: bytes) -> bool:
    """True when body is valid UTF-8, allowing a multi-byte character cut off at the end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _detect_encoding(body: bytes) -> str | None:
    """Guess the encoding of a body that declares none."""
    if _is_utf8(body):
        return "utf-8"
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
    host = host_of(url)
    if host:
        for profile in profiles:
            if any(host_in(host, domain) for domain in profile.domains):
                return profile
    tree = load_html(html_tree_or_html) if isinstance(html_tree_or_html, str) else html_tree_or_html
    if tree is None:
        return None
    for profile in profiles:
        if profile.signature and _compile(profile.signature)(tree):
            return profile
    return None


def load_page(html: str) -> lxml.html.HtmlElement | None:
    """The page as extraction parses it (None for empty or non-HTML input); never raises."""
    # trafilatura's own loader (lxml.html underneath): it repairs input libxml2 mishandles (with
    # a DOCTYPE first line some real pages extracted to nothing) and returns None for empty or
    # non-HTML input such as a decoded PDF, so bad input never raises here.
    return load_html(loader_input(html))


def loader_input(html: str) -> str:
    """html as load_page hands it to trafilatura's loader: scripts and styles not self-closed, no XML-invalid references."""
    return drop_xml_invalid_refs(_SELF_CLOSED_RAW.sub(r"<\1>", html))


def drop_xml_invalid_refs(html: str) -> str:
    """html without character references to characters XML forbids (&#7;, &#27;, &#xFFFE;, ...)."""
    # libxml2's HTML parser turns "&#7;" into U+0007 (raw control bytes it drops); trafilatura then
    # copies that text into new lxml elements, which refuse it with a ValueError that trafilatura
    # swallows: one "&#7;" anywhere in the article made the whole page no_content. &#0; and
    # surrogates stay (U+FFFD in HTML, and in lxml already), as do code points past U+10FFFF.
    return _INVALID_REF.sub("", html) if "&#" in html else html


def extract(html: str, url: str, profiles: Sequence[SiteProfile] = BUILTIN_PROFILES) -> Extracted | None:
    """Extract the main text and metadata of a page; None when it has no main content."""
    tree = load_page(html)
    if tree is None:
        return None
    # Extraction reads the page without script code and per-request attributes, exactly what the
    # reader fingerprint hashes: a page whose fingerprint is unchanged needs no extraction.
    strip_volatile(tree)
    page_digest = tree_digest(tree)
    profile = choose_profile(tree, url, profiles)
    text = _profile_text(tree, profile) if profile is not None else None
    if text is None:
        profile = None
        document = bare_extraction(tree, options=_PAGE_OPTIONS)
        text = _document_text(document)
        # On a page without an article, trafilatura's last-resort pass returns the menu labels.
        if text is None or _only_link_labels(tree, text):
            return None
    meta = page_metadata(tree)
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
        page_digest=page_digest,
    )


def page_metadata(tree: lxml.html.HtmlElement) -> Document:
    """Title, author, canonical URL, date and site name: trafilatura's extract_metadata without what we drop.

    The same steps in the same order, minus categories, tags and licence (never stored), and with the
    date searched in two passes: htmldate's extensive search (free-text dates through dateparser)
    costs as much as all the rest, while the quick pass finds a date on ~90% of pages (the same date
    on 398 of 400 real pages checked), so the extensive pass runs only where the quick one found none.
    """
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = extract_meta_json(tree, meta)
    except Exception:  # trafilatura guards this call the same way: JSON-LD on the web is often broken
        pass
    meta.title = meta.title or extract_title(tree)
    meta.author = meta.author or extract_author(tree)
    # default_url stays None so canonical_url is what the page declares, never the fetch URL echoed back.
    meta.url = meta.url or extract_url(tree, None)
    today = datetime.now().astimezone().strftime("%Y-%m-%d")
    for extensive in (False, True):
        meta.date = find_date(tree, url=meta.url, original_date=True, extensive_search=extensive, max_date=today)
        if meta.date:
            break
    if not meta.sitename:
        meta.sitename = extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (match := META_URL.match(meta.url)):
        meta.sitename = match[1]
    meta.clean_and_trim()
    return meta


def _profile_text(tree: lxml.html.HtmlElement, profile: SiteProfile) -> str | None:
    """Text of the profile's content subtree, None when it is missing or empty."""
    if not profile.content:
        return None
    node = next((n for n in _compile(profile.content)(tree) if n.text_content().strip()), None)
    if node is None:
        return None
    document = bare_extraction(_article_document(node), options=_SUBTREE_OPTIONS)
    return _document_text(document)


def _article_document(node: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """A copy of node, reshaped into paragraphs trafilatura keeps, as the <article> of a minimal page."""
    body = copy.deepcopy(node)
    body.tail = None
    _unhide(body)
    _make_paragraphs(body)
    # Inside a bare <body>, trafilatura found no frame for some subtrees and fell back to a
    # recovery pass that skips headings; an <article> is a frame it always takes whole.
    return E.HTML(E.BODY(E.ARTICLE(body)))


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


def _make_paragraphs(root: lxml.html.HtmlElement) -> None:
    """Turn text-only sections/divs and loose text runs between blocks into <p> elements."""
    # WeChat editors write paragraphs as <section><span>text</span></section> and leave text
    # after an image's <p>; trafilatura extracts <p>-like blocks and dropped that text (a third
    # of some real articles). Sections are unknown to it, so the ones left become divs.
    for element in list(root.iterdescendants(*_CONTAINER_TAGS)):
        if not any(d.tag in _BLOCK_TAGS for d in element.iterdescendants(etree.Element)):
            element.tag = "p"
    for container in list(root.iter(*_CONTAINER_TAGS)):
        _wrap_loose_text(container)
        if container.tag == "section":
            container.tag = "div"


def _wrap_loose_text(container: lxml.html.HtmlElement) -> None:
    """Move each run of text and inline elements between container's blocks into a new <p>."""
    run = None
    if container.text and container.text.strip():
        run = E.P(container.text)
        container.text = None
        container.insert(0, run)
    for child in list(container):
        if child is run:
            continue
        if child.tag in _BLOCK_TAGS:
            run = None
            if child.tail and child.tail.strip():
                run = E.P(child.tail)
                child.tail = None
                child.addnext(run)
        else:
            if run is None:
                run = E.P()
                child.addprevious(run)
            run.append(child)  # moves the inline element together with its tail text


def _document_text(document: Document | None) -> str | None:
    """One paragraph per line, stripped, blank lines dropped; code keeps its indentation. None when empty."""
    if document is None or not document.text:
        return None
    # trafilatura leaves source indentation in some blocks (headings with child elements), but
    # in code it is meaningful: strip every line except those that come from a code block.
    code_lines = {
        line.rstrip() for code in document.body.iter("code") for line in "".join(code.itertext()).splitlines()
    }
    lines = (line.rstrip() for line in document.text.splitlines())
    kept = (line if line in code_lines else line.strip() for line in lines)
    return "\n".join(line for line in kept if line.strip()) or None


def _only_link_labels(tree: lxml.html.HtmlElement, text: str) -> bool:
    """True when every line of text is the label of a link in the page (navigation, not content)."""
    labels = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    return all(" ".join(line.split()) in labels for line in text.splitlines())


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

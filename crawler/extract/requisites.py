"""Page requisites: the images (and stylesheets) of an article, found in its extracted region; pure.

No Scrapy, no SQLite: the pipeline hands in the page and the article's text, this module says which
URLs a reader's browser would have loaded for the article, and what a fetched image is (its size in
pixels read from the header, never decoded; an SVG that carries script).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Iterable, Sequence
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree
from lxml.cssselect import CSSSelector

from crawler.urls import is_http_scheme

# Lazy-loading attributes, most specific first: WeChat uses data-src (mmbiz.qpic.cn), many CMSs
# data-original / data-lazy-src; src is often a 1x1 placeholder then, so it comes last.
LAZY_ATTRIBUTES = ("data-src", "data-original", "data-lazy-src", "data-actualsrc", "data-url", "data-echo")
SRCSET_ATTRIBUTES = ("data-srcset", "srcset")
# Placeholders a lazy loader swaps out; fetching them archives nothing a reader saw.
_PLACEHOLDER = re.compile(r"(^data:)|(/(blank|spacer|placeholder|pixel|lazy|loading)\.(gif|png|svg))", re.I)
_REGION_FALLBACK = ("article", "main", "[itemprop=articleBody]")
# Some text of the first and last paragraphs is enough to find them in the page.
_SNIPPET_CHARS = 24
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Requisite:
    """A URL the article's page loads: an image or a stylesheet, in page order."""

    url: str
    kind: str  # image | stylesheet


@dataclass
class Found:
    """The requisites of a page, and what limited them."""

    requisites: list[Requisite] = field(default_factory=list)
    images_found: int = 0  # before the count limit
    referrer_policy: str | None = None  # from <meta name="referrer">
    note: str | None = None  # why none were looked for (no region), or what the limit cut

    def as_dict(self) -> dict:
        """Plain values, to cross a process boundary and travel in an item."""
        return {
            "requisites": [(r.url, r.kind) for r in self.requisites],
            "images_found": self.images_found,
            "referrer_policy": self.referrer_policy,
            "note": self.note,
        }


def find_requisites(
    html: str,
    page_url: str,
    text: str,
    *,
    content_css: str | None = None,
    max_images: int = 50,
    stylesheets: bool = False,
) -> Found:
    """The images inside the article's region (lazy attributes included), and optionally the stylesheets.

    The region is the site profile's content node when there is one, else the smallest element holding
    both the first and the last paragraph of the extracted text, else <article>/<main>.
    """
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return Found(note="the page could not be parsed for images")
    base = _base_url(tree, page_url)
    found = Found(referrer_policy=_meta_referrer(tree))
    region = _region(tree, text, content_css)
    if region is None:
        found.note = "the article's region was not found in the page: no images fetched"
    else:
        images = list(_dedupe(_images(region, base)))
        found.images_found = len(images)
        if len(images) > max_images:
            found.note = f"{len(images)} images in the article, the first {max_images} fetched (requisites.max_images)"
        found.requisites = [Requisite(url, "image") for url in images[:max_images]]
    if stylesheets:
        known = {r.url for r in found.requisites}
        for href in tree.xpath("//link[contains(concat(' ', normalize-space(@rel), ' '), ' stylesheet ')]/@href"):
            url = _absolute(base, href)
            if url and url not in known:
                known.add(url)
                found.requisites.append(Requisite(url, "stylesheet"))
    return found


def _base_url(tree: lxml.html.HtmlElement, page_url: str) -> str:
    """The URL relative links resolve against: <base href> when the page sets one."""
    hrefs = tree.xpath("//base/@href")
    return urljoin(page_url, hrefs[0].strip()) if hrefs else page_url


def _meta_referrer(tree: lxml.html.HtmlElement) -> str | None:
    """The page's <meta name="referrer"> policy, lower-case, or None."""
    values = tree.xpath("//meta[translate(@name, 'REFERRER', 'referrer')='referrer']/@content")
    return values[0].strip().lower() if values else None


def _normalised(text: str) -> str:
    return _SPACE.sub("", text)


def _region(tree: lxml.html.HtmlElement, text: str, content_css: str | None) -> lxml.html.HtmlElement | None:
    """The element that holds the article (see find_requisites)."""
    if content_css:
        try:
            nodes = CSSSelector(content_css)(tree)
        except Exception:  # cssselect raises several types for a bad selector; the profile was checked at load
            nodes = []
        if nodes:
            return nodes[0]
    paragraphs = [p for p in (line.strip() for line in text.splitlines()) if len(_normalised(p)) >= 8]
    if paragraphs:
        first = _normalised(paragraphs[0])[:_SNIPPET_CHARS]
        last = _normalised(paragraphs[-1])[:_SNIPPET_CHARS]
        start, end = _holder(tree, first), _holder(tree, last)
        if start is not None and end is not None:
            ancestors = set(start.iterancestors()) | {start}
            node = end
            while node is not None and node not in ancestors:
                node = node.getparent()
            if node is not None and node.tag not in ("html",):
                return node
    for css in _REGION_FALLBACK:
        nodes = CSSSelector(css)(tree)
        if nodes:
            return nodes[0]
    return None


def _holder(tree: lxml.html.HtmlElement, snippet: str) -> lxml.html.HtmlElement | None:
    """The deepest element whose text contains snippet (whitespace ignored)."""
    best = None
    # Document order puts an element before its descendants: a later match inside the best one is deeper.
    for element in tree.iter("p", "div", "span", "li", "h1", "h2", "h3", "h4", "td", "section", "blockquote", "pre"):
        if best is not None and best not in element.iterancestors():
            continue
        if snippet in _normalised(element.text_content()):
            best = element
    return best


def _images(region: lxml.html.HtmlElement, base: str) -> Iterable[str]:
    """Image URLs in the region, in page order: <img> (lazy attributes first), <picture><source>, srcset."""
    for element in region.iter("img", "source", "image"):
        if element.tag == "source" and element.getparent() is not None and element.getparent().tag != "picture":
            continue  # <source> of <video>/<audio>: not an image
        chosen = None
        for name in LAZY_ATTRIBUTES + ("src", "href", "{http://www.w3.org/1999/xlink}href"):
            value = (element.get(name) or "").strip()
            # A lazy attribute names the real image by definition; src may be the loader's placeholder.
            if value and (name in LAZY_ATTRIBUTES or not _PLACEHOLDER.search(value)):
                chosen = value
                break
        if chosen is None:
            for name in SRCSET_ATTRIBUTES:
                candidate = _largest_in_srcset(element.get(name) or "")
                if candidate:
                    chosen = candidate
                    break
        url = _absolute(base, chosen) if chosen else None
        if url:
            yield url


def _largest_in_srcset(srcset: str) -> str | None:
    """The widest candidate of a srcset ("a.jpg 480w, b.jpg 1080w" -> b.jpg); the last when none says."""
    best, best_width = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        width = 0.0
        if len(bits) > 1 and bits[1][:-1].replace(".", "", 1).isdigit():
            width = float(bits[1][:-1])
        if width >= best_width and not _PLACEHOLDER.search(bits[0]):
            best, best_width = bits[0], width
    return best


def _absolute(base: str, reference: str) -> str | None:
    """reference resolved against base, without its fragment; None unless http or https."""
    try:
        url = urljoin(base, reference.strip())
    except ValueError:
        return None
    url = url.split("#", 1)[0]
    return url if is_http_scheme(urlsplit(url).scheme) and urlsplit(url).netloc else None


def _dedupe(urls: Iterable[str]) -> Iterable[str]:
    seen: set[str] = set()
    for url in urls:
        if url not in seen:
            seen.add(url)
            yield url


def referer_for(page_url: str, target_url: str, policy: str | None = None) -> str | None:
    """The Referer a browser sends for target_url from page_url (default strict-origin-when-cross-origin)."""
    page, target = urlsplit(page_url), urlsplit(target_url)
    policy = (policy or "strict-origin-when-cross-origin").strip().lower()
    same_origin = (page.scheme, page.netloc) == (target.scheme, target.netloc)
    downgrade = page.scheme == "https" and target.scheme != "https"
    full = page._replace(fragment="").geturl()
    origin = f"{page.scheme}://{page.netloc}/"
    if policy in ("no-referrer", "never"):
        return None
    if policy in ("unsafe-url", "always"):
        return full
    if policy == "origin":
        return origin
    if policy == "same-origin":
        return full if same_origin else None
    if policy == "origin-when-cross-origin":
        return full if same_origin else origin
    if policy == "no-referrer-when-downgrade" or policy == "default":
        return None if downgrade else full
    if policy == "strict-origin":
        return None if downgrade else origin
    # strict-origin-when-cross-origin, and any value browsers do not know (they keep the default).
    if same_origin:
        return full
    return None if downgrade else origin


# -- what a fetched requisite is ---------------------------------------------------

_SVG_SCRIPT = re.compile(rb"<script\b|\son[a-z]+\s*=|javascript:", re.I)


@dataclass(frozen=True)
class Inspection:
    """A fetched image's size in pixels (from its header) and any problem that keeps it out of renders."""

    width: int | None = None
    height: int | None = None
    problem: str | None = None


def inspect_image(body: bytes, mime: str | None, max_pixels: int) -> Inspection:
    """Width, height and problems of an image, read from its first bytes; nothing is decoded."""
    kind = (mime or "").split(";")[0].strip().lower()
    head = body[:64].lstrip()
    if kind == "image/svg+xml" or head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in body[:2048]):
        if _SVG_SCRIPT.search(body):
            return Inspection(problem="SVG carries script: archived as sent, never rendered or shown inline")
        return Inspection()
    size = image_size(body)
    if size is None:
        return Inspection()
    width, height = size
    if width * height > max_pixels:
        return Inspection(
            width,
            height,
            f"{width}x{height} pixels is over requisites.max_pixels ({max_pixels}): "
            "a decompression bomb? archived as sent, never decoded or rendered",
        )
    return Inspection(width, height)


def image_size(body: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, JPEG or WebP header; None for anything else or a short body."""
    try:
        if body.startswith(b"\x89PNG\r\n\x1a\n") and body[12:16] == b"IHDR":
            return struct.unpack(">II", body[16:24])
        if body[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", body[6:10])
        if body.startswith(b"RIFF") and body[8:12] == b"WEBP":
            chunk = body[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(body[24:27], "little"), 1 + int.from_bytes(body[27:30], "little")
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", body[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(body[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if body.startswith(b"\xff\xd8"):
            return _jpeg_dimensions(body)
    except struct.error:
        return None
    return None


def _jpeg_dimensions(body: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's first start-of-frame marker."""
    position = 2
    while position + 9 < len(body):
        if body[position] != 0xFF:
            return None
        marker = body[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = struct.unpack(">H", body[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", body[position + 5 : position + 9])
            return width, height
        position += 2 + length
    return None


def requisites_from(values: Sequence) -> list[Requisite]:
    """Requisites back from the (url, kind) pairs of Found.as_dict."""
    return [Requisite(url, kind) for url, kind in values]

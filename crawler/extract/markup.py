"""The markup digest: a page's decoded HTML with its volatile spans masked, hashed without parsing it.

A reader fingerprint (crawler/extract/fingerprint.py) needs the page parsed (~5 ms of CPU, and in a
crawl a trip to an extraction process). Most noise a revisit meets sits in two places: the text of a
script (a CSRF token, a render id) and the value of a `data-*`, `nonce` or `integrity` attribute. Both
are exactly what strip_volatile removes. This module finds them with one pass of regular expressions
that follow the tokenizer of libxml2 2.14 (the parser extraction uses: HTMLparser.c, whose
tokenizer follows HTML5's), replaces each with a mark, and hashes the rest. Two pages with the same
markup digest are parsed to trees that differ only in masked texts and values, which strip_volatile
removes from both: they have the same reader fingerprint, so the second needs neither parse nor
extraction.

Exactness comes first; the digest is None (ask the parser) for anything the tokenizer here does not
follow exactly:

- it reads the string extraction's loader parses (load_page's rewrites applied) and refuses, for the
  whole page, characters that loader deletes, a tag or attribute written in a form outside a strict
  subset of the syntax, a `<plaintext>`, a script or style tag closed with "/>", a comment or element
  left open;
- it masks a script's text only when strip_volatile removes that script in every page with the same
  digest: not JSON, no year standing on its own (htmldate reads those), no `<script` after a `<!--`
  (libxml2's escaped states);
- it masks an attribute's value only for ASCII names strip_volatile removes whatever their value
  says (`nonce`, `integrity`, `data-*` but those named for dates or lazy images), quoted, without a
  year, `&`, `<` or `>`;
- what trafilatura's loader decides from the page's beginning (the DOCTYPE and `<html/>` repairs, the
  "is it HTML" check) is computed and hashed with the rest, or the digest is None where it could
  depend on a masked span.

The libxml2 version is part of the digest, and other versions get None: another tokenizer may read
a page otherwise. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lxml import etree
from trafilatura.utils import DOCTYPE_TAG

from crawler.extract.article import _INVALID_REF, _SELF_CLOSED_RAW, loader_input
from crawler.extract.fingerprint import _KEPT_DATA, _has_year

# The tokenizer followed here: libxml2 2.14's HTMLparser.c (htmlParseContent, htmlParseStartTag,
# htmlParseCharData). Another version gets no digest.
TOKENIZER = (2, 14)
VERSION = f"markup-1 libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))}"
SUPPORTED = etree.LIBXML_VERSION[:2] == TOKENIZER


def _ci(word: str) -> str:
    """A regular expression for word in any ASCII case: no Unicode case folding (no "ſ" for "s")."""
    return f"(?ai:{re.escape(word)})"


# Characters trafilatura's loader deletes before parsing (INVALID_XML_CHARS): a page holding one is
# refused. Looked for one by one (str.find runs at memory speed), not in the patterns below: a
# character class with ranges costs sre about twice the time of the class without them.
_BAD_CHARS = tuple(chr(code) for code in (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF))
_WS = "[ \t\n\r]"  # libxml2's IS_WS_HTML without \f (deleted above)
_NAME_CHAR = "[^ \t\n\r/>]"
# An attribute as htmlParseAttribute reads it: a name (its first character may be anything but
# white space, "/" or ">"; then up to "/", ">", "=" or white space), then maybe "=" and a value in
# quotes or up to white space or ">". No white space is needed before it; a "/" not before ">" is skipped.
_ATTR_NAME = "[^ \t\n\r/>][^ \t\n\r/>=]*+"
_VALUE = "(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^ \t\n\r>]*+)"
# A name followed by "=" always has a value (unterminated quotes run to the end: no match here).
_ATTR = f"(?:{_WS}*+{_ATTR_NAME}(?:{_WS}*+={_WS}*+{_VALUE}|(?!{_WS}*+=))|{_WS}*+/(?!>))"
# An attribute whose value strip_volatile removes whatever it says, quoted, with no character
# reference (libxml2 decodes those in values), "<" or ">", and no year standing on its own (the
# fingerprint's _has_year: 19xx or 20xx, \d any digit, no ASCII letter or digit either side).
_YEAR = "(?<![0-9A-Za-z])(?:19|20)\\d\\d(?![0-9A-Za-z])"
_KEPT = f"(?ai:{_KEPT_DATA.pattern})"
_MASKABLE_NAME = f"(?:{_ci('data-')}(?:(?!{_KEPT})[A-Za-z0-9_.:-])*+|(?ai:nonce|integrity))(?=[ \t\n\r/>=])"
_MASKABLE = (
    f"{_WS}*+{_MASKABLE_NAME}{_WS}*+={_WS}*+"
    f"(?:\"(?P<dq>(?:[^\"&<>\\d]++|(?!{_YEAR})\\d)*+)\"|'(?P<sq>(?:[^'&<>\\d]++|(?!{_YEAR})\\d)*+)')"
)
_OTHER_ATTR = f"(?!{_MASKABLE.replace('?P<dq>', '').replace('?P<sq>', '')}){_ATTR}"
_DELIM = "(?=[ \t\n\r/>])"
# libxml2's elements with a data mode (RAWTEXT, RCDATA); script and plaintext apart.
_RAW_NAMES = ("style", "title", "textarea", "xmp", "iframe", "noembed", "noframes")
_RAW = _ci("|".join(_RAW_NAMES)).replace("\\|", "|")
_SPECIAL = _ci("|".join((*_RAW_NAMES, "script", "plaintext"))).replace("\\|", "|") + _DELIM

# What needs no look: text, a lone "<", comments, DOCTYPEs and bogus comments, end tags, start tags
# without a maskable attribute, and elements with a data mode whose tag has none (their end tag
# written in the same case as the start tag).
_RUN = (
    "(?:"
    f"[^<]++"
    "|<(?:"
    f"(?!{_SPECIAL})[A-Za-z]{_NAME_CHAR}*+(?:{_OTHER_ATTR})*+{_WS}*+/?>"
    f"|/[A-Za-z]{_NAME_CHAR}*+(?:{_ATTR})*+{_WS}*+/?>"
    "|!---?>"  # an empty comment; the others are masked (the parser drops them)
    f"|(?:!(?!--)|\\?|/(?![A-Za-z]))[^>]*+>"  # DOCTYPE, <!...>, <?...>, </ and no letter: to the first ">"
    f"|(?P<rawplain>{_RAW}){_DELIM}(?:{_OTHER_ATTR})*+{_WS}*+>"
    f"(?:[^<]++|<(?!/{_RAW}[ \t\n\r/>]))*+</(?P=rawplain)(?:{_ATTR})*+{_WS}*+/?>"
    "|(?![A-Za-z!?/])"  # "<" and a character that starts no tag is text
    "))*+"
)
# A comment's text: up to "-->" or "--!>" (libxml2's htmlParseComment).
_COMMENT_TEXT = "(?:[^-]|-(?!-!?>))*+"
_DATA = re.compile(
    _RUN + "(?:"
    "(?P<end>\\Z)"
    f"|<!--(?P<comment>{_COMMENT_TEXT})--!?>"
    f"|<(?P<script>{_ci('script')}){_DELIM}"
    f"|<(?P<raw>{_RAW}){_DELIM}"
    f"|<(?!{_SPECIAL})[A-Za-z]{_NAME_CHAR}*+(?=[ \t\n\r/])"
    ")"
)
# Inside a start tag: the attributes up to the next maskable one, or to the tag's end.
_IN_TAG = re.compile(f"(?:{_OTHER_ATTR})*+(?:{_MASKABLE}|{_WS}*+(?P<close>/?>))")
# A script's text: up to "</script" and a delimiter; "<script" only before any "<!--" (no escaped states).
_SCRIPT_TEXT = re.compile(
    f"(?:[^<]++|<(?!!--|{_ci('/script')}[ \t\n\r/>]))*+(?:<!--(?:[^<]++|<(?!/?{_ci('script')}[ \t\n\r/>]))*+)?"
)
_END_TAG = {name: re.compile(f"</{_ci(name)}(?:{_ATTR})*+{_WS}*+/?>") for name in ("script", *_RAW_NAMES)}
_RAW_TEXT = {name: re.compile(f"(?:[^<]++|<(?!/{_ci(name)}[ \t\n\r/>]))*+") for name in _RAW_NAMES}
_MASK = "\x00"  # never in an accepted page (_BAD_CHARS)
_LAYOUT = re.compile("([0-9]+)([qasc])")
_SPAN_KIND = {'"': "q", "'": "a", "-": "c"}  # by the character before a span; a script's text follows ">"
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
# A masked value's new text, up to its closing quote: nothing a value may not hold to be masked.
_VALUE_TEXT = {
    kind: re.compile(f"(?:[^{quote}&<>\\d{_CONTROL}]++|(?!{_YEAR})\\d)*+") for kind, quote in (("q", '"'), ("a", "'"))
}
_COMMENT = re.compile(_COMMENT_TEXT)
_CONTROL_CHAR = re.compile(f"[{_CONTROL}]").search
_SELF_CLOSED = _SELF_CLOSED_RAW.search
_REFERENCE = _INVALID_REF.search


@dataclass(frozen=True)
class Markup:
    """A page's markup digest, and where its masked spans were: what a later page is checked against."""

    digest: str
    # The unmasked pieces' lengths, each followed by the kind of span after it ("q": a value in
    # double quotes, "a": in single quotes, "s": a script's text), e.g. "1203q77q4100s".
    layout: str


def page_markup(html: str, url: str, media_type: str, salt: str = "") -> Markup | None:
    """A decoded page's markup digest and layout; None when it cannot be vouched for (then nothing is skipped)."""
    if not SUPPORTED or not html.strip() or loader_input(html) != html:
        # load_page's rewrites would move or reshape masked spans (a script closed "/>", a reference to
        # a control character): rare, and such pages are simply fingerprinted.
        return None
    if any(char in html for char in _BAD_CHARS):
        return None
    spans = volatile_spans(html)
    if spans is None:
        return None
    pieces, layout, last = [], [], 0
    for start, end in spans:
        pieces.append(html[last:start])
        layout.append(f"{start - last}{_SPAN_KIND.get(html[start - 1], 's')}")
        last = end
    pieces.append(html[last:])
    digest = _digest(html, pieces, url, media_type, salt)
    return Markup(digest, "".join(layout)) if digest else None


def same_markup(html: str, url: str, media_type: str, known: Markup, salt: str = "") -> bool:
    """True when html is known's page with only its masked spans changed: the same reader fingerprint.

    No tokenizer here: the pieces between known's spans must come back byte for byte (their digest
    says so), and each span's new text must end where the tokenizer ends it and stay what strip_volatile
    removes (no year, no quote or markup in a value, no escaped script, nothing load_page rewrites).
    """
    if not SUPPORTED:
        return False
    pieces, position, size = [], 0, len(html)
    for length, kind in _LAYOUT.findall(known.layout):
        piece_end = position + int(length)
        if piece_end > size:
            return False
        pieces.append(html[position:piece_end])
        if kind == "s" or kind == "c":
            end = (_SCRIPT_TEXT if kind == "s" else _COMMENT).match(html, piece_end).end()
            code = html[piece_end:end]
            if (kind == "s" and _has_year(code)) or _unsafe(code):
                return False
        else:
            end = _VALUE_TEXT[kind].match(html, piece_end).end()
            if end >= size or html[end] != ('"' if kind == "q" else "'"):
                return False
        position = end
    pieces.append(html[position:])
    return _digest(html, pieces, url, media_type, salt) == known.digest


def _unsafe(code: str) -> bool:
    """True when a script's or comment's new text holds a control character or something load_page rewrites."""
    # Substring tests first: they run at memory speed, a regular expression at a few ns a character.
    if len(code) < 256:
        bad = _CONTROL_CHAR(code) is not None
    else:
        bad = any(char in code for char in _BAD_CHARS)
    return bad or ("/>" in code and _SELF_CLOSED(code) is not None) or ("&#" in code and _REFERENCE(code) is not None)


def _digest(html: str, pieces: list[str], url: str, media_type: str, salt: str) -> str | None:
    """The digest of the unmasked pieces, with what the loader decides from the page's beginning."""
    beginning = _loader_beginning(html, len(pieces[0]) if len(pieces) > 1 else len(html))
    if beginning is None:
        return None
    head = f"{VERSION}\n{salt}\n{url}\n{media_type}\n{beginning}\n"
    return hashlib.sha1((head + _MASK.join(pieces)).encode("utf-8", "surrogatepass")).hexdigest()


def volatile_spans(text: str) -> list[tuple[int, int]] | None:
    """Where text holds script code and attribute values strip_volatile removes; None when unsure."""
    spans: list[tuple[int, int]] = []
    position = 0
    data, in_tag = _DATA.match, _IN_TAG.match
    while True:
        found = data(text, position)
        if found is None:
            return None
        if found.start("end") >= 0:
            return spans
        if found.start("comment") >= 0:
            spans.append(found.span("comment"))
            position = found.end()
            continue
        tag_start = found.end()
        name = (found.group("script") or found.group("raw") or "").lower()
        while True:  # the tag's attributes, maskable values masked
            attribute = in_tag(text, found.end())
            if attribute is None:
                return None
            found = attribute
            if attribute.start("close") >= 0:
                break
            group = "dq" if attribute.start("dq") >= 0 else "sq"
            spans.append((attribute.start(group), attribute.end(group)))
        position = found.end()
        if not name:
            continue
        if found.group("close") == "/>":
            return None  # a script or style closed XML-style: load_page's rewrite and libxml2 differ on some
        if name == "script":
            end = _SCRIPT_TEXT.match(text, position).end()
            if "json" not in text[tag_start:position].lower() and not _has_year(text[position:end]):
                spans.append((position, end))
        else:
            end = _RAW_TEXT[name].match(text, position).end()
        close = _END_TAG[name].match(text, end)
        if close is None:
            return None
        position = close.end()


def _loader_beginning(text: str, first_span: int) -> str | None:
    """What trafilatura's load_html decides from the page's beginning, or None when a masked span could change it.

    Its check for HTML reads the first 50 characters, its DOCTYPE repair the first line (and adds a
    line break to a page without one), its "<html/>" repair the first four lines of 4096 characters.
    """
    beginning = text[:50].lower()
    doctype = "doctype" in beginning
    window = text[:12288]
    if doctype:
        first_line, newline, rest = window.partition("\n")
        match = DOCTYPE_TAG.match(first_line)
        if match is not None and match.end() > first_span:
            return None
        if match is None and not newline and ">" not in first_line and len(window) < len(text):
            return None  # whether the repair applies depends on what follows the window
        kept = first_line[match.end() :] if match else first_line
        window = kept + ("\n" + rest if newline or len(window) == len(text) else "")
        if len(window) < 4096 and len(text) > 12288:
            return None
    for line in window[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            return None  # the loader rewrites the first "<html .../>", which may reach a masked span
    return f"{'html' not in beginning} {doctype} {chr(10) in text}"

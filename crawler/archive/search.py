"""Full-text search that works for Chinese: the indexed form of a text, queries, and excerpts.

SQLite's FTS5 ``unicode61`` tokenizer keeps a run of Chinese characters as one token, so "微信"
finds nothing inside "我们的微信公众号"; the ``trigram`` tokenizer cannot match two-character
words, which most Chinese queries are. So the index holds a *search form* of each text in which
every CJK character stands alone (``我 们 的 微 信 公 众 号``), and a query becomes a phrase of
the same single characters (``"微 信"``): FTS5 matches a phrase only where its tokens are
adjacent, so this is an exact substring match for Chinese, Japanese and Korean, while Latin
words stay whole words (with unicode61's case and diacritic folding). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

from crawler.changes.normalise import CJK_CLASS

# Ideographs, kana, hangul and CJK punctuation: each becomes a token of its own.
_CJK = re.compile(f"([{CJK_CLASS}])")
_SPACES = re.compile(r"\s+")
# Datasette's own query splitting: whitespace-separated words and "quoted phrases".
_QUERY_BITS = re.compile(r'\s+|(".*?")')
# Marks around the matched words in an excerpt; the Datasette plugin turns them into <mark>.
MARK_OPEN, MARK_CLOSE = "\u27e6", "\u27e7"


def search_form(text: str | None) -> str:
    """The text as indexed: NFKC (full-width letters fold), every CJK character a separate token."""
    if not text:
        return ""
    return _CJK.sub(r" \1 ", unicodedata.normalize("NFKC", text))


def query_terms(query: str | None) -> list[str]:
    """The words and "phrases" of a search box query, without their quotes."""
    if not query:
        return []
    if query.count('"') % 2:
        query += '"'
    bits = (bit.strip('"').strip() for bit in _QUERY_BITS.split(query) if bit)
    return [bit for bit in bits if bit]


def fts_query(query: str | None) -> str:
    """An FTS5 MATCH expression: every term must occur, each as an exact phrase in search form."""
    phrases = []
    for term in query_terms(query):
        tokens = _SPACES.sub(" ", search_form(term)).strip()
        if tokens:
            phrases.append('"' + tokens.replace('"', '""') + '"')
    # An empty phrase matches nothing, and is valid syntax (a blank box must not be an error).
    return " ".join(phrases) or '""'


def excerpt(text: str | None, query: str | None, width: int = 60) -> str:
    """About `width` characters each side of the first query term in text, the terms marked."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # NFKC can change the length of a few characters; fall back to the plain text then.
    haystack = folded if len(folded) == len(text) else text.casefold()
    spans = []
    for term in query_terms(query):
        needle = unicodedata.normalize("NFKC", term).casefold()
        # A CJK term searched as separate characters may sit across a space in the text.
        pattern = r"\s*".join(re.escape(ch) for ch in needle) if _CJK.search(needle) else re.escape(needle)
        spans.extend(match.span() for match in re.finditer(pattern, haystack) if match.end() > match.start())
    if not spans:
        return _one_line(text[: 2 * width]) + ("…" if len(text) > 2 * width else "")
    spans.sort()
    first = spans[0][0]
    start, stop = max(0, first - width), min(len(text), first + width)
    out, cursor = [], start
    for begin, end in spans:
        if begin < cursor or end > stop:
            continue
        out += [text[cursor:begin], MARK_OPEN, text[begin:end], MARK_CLOSE]
        cursor = end
    out.append(text[cursor:stop])
    return ("…" if start else "") + _one_line("".join(out)) + ("…" if stop < len(text) else "")


def _one_line(text: str) -> str:
    """Text with its line breaks and space runs as single spaces."""
    return _SPACES.sub(" ", text).strip()

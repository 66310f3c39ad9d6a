"""Text normalisation: seed Markdown to plain text, display cleaning, comparison folding, sentences.

Three forms of an article's text exist:

* ``markdown_to_text`` turns a seed's Markdown body into plain paragraphs, one per line,
  re-joining lines that the source hard-wrapped in mid-sentence.
* ``clean_text`` is the stored, shown form: NFC, no invisible characters, one paragraph a line.
* ``comparison_form`` is only for hashing and similarity, and is applied alike to the seed's
  original text and to extracted text. It folds differences nobody would call an edit:

  - width: NFKC, so full-width ASCII variants become ASCII (，->,  ：->:  ；->;  ！->!
    ？->?  （->(  ）->)  ［->[  ～->~) and "…" becomes "...";
  - the remaining CJK punctuation with an ASCII counterpart (``_PUNCT_FOLD``): “ ” „ ‟ 〝 〞 〟
    「 」 -> ``"``; ‘ ’ ‚ ‛ 『 』 -> ``'``; 【 〔 〖 〘 〚 -> ``[``; 】 〕 〗 〙 〛 -> ``]``;
    ‐ ‑ ‒ – — ― − -> ``-``; 〜 -> ``~``; ・ ‧ -> ``·``.
    。 、 《 》 〈 〉 stay as they are: they have no ASCII twin ("。" is not ".");
  - spacing: a space survives only between two Latin letters/digits, so
    "20 世纪 90 年代" == "20世纪90年代" and "微信 , 这个" == "微信，这个";
  - case: Latin is lowercased.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass

# Ideographs, kana, hangul, bopomofo, CJK symbols and punctuation, full/half-width forms: the one
# definition of "CJK" (normalising, word diffs and the search form all use it).
CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


# One character class for all the ranges: a regex test is far cheaper than a Python loop per character.
CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES)
_CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
# A letter or digit that is not CJK: the only neighbours between which a space means something.
_LATIN_ALNUM = f"[^\\W_{CJK_CLASS}]"
_LOOSE_SPACE = re.compile(f"(?<!{_LATIN_ALNUM}) | (?!{_LATIN_ALNUM})")


def is_cjk(ch: str) -> bool:
    """True if ch is a CJK ideograph, kana, hangul, or CJK / full-width punctuation."""
    return _CJK_CHAR.match(ch) is not None


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# ---------------------------------------------------------------------------
# clean_text

# Invisible characters that only get in the way of comparing and showing text.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# \s covers NBSP, ideographic space and the other Unicode spaces; newlines never reach it.
_SPACE_RUN = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Normalise text for storage and display: NFC, no invisibles, single spaces, one paragraph a line."""
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------------------
# comparison_form

_PUNCT_FOLD = {
    **dict.fromkeys("“”„‟〝〞〟「」", '"'),
    **dict.fromkeys("‘’‚‛『』", "'"),
    **dict.fromkeys("【〔〖〘〚", "["),
    **dict.fromkeys("】〕〗〙〛", "]"),
    **dict.fromkeys("‐‑‒–—―−", "-"),
    "〜": "~",
    **dict.fromkeys("・‧", "·"),
}
# A regex finds the few characters to fold much faster than str.translate with a dict table.
_PUNCT_FOLD_RE = re.compile("[" + re.escape("".join(_PUNCT_FOLD)) + "]")


def _drop_loose_spaces(text: str) -> str:
    """Keep a space only between two non-CJK letters/digits: elsewhere it is typography."""
    if " " not in text:
        return text
    # Clean text has single spaces, none at line ends: drop each one not flanked by Latin alnums.
    return _LOOSE_SPACE.sub("", text)


# Quotation marks by the opener and what may close it: English “…”, German „…“ and »…«, French «…»,
# CJK 「…」 and 『…』, and straight "…" (which closes itself).
_QUOTE_CLOSERS = {"„": "“”", "“": "”", "«": "»", "»": "«", "「": "」", "『": "』", '"': '"'}


def inside_quotes(text: str, at: int) -> bool:
    """True when text[at] stands between quotation marks: opened before it and closed after it.

    A mark that no later mark closes is decoration (a pull quote's big “) or a quotation running on
    into the next sentence; neither says that this text is someone's words.
    """
    open_marks: list[str] = []
    for ch in text[:at]:
        if ch not in _QUOTE_CLOSERS and ch not in "”」』":
            continue
        if open_marks and ch in _QUOTE_CLOSERS[open_marks[-1]]:
            open_marks.pop()
        elif ch in _QUOTE_CLOSERS:
            open_marks.append(ch)
    return bool(open_marks) and any(closer in text[at:] for closer in _QUOTE_CLOSERS[open_marks[-1]])


def comparison_form(text: str) -> str:
    """Fold text for hashing and similarity: width, CJK punctuation, spacing and case (idempotent)."""
    return fold_clean(clean_text(text))


def fold_clean(text: str) -> str:
    """comparison_form of text that is already clean (as clean_text returns it): skips cleaning it again."""
    folded = unicodedata.normalize("NFKC", text)
    if folded != text:
        # NFKC can itself produce spaces (U+00A8 -> " \u0308"): clean again.
        folded = clean_text(folded)
    folded = _PUNCT_FOLD_RE.sub(lambda m: _PUNCT_FOLD[m.group()], folded).lower()
    # Dropping a space can put a combining mark next to its base letter: compose them.
    return unicodedata.normalize("NFC", _drop_loose_spaces(folded))


def text_sha256(text: str) -> str:
    """Hex SHA-256 of the comparison form of text."""
    return hashlib.sha256(comparison_form(text).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# split_sentences

# "。" always ends a sentence; "." only before whitespace. ！？； and !?; end one unless a Latin
# letter or digit follows at once ("!important", "?x=1", "a;b"), the same rule for both widths
# so that a width-only edit never moves sentence boundaries. A run ("？！", "...") is one end.
_STOP = re.compile(r"[。！？；!?;.][。！？；!?;.…]*")
_CLOSERS = frozenset("”’」』）)】》]〕〗")
_ASCII_QUOTES = frozenset("\"'")
# In "1. Foo" or "2.1. Foo" the dot closes an enumerator, not a sentence.
_ENUMERATOR = re.compile(r"\d{1,3}(?:\.\d{1,3})*")


def _absorb_closers(line: str, j: int) -> int:
    n = len(line)
    while j < n:
        ch = line[j]
        if ch in _CLOSERS:
            j += 1
        # An ASCII quote after a stop closes the sentence only if no word follows it directly,
        # otherwise it opens the next one: '他说。"下一句"'.
        elif ch in _ASCII_QUOTES and (j + 1 == n or not line[j + 1].isalnum()):
            j += 1
        else:
            break
    return j


def _split_line(line: str, out: list[str]) -> None:
    n = len(line)
    start = 0
    # Jumping from stop to stop with a regex keeps this linear and out of per-character Python.
    for match in _STOP.finditer(line):
        i = match.start()
        ch = line[i]
        j = _absorb_closers(line, match.end())
        if ch == "。":
            split = True
        elif ch != ".":
            split = j == n or not (line[j].isascii() and line[j].isalnum())
        else:
            split = j == n or line[j].isspace()
            if split and i - start <= 12:
                split = not _ENUMERATOR.fullmatch(line[start:i].strip())
        if split:
            sentence = line[start:j].strip()
            if sentence:
                out.append(sentence)
            start = j
    tail = line[start:].strip()
    if tail:
        out.append(tail)


def split_sentences(text: str) -> list[str]:
    """Split clean text into sentences at line ends and after sentence-final punctuation."""
    sentences: list[str] = []
    for line in text.splitlines():
        _split_line(line, sentences)
    return sentences


# ---------------------------------------------------------------------------
# markdown_to_text

_TERMINAL = frozenset("。！？；：.!?;:…")
_TRAILING_CLOSERS = "”’」』）)】》\"'"
# Punctuation that cannot start a sentence: a line starting with it continues the previous one.
_CONTINUATION_START = frozenset("，、。；：！？）」』”’》〉】,.;:!?)…")

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HR = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_SETEXT = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*\S+.*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$")
_BLOCKQUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+")
_ORDERED = re.compile(r"^\s*\d{1,9}[.)]\s+")
# Section numbers of plain (often PDF-derived) text: "1.1 ", "一、", "第二，", "（3）".
_SECTION_NUMBER = re.compile(
    r"^(?:\d+(?:\.\d+)+\s|[一二三四五六七八九十百]+、"
    r"|第[一二三四五六七八九十百零\d]+[章节部分篇条、，,:：]|[（(][\d一二三四五六七八九十]+[）)])"
)

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ESCAPE_BASE = 0xE000  # escaped ASCII punctuation hides in the private use area meanwhile
_UNESCAPE = {_ESCAPE_BASE + c: chr(c) for c in range(0x21, 0x7F)}
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_URL = r"(?:[^()\s]|\([^()\s]*\))*"
# Bracketed text may not contain brackets: keeps matching linear on lines full of "[".
_IMAGE = re.compile(rf"!\[[^\[\]\n]*\](?:\(\s*{_URL}(?:\s+\"[^\"\n]*\")?\s*\)|\[[^\[\]\n]*\])")
_LINK = re.compile(rf"\[([^\[\]\n]*)\](?:\(\s*{_URL}(?:\s+\"[^\"\n]*\")?\s*\)|\[[^\[\]\n]*\])")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^\s<>]+|mailto:[^\s<>]+)>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_STAR_EMPHASIS = re.compile(r"(\*{1,3})(?=[^\s*])(.+?)(?<=[^\s*])\1")
# Underscores emphasise only outside words (snake_case stays), as in CommonMark.
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(_{1,3})(?=[^\s_])(.+?)(?<=[^\s_])\1(?!\w)")
_STRAY_MARKUP = re.compile(r"\*{2,}|~~")
_INLINE_ONLY = re.compile(r"(\*{1,3}|_{1,3}|~~|`+)(?=\S).*\S\1")
_INLINE_START = re.compile(r"(?:\*{1,3}|_{1,3}|~~|`)[^\s*_~]")


@dataclass
class _Line:
    """One non-empty source line after block markup is removed."""

    text: str
    blank_before: bool
    standalone: bool = False  # heading, code or table row: never joined with a neighbour
    starts_item: bool = False  # list item or numbered section: begins a new paragraph
    inline_only: bool = False  # the whole line is one emphasis span
    starts_inline: bool = False  # the line opens with emphasis or code markup


def _strip_inline(text: str) -> str:
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _CODE_SPAN.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    # Nested emphasis ("**a *b* c**") needs one pass per level.
    for _ in range(3):
        stripped = _UNDERSCORE_EMPHASIS.sub(r"\2", _STAR_EMPHASIS.sub(r"\2", text))
        if stripped == text:
            break
        text = stripped
    text = _STRAY_MARKUP.sub("", text)
    text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    return _SPACE_RUN.sub(" ", text.translate(_UNESCAPE)).strip()


def _parse_lines(body: str) -> list[_Line]:
    body = _HTML_COMMENT.sub("", body.replace("\r\n", "\n").replace("\r", "\n"))
    body = _HTML_BREAK.sub("\n", body)
    body = _ESCAPE.sub(lambda m: chr(_ESCAPE_BASE + ord(m.group(1))), body)
    lines: list[_Line] = []
    blank = True
    in_fence = False
    for raw in body.split("\n"):
        if _FENCE.match(raw):
            in_fence = not in_fence
            blank = True
            continue
        if in_fence:
            if raw.strip():
                lines.append(_Line(raw.strip(), blank, standalone=True))
                blank = False
            continue
        if _SETEXT.match(raw) and not blank and lines and not lines[-1].standalone:
            lines[-1].standalone = True  # the line above was a setext heading
            blank = True
            continue
        if not raw.strip() or _HR.match(raw) or _REF_DEF.match(raw) or _TABLE_SEP.match(raw):
            blank = True
            continue
        line = _BLOCKQUOTE.sub("", raw)
        standalone = starts_item = False
        heading = _ATX_HEADING.match(line)
        if heading:
            line = heading.group(1) or ""
            standalone = True
        elif line.lstrip().startswith("|") and line.count("|") >= 2:
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
            standalone = True
        elif _BULLET.match(line):
            line = _BULLET.sub("", line)
            starts_item = True
        elif _ORDERED.match(line):
            starts_item = True  # the number is kept: "1. 实验阶段" reads as a numbered heading
        line = line.strip()
        starts_item = starts_item or bool(_SECTION_NUMBER.match(line))
        text = _strip_inline(line)
        if not text:
            blank = True  # an image-only line separates paragraphs like a blank line
            continue
        lines.append(
            _Line(
                text,
                blank,
                standalone=standalone,
                starts_item=starts_item,
                inline_only=bool(_INLINE_ONLY.fullmatch(line)),
                starts_inline=bool(_INLINE_START.match(line)),
            )
        )
        blank = False
    # A block made of one emphasised line ("**第一，文本生成**") is a heading.
    for i, line in enumerate(lines):
        next_blank = i + 1 == len(lines) or lines[i + 1].blank_before
        if line.inline_only and line.blank_before and next_blank:
            line.standalone = True
    return lines


def _ends_sentence(text: str) -> bool:
    text = text.rstrip(_TRAILING_CLOSERS)
    return bool(text) and text[-1] in _TERMINAL


def _wrap_width(lines: list[_Line]) -> float | None:
    """The column at which the source was hard-wrapped, or None if it was not."""
    # Hard-wrapped text shows many unfinished lines of nearly equal width; headings and
    # one-line paragraphs do not cluster like that. Lines narrower than 40 columns are ignored.
    unfinished = (line.text for line in lines if not line.standalone and not _ends_sentence(line.text))
    widths = sorted(w for w in map(_display_width, unfinished) if w >= 40)
    if len(widths) < 5:
        return None
    median = widths[len(widths) // 2]
    near = sum(1 for w in widths if 0.85 * median <= w <= 1.15 * median)
    return median if 2 * near >= len(widths) else None


def _is_ascii_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _continues(prev: _Line, line: _Line, wrap: float | None) -> bool:
    """Whether line continues the paragraph that prev ends."""
    if prev.standalone or line.standalone or line.starts_item or _ends_sentence(prev.text):
        return False
    if not line.blank_before:
        # Markdown soft break: converters put inline elements on lines of their own
        # ("的\n**ChatGPT**\n，也包括"), which must flow back into the sentence.
        if line.text[0] in _CONTINUATION_START or line.starts_inline or prev.inline_only:
            return True
        # html2text-style wrapping breaks only at spaces, so a break between two Latin words
        # ("杨立昆（Yann\nLeCun）") was a space in the source.
        first = line.text[0]
        if _is_ascii_word_char(prev.text[-1]) and (_is_ascii_word_char(first) or first == "("):
            return True
    return wrap is not None and _display_width(prev.text) >= 0.85 * wrap


def _join(left: str, right: str) -> str:
    # CJK runs together without spaces; Latin words need one, but not before "," or after "(".
    if is_cjk(left[-1]) or is_cjk(right[0]) or right[0] in _CONTINUATION_START or left[-1] in "([{“‘":
        return left + right
    return f"{left} {right}"


def markdown_to_text(body: str) -> str:
    """Convert a seed's Markdown body (no front matter) to plain paragraphs, one per line."""
    lines = _parse_lines(body)
    wrap = _wrap_width(lines)
    paragraphs: list[str] = []
    prev: _Line | None = None
    for line in lines:
        if prev is not None and _continues(prev, line, wrap):
            paragraphs[-1] = _join(paragraphs[-1], line.text)
        else:
            paragraphs.append(line.text)
        prev = line
    return clean_text("\n".join(paragraphs))

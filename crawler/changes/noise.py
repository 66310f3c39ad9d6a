"""Page noise that is not the article: counters, relative times and timestamps left in extracted text.

trafilatura drops scripts, navigation, asides and footers, but read counts ("阅读 1234", "1,234 views"),
relative times ("updated 5 minutes ago", "3小时前") and stand-alone timestamp lines often sit inside
the article's container and come through. They change on every visit without anyone editing the
article, so they are removed from the *comparison* form (hashing and diff alignment), never from the
stored text. Pure: no I/O.

Three kinds of built-in pattern, applied to one sentence of clean text in this order:

* anywhere: relative times ("5 minutes ago", "3小时前", "vor 2 Stunden") and labelled stamps
  ("updated: 2024-03-01 12:30", "更新时间：2024年3月1日", "Stand: 05.03.2024") and "© 2024";
* bounded: counters ("阅读 1234", "1,234 views", "12 Kommentare") only where they stand apart from
  the prose: a sentence edge or a separator (| · / , ; brackets) on both sides, a bullet or bar
  (| · •) on one, and for CJK labels also a space (Chinese prose has none), so "每天阅读2小时" or
  "sold 500 shares" stay text;
* whole sentence: a sentence that is nothing but a date, a time or a number.

Plus per-domain regular expressions from the config (``change.ignore``, ``"*"`` for every site),
applied first, as written (add ``(?i)`` for case-insensitive).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from crawler.changes.normalise import inside_quotes
from crawler.changes.patterns import check_pattern
from crawler.urls import domain_key, host_in, host_of

# A count as sites print it: 1234, 1,234, 1.2, 10万+, 1.2k, 3w.
_NUM = r"\d[\d,.]*(?:\s?[万亿kwm](?![a-z]))?\+?"
_ZH_LABEL = (
    r"(?:阅读(?:量|数|次数)?|浏览(?:量|数|次数)?|点击(?:量|数)?|点赞(?:数)?|在看|赞|评论(?:数)?|收藏|分享|转发"
    r"|播放(?:量)?|围观|人气|热度)"
)
_ZH_AFTER = r"(?:阅读|浏览|围观|看过|点赞|评论|收藏|播放|在看|赞|分享|转发)"
_EN_LABEL = (
    r"(?:views?|reads?|likes?|comments?|shares?|reactions?|claps?|retweets?|upvotes?|replies|reply"
    r"|aufrufe|kommentare?|leser(?:innen)?|mal gelesen|zugriffe|vues|commentaires?|visitas|comentarios?)"
)
_MONTHS = (
    r"(?:jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|apr(?:il)?|ma[iy]|june?|juni|july?|juli|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|okt(?:ober)?|nov(?:ember)?|dec(?:ember)?|dez(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{4}\s*+[-/.年]\s*+\d{1,2}\s*+[-/.月]\s*+\d{1,2}(?:\s*+日)?"
    r"|\d{1,2}\s*+[./-]\s*+\d{1,2}\s*+[./-]\s*+\d{2,4}"
    r"|\d{1,2}月\d{1,2}日"
    rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}\.?\s+{_MONTHS}\s+\d{{4}})"
)
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*+[ap]\.?\s?m\.?)?(?:\s*+(?:uhr|utc|gmt|[+-]\d{2}:?\d{2}))?"
_STAMP = rf"(?:{_DATE}(?:\s*+(?:[,，T]\s*+)?(?:at\s++|um\s++)?{_TIME})?|{_TIME})"
_STAMP_LABEL = (
    r"(?:(?:last\s+)?(?:updated|modified|posted|published|edited)(?:\s+(?:on|at))?"
    r"|stand|aktualisiert(?:\s+am)?|veröffentlicht(?:\s+am)?|zuletzt\s+aktualisiert(?:\s+am)?"
    r"|(?:最后)?更新(?:时间|于)?|发布(?:时间|于)?|发表(?:时间|于)?|时间)"
)
_AGO_UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|[smhd])"
_AGO_LONG_UNIT = r"(?:weeks?|months?|years?|wks?|mos?|yrs?)"
_AGO_COUNT = r"(?:about\s++|over\s++|almost\s++|nearly\s++)?(?:\d+|an?|one|a\s++few|few)\s*+"
_PUBLISHED = r"(?:(?:last\s+)?(?:updated|posted|published|edited|modified)\s+)"

_PAREN_NUM = rf"[(（]\s*+{_NUM}\s*+[)）]"  # "Comments (12)", "评论（12）"
# Separators between the parts of a byline or meta line; a counter next to one is not prose.
_SEP = r"|·•/,;:()\[\]<>«»\-–—，；：、（）【】《》「」"
_END = rf"[{_SEP}.!?。！？]"

# Linear time on any text, because anyone who can write on a watched page controls these inputs.
# A run of counters with two ways to split it ("\s*[sep]?\s*" around one space, a number that can
# end before a comma) backtracks 2^n ways when its end fails: "likes (1) " * 21 + "q" took 15 s and
# doubled with each repetition. So: one parse only (atomic tokens "(?>...)", possessive spaces "\s*+"
# where what follows cannot be a space), and at most _MAX_RUN + 1 counters in one match, so that a
# failed end costs a bounded retreat per start, not one as long as the run (quadratic on a long line).
# A longer run is still stripped, in matches of that length.
_MAX_RUN = 15
# Counters standing apart from the prose. A Latin one needs a separator or a sentence edge on both
# sides (a space is just a space between Latin words); a CJK one also accepts a space.
_LATIN_TOKEN = (
    rf"(?>{_NUM}\s*+{_EN_LABEL}\b|{_EN_LABEL}\s*+(?:(?:[:：]\s*+)?{_NUM}|{_PAREN_NUM})"
    rf"|{_AGO_COUNT}{_AGO_LONG_UNIT}\s++ago\b|just\s++now)"
)
_CJK_TOKEN = (
    rf"(?:{_ZH_LABEL}\s*+(?:(?:[:：]\s*+)?{_NUM}(?:\s*+次)?|{_PAREN_NUM})|{_NUM}\s*+(?:[人次]\s*+)?{_ZH_AFTER})"
)
# "(?<!\d[-/,.:])": the "234" of "got 1,234 views" is not after a separator, nor "01" of "2024-03-01".
_LATIN_RUN = rf"{_LATIN_TOKEN}(?:\s*+(?:[{_SEP}]\s*+)?{_LATIN_TOKEN}){{0,{_MAX_RUN}}}"
# A bullet or bar ("by Jane Doe 1,234 views · 5 min") marks a meta line on its own, whatever the other side.
_LATIN_BOUNDED = "|".join(
    (
        rf"(?:^|(?<=[{_SEP}])(?<!\d[-/,.:]))\s*+{_LATIN_RUN}\s*+(?=$|{_END})",
        rf"(?<![\w.,]){_LATIN_RUN}(?=\s*[|·•])",
        rf"(?<=[|·•])\s*+{_LATIN_RUN}(?=\s|$|{_END})",
    )
)
_CJK_BOUNDED = rf"(?:^|(?<=[\s{_SEP}])(?<!\d[-/,.:])){_CJK_TOKEN}(?=$|\s|{_END})"

_EN_NEEDLES = (
    "view",
    "read",
    "like",
    "comment",
    "share",
    "reaction",
    "clap",
    "retweet",
    "upvote",
    "repl",
    "aufrufe",
    "kommentar",
    "leser",
    "gelesen",
    "zugriffe",
    "vues",
    "commentaire",
    "visita",
    "comentario",
    "ago",
    "just now",
)
_ZH_NEEDLES = (
    "阅读",
    "浏览",
    "点击",
    "赞",
    "在看",
    "评论",
    "收藏",
    "分享",
    "转发",
    "播放",
    "围观",
    "人气",
    "热度",
    "看过",
)
_STAMP_NEEDLES = (
    "updated",
    "modified",
    "posted",
    "published",
    "edited",
    "stand",
    "aktualisiert",
    "veröffentlicht",
    "更新",
    "发布",
    "发表",
    "时间",
)

# The built-in patterns in the order they run: (needs a digit, words one of which the lower-cased
# sentence must contain, pattern). Most sentences hold no noise; plain substring tests rule a
# pattern out far faster than scanning for it, and this runs on every sentence of every page.
_STEPS: tuple[tuple[bool, tuple[str, ...], str], ...] = (
    # Anywhere in a sentence: the wording itself says it is a time or a stamp.
    (False, ("ago",), rf"\b{_PUBLISHED}?{_AGO_COUNT}{_AGO_UNIT}\s+ago\b"),
    (False, ("ago",), rf"\b{_PUBLISHED}{_AGO_COUNT}{_AGO_LONG_UNIT}\s+ago\b"),
    (False, ("just now", "today", "yesterday"), rf"\b{_PUBLISHED}(?:just\s+now|today|yesterday)(?:\s+at\s+{_TIME})?"),
    (False, ("vor ",), r"\bvor\s+(?:\d+|einer?|wenigen)\s+(?:Sekunden?|Minuten?|Stunden?|Tag(?:en)?)\b"),
    (True, ("前",), r"(?:(?:更新|发布|发表)于?\s*)?\d+\s*(?:秒|分钟|小时|天|周|个月)前"),
    (True, ("今天", "昨天", "前天"), rf"(?:今天|昨天|前天)\s*{_TIME}"),
    (False, ("刚刚",), r"(?:更新|发布|发表)于?\s*刚刚"),
    (True, _STAMP_NEEDLES, rf"\b{_STAMP_LABEL}\s*+(?:[:：]\s*+)?{_STAMP}"),
    # "views: 1,234": a label with a colon is a counter wherever it stands.
    (True, (":", "："), rf"\b{_EN_LABEL}\s*+[:：]\s*+{_NUM}"),
    (True, ("©", "copyright"), r"(?:©|\bcopyright\b)\s*(?:©\s*)?\d{4}(?:\s*[-–]\s*\d{4})?"),
    # Bounded: counters standing apart from the prose.
    (False, _EN_NEEDLES, _LATIN_BOUNDED),
    (True, _ZH_NEEDLES, _CJK_BOUNDED),
)
# A whole sentence that is only a date, a time or a count (with an optional label).
_WHOLE = rf"\s*+(?:{_STAMP_LABEL}\s*+(?:[:：]\s*+)?)?(?:{_STAMP}|{_NUM}|刚刚|just\s++now)\s*+(?:[.。]\s*+)?"

_FLAGS = re.IGNORECASE
_BUILTIN = tuple((digit, needles, re.compile(pattern, _FLAGS)) for digit, needles, pattern in _STEPS)
_WHOLE_RE = re.compile(_WHOLE, _FLAGS)
_DIGIT = re.compile(r"\d")
# Every built-in pattern needs a digit or one of these words.
_WORDY = re.compile("ago|just now|today|yesterday|vor |刚刚")
_WORD = re.compile(r"\w")
# What stripping leaves between and around the parts it removed: "By Jane · · " -> "By Jane".
_LEFTOVER_SEPS = re.compile(r"\s*([|·•/,;\-–—，；、])(?:\s*[|·•/,;\-–—，；、])+\s*")
_EDGE_SEPS = " |·•/,;:-–—，；：、"
_SPACES = re.compile(r"\s{2,}")


class Noise:
    """Compiled noise patterns for one site."""

    __slots__ = ("_custom", "_builtin")

    def __init__(self, builtin: bool, patterns: tuple[str, ...] = ()):
        self._builtin = builtin
        self._custom = tuple(check_pattern(p) for p in patterns)

    def strip(self, sentence: str) -> str:
        """The sentence without noise, single-spaced; "" when no word is left."""
        stripped = sentence
        for pattern in self._custom:
            stripped = pattern.sub(" ", stripped)
        if self._builtin:
            stripped = _strip_builtin(stripped)
            if not stripped:
                return ""
        if stripped == sentence:
            return sentence
        # "1,234 views · 5 minutes ago" leaves "·": a separator of noise is noise too.
        if not _WORD.search(stripped):
            return ""
        return _SPACES.sub(" ", _LEFTOVER_SEPS.sub(r" \1 ", stripped)).strip(_EDGE_SEPS)


def _outside_quotes(match: re.Match[str]) -> str:
    """A space for noise; quoted speech ("he said: 'vor 5 Minuten'") is someone's words, kept."""
    return match.group() if inside_quotes(match.string, match.start()) else " "


def _strip_builtin(sentence: str) -> str:
    """The sentence with the built-in patterns replaced by spaces; "" when it is only a stamp or count."""
    has_digit = _DIGIT.search(sentence) is not None
    lowered = sentence.lower()
    if not has_digit and not _WORDY.search(lowered):
        return sentence  # most sentences: no pattern without a digit can match
    for needs_digit, needles, pattern in _BUILTIN:
        if (needs_digit and not has_digit) or not any(needle in lowered for needle in needles):
            continue
        replaced = pattern.sub(_outside_quotes, sentence)
        if replaced != sentence:
            sentence, lowered = replaced, replaced.lower()
            has_digit = _DIGIT.search(sentence) is not None
    if (has_digit or "刚刚" in sentence or "just now" in lowered) and _WHOLE_RE.fullmatch(sentence):
        return ""
    return sentence


@functools.lru_cache(maxsize=128)
def compiled(builtin: bool, patterns: tuple[str, ...]) -> Noise:
    """The Noise for these patterns, compiled once per process."""
    return Noise(builtin, patterns)


@dataclass(frozen=True)
class NoiseRules:
    """Which noise is ignored when comparing texts: built-ins and per-domain patterns.

    Plain strings only, so the rules pickle small into extraction workers; each worker compiles
    a site's patterns once (``compiled`` caches them).
    """

    builtin: bool = True
    # (domain, patterns) pairs; domain "*" applies to every site, "example.org" to it and its subdomains.
    ignore: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_config(cls, ignore: Mapping[str, Iterable[str]] | None = None, builtin: bool = True) -> "NoiseRules":
        """Rules from the config's `change.ignore` mapping (domain -> regular expressions), checked."""
        pairs = []
        for domain, patterns in (ignore or {}).items():
            key = check_domain(domain)
            patterns = tuple(patterns)
            for pattern in patterns:
                try:
                    check_pattern(pattern)
                except ValueError as exc:
                    raise ValueError(f"change.ignore[{domain!r}]: {exc}") from None
            pairs.append((key, patterns))
        return cls(builtin=builtin, ignore=tuple(pairs))

    def for_url(self, url: str | None) -> Noise:
        """The compiled noise filter for a page at url."""
        host = host_of(url)
        chosen: list[str] = []
        for domain, patterns in self.ignore:
            if domain == "*" or host_in(host, domain):
                chosen.extend(patterns)
        return compiled(self.builtin, tuple(chosen))


def check_domain(domain: str) -> str:
    """A `change.ignore` key as a lower-case host name ("*" for all); ValueError if it is not one."""
    key = domain_key(domain)
    if key != "*" and (not key or "/" in key or ":" in key or " " in key or "*" in key):
        raise ValueError(f'change.ignore key {domain!r} is not a domain; write e.g. example.org, or "*" for all sites')
    return key


BUILTIN_NOISE = compiled(True, ())
NO_NOISE = compiled(False, ())

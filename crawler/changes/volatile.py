"""Counters and times written as prose: is a sentence's change one that happens by itself?

The built-in noise patterns (crawler/changes/noise.py) drop counters that stand apart from the prose ("阅读
1234", "1,234 views · 5 min"). Sites also write them as sentences: "This story has been viewed 12,345
times.", "本文已被浏览2345次。", "Last updated 14 minutes ago by the newsroom." No fixed list of phrasings
covers them, so this module reasons from what changed between two versions of one sentence:

* only values changed: numbers (1234, 12,345, 3.4k, 10万+), a number with its time unit ("14 minutes"
  -> "2 hours", "5分钟" -> "2小时"), "a/an/one" before a time unit, month names;
* and every changed value has, close by in its own clause, a word that speaks of reading, viewing,
  liking, commenting, sharing, or of time passing ("viewed", "readers", "ago", "updated", "浏览", "点赞",
  "前", "更新").

Such a change is *volatile*: ignored when deciding whether a revisit is a new version, and shown as
ignored in diffs. A corrected number in the article ("sold 500 shares" -> "sold 600 shares", "死亡人数
为45人" -> "47人") has no such word beside it and stays a change. Pure: no I/O.
"""

from __future__ import annotations

import re

from crawler.changes.normalise import fold_clean, inside_quotes

# A value as counters print it: 1234, 1,234, 3.4k, 10万+, 1.2w; or a number word before a time unit.
_NUMBER = r"\d[\d,.:]*(?:\s?(?:[万亿千百kKwWmM](?![A-Za-z])))?\+?"
_TIME_UNIT_EN = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)"
_TIME_UNIT_ZH = r"(?:秒钟?|分钟|小时|个?钟头|天|日|周|星期|个月|月|年)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_VALUE = re.compile(
    rf"(?:{_NUMBER}|\b(?:an?|one)\b)\s*(?:{_TIME_UNIT_EN}\b|{_TIME_UNIT_ZH})"
    rf"|{_NUMBER}"
    rf"|\b{_MONTH}\b",
    re.IGNORECASE,
)
_PLACEHOLDER = "\ue000"  # a private-use character: never in archived text after clean_text
# "1 comment" -> "2 comments": a plural after a value is the same word.
_PLURAL = re.compile(rf"({_PLACEHOLDER}\s*[a-z]{{2,}}?)s\b")

# Words that say a number counts readers or reactions. Whole words, so "ready", "likely", "like 60%",
# "sold 500 shares" are not counters. Nouns count the number they stand by ("1,234 views", "12
# comments"); verbs only a number of times or of people ("viewed 12,345 times", "1,234 people have
# read it", "liked by 300 readers"): "1.1 billion works have been shared" counts works, not shares.
_COUNT_NOUN_EN = re.compile(
    r"\b(?:views?|viewers?|reads|readers?|readership|likes|comments?|reactions?|claps?|upvotes?|visits?|visitors?"
    r"|plays|downloads|subscribers?|followers?|retweets?|repl(?:y|ies))\b",
    re.IGNORECASE,
)
_COUNT_VERB_EN = re.compile(
    r"\b(?:viewed|viewing|read|liked|commented|shared|clapped|upvoted|visited|seen|watched|played|downloaded"
    r"|retweeted|replied|recommended|favou?rited|bookmarked|saved)\b",
    re.IGNORECASE,
)
_PEOPLE = r"(?:people|persons|users|readers|visitors|viewers|fans|members|others|subscribers|followers)"
# After the number: "times", or people, perhaps with one word between ("1,234 other people").
_VERB_COUNTS = re.compile(
    rf"\s*(?:(?:million|billion|thousand)\s+)?(?:times\b|x\b|(?:[A-Za-z]+\s+)?{_PEOPLE}\b)", re.IGNORECASE
)
_BY = re.compile(r"\bby\s*$", re.IGNORECASE)
_COUNT_CUE_ZH = re.compile(
    r"阅读|浏览|点了?赞|获赞|[个次]赞|评论|留言|收藏|分享|转发|播放|围观|人气|热度|在看|看过|读者|点击|关注|网友|访问量|访客"
)
# Words that say a time moves on by itself; they explain only a value that is a time or a date
# ("last" alone does not: "her last day is April 1").
_TIME_CUE_EN = re.compile(r"\b(?:ago|updated|edited|modified|posted|published|refreshed)\b", re.IGNORECASE)
_TIME_CUE_ZH = re.compile(r"前|刚刚|更新于|最后更新|更新时间|编辑于|发布于|发表于|发布时间|发表时间|修改于")
_TIME_VALUE = re.compile(rf"{_TIME_UNIT_EN}|{_TIME_UNIT_ZH}|\d:\d|^{_MONTH}$", re.IGNORECASE)
# A clock says "3 years ago"; "2,500 years ago" or "300年前" is history, and a change there is a correction.
_YEARS = re.compile(r"([\d,.]+)\s*(?:years?\b|年)", re.IGNORECASE)
MAX_CLOCK_YEARS = 99
_GLUED = re.compile(r"-?[A-Za-z]")  # "2D", "26-day", "5-star": a compound, not a count
_GLUED_BEFORE = re.compile(r"[A-Za-z]$")
_PAIRED = re.compile(r"\d\s?[-–]\s?$|\s?[-–]\s?\d")
# Clause boundaries: a cue in another clause speaks of something else (a comma before a digit
# is inside a date or a list of counts: "March 3, 2024").
_CLAUSE = re.compile(r",(?!\s?\d)|[;·|•()\[\]，；、（）【】]|\s[-–—]\s|(?<=[.!?。！？])(?!\d)")
# How far a cue may stand from the value it explains, within the clause: Latin words, CJK characters.
CUE_WINDOW_WORDS = 8
CUE_WINDOW_CHARS = 14
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_VALUE_CHARS = re.compile(r"[\d\s,.:/\-–：]+")
# A date's parts ("March 3, 2024", "2024-03-05", "3月5日") are times too; "6.7" (a version, a score) is not a date.
_DATE_AROUND = re.compile(
    rf"\b{_MONTH}\b|\d{{4}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}|\d{{1,2}}/\d{{1,2}}|\d\s*[年月日]",
    re.IGNORECASE,
)


def _masked(sentence: str) -> tuple[str, list[re.Match[str]]]:
    """The sentence with each value replaced by a placeholder (folded for comparison), and the values."""
    values = list(_VALUE.finditer(sentence))
    out, last = [], 0
    for match in values:
        out.append(sentence[last : match.start()])
        out.append(_PLACEHOLDER)
        last = match.end()
    out.append(sentence[last:])
    return _PLURAL.sub(r"\1", fold_clean("".join(out))), values


def _cue_near(sentence: str, start: int, end: int) -> bool:
    """True when a counter or time word stands near sentence[start:end] in the same clause."""
    left, right = sentence[:start], sentence[end:]
    # Cut at the nearest clause boundary on each side.
    bounds = list(_CLAUSE.finditer(left))
    if bounds:
        left = left[bounds[-1].end() :]
    bound = _CLAUSE.search(right)
    if bound:
        right = right[: bound.start()]
    value = sentence[start:end]
    # Quoted speech is someone's words, never a number the site keeps current; a number glued to
    # letters is part of a name or a compound ("Q3", "2D", "26-day"), not a count.
    if inside_quotes(sentence, start) or _GLUED.match(sentence, end) or _GLUED_BEFORE.search(sentence, 0, start):
        return False
    years = _YEARS.match(value)
    if years and _count(years.group(1)) > MAX_CLOCK_YEARS:
        return False
    # Latin: a few words either side; CJK: a few characters (Chinese has no spaces between words).
    latin = " ".join(_WORD.findall(left)[-CUE_WINDOW_WORDS:] + _WORD.findall(right)[:CUE_WINDOW_WORDS])
    # Other values and their separators do not count towards the distance ("更新时间：2024-03-01 12:30").
    near_left = _VALUE_CHARS.sub("", left)[-CUE_WINDOW_CHARS:]
    near_right = _VALUE_CHARS.sub("", right)[:CUE_WINDOW_CHARS]
    # A score or a range ("the 5-1 Celtics", "10–12 people") is no counter, whatever words stand near.
    paired = _PAIRED.search(sentence[max(0, start - 2) : start]) or _PAIRED.match(sentence, end)
    counted = _COUNT_NOUN_EN.search(latin) or (
        _COUNT_VERB_EN.search(latin) and (_VERB_COUNTS.match(sentence, end) or _BY.search(left))
    )
    if not paired and (counted or _COUNT_CUE_ZH.search(near_left) or _COUNT_CUE_ZH.search(near_right)):
        return True
    around = sentence[max(0, start - 12) : end + 12]
    if not (_TIME_VALUE.search(value) or _DATE_AROUND.search(around)):
        return False
    return bool(_TIME_CUE_EN.search(latin) or _TIME_CUE_ZH.search(near_left) or _TIME_CUE_ZH.search(near_right))


def _count(digits: str) -> float:
    """The number "2,500" or "2.500" stands for (separators dropped; inf when it is not a number)."""
    try:
        return float(re.sub(r"[,.]", "", digits))
    except ValueError:
        return float("inf")


def volatile_change(old: str, new: str) -> bool:
    """True when old -> new changes only counter or time values, each beside a word that says so."""
    if old == new:
        return False
    old_masked, old_values = _masked(old)
    new_masked, new_values = _masked(new)
    if old_masked != new_masked or len(old_values) != len(new_values) or not old_values:
        return False
    changed = False
    for before, after in zip(old_values, new_values):
        if fold_clean(before.group()) == fold_clean(after.group()):
            continue
        changed = True
        if not (_cue_near(old, before.start(), before.end()) and _cue_near(new, after.start(), after.end())):
            return False
    return changed

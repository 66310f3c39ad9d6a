"""HTML for the Datasette plugin: diffs (inline and side by side), texts as paragraphs, the capture timeline.

Pure; every archived text is escaped (markupsafe builds all HTML). Nothing here needs JavaScript:
folded stretches of a diff open with <details>, the timeline's bars and flags are SVG links.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote

from markupsafe import Markup, escape

from crawler.changes.noise import BUILTIN_NOISE
from crawler.archive.search import MARK_CLOSE, MARK_OPEN
from crawler.changes.normalise import clean_text, fold_clean, split_sentences
from crawler.web.i18n import Labels
from crawler.web.people import local, moment, outcome_words

# Inline styles, so a diff looks the same in a table cell, a canned query and the plugin's pages.
INS_STYLE = "background:#d7f5dd;color:#0b5d1e;text-decoration:none;border-radius:2px;padding:0 1px"
DEL_STYLE = "background:#ffe0e0;color:#8a1111;text-decoration:line-through;border-radius:2px;padding:0 1px"
SKIP_STYLE = "color:#57606a;font-style:italic"
# An ignored change (a counter or time written as prose): shown, but faded and labelled.
IGNORED_STYLE = "opacity:.55"
IGNORED_LABEL = "ignored: a counter or time written in the text"
# Colour of each capture outcome on the timeline, in the order bars stack (bottom first).
OUTCOME_COLOURS = {
    "new_version": "#1a7f37",
    "unchanged": "#8c959f",
    "not_modified": "#afb8c1",
    "no_content": "#bf8700",
    "removed": "#cf222e",
    "gone": "#82071e",
    "failed": "#fb8500",
}


def ins(text: str) -> Markup:
    """An inserted piece of text, escaped."""
    return Markup('<ins class="crawler-ins" style="{}">{}</ins>').format(INS_STYLE, text)


def dele(text: str) -> Markup:
    """A deleted piece of text, escaped."""
    return Markup('<del class="crawler-del" style="{}">{}</del>').format(DEL_STYLE, text)


def _gap(before: str, after: str) -> str:
    """What separates two sentences in running text: a space next to Latin text, nothing between CJK ones."""
    if not before or not after:
        return ""
    return " " if before[-1].isascii() or after[0].isascii() else ""


def paragraph_starts(text: str | None) -> list[bool]:
    """For each sentence diff_texts compares (its Sentences.shown), whether it starts a paragraph (a line).

    Mirrors crawler.changes.versions.sentences: the same lines, the same sentences, the same noise-only ones left out.
    """
    starts: list[bool] = []
    for line in clean_text(text or "").splitlines():
        first = True
        for sentence in split_sentences(line):
            kept = BUILTIN_NOISE.strip(sentence)
            if kept and fold_clean(kept):
                starts.append(first)
                first = False
    return starts


def text_html(text: str | None, lang: str | None = None) -> Markup:
    """A stored text as paragraphs (one per line), escaped."""
    paragraphs = [line.strip() for line in (text or "").splitlines() if line.strip()]
    attr = Markup(' lang="{}"').format(lang) if lang else ""
    return Markup('<div class="crawler-text"{}>{}</div>').format(
        attr, Markup("").join(Markup("<p>{}</p>").format(p) for p in paragraphs)
    )


class _Paragraphs:
    """Sentences collected into <p> elements, breaking where the text had a line break."""

    def __init__(self) -> None:
        self.blocks: list[Markup] = []
        self.current: list[Markup] = []
        self.last = ""

    def add(self, piece: Markup, raw: str, starts: bool) -> None:
        if starts:
            self.flush()
        if self.current:
            self.current.append(Markup(_gap(self.last, raw)))
        self.current.append(piece)
        self.last = raw or self.last

    def block(self, element: Markup) -> None:
        self.flush()
        self.blocks.append(element)

    def flush(self) -> None:
        if self.current:
            self.blocks.append(Markup("<p>{}</p>").format(Markup("").join(self.current)))
        self.current = []
        self.last = ""

    def html(self) -> Markup:
        self.flush()
        return Markup("").join(self.blocks)


def _starts(starts: Sequence[bool] | None, at: int) -> bool:
    """Whether sentence `at` starts a paragraph (every sentence does when the breaks are unknown)."""
    return True if starts is None or at >= len(starts) else starts[at]


def _plain(
    out: _Paragraphs,
    sentences: Sequence[str],
    starts: Sequence[bool] | None,
    at: int,
    wrap: Callable[[str], Markup] = escape,
    force_first: bool = False,
) -> None:
    """Sentences added as they are (or wrapped as ins/del), keeping their paragraph breaks."""
    for offset, sentence in enumerate(sentences):
        out.add(wrap(sentence), sentence, (force_first and offset == 0) or _starts(starts, at + offset))


def _words(words: Iterable[Any], keep: tuple[str, ...] = ("equal", "insert", "delete")) -> tuple[Markup, str]:
    """Word-level operations of a replaced block ([[tag, text], ...]; characters for CJK) as marked text."""
    out = Markup("")
    raw = ""
    for tag, text in words:
        if tag not in keep:
            continue
        out += ins(text) if tag == "insert" else dele(text) if tag == "delete" else escape(text)
        raw += text
    return out, raw


def _ignored(change: Markup, labels: Labels) -> Markup:
    """A change that is only a counter or time written as prose: faded and labelled."""
    label = labels(IGNORED_LABEL)
    return Markup(
        '<span class="crawler-ignored" style="{}" title="{}">{}</span>'
        ' <span class="crawler-ignored-label" style="{}">({})</span>'
    ).format(IGNORED_STYLE, label, change, SKIP_STYLE, label)


def _fold(hidden: Sequence[str], starts: Sequence[bool] | None, at: int, labels: Labels) -> Markup:
    """Unchanged sentences folded into a <details> that opens on a click (no script)."""
    inner = _Paragraphs()
    _plain(inner, hidden, starts, at, force_first=True)
    count = len(hidden)
    summary = labels("{} unchanged sentences").format(count) if count != 1 else labels("1 unchanged sentence")
    return Markup('<details class="crawler-fold"><summary style="{}">… {} …</summary>{}</details>').format(
        SKIP_STYLE, summary, inner.html()
    )


def _not_stored(op: Mapping[str, Any], head: int, tail: int, labels: Labels) -> tuple[list[str], Markup, list[str]]:
    """An unchanged run of a diff stored cut short (crawler.changes.versions.bounded_ops): the context
    sentences it kept, and a line counting the ones it did not store."""
    new = list(op.get("new") or [])
    shown_head = new[:head] if new else []
    shown_tail = new[len(new) - tail :] if tail and len(new) >= 2 else []
    count = len(new) + (op.get("skipped") or 0) - len(shown_head) - len(shown_tail)
    summary = labels("{} unchanged sentences").format(count) if count != 1 else labels("1 unchanged sentence")
    note = Markup('<div class="crawler-fold" style="{}">… {} …</div>').format(SKIP_STYLE, summary)
    return shown_head, note, shown_tail


def _cut_note(op: Mapping[str, Any]) -> Markup:
    """The line a changed run of a diff stored cut short ends with: how many of its sentences were left out."""
    return Markup('<div style="{}">… {} more changed sentence{} not stored (crawler diff shows them) …</div>').format(
        SKIP_STYLE, op["cut"], "" if op["cut"] == 1 else "s"
    )


def _parse(ops: list[Mapping[str, Any]] | str | None) -> list[Mapping[str, Any]] | None:
    """Stored diff operations (JSON text or a list)."""
    if isinstance(ops, str):
        return json.loads(ops)
    return ops


def diff_html(
    ops: list[Mapping[str, Any]] | str | None,
    context: int = 1,
    old_starts: Sequence[bool] | None = None,
    new_starts: Sequence[bool] | None = None,
    labels: Labels | None = None,
) -> Markup:
    """A coloured inline diff: paragraphs kept, words (characters for CJK) marked, unchanged stretches folded."""
    labels = labels or Labels()
    try:
        ops = _parse(ops)
    except ValueError:
        return escape(ops)
    if not ops or all(op.get("op") == "equal" for op in ops) and not any(op.get("old") for op in ops):
        return Markup('<span style="{}">{}</span>').format(SKIP_STYLE, labels("no differences"))
    out = _Paragraphs()
    old_at = new_at = 0
    for index, op in enumerate(ops):
        kind, old, new = op.get("op"), list(op.get("old") or []), list(op.get("new") or [])
        skipped = op.get("skipped") or 0
        if kind == "equal" and skipped:
            shown_head, note, shown_tail = _not_stored(
                op, context if index else 0, context if index < len(ops) - 1 else 0, labels
            )
            _plain(out, shown_head, new_starts, new_at)
            out.block(note)
            _plain(out, shown_tail, new_starts, new_at + len(new) + skipped - len(shown_tail), force_first=True)
        elif kind == "equal":
            head = context if index else 0
            tail = context if index < len(ops) - 1 else 0
            if len(new) > head + tail + 1:
                _plain(out, new[:head], new_starts, new_at)
                out.block(_fold(new[head : len(new) - tail], new_starts, new_at + head, labels))
                _plain(out, new[len(new) - tail :], new_starts, new_at + len(new) - tail, force_first=True)
            else:
                _plain(out, new, new_starts, new_at)
        elif op.get("ignored"):
            change, raw = _words(op.get("words") or [["insert", " ".join(new)]], ("equal", "insert", "delete"))
            out.add(_ignored(change, labels), raw, _starts(new_starts, new_at))
        elif kind == "replace" and op.get("words"):
            change, raw = _words(op["words"])
            out.add(change, raw, _starts(new_starts, new_at) if new else _starts(old_starts, old_at))
        else:
            _plain(out, old, old_starts, old_at, dele)
            _plain(out, new, new_starts, new_at, ins)
        if op.get("cut"):
            out.block(_cut_note(op))
        old_at += len(old) + skipped
        new_at += len(new) + skipped
    return Markup('<div class="crawler-diff" style="line-height:1.7">{}</div>').format(out.html())


def side_by_side_html(
    ops: list[Mapping[str, Any]] | str | None,
    old_label: str,
    new_label: str,
    context: int = 1,
    old_starts: Sequence[bool] | None = None,
    new_starts: Sequence[bool] | None = None,
    labels: Labels | None = None,
) -> Markup:
    """The two texts in two columns, changes aligned row by row (one column on a phone)."""
    labels = labels or Labels()
    ops = _parse(ops) or []
    rows: list[Markup] = [
        Markup('<div class="crawler-side-row crawler-side-head"><div>{}</div><div>{}</div></div>').format(
            old_label, new_label
        )
    ]

    def row(kind: str, left: _Paragraphs | None, right: _Paragraphs | None) -> None:
        cells = [
            Markup('<div class="crawler-side-old" data-label="{}">{}</div>').format(
                old_label, left.html() if left else ""
            ),
            Markup('<div class="crawler-side-new" data-label="{}">{}</div>').format(
                new_label, right.html() if right else ""
            ),
        ]
        rows.append(
            Markup('<div class="crawler-side-row crawler-side-{}">{}</div>').format(kind, Markup("").join(cells))
        )

    old_at = new_at = 0
    for index, op in enumerate(ops):
        kind, old, new = op.get("op"), list(op.get("old") or []), list(op.get("new") or [])
        skipped = op.get("skipped") or 0
        if kind == "equal" and skipped:
            shown_head, note, shown_tail = _not_stored(
                op, context if index else 0, context if index < len(ops) - 1 else 0, labels
            )
            for shown, at in ((shown_head, 0), (shown_tail, len(new) + skipped - len(shown_tail))):
                if shown:
                    left, right = _Paragraphs(), _Paragraphs()
                    _plain(left, shown, old_starts, old_at + at, force_first=True)
                    _plain(right, shown, new_starts, new_at + at, force_first=True)
                    row("equal", left, right)
                if at == 0:
                    rows.append(Markup('<div class="crawler-side-row crawler-side-fold">{}</div>').format(note))
        elif kind == "equal":
            head = context if index else 0
            tail = context if index < len(ops) - 1 else 0
            if len(new) > head + tail + 1:
                if head:
                    left, right = _Paragraphs(), _Paragraphs()
                    _plain(left, old[:head], old_starts, old_at)
                    _plain(right, new[:head], new_starts, new_at)
                    row("equal", left, right)
                rows.append(
                    Markup('<div class="crawler-side-row crawler-side-fold">{}</div>').format(
                        _fold(new[head : len(new) - tail], new_starts, new_at + head, labels)
                    )
                )
                if tail:
                    left, right = _Paragraphs(), _Paragraphs()
                    _plain(left, old[len(old) - tail :], old_starts, old_at + len(old) - tail, force_first=True)
                    _plain(right, new[len(new) - tail :], new_starts, new_at + len(new) - tail, force_first=True)
                    row("equal", left, right)
            else:
                left, right = _Paragraphs(), _Paragraphs()
                _plain(left, old, old_starts, old_at)
                _plain(right, new, new_starts, new_at)
                row("equal", left, right)
        else:
            left, right = _Paragraphs(), _Paragraphs()
            if op.get("words"):
                old_marked, old_raw = _words(op["words"], ("equal", "delete"))
                new_marked, new_raw = _words(op["words"], ("equal", "insert"))
                if op.get("ignored"):
                    old_marked, new_marked = _ignored(old_marked, labels), _ignored(new_marked, labels)
                left.add(old_marked, old_raw, True)
                right.add(new_marked, new_raw, True)
            else:
                _plain(left, old, old_starts, old_at, dele, force_first=True)
                _plain(right, new, new_starts, new_at, ins, force_first=True)
            if op.get("cut"):
                right.block(_cut_note(op))
            row(
                "ignored" if op.get("ignored") else kind or "change",
                left if old else None,
                right if new or op.get("cut") else None,
            )
        old_at += len(old) + skipped
        new_at += len(new) + skipped
    return Markup('<div class="crawler-side">{}</div>').format(Markup("").join(rows))


def marked_excerpt(text: str | None) -> Markup:
    """A search excerpt with its match marks as <mark>, everything else escaped."""
    out = Markup("")
    for index, piece in enumerate((text or "").split(MARK_OPEN)):
        if index == 0:
            out += escape(piece)
            continue
        hit, _, rest = piece.partition(MARK_CLOSE)
        out += Markup("<mark>{}</mark>").format(hit) + escape(rest)
    return out


# -- the timeline ------------------------------------------------------------------------


@dataclass
class _Bucket:
    """Captures of one period (a day, a week, ...) or a single capture."""

    start: datetime
    end: datetime
    counts: dict[str, int] = field(default_factory=dict)
    similarity: list[float] = field(default_factory=list)
    capture: Mapping[str, Any] | None = None  # when the bucket is one capture


# Bucket sizes tried in order: the first that gives few enough bars is used.
_PERIODS = (
    ("hour", timedelta(hours=1)),
    ("day", timedelta(days=1)),
    ("week", timedelta(days=7)),
    ("month", timedelta(days=30)),
)
# Axis steps: the first that gives few enough labels is used (with their label format).
_TICKS = (
    (timedelta(hours=1), "%H:%M"),
    (timedelta(hours=6), "%m-%d %H:%M"),
    (timedelta(days=1), "%m-%d"),
    (timedelta(days=7), "%m-%d"),
    (timedelta(days=30), "%Y-%m"),
    (timedelta(days=91), "%Y-%m"),
    (timedelta(days=365), "%Y"),
)


def _floor(when: datetime, period: str) -> datetime:
    """The start of the period holding when (local time)."""
    if period == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: datetime, period: str) -> datetime:
    """The start of the period after the one starting at start."""
    if period == "hour":
        return start + timedelta(hours=1)
    if period == "day":
        return (start + timedelta(days=1, hours=3)).replace(hour=0)  # across a DST change too
    if period == "week":
        return (start + timedelta(days=7, hours=3)).replace(hour=0)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _ticks(start: datetime, end: datetime, most: int) -> tuple[list[datetime], str]:
    """Round times between start and end for the axis, at most `most` of them, and their label format."""
    span = end - start
    step, fmt = next(((step, fmt) for step, fmt in _TICKS if span / step <= most), _TICKS[-1])
    if step >= timedelta(days=30):
        tick = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        months = round(step.days / 30)
        ticks = []
        while tick <= end:
            if tick >= start and (tick.month - 1) % months == 0:
                ticks.append(tick)
            tick = (tick.replace(day=28) + timedelta(days=4)).replace(day=1)
        return ticks, fmt
    if step >= timedelta(days=1):
        tick = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if step.days == 7:
            tick -= timedelta(days=tick.weekday())
    else:
        tick = start.replace(minute=0, second=0, microsecond=0)
        hours = int(step.total_seconds() // 3600)
        tick = tick.replace(hour=tick.hour - tick.hour % hours)
    ticks = []
    while tick <= end:
        if tick >= start:
            ticks.append(tick)
        tick = (tick + step + timedelta(hours=3)).replace(hour=0) if step >= timedelta(days=1) else tick + step
    return ticks, fmt


def timeline_svg(
    captures: Sequence[Mapping[str, Any]],
    *,
    zone: tzinfo | None = None,
    labels: Labels | None = None,
    width: int = 960,
    height: int = 170,
    capture_href: Callable[[Mapping[str, Any]], str] | None = None,
    period_href: Callable[[datetime, datetime], str] | None = None,
    version_href: Callable[[Mapping[str, Any]], str] | None = None,
) -> Markup:
    """Captures over time: a dot per capture, or a bar per day or week when dense; new versions flagged.

    Each capture needs fetched_at, outcome, version and version_id (of the version it found, or None)
    and similarity (of that version to the original, or None). Dots link to their capture, bars to
    the captures of their period, flags to their version's diff.
    """
    labels = labels or Labels()
    points = sorted(
        ((local(when, zone), c) for c in captures if (when := moment(c.get("fetched_at")))), key=lambda p: p[0]
    )
    if not points:
        return Markup('<p style="{}">{}</p>').format(SKIP_STYLE, labels("No version captured yet."))
    left, right = 36, width - 12
    top, bottom = 22, height - 74  # the similarity band
    lane_top, lane_bottom = bottom + 8, height - 26  # the captures band
    start, end = points[0][0], points[-1][0]
    slots = (right - left) // 9  # at most one dot or bar every 9 px
    period = None
    if len(points) > slots or _crowded(points, (end - start) / max(1, right - left) * 7):
        period = next((name for name, size in _PERIODS if (end - start) / size < slots), "month")
        start = _floor(start, period)
        end = _next(_floor(end, period), period)
    span = (end - start).total_seconds() or 1.0

    def x(when: datetime) -> float:
        if end <= start:
            return (left + right) / 2
        return left + (right - left) * (when - start).total_seconds() / span

    def y(similarity: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(1.0, similarity))

    out = [
        Markup(
            '<svg class="crawler-timeline" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            'viewBox="0 0 {w} {h}" role="group" aria-label="{label}" style="max-width:100%;height:auto">'
        ).format(w=width, h=height, label=labels("Timeline")),
        Markup(
            '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#d0d7de"/>'
            '<line x1="{l}" y1="{t}" x2="{r}" y2="{t}" stroke="#eaeef2" stroke-dasharray="3 3"/>'
            '<text x="{tx}" y="{ty}" font-size="10" fill="#57606a" text-anchor="end">100%</text>'
            '<text x="{tx}" y="{by}" font-size="10" fill="#57606a" text-anchor="end">0</text>'
            '<line x1="{l}" y1="{lb}" x2="{r}" y2="{lb}" stroke="#d0d7de"/>'
        ).format(l=left, r=right, t=top, b=bottom, tx=left - 4, ty=top + 4, by=bottom + 3, lb=lane_bottom),
    ]
    # The similarity of each capture's text to the original.
    line = [f"{x(w):.1f},{y(float(c['similarity'])):.1f}" for w, c in points if c.get("similarity") is not None]
    if len(line) > 1:
        out.append(
            Markup(
                '<polyline class="crawler-similarity" fill="none" stroke="#0969da" stroke-width="1.5" '
                'points="{}"><title>{}</title></polyline>'
            ).format(" ".join(line), labels("Similarity to original"))
        )
    elif line:
        sx, sy = line[0].split(",")
        out.append(
            Markup(
                '<circle class="crawler-similarity" cx="{}" cy="{}" r="3" fill="#0969da"><title>{}</title></circle>'
            ).format(sx, sy, labels("Similarity to original"))
        )
    # New versions: a flag each, labelled when there is room.
    flags = [(w, c) for w, c in points if c.get("outcome") == "new_version"]
    room = len(flags) <= (right - left) // 28
    for when, capture in flags:
        fx = x(when)
        title = "{}: {}".format(when.strftime("%Y-%m-%d %H:%M"), labels("version {}").format(capture.get("version")))
        flag = Markup(
            '<line x1="{x:.1f}" y1="{t}" x2="{x:.1f}" y2="{b}" stroke="#1a7f37" stroke-opacity="0.35"/>'
            '<path d="M{x:.1f} {t} l0 -9 l7 3 l-7 3" fill="#1a7f37"/>'
        ).format(x=fx, t=top, b=bottom)
        if room:
            flag += Markup('<text x="{:.1f}" y="{}" font-size="10" fill="#1a7f37">v{}</text>').format(
                fx + 8, top - 10, capture.get("version") or "?"
            )
        flag = Markup('<g class="crawler-flag"><title>{}</title>{}</g>').format(title, flag)
        if version_href and capture.get("version_id"):
            flag = Markup('<a href="{}">{}</a>').format(version_href(capture), flag)
        out.append(flag)
    # Captures: a dot each, or a stacked bar per period.
    if period is None:
        for when, capture in points:
            outcome = capture.get("outcome") or "failed"
            title = "{}: {}".format(when.strftime("%Y-%m-%d %H:%M"), outcome_words(outcome, labels))
            if capture.get("version") is not None:
                title += " (" + labels("version {}").format(capture["version"]) + ")"
            dot = Markup(
                '<circle class="crawler-capture crawler-{o}" cx="{x:.1f}" cy="{y}" r="4.5" fill="{c}">'
                "<title>{t}</title></circle>"
            ).format(
                o=outcome, x=x(when), y=(lane_top + lane_bottom) / 2, c=OUTCOME_COLOURS.get(outcome, "#57606a"), t=title
            )
            out.append(Markup('<a href="{}">{}</a>').format(capture_href(capture), dot) if capture_href else dot)
    else:
        buckets: dict[datetime, _Bucket] = {}
        for when, capture in points:
            key = _floor(when, period)
            bucket = buckets.setdefault(key, _Bucket(key, _next(key, period)))
            outcome = capture.get("outcome") or "failed"
            bucket.counts[outcome] = bucket.counts.get(outcome, 0) + 1
        most = max(sum(b.counts.values()) for b in buckets.values())
        for bucket in buckets.values():
            bx, bw = x(bucket.start), max(2.0, x(bucket.end) - x(bucket.start) - 1)
            total = sum(bucket.counts.values())
            scale = (lane_bottom - lane_top) / most
            parts, base = [], float(lane_bottom)
            for outcome, colour in OUTCOME_COLOURS.items():
                count = bucket.counts.get(outcome, 0)
                if count:
                    h = max(1.5, count * scale)
                    base -= h
                    parts.append(
                        Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"/>').format(
                            bx, base, bw, h, colour
                        )
                    )
            words = ", ".join(f"{n} {outcome_words(o, labels)}" for o, n in bucket.counts.items())
            title = "{} ({}): {} {}: {}".format(
                bucket.start.strftime("%Y-%m-%d"), labels(period), total, labels("captures"), words
            )
            bar = Markup(
                '<g class="crawler-bar"><title>{}</title>'
                '<rect x="{:.1f}" y="{}" width="{:.1f}" height="{}" fill="transparent"/>{}</g>'
            ).format(title, bx, lane_top, bw, lane_bottom - lane_top, Markup("").join(parts))
            utc_start, utc_end = bucket.start.astimezone(timezone.utc), bucket.end.astimezone(timezone.utc)
            out.append(
                Markup('<a href="{}">{}</a>').format(period_href(utc_start, utc_end), bar) if period_href else bar
            )
    # A dated axis.
    ticks, fmt = _ticks(start, end, max(2, (right - left) // 64))
    for tick in ticks:
        tx = x(tick)
        out.append(
            Markup(
                '<line x1="{x:.1f}" y1="{b}" x2="{x:.1f}" y2="{b2}" stroke="#8c959f"/>'
                '<text x="{x:.1f}" y="{ty}" font-size="10" fill="#57606a" text-anchor="middle">{label}</text>'
            ).format(x=tx, b=lane_bottom, b2=lane_bottom + 4, ty=lane_bottom + 15, label=tick.strftime(fmt))
        )
    if not ticks:
        # Too short a span for round ticks: its first and last times say when.
        first, last = points[0][0], points[-1][0]
        out.append(
            Markup('<text x="{}" y="{}" font-size="10" fill="#57606a">{}</text>').format(
                left, lane_bottom + 15, first.strftime("%Y-%m-%d %H:%M:%S")
            )
        )
        if last - first >= timedelta(seconds=1):
            out.append(
                Markup('<text x="{}" y="{}" font-size="10" fill="#57606a" text-anchor="end">{}</text>').format(
                    right,
                    lane_bottom + 15,
                    last.strftime("%H:%M:%S" if last.date() == first.date() else "%Y-%m-%d %H:%M"),
                )
            )
    caption = labels("{} captures, a bar per {}").format(len(points), labels(period)) if period else ""
    if caption:
        out.append(
            Markup('<text x="{}" y="{}" font-size="10" fill="#57606a" text-anchor="end">{}</text>').format(
                right, height - 2, caption
            )
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def _crowded(points: Sequence[tuple[datetime, Any]], gap: timedelta) -> bool:
    """True when many dots would overlap (more than a fifth closer than gap to the previous one)."""
    close = sum(1 for (a, _), (b, _) in zip(points, points[1:]) if b - a < gap)
    return len(points) > 20 and close > len(points) / 5


def outcome_legend(labels: Labels | None = None) -> Markup:
    """The timeline's colour key."""
    labels = labels or Labels()
    return Markup(" ").join(
        Markup(
            '<span class="crawler-key"><svg width="10" height="10" aria-hidden="true"><circle cx="5" cy="5" r="4" fill="{}"/>'
            "</svg> {}</span>"
        ).format(colour, outcome_words(outcome, labels))
        for outcome, colour in OUTCOME_COLOURS.items()
    )


def quoted(seed_id: Any) -> str:
    """A seed id as one path segment of a link: spaces, Chinese, '?', '#' and '/' percent-encoded."""
    return quote(str(seed_id), safe="")

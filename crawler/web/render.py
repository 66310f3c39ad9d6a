"""HTML for the Datasette plugin: inline diffs and the capture timeline. Pure; every archived text is escaped."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Mapping
from urllib.parse import quote

from markupsafe import Markup, escape

from crawler.archive.search import MARK_CLOSE, MARK_OPEN

# Inline styles, so a diff looks the same in a table cell, a canned query and the plugin's pages.
INS_STYLE = "background:#d7f5dd;color:#0b5d1e;text-decoration:none;border-radius:2px;padding:0 1px"
DEL_STYLE = "background:#ffe0e0;color:#8a1111;text-decoration:line-through;border-radius:2px;padding:0 1px"
SKIP_STYLE = "color:#777;font-style:italic"
# An ignored change (a counter or time written as prose): shown, but faded and labelled.
IGNORED_STYLE = "opacity:.55"
IGNORED_LABEL = "ignored: a counter or time written in the text"
# Colour of each capture outcome on the timeline.
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


def _sentences(items: Iterable[str]) -> Markup:
    """Sentences joined for reading: no space between CJK sentences, one between Latin ones."""
    out = Markup("")
    previous = ""
    for sentence in items:
        if previous and previous[-1].isascii() and previous[-1] not in "\n":
            out += " "
        out += escape(sentence)
        previous = sentence
    return out


def _words(words: Iterable[Any]) -> Markup:
    """Word-level operations of a replaced block: [[tag, text], ...] (words; characters for CJK)."""
    out = Markup("")
    for tag, text in words:
        out += ins(text) if tag == "insert" else dele(text) if tag == "delete" else escape(text)
    return out


def diff_html(ops: list[Mapping[str, Any]] | str | None, context: int = 1) -> Markup:
    """A coloured inline diff from stored diff operations; long unchanged stretches are folded."""
    if isinstance(ops, str):
        try:
            ops = json.loads(ops)
        except ValueError:
            return escape(ops)
    if not ops:
        return Markup('<span style="{}">no differences</span>').format(SKIP_STYLE)
    parts: list[Markup] = []
    for index, op in enumerate(ops):
        kind, old, new = op.get("op"), op.get("old") or [], op.get("new") or []
        if kind == "equal":
            keep_head = context if index else 0
            keep_tail = context if index < len(ops) - 1 else 0
            # A diff stored cut short (versions.bounded_ops) keeps a run's first and last sentence and a count.
            total = len(new) + (op.get("skipped") or 0)
            if total > keep_head + keep_tail + 1:
                hidden = total - min(keep_head, len(new)) - min(keep_tail, max(0, len(new) - keep_head))
                parts.append(_sentences(new[:keep_head]))
                parts.append(
                    Markup('<span class="crawler-skip" style="{}"> … {} unchanged sentence{} … </span>').format(
                        SKIP_STYLE, hidden, "" if hidden == 1 else "s"
                    )
                )
                parts.append(_sentences(new[len(new) - keep_tail:] if keep_tail else []))
            else:
                parts.append(_sentences(new))
        else:
            if kind == "replace" and op.get("words"):
                change = _words(op["words"])
            else:
                change = Markup(" ").join(
                    p for p in (dele(_sentences(old)) if old else "", ins(_sentences(new)) if new else "") if p
                )
            if op.get("cut"):
                change += Markup(' <span style="{}">… {} more changed sentence{} not stored …</span>').format(
                    SKIP_STYLE, op["cut"], "" if op["cut"] == 1 else "s")
            if op.get("ignored"):
                change = Markup('<span class="crawler-ignored" style="{}" title="{}">{}</span>'
                                ' <span style="{}">({})</span>').format(
                    IGNORED_STYLE, IGNORED_LABEL, change, SKIP_STYLE, IGNORED_LABEL)
            parts.append(change)
    return Markup('<div class="crawler-diff" style="white-space:pre-wrap;line-height:1.7">{}</div>').format(
        Markup(" ").join(p for p in parts if p)
    )


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


def _when(value: str | None) -> datetime | None:
    """An ISO timestamp as a datetime (None when missing or malformed)."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def timeline_svg(captures: list[Mapping[str, Any]], width: int = 720, height: int = 150) -> Markup:
    """Captures over time as dots coloured by outcome, new versions as flags, similarity to the original as a line.

    Each capture needs fetched_at, outcome and version (the version number it points at, or None)
    and similarity (of that version to the original, or None).
    """
    points = [(when, c) for c in captures if (when := _when(c.get("fetched_at"))) is not None]
    if not points:
        return Markup('<p style="{}">No captures yet.</p>').format(SKIP_STYLE)
    points.sort(key=lambda p: p[0])
    left, right, top, bottom = 40, width - 10, 18, height - 34
    start, end = points[0][0].timestamp(), points[-1][0].timestamp()
    span = (end - start) or 1.0

    def x(when: datetime) -> float:
        return left + (right - left) * ((when.timestamp() - start) / span if end > start else 0.5)

    def y(similarity: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(1.0, similarity))

    out = [
        Markup('<svg class="crawler-timeline" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
               'viewBox="0 0 {} {}" role="img" aria-label="captures over time">').format(width, height, width, height),
        Markup('<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#d0d7de"/>'
               '<line x1="{l}" y1="{t}" x2="{r}" y2="{t}" stroke="#eaeef2" stroke-dasharray="3 3"/>'
               '<text x="{tx}" y="{ty}" font-size="10" fill="#57606a" text-anchor="end">1.0</text>'
               '<text x="{tx}" y="{by}" font-size="10" fill="#57606a" text-anchor="end">0</text>').format(
            l=left, r=right, t=top, b=bottom, tx=left - 4, ty=top + 4, by=bottom + 3),
    ]
    line = [f"{x(w):.1f},{y(c['similarity']):.1f}" for w, c in points if c.get("similarity") is not None]
    if len(line) > 1:
        out.append(Markup('<polyline class="crawler-similarity" fill="none" stroke="#0969da" stroke-width="1.5" '
                          'points="{}"><title>similarity to the original</title></polyline>').format(" ".join(line)))
    for when, capture in points:
        cx = x(when)
        outcome = capture.get("outcome") or "failed"
        colour = OUTCOME_COLOURS.get(outcome, "#57606a")
        label = f"{capture.get('fetched_at')}: {outcome}"
        if capture.get("version") is not None:
            label += f" (version {capture['version']})"
        if outcome == "new_version":
            out.append(Markup('<line x1="{x:.1f}" y1="{t}" x2="{x:.1f}" y2="{b}" stroke="{c}" stroke-opacity="0.35"/>'
                              '<text x="{x:.1f}" y="{ty}" font-size="10" fill="{c}" text-anchor="middle">v{v}</text>').format(
                x=cx, t=top, b=bottom, c=colour, ty=top - 6, v=capture.get("version") or "?"))
        out.append(Markup('<circle class="crawler-capture crawler-{o}" cx="{x:.1f}" cy="{y}" r="4" fill="{c}">'
                          '<title>{label}</title></circle>').format(o=outcome, x=cx, y=bottom + 12, c=colour, label=label))
    out.append(Markup('<text x="{}" y="{}" font-size="10" fill="#57606a">{}</text>'
                      '<text x="{}" y="{}" font-size="10" fill="#57606a" text-anchor="end">{}</text>').format(
        left, height - 4, points[0][0].strftime("%Y-%m-%d %H:%M"), right, height - 4, points[-1][0].strftime("%Y-%m-%d %H:%M")))
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def outcome_legend() -> Markup:
    """The timeline's colour key."""
    return Markup(" ").join(
        Markup('<span style="white-space:nowrap"><svg width="10" height="10"><circle cx="5" cy="5" r="4" fill="{}"/></svg> {}</span>')
        .format(colour, outcome.replace("_", " "))
        for outcome, colour in OUTCOME_COLOURS.items()
    )


def http_url(value: Any) -> str | None:
    """value when it is an http(s) URL, else None: archived URLs become links only then (never javascript:)."""
    if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
        return value
    return None


def quoted(seed_id: Any) -> str:
    """A seed id as one path segment of a link: spaces, Chinese, '?', '#' and '/' percent-encoded."""
    return quote(str(seed_id), safe="")

"""Values as people read them: local times with "3 h ago", intervals, percentages, outcomes in words, short URLs.

Pure functions; every one returns escaped Markup or plain text. The archive keeps UTC (ISO 8601);
pages show the server's local time (or plugins.crawler.timezone), with the UTC time on hover.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from crawler.web.i18n import Labels

# How each capture outcome and seed state is said (English; i18n.ZH has the Chinese).
OUTCOME_WORDS = {
    "new_version": "new version",
    "unchanged": "unchanged",
    "not_modified": "unchanged (304)",
    "no_content": "no article text",
    "removed": "removed",
    "gone": "gone (404/410)",
    "failed": "failed",
}
STATE_WORDS = {
    "alive": "online",
    "removed": "removed",
    "gone": "gone",
    "failing": "failing",
    None: "not captured yet",
}


def moment(value: Any) -> datetime | None:
    """An archive timestamp (ISO 8601; UTC when it has no zone) as an aware datetime, None if it is none."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def duration(seconds: float | None, labels: Labels | None = None) -> str:
    """A length of time in one or two units: "45 s", "6 h", "2 d 3 h", "3 wk" ('' when unknown)."""
    if seconds is None:
        return ""
    units = (labels or Labels()).units
    seconds = abs(float(seconds))
    if seconds < 60:
        return f"{int(seconds)} {units['s']}"
    if seconds < 3600:
        return f"{int(seconds // 60)} {units['min']}"
    if seconds < 86400:
        hours, minutes = int(seconds // 3600), int(seconds % 3600 // 60)
        return f"{hours} {units['h']}" + (f" {minutes} {units['min']}" if minutes and hours < 10 else "")
    days, hours = int(seconds // 86400), int(seconds % 86400 // 3600)
    if days < 14:
        return f"{days} {units['d']}" + (f" {hours} {units['h']}" if hours and days < 3 else "")
    if days < 60:
        return f"{days // 7} {units['wk']}"
    if days < 730:
        return f"{days // 30} {units['mo']}"
    return f"{days // 365} {units['y']}"


def ago(when: datetime, now: datetime, labels: Labels | None = None) -> str:
    """How long before now, in words: "3 h ago", "in 2 d" (for a future time), "just now"."""
    labels = labels or Labels()
    seconds = (now - when).total_seconds()
    if abs(seconds) < 60:
        return labels("just now")
    span = duration(seconds, labels)
    return labels("{} ago").format(span) if seconds > 0 else labels("in {}").format(span)


def local(when: datetime, zone: tzinfo | None) -> datetime:
    """when in the zone people read (the server's local zone when None)."""
    return when.astimezone(zone) if zone is not None else when.astimezone()


def time_html(
    value: Any, now: datetime, zone: tzinfo | None = None, labels: Labels | None = None, relative: bool = True
) -> Markup:
    """A <time>: local date and time to the minute, "(3 h ago)", the UTC time on hover; '' for none."""
    when = moment(value)
    if when is None:
        return Markup("") if not value else Markup("{}").format(value)
    shown = local(when, zone)
    text = shown.strftime("%Y-%m-%d %H:%M")
    utc = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    rel = Markup(' <span class="crawler-ago">{}</span>').format(ago(when, now, labels)) if relative else ""
    return Markup('<time datetime="{}" title="{}">{}</time>{}').format(
        when.astimezone(timezone.utc).isoformat(), utc, text, rel
    )


def zone_name(now: datetime, zone: tzinfo | None) -> str:
    """The name of the zone times are shown in ("CST", "UTC", "+08")."""
    return local(now, zone).strftime("%Z") or local(now, zone).strftime("%z")


def percent(value: Any) -> str:
    """A share as a percentage people can trust: 99.96% is "99.9%+" (never "100.0%" beside a change)."""
    if value is None or value == "":
        return ""
    share = float(value)
    if share >= 1.0:
        return "100%"
    if share <= 0.0:
        return "0%"
    tenths = math.floor(share * 1000) / 10
    if tenths >= 99.9:
        return "99.9%+"
    if tenths < 0.1:
        return "<0.1%"
    return f"{tenths:.1f}%"


def outcome_words(outcome: Any, labels: Labels | None = None) -> str:
    """A capture outcome in words ("new version", "gone (404/410)")."""
    if not outcome:
        return ""
    return (labels or Labels())(OUTCOME_WORDS.get(outcome, str(outcome).replace("_", " ")))


def state_words(state: Any, labels: Labels | None = None) -> str:
    """A seed's state in words ("online", "removed", "not captured yet")."""
    return (labels or Labels())(STATE_WORDS.get(state, str(state).replace("_", " ")))


def site(url: Any) -> str:
    """The host of a URL without "www." ('' when it has none)."""
    if not isinstance(url, str):
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def short_url(url: Any, limit: int = 48) -> str:
    """A URL short enough for a table: host and the start and end of the path, "…" between."""
    if not isinstance(url, str):
        return ""
    text = url.split("://", 1)[-1]
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return text[:head] + "…" + text[-(limit - head - 1) :]


def url_html(url: Any, limit: int = 48) -> Markup:
    """A URL shortened, linked only when it is http(s) (never javascript:), the full one on hover."""
    if not isinstance(url, str) or not url:
        return Markup("")
    shown = short_url(url, limit)
    if url[:8].lower().startswith(("http://", "https://")):
        return Markup('<a class="crawler-url" href="{}" title="{}" rel="nofollow noreferrer">{}</a>').format(
            url, url, shown
        )
    return Markup('<span class="crawler-url" title="{}">{}</span>').format(url, shown)


def short_hash(value: Any) -> Markup:
    """A long hex digest as its first 12 digits, the whole on hover."""
    if not isinstance(value, str) or len(value) < 20:
        return Markup("{}").format(value or "")
    return Markup('<span class="crawler-hash" title="{}">{}…</span>').format(value, value[:12])

"""Times as people read them: the archive keeps UTC (ISO 8601); people see their local time."""

from __future__ import annotations

from datetime import datetime


def local_time(moment: str | None) -> str:
    """An archive time (ISO 8601, UTC) as local time to the minute with the zone; '-' for none."""
    if not moment:
        return "-"
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()

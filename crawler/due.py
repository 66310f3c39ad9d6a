"""When is a seed due again: durations, per-seed intervals and adaptive revisits (pure, clock passed in)."""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}

# Outcomes that say the server answered as expected (the article's fate is data, not a fault).
ANSWERED = frozenset({"new_version", "unchanged", "not_modified", "gone", "removed", "no_content"})


# The longest duration accepted anywhere: longer ones are typos, and dates a few thousand years out
# overflow Python's datetime (every run then failed on that seed, or exited before opening the archive).
MAX_DURATION_DAYS = 3650
MAX_DURATION = MAX_DURATION_DAYS * 86400.0


def parse_duration(value: str | int | float) -> float:
    """Seconds in a duration such as '30m', '2s', '6h', '1d', '1w' or a plain number of seconds (at most 10 years)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {_short(value)}")
        seconds = float(value) if value <= MAX_DURATION else math.inf  # a 400-digit int overflows float()
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"'{_short(value)}' is not a duration; write e.g. 30s, 15m, 6h, 1d or 2w")
        number, unit = match.groups()
        seconds = float(number) * _UNIT_SECONDS[(unit or "s").lower()]
    if not seconds <= MAX_DURATION:
        raise ValueError(f"'{_short(value)}' is too long; a duration is at most {MAX_DURATION_DAYS}d (10 years)")
    return seconds


def _short(value: object) -> str:
    """A value for a one-line message: at most 40 characters."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def format_duration(seconds: float) -> str:
    """A short human form of a duration in seconds ('6h', '1d12h', '45s')."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


@dataclass(frozen=True)
class RevisitPolicy:
    """How often seeds are revisited and how that adapts to what the crawler finds."""

    interval: float = 86400.0  # starting interval of a seed
    min_interval: float = 3600.0  # a change brings the interval back down to this
    max_interval: float = 30 * 86400.0  # unchanged captures lengthen it up to this
    factor: float = 1.5  # each unchanged capture multiplies the interval by this
    failure_backoff: float = 3600.0  # first wait after a failed fetch; doubles per failure in a row
    max_failure_backoff: float = 7 * 86400.0


@dataclass(frozen=True)
class DueState:
    """A seed's scheduling state, as stored on its row."""

    base_interval: float  # the seed's own starting interval (config or front matter)
    interval: float  # the current adaptive interval
    failures: int  # failed fetches in a row
    next_due_at: str


def seed_interval(
    policy: RevisitPolicy,
    seed_id: str,
    url: str | None,
    front_matter: Mapping[str, object],
    by_id: Mapping[str, str],
    by_url: Mapping[str, str],
) -> float:
    """A seed's starting interval: config by id, then front matter `revisit`, then URL pattern, then default."""
    if seed_id in by_id:
        return parse_duration(by_id[seed_id])
    if front_matter.get("revisit") is not None:
        return parse_duration(front_matter["revisit"])  # type: ignore[arg-type]
    for pattern, value in by_url.items():
        if url and fnmatch.fnmatchcase(url, pattern):
            return parse_duration(value)
    return policy.interval


def iso(moment: datetime) -> str:
    """A UTC timestamp in the archive's ISO form (sorts as text)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def next_state(
    outcome: str, state: DueState, policy: RevisitPolicy, now: datetime, first_version: bool = False
) -> DueState:
    """The scheduling state after a capture with this outcome, captured at `now`.

    The first version of a seed is not a change: it starts the seed at its own interval.
    """
    # A seed configured to be checked more (or less) often than the global bounds keeps its own bounds.
    low = min(policy.min_interval, state.base_interval)
    high = max(policy.max_interval, state.base_interval)
    if outcome == "failed":
        failures = state.failures + 1
        # The exponent capped: 2 ** 1100 times a float overflows, and the maximum is long reached by then.
        wait = min(policy.failure_backoff * 2 ** min(failures - 1, 64), policy.max_failure_backoff)
        return DueState(state.base_interval, state.interval, failures, iso(now + timedelta(seconds=wait)))
    if outcome == "new_version" and first_version:
        interval = state.base_interval
    elif outcome == "new_version":
        interval = low
    elif outcome in ANSWERED:
        interval = min(max(state.interval, low) * policy.factor, high)
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    return DueState(state.base_interval, interval, 0, iso(now + timedelta(seconds=interval)))

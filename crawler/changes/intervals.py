"""When is a seed due again: durations, per-seed intervals and adaptive revisits (pure, clock passed in)."""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from crawler.urls import domain_key, host_in

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}

# Outcomes that say the server answered as expected (the article's fate is data, not a fault).
ANSWERED = frozenset({"new_version", "unchanged", "not_modified", "gone", "removed", "no_content"})

# A removal with one of these causes makes the account's other seeds due at once: censors and
# blocks come in bursts (88% of WeChat "account blocked" removals came within an hour of another).
RECHECK_ACCOUNT_CAUSES = frozenset({"censored", "account_blocked"})
# Removals that raise the priority of the account's other seeds (docs/takedowns.md "Accounts").
RISK_CAUSES = frozenset({"censored", "account_blocked", "complaint"})
# Each risky removal in an account multiplies its seeds' visit value by one more, up to this.
MAX_ACCOUNT_RISK = 10.0

# The default age curve: article age -> longest revisit interval. Dense while removals are likeliest
# (93% of WeChat's violation removals came within 72 hours of publication, the most on the day
# after): every two hours at first, hourly from the first day through the third, then a geometric
# back-off (log-interpolated between the points) to daily, weekly after a month, monthly after a
# year; the last interval holds beyond the last age.
DEFAULT_AGE_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 2 * 3600.0),
    (24 * 3600.0, 3600.0),
    (72 * 3600.0, 3600.0),
    (96 * 3600.0, 86400.0),
    (30 * 86400.0, 7 * 86400.0),
    (365 * 86400.0, 30 * 86400.0),
)


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
    # (age, interval) points in seconds, ages ascending; empty: the interval does not depend on age.
    age_curve: Sequence[Sequence[float]] = field(default=DEFAULT_AGE_CURVE)


def age_interval(curve: Sequence[Sequence[float]], age: float) -> float | None:
    """The revisit interval the age curve gives an article of this age (seconds), None without a curve.

    Between two points the interval is interpolated geometrically (linear in log interval): a
    steady back-off rather than steps. Before the first point the first interval holds, after
    the last point the last one.
    """
    if not curve:
        return None
    ages, logs, intervals = _curve_table(curve if isinstance(curve, tuple) else tuple(tuple(p) for p in curve))
    if age <= ages[0]:
        return intervals[0]
    if age >= ages[-1]:
        return intervals[-1]
    right = bisect.bisect_left(ages, age)
    a0, a1 = ages[right - 1], ages[right]
    if age == a1:
        return intervals[right]
    share = (age - a0) / (a1 - a0) if a1 > a0 else 1.0
    return math.exp(logs[right - 1] + share * (logs[right] - logs[right - 1]))


@lru_cache(maxsize=16)
def _curve_table(curve: tuple[tuple[float, ...], ...]) -> tuple[list[float], list[float], list[float]]:
    """A curve's ages (ascending), log intervals and intervals, computed once per curve."""
    points = sorted((float(age), max(float(interval), 1.0)) for age, interval in curve)
    return [a for a, _ in points], [math.log(i) for _, i in points], [i for _, i in points]


def parse_moment(value: Any) -> datetime | None:
    """A date or date-time (ISO text, date or datetime) as an aware UTC datetime; None when unreadable.

    A date without a time is its midnight, and a time without an offset is read as UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            # The archive's own timestamps (the common case) parse as they are.
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(timezone.utc)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip().replace(" +", "+").replace(" -", "-")
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def publication_time(front_matter_date: Any, extracted_date: Any, first_seen: Any) -> datetime | None:
    """When an article was published: its front matter `date`, else the extracted date, else first seen."""
    for value in (front_matter_date, extracted_date, first_seen):
        moment = parse_moment(value)
        if moment is not None:
            return moment
    return None


def account_key(url: str | None, rules: Mapping[str, str], author: str | None = None) -> str | None:
    """The account a seed belongs to, by its domain's rule (schedule.accounts), or None.

    Rules: "query:NAME" (a query parameter, e.g. WeChat's __biz), "host", "path:N" (the host and
    the first N path segments) or "author" (the extracted author). The most specific domain wins.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return None
    rule = _domain_rule(rules, host)
    if rule is None:
        return None
    kind, _, arg = rule.partition(":")
    if kind == "query":
        values = parse_qs(parts.query).get(arg)
        return f"{host}?{arg}={values[0]}" if values and values[0] else None
    if kind == "host":
        return host or None
    if kind == "path":
        segments = [s for s in parts.path.split("/") if s][: int(arg or 1)]
        return f"{host}/{'/'.join(segments)}" if host else None
    if kind == "author":
        return f"{host}:{author.strip()}" if author and author.strip() else None
    return None


def check_account_rule(rule: str) -> None:
    """Raise ValueError when rule is not one of query:NAME, host, path:N, author."""
    kind, _, arg = rule.partition(":")
    if kind == "query" and arg:
        return
    if kind in ("host", "author") and not arg:
        return
    if kind == "path" and arg.isdigit() and int(arg) >= 1:
        return
    raise ValueError(f"{rule!r} is not an account rule; write query:NAME, host, path:N or author")


def _domain_rule(rules: Mapping[str, str], host: str) -> str | None:
    """The rule of the most specific domain in rules that host is (or is under); "*" last."""
    best, best_len = rules.get("*"), -1
    for domain, rule in rules.items():
        domain = domain_key(domain)
        if domain != "*" and host_in(host, domain) and len(domain) > best_len:
            best, best_len = rule, len(domain)
    return best


def account_risk(removals: int) -> float:
    """How much an account's past risky removals raise its seeds' visit value (1: none)."""
    return min(1.0 + removals, MAX_ACCOUNT_RISK)


@dataclass(frozen=True)
class Candidate:
    """A due seed as the budgeted selection sees it."""

    id: str
    next_due_at: str
    last_capture_at: str | None
    published_at: datetime | None
    account: str | None = None
    state: str | None = None  # seeds.state: a removed or gone seed is worth its own interval, not its age's
    interval: float | None = None  # seeds.interval_seconds


def visit_value(candidate: Candidate, now: datetime, policy: "RevisitPolicy", risk: float = 1.0) -> float:
    """Age hazard × account risk × time since the last visit: how much visiting this seed now is worth.

    The hazard is the inverse of the age curve's interval (the curve is dense where removals are
    likely). The waiting time grows without bound for a seed left out, so no seed starves.
    """
    return _Valuer(now, policy).value(candidate, risk)


class _Valuer:
    """visit_value for many candidates at one moment: the curve and the clock read once."""

    def __init__(self, now: datetime, policy: "RevisitPolicy"):
        self.now = now.timestamp()
        self.policy = policy
        self.curve = tuple(tuple(point) for point in policy.age_curve)

    def value(self, candidate: Candidate, risk: float = 1.0) -> float:
        """The candidate's visit value."""
        interval = None
        if candidate.state in ("removed", "gone"):
            # Confirmed gone: it may come back, but its age says nothing about when.
            interval = candidate.interval
        elif candidate.published_at is not None and self.curve:
            interval = age_interval(self.curve, self.now - candidate.published_at.timestamp())
        since = parse_moment(candidate.last_capture_at or candidate.next_due_at)
        waited = max(self.now - since.timestamp(), 0.0) if since is not None else 0.0
        return risk * (waited + 1.0) / (interval or self.policy.interval)


def plan_visits(
    candidates: Iterable[Candidate],
    now: datetime,
    policy: "RevisitPolicy",
    limit: int | None = None,
    risks: Mapping[str, int] | None = None,
    alerts: Mapping[str, str] | None = None,
) -> list[str]:
    """The ids of the due seeds to visit now, at most limit, the most valuable first.

    First the seeds never captured (their text must be kept before anything happens to it) and
    the seeds whose account was censored or blocked since their last visit (alerts: account ->
    when, ISO), oldest first; then the rest by visit_value. Without a limit every due seed is visited.
    """
    risks = risks or {}
    alerts = alerts or {}
    valuer = _Valuer(now, policy)
    fresh: list[tuple[str, str]] = []
    known: list[tuple[float, str]] = []
    for candidate in candidates:
        alert = alerts.get(candidate.account) if candidate.account else None
        if candidate.last_capture_at is None or (
            alert and alert > candidate.last_capture_at and candidate.state not in ("removed", "gone")
        ):
            fresh.append((candidate.next_due_at, candidate.id))
            continue
        risk = account_risk(risks.get(candidate.account, 0)) if candidate.account else 1.0
        known.append((valuer.value(candidate, risk), candidate.id))
    fresh.sort()
    known.sort(key=lambda pair: -pair[0])
    chosen = [seed_id for _, seed_id in fresh] + [seed_id for _, seed_id in known]
    return chosen if limit is None else chosen[: max(limit, 0)]


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
    outcome: str,
    state: DueState,
    policy: RevisitPolicy,
    now: datetime,
    first_version: bool = False,
    published_at: datetime | None = None,
) -> DueState:
    """The scheduling state after a capture with this outcome, captured at `now`.

    The first version of a seed is not a change: it starts the seed at its own interval. With a
    publication time, the wait is at most what the age curve gives an article that old (the
    adaptive interval itself keeps growing while unchanged, for when the article is old).
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
    wait = interval
    if published_at is not None and outcome not in ("gone", "removed"):
        by_age = age_interval(policy.age_curve, (now - published_at).total_seconds())
        if by_age is not None:
            wait = min(wait, by_age)
    return DueState(state.base_interval, interval, 0, iso(now + timedelta(seconds=wait)))

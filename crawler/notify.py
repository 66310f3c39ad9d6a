"""Telling people what changed: event wording, the Atom feed (feedgen) and Apprise notifications."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from crawler.changes.intervals import iso, parse_duration
from crawler.changes.removal import cause_words
from crawler.changes.versions import IGNORED_HUNK

log = logging.getLogger(__name__)

FEED_NAME = "changes.atom"
# Seconds one run's notifications may take in all (notify.deadline's default).
DEFAULT_DEADLINE = 60.0
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://archive-crawler.invalid/changes")


@dataclass(frozen=True)
class Message:
    """What is said about one change: a one-line title and a plain-text body."""

    title: str
    body: str


def describe(event: Mapping[str, Any]) -> Message:
    """The title and body announcing one change event (see Store.change_events)."""
    name = event.get("seed_title") or event["seed_id"]
    url = event.get("url") or ""
    kind = event["kind"]
    lines: list[str] = []
    if kind == "version":
        change = f", {event['change']}" if event.get("change") else ""
        title = f"{name}: version {event['version']}{change}"
        if event.get("similarity") is not None:
            lines.append(
                f"Text changed: similarity {event['similarity']:.2f} to version {event['version'] - 1}, "
                f"{event.get('chars_added') or 0} characters added, {event.get('chars_removed') or 0} removed."
            )
        lines += [_metadata_line(m) for m in event.get("metadata") or ()]
        lines += _changed_lines(event.get("diff") or "")
    elif kind == "state":
        was = f" (was {event['old_state']})" if event.get("old_state") else ""
        cause = f", {event['cause']}" if event.get("cause") and event["new_state"] == "removed" else ""
        title = f"{name}: {event['new_state']}{cause}{was}"
        lines.append(f"{_STATE_WORDS[event['new_state']]} since {local_time(event['since'])}.")
        words = state_cause(event)
        if words:
            lines.append(f"Cause: {words}.")
        if event["new_state"] in ("removed", "gone"):
            lines.append(bracket(event) + ".")
        if event.get("reason"):
            lines.append(f"Reason: {event['reason']}")
    else:
        fields = ", ".join(m["field"] for m in event["metadata"])
        title = f"{name}: {fields} changed"
        lines += [_metadata_line(m) for m in event["metadata"]]
        lines.append("The text did not change.")
    lines.append(f"Seed: {event['seed_id']}" + (f" {url}" if url else ""))
    return Message(title, "\n".join(lines))


_STATE_WORDS = {
    "alive": "The article is there again",
    "gone": "The server says the page is gone (404/410)",
    "removed": "The page answers but the article has been taken down",
    "failing": "Fetching the page keeps failing",
}


def state_cause(event: Mapping[str, Any]) -> str | None:
    """A removal's cause in words with its notice ("censored: 此内容因违规无法查看"), None for other states."""
    if event.get("new_state") != "removed":
        return None
    return cause_words(event.get("cause"), event.get("notice"), event.get("reason"))


def bracket(event: Mapping[str, Any]) -> str:
    """When a removal happened, as far as the captures can tell: "last seen alive A → first seen removed B"."""
    alive = event.get("last_seen_alive_at")
    seen = f"last seen alive {local_time(alive)}" if alive else "never seen alive"
    return f"{seen[0].upper()}{seen[1:]} → first seen {event['new_state']} {local_time(event['since'])}"


def local_time(value: str | None) -> str:
    """An archive timestamp (ISO, UTC) in this machine's local time, to the minute, with its zone."""
    if not value:
        return "-"
    try:
        return _moment(value).astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return value


# Changed sentences quoted in a version's announcement; the whole diff is in the archive.
MAX_DIFF_LINES = 6


def _changed_lines(diff: str) -> list[str]:
    """The first removed and added sentences of a unified diff, shortened (ignored counters left out)."""
    changed = []
    ignored = False
    for line in diff.splitlines():
        if line.startswith("@@"):
            # A counter or time written as prose has a hunk of its own: not what anyone is told about.
            ignored = line.endswith(IGNORED_HUNK)
        elif line[:1] in "+-" and not line.startswith(("+++", "---")) and not ignored:
            changed.append(line if len(line) <= 200 else line[:199] + "…")
    more = len(changed) - MAX_DIFF_LINES
    return changed[:MAX_DIFF_LINES] + ([f"(and {more} more changed lines)"] if more > 0 else [])


def _metadata_line(change: Mapping[str, Any]) -> str:
    """One metadata change as 'title: "old" -> "new"'."""
    old = f'"{change["old_value"]}"' if change.get("old_value") is not None else "(none)"
    return f'{change["field"]}: {old} -> "{change["new_value"]}"'


def event_line(event: Mapping[str, Any]) -> str:
    """One event as a tab-separated line of `crawler changes`: when, seed, kind, what, details."""
    title = describe(event).title
    what = title.split(": ", 1)[1] if ": " in title else title
    details: list[str] = []
    if event["kind"] == "version" and event.get("similarity") is not None:
        details.append(
            f"similarity {event['similarity']:.2f} to version {event['version'] - 1}, "
            f"+{event.get('chars_added') or 0}/-{event.get('chars_removed') or 0} characters"
        )
    elif event["kind"] == "state":
        words = state_cause(event)
        if words:
            details.append(words)
        if event["new_state"] in ("removed", "gone"):
            details.append(bracket(event)[0].lower() + bracket(event)[1:])
        else:
            details.append(f"since {local_time(event['since'])}")
        if event.get("reason") and not words:
            details.append(event["reason"])
    details += [_metadata_line(m) for m in event.get("metadata") or ()]
    return f"{event['at']}\t{event['seed_id']}\t{event['kind']}\t{what}\t{'; '.join(details)}"


def write_feed(path: Path, events: Sequence[Mapping[str, Any]], archive_dir: Path) -> None:
    """Write the events (newest last) as an Atom feed at path, replacing it atomically."""
    from feedgen.feed import FeedGenerator

    feed_id = uuid.uuid5(_NAMESPACE, str(Path(archive_dir).resolve()))
    fg = FeedGenerator()
    fg.id(f"urn:uuid:{feed_id}")
    fg.title("archive-crawler: changes and removals")
    fg.subtitle(f"New versions, removals and metadata changes in {Path(archive_dir).resolve()}")
    fg.author({"name": "archive-crawler"})
    fg.generator("archive-crawler")
    newest = events[-1]["at"] if events else iso(datetime.now(timezone.utc))
    fg.updated(_moment(newest))
    for event in events:
        message = describe(event)
        entry = fg.add_entry()  # prepended: the newest change comes first, as readers expect
        entry.id(f"urn:uuid:{uuid.uuid5(feed_id, event['event'])}")
        entry.title(message.title)
        entry.updated(_moment(event["at"]))
        entry.published(_moment(event["at"]))
        entry.content(message.body, type="text")
        entry.category(term=event["kind"])
        # Only a web address is a link: a seed's URL is whatever its file said (javascript:, data:, ...).
        if _is_http(event.get("url")):
            entry.link(href=event["url"], rel="alternate")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(fg.atom_str(pretty=True))
    os.replace(temporary, path)


def _is_http(url: Any) -> bool:
    """True for an http or https URL."""
    return isinstance(url, str) and url[:8].lower().startswith(("http://", "https://"))


def _moment(value: str) -> datetime:
    """An archive timestamp (ISO, UTC) as an aware datetime."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def target_key(url: str) -> str:
    """The identity of an Apprise URL in the notifications table (the URL itself may hold secrets)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass
class Sent:
    """What one round of notifications did."""

    sent: int = 0
    failed: int = 0


def notify(
    store: Any,
    urls: Sequence[str],
    events: Sequence[Mapping[str, Any]],
    run_id: int | None,
    max_attempts: int,
    deadline: float = DEFAULT_DEADLINE,
) -> Sent:
    """Send each event not yet sent to each Apprise URL, once; failures are recorded and logged, never raised.

    Targets are sent to in parallel (a thread each), all under one deadline: an unreachable target
    cost Apprise's own timeouts once per event, one target after another (97 s for two of them).
    A send still unanswered at the deadline is recorded failed, and retried on a later run.
    """
    result = Sent()
    if not urls or not events:
        return result
    import apprise

    answers: queue.Queue[tuple[str, str, str, bool, str | None]] = queue.Queue()
    pending: dict[tuple[str, str], str] = {}  # (target, event) -> masked URL, until answered
    for url in urls:
        target = target_key(url)
        sender = apprise.Apprise()
        if not sender.add(url):
            log.error("notify: %s is not an Apprise URL this installation can use; nothing sent to it", _scheme(url))
            result.failed += len(events)
            continue
        masked = sender[0].url(privacy=True)
        done = store.notifications(target)
        todo = []
        for event in events:
            previous = done.get(event["event"])
            if previous and (previous["status"] == "sent" or previous["attempts"] >= max_attempts):
                continue
            todo.append(event)
            pending[(target, event["event"])] = masked
        if todo:
            # A daemon thread: one still waiting on a dead server at the deadline must not keep the
            # process alive (the database is written here, by this thread, never by a sender).
            threading.Thread(
                target=_send_all, args=(sender, target, masked, todo, answers), name=f"notify-{target}", daemon=True
            ).start()
    end = time.monotonic() + deadline
    while pending:
        try:
            target, masked, event_id, ok, error = answers.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            break
        pending.pop((target, event_id), None)
        store.record_notification(event_id, target, masked, run_id, ok, error)
        if ok:
            result.sent += 1
        else:
            result.failed += 1
            log.error("notify: could not send %s to %s: %s", event_id, masked, error)
    for (target, event_id), masked in pending.items():
        error = f"no answer within {deadline:g} s (notify.deadline)"
        store.record_notification(event_id, target, masked, run_id, False, error)
        result.failed += 1
        log.error("notify: could not send %s to %s: %s", event_id, masked, error)
    return result


def _send_all(sender: Any, target: str, masked: str, events: Sequence[Mapping[str, Any]], answers: queue.Queue) -> None:
    """Send events to one target in turn, putting (target, masked, event, ok, error) on answers for each."""
    import apprise

    for event in events:
        message = describe(event)
        try:
            with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
                ok = bool(sender.notify(title=message.title, body=message.body))
            error = None if ok else (" ".join(captured.getvalue().split()) or "Apprise reported a failure")
        except Exception as exc:  # noqa: BLE001 (a plugin's bug is this target's failure, reported as such)
            ok, error = False, f"{type(exc).__name__}: {exc}"
        answers.put((target, masked, event["event"], ok, error))


def _scheme(url: str) -> str:
    """The scheme of a URL, for messages that must not show its secrets."""
    return url.split("://", 1)[0] + "://..." if "://" in url else "(not a URL)"


def announce(store: Any, settings: Any, archive_dir: Path, run_id: int | None, now: datetime | None = None) -> Sent:
    """After a run: rewrite the Atom feed and send notifications; problems are logged, never raised."""
    notify_settings = settings.notify
    result = Sent()
    try:
        if notify_settings.feed:
            write_feed(
                Path(archive_dir) / FEED_NAME, store.change_events("", limit=notify_settings.feed_entries), archive_dir
            )
    except Exception as exc:  # the feed is a courtesy: the run's captures are already safe
        log.error("notify: could not write %s: %s", Path(archive_dir) / FEED_NAME, exc)
    if notify_settings.apprise:
        since = (now or datetime.now(timezone.utc)) - timedelta(seconds=parse_duration(notify_settings.max_age))
        try:
            result = notify(
                store,
                notify_settings.apprise,
                store.change_events(iso(since)),
                run_id,
                notify_settings.max_attempts,
                parse_duration(notify_settings.deadline),
            )
        except Exception as exc:  # a notification service must never fail the run
            log.error("notify: notifications stopped: %s: %s", type(exc).__name__, exc)
    return result

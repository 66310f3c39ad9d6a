"""The plugin's pages: what happened, the articles, an article, a text, a diff, a capture's response, the feed.

Each page is HTML, or JSON with a ``.json`` suffix. Handlers read through Datasette's read-only
connections; the crawler stays the only writer. Times are shown in local time (``plugins.crawler.timezone``
or the server's zone) with the UTC time on hover; labels in English or Chinese (see i18n.py).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote, unquote, urlencode, urljoin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import lxml.html
import sqlite_utils
from datasette.utils.asgi import NotFound, Response
from lxml import etree
from markupsafe import Markup, escape

from crawler.archive.store import Store
from crawler.changes.removal import ALL_CAUSES
from crawler.changes.versions import classify_against_original, diff_texts
from crawler.extract.requisites import LAZY_ATTRIBUTES, SRCSET_ATTRIBUTES
from crawler.notify import FEED_NAME, write_feed
from crawler.warc import WARC_DIR_NAME, WarcError, read_record
from crawler.web import queries
from crawler.web.i18n import COOKIE, LANGUAGES, Labels, pick_language
from crawler.web.people import (
    duration,
    moment,
    outcome_words,
    percent,
    short_hash,
    site,
    state_words,
    time_html,
    url_html,
    zone_name,
)
from crawler.web.render import (
    diff_html,
    outcome_legend,
    paragraph_starts,
    quoted,
    side_by_side_html,
    text_html,
    timeline_svg,
)

PLUGIN = "crawler"
# Events on the home page (newest first) and captures drawn on a timeline.
HOME_EVENTS = 60
HOME_ARTICLES = 50
TIMELINE_CAPTURES = 20000
LISTED_CAPTURES = 50
# The "changed within" choices of the articles filter, in days.
CHANGED_WITHIN = {"1d": 1, "7d": 7, "30d": 30, "365d": 365}
SORTS = ("last_change", "last_fetched", "title", "versions")
# Only these are served: a screenshot is a PNG or JPEG the crawler made, never archived content.
SCREENSHOT_TYPES = {"image/png", "image/jpeg"}
# An archived page, served only to look at: no script runs, nothing but the archive's copies is fetched, it has no origin.
REPLAY_POLICY = (
    "sandbox; default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:"
)
RAW_BODY_LIMIT = 500_000


class ArchiveReader:
    """The store's read queries on one of Datasette's read-only connections (the same SQL as the CLI)."""

    change_events = Store.change_events
    warc_record = Store.warc_record

    def __init__(self, conn: Any):
        self.db = sqlite_utils.Database(conn)


@dataclass
class View:
    """How one request is shown: its language, time zone and the moment it was made."""

    labels: Labels
    zone: tzinfo | None
    now: datetime
    set_language: str | None = None  # ?_lang= given: remembered in a cookie

    def when(self, value: Any, relative: bool = True) -> Markup:
        """A time in local time with "3 h ago" and UTC on hover."""
        return time_html(value, self.now, self.zone, self.labels, relative)

    def template_vars(self) -> dict[str, Any]:
        """What every template of the plugin uses."""
        t = self.labels
        return {
            "t": t,
            "tf": lambda english, *args: escape(t(english)).format(*args),
            "lang": t.language,
            "when": self.when,
            "pct": percent,
            "dur": lambda s: duration(s, t),
            "url_html": url_html,
            "outcome_words": lambda o: outcome_words(o, t),
            "state_words": lambda s: state_words(s, t),
            "q": quoted,
            "short_hash": short_hash,
            "zone_name": zone_name(self.now, self.zone),
            "languages": LANGUAGES,
            "count": lambda n, one, many: t(one if n == 1 else many).format(n),
        }


def view_of(datasette: Any, request: Any) -> View:
    """The language and time zone of a request (see i18n.pick_language; plugins.crawler.timezone)."""
    config = datasette.plugin_config(PLUGIN) or {}
    language = pick_language(
        request.args, request.cookies, config.get("language"), request.headers.get("accept-language")
    )
    zone = None
    if config.get("timezone"):
        try:
            zone = ZoneInfo(str(config["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    chosen = request.args.get("_lang")
    return View(Labels(language), zone, datetime.now(timezone.utc), chosen if chosen in LANGUAGES else None)


async def archive(datasette: Any) -> Any:
    """The first attached database that is a crawler archive."""
    for database in datasette.databases.values():
        if database.name.startswith("_"):
            continue
        if "seed_overview" in await database.view_names():
            return database
    raise NotFound("no crawler archive is attached: run 'crawler serve'")


async def rows(db: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows of a query as dicts."""
    results = await db.execute(sql, params or [])
    return [dict(row) for row in results.rows]


async def page(datasette: Any, request: Any, view: View, template: str, context: dict[str, Any], data: Any) -> Response:
    """The page as HTML in Datasette's layout, or its data as JSON when the path ends in .json."""
    if (request.url_vars or {}).get("format") == ".json":
        response = Response(
            json.dumps(data, default=str, ensure_ascii=False), content_type="application/json; charset=utf-8"
        )
    else:
        args = [(k, v) for k in request.args.keys() if k != "_lang" for v in request.args.getlist(k)]
        lang_hrefs = {code: "?" + urlencode(args + [("_lang", code)]) for code in LANGUAGES}
        # Datasette's layout links the JSON of a page from its <head> (alternate_url_json).
        json_url = None
        if "format" in (request.url_vars or {}):
            json_url = request.path + ".json" + (f"?{request.query_string}" if request.query_string else "")
        html = await datasette.render_template(
            template,
            {**view.template_vars(), "lang_hrefs": lang_hrefs, "alternate_url_json": json_url, **context},
            request=request,
        )
        response = Response.html(html)
    if view.set_language:
        response.set_cookie(COOKIE, view.set_language, max_age=365 * 86400, samesite="lax")
    return response


def seed_id_of(request: Any) -> str:
    """The seed id of the path (Datasette matches routes on the raw path: it arrives percent-encoded)."""
    return unquote(request.url_vars["seed_id"])


# -- what happened -----------------------------------------------------------------------

_FIELD_WORDS = {"title": "retitled", "published": "re-dated", "author": "author changed"}


def event_row(event: Mapping[str, Any], base: str, view: View) -> dict[str, Any]:
    """One change event (Store.change_events) as a line of the home page: what, details, and its evidence."""
    t = view.labels
    seed_href = f"{base}article/{quoted(event['seed_id'])}"
    row: dict[str, Any] = {
        "at": event["at"],
        "seed_id": event["seed_id"],
        "title": event.get("seed_title"),
        "kind": event["kind"],
        "event": event["event"],
        "seed_href": seed_href,
    }
    details: list[Any] = []
    if event["kind"] == "version":
        change = f" · {t(event['change'])}" if event.get("change") else ""
        row.update(
            what=t("new version {}").format(event["version"]) + change,
            tone="version",
            href=f"{base}diff/{event['version_id']}?base=previous",
            evidence=t("see the diff"),
        )
        if event.get("similarity") is not None:
            details.append(
                f"+{event.get('chars_added') or 0} / −{event.get('chars_removed') or 0} "
                f"{t('characters')} · {percent(event['similarity'])} {t('similarity')}"
            )
    elif event["kind"] == "state":
        state = event["new_state"]
        reason = said_cause(event, t) or event.get("reason") or ""
        what = {"removed": t("removed: {}"), "gone": t("gone: {}"), "failing": t("fetching fails: {}")}.get(state)
        row.update(
            what=what.format(reason).rstrip(": ：") if what else t("online again"),
            tone=state,
            href=f"{seed_href}#status",
            evidence=t("see the banner and last good text") if state in ("removed", "gone") else t("see the article"),
        )
        if state in ("removed", "gone"):
            alive = view.when(event.get("last_seen_alive_at"), relative=False) or t("never")
            first = t("First seen removed") if state == "removed" else t("First seen gone")
            details.append(
                Markup("{} {} → {} {}").format(
                    t("Last seen alive"), alive, first, view.when(event.get("since"), relative=False)
                )
            )
    else:
        fields = ", ".join(t(_FIELD_WORDS.get(m["field"], m["field"])) for m in event["metadata"])
        row.update(what=fields, tone="metadata", href=f"{seed_href}#metadata", evidence=t("see the article"))
    for change in event.get("metadata") or ():
        details.append(
            Markup("{}: “{}” → “{}”").format(
                t(_FIELD_WORDS.get(change["field"], change["field"])),
                change.get("old_value") or "",
                change.get("new_value") or "",
            )
        )
    row["details"] = details
    return row


def said_cause(change: Mapping[str, Any], t: Labels) -> str | None:
    """A removal's cause in the page's language with its notice ("censored: 此内容因违规无法查看"), as the CLI says it."""
    cause = change.get("cause")
    if not cause:
        return None
    return f"{t(cause)}: {change.get('notice') or change.get('reason') or t(ALL_CAUSES.get(cause, cause))}"


def article_filters(request: Any) -> dict[str, str]:
    """The articles list's filters and sort from the query string (unknown values ignored)."""
    args = request.args
    sort = args.get("sort") if args.get("sort") in SORTS else "last_change"
    return {
        "state": args.get("state") or "",
        "site": args.get("site") or "",
        "changed": args.get("changed") if args.get("changed") in CHANGED_WITHIN else "",
        "sort": sort,
    }


def filter_articles(articles: list[dict[str, Any]], filters: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
    """The articles that pass the filters, in the order asked for."""
    chosen = []
    since = now - timedelta(days=CHANGED_WITHIN[filters["changed"]]) if filters["changed"] else None
    for article in articles:
        state = article.get("state") or "new"
        if filters["state"] and state != filters["state"]:
            continue
        if filters["site"] and article["site"] != filters["site"]:
            continue
        if since is not None and not ((changed := moment(article.get("last_changed"))) and changed >= since):
            continue
        chosen.append(article)
    key = filters["sort"]
    if key == "title":
        chosen.sort(key=lambda a: (a.get("title") or a["id"]).casefold())
    elif key == "versions":
        chosen.sort(key=lambda a: (-(a.get("versions") or 0), a["id"]))
    else:
        column = "last_changed" if key == "last_change" else "last_fetched"
        chosen.sort(key=lambda a: (a.get(column) or "", a.get("last_fetched") or ""), reverse=True)
    return chosen


async def home_page(datasette: Any, request: Any) -> Response:
    """What happened (the latest events, each linked to its evidence), then the articles."""
    return await _home(datasette, request, with_events=True)


async def articles_page(datasette: Any, request: Any) -> Response:
    """The articles, sortable and filterable by state, site and last change."""
    return await _home(datasette, request, with_events=False)


async def _home(datasette: Any, request: Any, with_events: bool) -> Response:
    db = await archive(datasette)
    view = view_of(datasette, request)
    base = datasette.urls.path("/-/")
    events: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    if with_events:
        found = list(
            reversed(await db.execute_fn(lambda conn: ArchiveReader(conn).change_events("", limit=HOME_EVENTS)))
        )
        events = [event_row(e, base, view) for e in found]
    articles = await rows(db, queries.ARTICLES_SQL)
    for article in articles:
        article["site"] = site(article.get("url"))
    filters = article_filters(request)
    matching = filter_articles(articles, filters, view.now)
    # The home page lists the articles that changed last; /-/articles lists them all.
    shown = matching[:HOME_ARTICLES] if with_events else matching
    # The JSON has the events as `crawler changes --json` gives them (newest first), with their evidence.
    data = {
        "events": [
            {k: v for k, v in e.items() if k != "diff"} | {"evidence": row["href"]} for e, row in zip(found, events)
        ]
        if with_events
        else [],
        "articles": shown,
    }
    context = {
        "events": events,
        "with_events": with_events,
        "articles": shown,
        "total": len(articles),
        "matching": len(matching),
        "filters": filters,
        "sites": sorted({a["site"] for a in articles if a["site"]}),
        "states": ["alive", "removed", "gone", "failing", "new"],
        "changed_choices": list(CHANGED_WITHIN),
        "sorts": SORTS,
        "database": db.name,
        "feed_href": datasette.urls.path("/-/crawler/" + FEED_NAME),
        "more_events": len(events) >= HOME_EVENTS,
    }
    return await page(datasette, request, view, "crawler_home.html", context, data)


# -- an article --------------------------------------------------------------------------


async def article_page(datasette: Any, request: Any) -> Response:
    """One article: a banner when it was removed, its timeline, versions with screenshots, captures."""
    db = await archive(datasette)
    view = view_of(datasette, request)
    seed_id = seed_id_of(request)
    found = await rows(db, queries.ARTICLES_SQL + " WHERE o.id = ?", [seed_id])
    if not found:
        raise NotFound(f"no seed {seed_id}")
    seed = found[0]
    versions = await rows(db, queries.VERSIONS_SQL, [seed_id])
    shots = await screenshots(db, [v["version_id"] for v in versions])
    for v in versions:
        v["screenshot"] = shots.get(v["version_id"])
    captures = await rows(db, queries.CAPTURES_SQL, [seed_id, TIMELINE_CAPTURES])
    drift = await rows(
        db, "SELECT * FROM metadata_changes WHERE seed_id = ? ORDER BY detected_at DESC LIMIT 100", [seed_id]
    )
    banner = None
    if seed.get("state") in ("removed", "gone", "failing"):
        change = await rows(db, queries.REMOVAL_SQL, [seed_id, seed["state"]])
        banner = (
            change[0]
            if change
            else {
                "new_state": seed["state"],
                "since": seed.get("state_since"),
                "last_seen_alive_at": seed.get("last_seen_alive_at"),
            }
        )
        banner["cause_in_words"] = said_cause(banner, view.labels)
    last_good = None
    if versions:
        latest = await rows(
            db, "SELECT id, version, text, created_at FROM versions WHERE id = ?", [versions[0]["version_id"]]
        )
        last_good = latest[0]
    base = datasette.urls.path("/-/")
    captures_table = datasette.urls.table(db.name, "captures")

    def period_href(start: datetime, end: datetime) -> str:
        return (
            captures_table
            + "?"
            + urlencode(
                queries.period_args(seed_id, start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"))
            )
        )

    def capture_href(capture: Mapping[str, Any]) -> str:
        return datasette.urls.row(db.name, "captures", capture["id"])

    def version_href(capture: Mapping[str, Any]) -> str:
        return f"{base}diff/{capture['version_id']}?base=previous"

    listed = capture_runs(captures, LISTED_CAPTURES)
    chronological = list(reversed(captures))
    timelines = [
        timeline_svg(
            chronological,
            zone=view.zone,
            labels=view.labels,
            width=width,
            period_href=period_href,
            capture_href=capture_href,
            version_href=version_href,
        )
        for width in (960, 360)
    ]
    data = {
        "seed": seed,
        "removal": banner,
        "versions": versions,
        "captures": captures[:LISTED_CAPTURES],
        "metadata_changes": drift,
        "last_good_text": last_good,
    }
    context = {
        "seed": seed,
        "banner": banner,
        "last_good": last_good,
        "last_good_html": text_html(last_good["text"]) if last_good and banner else None,
        "versions": versions,
        "captures": listed,
        "capture_count": len(captures),
        "metadata_changes": drift,
        "timeline_wide": timelines[0],
        "timeline_narrow": timelines[1],
        "legend": outcome_legend(view.labels),
        "database": db.name,
        "captures_href": captures_table + "?" + urlencode({"seed_id": seed_id, "_sort_desc": "fetched_at"}),
    }
    return await page(datasette, request, view, "crawler_article.html", context, data)


def capture_runs(captures: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Captures (newest first) with each run of alike ones (same outcome, version and error) as one row."""
    runs: list[dict[str, Any]] = []
    for capture in captures:
        last = runs[-1] if runs else None
        if (
            last is not None
            and last["outcome"] == capture["outcome"]
            and capture["outcome"] != "new_version"
            and last["version_id"] == capture["version_id"]
            and last["error"] == capture["error"]
        ):
            last["count"] += 1
            last["first_at"] = capture["fetched_at"]
            continue
        if len(runs) == limit:
            break
        runs.append(dict(capture, count=1, first_at=capture["fetched_at"]))
    return runs


async def text_page(datasette: Any, request: Any) -> Response:
    """The original or one version as paragraphs, on a page of its own."""
    db = await archive(datasette)
    view = view_of(datasette, request)
    seed_id, which = seed_id_of(request), request.url_vars["which"]
    seeds = await rows(db, "SELECT id, title, url, original_text, fetch_date FROM seeds WHERE id = ?", [seed_id])
    if not seeds:
        raise NotFound(f"no seed {seed_id}")
    seed = seeds[0]
    text, version = await _text(db, seed, which)
    shot = (await screenshots(db, [version["id"]])).get(version["id"]) if version else None
    count = await rows(db, "SELECT max(version) AS n FROM versions WHERE seed_id = ?", [seed_id])
    data = {
        "seed_id": seed_id,
        "which": which,
        "title": (version or {}).get("title") or seed["title"],
        "text": text,
        "version": {k: v for k, v in (version or {}).items() if k != "text"} or None,
    }
    context = {
        "seed": seed,
        "which": which,
        "text": text,
        "text_html": text_html(text),
        "version": version,
        "screenshot": shot,
        "latest": count[0]["n"] if count else None,
    }
    return await page(datasette, request, view, "crawler_text.html", context, data)


async def _text(db: Any, seed: Mapping[str, Any], which: str) -> tuple[str, dict[str, Any] | None]:
    """The text named by 'original' or a version number, and that version's row."""
    if which == "original":
        if seed.get("original_text") is None:
            raise NotFound(f"seed {seed['id']} has no original text")
        return seed["original_text"], None
    try:
        number = int(which)
    except ValueError:
        raise NotFound(f"'{which}' is not a version: use 'original' or a number") from None
    found = await rows(db, "SELECT * FROM versions WHERE seed_id = ? AND version = ?", [seed["id"], number])
    if not found:
        raise NotFound(f"seed {seed['id']} has no version {number}")
    return found[0]["text"], found[0]


# -- a diff ------------------------------------------------------------------------------


async def diff_page(datasette: Any, request: Any) -> Response:
    """A version against the original or its previous version (the links the archive's rows use)."""
    db = await archive(datasette)
    version_id = int(request.url_vars["version_id"])
    found = await rows(db, "SELECT seed_id, version FROM versions WHERE id = ?", [version_id])
    if not found:
        raise NotFound(f"no version {version_id}")
    base = request.args.get("base", "original")
    old = "original" if base != "previous" else str(found[0]["version"] - 1)
    return await _compare(datasette, request, db, found[0]["seed_id"], old, str(found[0]["version"]))


async def compare_page(datasette: Any, request: Any) -> Response:
    """Any two texts of an article (?from=original|N&to=N|original|latest), inline or side by side."""
    db = await archive(datasette)
    return await _compare(
        datasette,
        request,
        db,
        seed_id_of(request),
        request.args.get("from") or "original",
        request.args.get("to") or "latest",
    )


async def _compare(datasette: Any, request: Any, db: Any, seed_id: str, old_which: str, new_which: str) -> Response:
    view = view_of(datasette, request)
    t = view.labels
    seeds = await rows(db, "SELECT id, title, url, original_text, fetch_date FROM seeds WHERE id = ?", [seed_id])
    if not seeds:
        raise NotFound(f"no seed {seed_id}")
    seed = seeds[0]
    numbers = [
        r["version"]
        for r in await rows(db, "SELECT version FROM versions WHERE seed_id = ? ORDER BY version", [seed_id])
    ]
    if new_which == "latest":
        new_which = str(numbers[-1]) if numbers else "original"
    if old_which == "0":
        old_which = "original"
    if old_which == "latest":
        old_which = str(numbers[-1]) if numbers else "original"
    old_text, old_version = await _text(db, seed, old_which)
    new_text, new_version = await _text(db, seed, new_which)

    def label(which: str) -> str:
        return t("the original") if which == "original" else t("version {}").format(which)

    # Measured from the same diff that is shown, so the class and figures agree with the page.
    result = await asyncio.get_running_loop().run_in_executor(None, diff_texts, old_text, new_text)
    change = classify_against_original(result.retained, result.novel) if old_which == "original" else result.change
    changed = any(op.get("op") != "equal" and not op.get("ignored") for op in result.ops)
    old_starts, new_starts = paragraph_starts(old_text), paragraph_starts(new_text)
    side = request.args.get("view") == "side"
    rendered = (
        side_by_side_html(
            result.ops, label(old_which), label(new_which), old_starts=old_starts, new_starts=new_starts, labels=t
        )
        if side
        else diff_html(result.ops, old_starts=old_starts, new_starts=new_starts, labels=t)
    )
    evidence = {}
    for key, version in (("old", old_version), ("new", new_version)):
        if version is None:
            continue
        capture = await rows(
            db,
            "SELECT id, fetched_at, warc_filename IS NOT NULL AS archived FROM captures "
            "WHERE version_id = ? AND outcome = 'new_version' ORDER BY id LIMIT 1",
            [version["id"]],
        )
        shot = (await screenshots(db, [version["id"]])).get(version["id"])
        evidence[key] = {"version": version, "capture": capture[0] if capture else None, "screenshot": shot}
    measures = {
        "similarity": result.similarity,
        "chars_added": result.chars_added,
        "chars_removed": result.chars_removed,
        "retained": result.retained if old_which == "original" else None,
        "change": change if changed else None,
        "changed": changed,
    }
    data = {"seed_id": seed_id, "from": old_which, "to": new_which, **measures, "ops": result.ops}
    context = {
        "seed": seed,
        "old": old_which,
        "new": new_which,
        "old_label": label(old_which),
        "new_label": label(new_which),
        "numbers": numbers,
        "side": side,
        "diff": rendered,
        "measures": measures,
        "evidence": evidence,
        "new_version": new_version,
        "old_version": old_version,
        "compare_href": datasette.urls.path(f"/-/compare/{quoted(seed_id)}"),
    }
    return await page(datasette, request, view, "crawler_diff.html", context, data)


# -- evidence: screenshots, raw responses, the page as archived ---------------------------


async def screenshots(db: Any, version_ids: list[Any]) -> dict[int, dict[str, Any]]:
    """The screenshot row of each version that has one (archives from before screenshots have none)."""
    wanted = [v for v in version_ids if v is not None]
    if not wanted or "screenshots" not in await db.table_names():
        return {}
    found: dict[int, dict[str, Any]] = {}
    for row in await rows(
        db, f"SELECT * FROM screenshots WHERE version_id IN ({', '.join('?' * len(wanted))}) ORDER BY id", wanted
    ):
        found.setdefault(row["version_id"], row)
    return found


async def screenshot_image(datasette: Any, request: Any) -> Response:
    """A version's screenshot, read from its WARC resource record."""

    db = await archive(datasette)
    screenshot_id = int(request.url_vars["screenshot_id"])
    found = await rows(db, "SELECT * FROM screenshots WHERE id = ?", [screenshot_id])
    if not found or found[0]["mime"] not in SCREENSHOT_TYPES or not db.path:
        raise NotFound(f"no screenshot {screenshot_id}")
    row = found[0]
    try:
        record = read_record(Path(db.path).parent / WARC_DIR_NAME / row["filename"], row["offset"])
    except WarcError as exc:
        raise NotFound(str(exc)) from None
    return Response(
        record.raw_payload,
        content_type=row["mime"],
        headers={
            "Content-Security-Policy": "default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "max-age=31536000, immutable",
        },
    )


async def _archived_response(datasette: Any, request: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The WARC record of a capture and the record holding its payload (a revisit is followed)."""

    db = await archive(datasette)
    capture_id = int(request.url_vars["capture_id"])
    found = await rows(db, queries.CAPTURE_SQL, [capture_id])
    if not found or not found[0]["warc_filename"] or not db.path:
        raise NotFound(f"capture {capture_id} has no archived response")
    capture = found[0]
    warc_dir = Path(db.path).parent / WARC_DIR_NAME
    try:
        record = read_record(warc_dir / capture["warc_filename"], capture["warc_offset"])
        payload = record
        if record.record_type == "revisit":
            headers = record.warc_headers
            original = await db.execute_fn(
                lambda conn: ArchiveReader(conn).warc_record(
                    headers.get_header("WARC-Refers-To"),
                    headers.get_header("WARC-Refers-To-Target-URI"),
                    headers.get_header("WARC-Refers-To-Date"),
                )
            )
            if original is None:
                raise NotFound(f"capture {capture_id} is a revisit of a record this archive does not list")
            payload = read_record(warc_dir / original["filename"], original["offset"])
    except WarcError as exc:
        raise NotFound(str(exc)) from None
    return record, payload, capture


async def raw_page(datasette: Any, request: Any) -> Response:
    """A capture's response as archived: status line, headers and body, as text."""
    from crawler.extract.article import decode_html  # here: it loads trafilatura, which only these pages need

    record, payload, capture = await _archived_response(datasette, request)
    view = view_of(datasette, request)
    headers = record.http_headers.to_str().rstrip("\r\n").replace("\r\n", "\n") if record.http_headers else ""
    content_type = payload.http_headers.get_header("Content-Type") if payload.http_headers else None
    body = decode_html(payload.body, content_type)
    data = {"capture": capture, "record_type": record.record_type, "headers": headers, "body": body}
    context = {
        "capture": capture,
        "record_type": record.record_type,
        "headers": headers,
        "body": body[:RAW_BODY_LIMIT],
        "cut": len(body) > RAW_BODY_LIMIT,
    }
    return await page(datasette, request, view, "crawler_raw.html", context, data)


async def replay_page(datasette: Any, request: Any) -> Response:
    """A capture's page as archived, in a sandbox: no script runs; only its archived images and stylesheets load."""
    from crawler.extract.article import decode_html  # here: it loads trafilatura, which only these pages need

    _, payload, capture = await _archived_response(datasette, request)
    content_type = (payload.http_headers.get_header("Content-Type") if payload.http_headers else None) or "text/html"
    headers = {
        "Content-Security-Policy": REPLAY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if "html" not in content_type.lower():
        return Response(payload.body, content_type="text/plain; charset=utf-8", headers=headers)
    resource = datasette.urls.path(f"/-/capture/{capture['id']}/resource")
    html = replay_html(decode_html(payload.body, content_type), capture["final_url"] or capture["url"], resource)
    return Response(html, content_type="text/html; charset=utf-8", headers=headers)


def replay_html(html: str, page_url: str, resource: str) -> str:
    """The archived page with its scripts dropped and its images and stylesheets pointed at the archive.

    Lazy images (data-src and the like) get their real source, as a reader's browser would have shown them.
    """
    try:
        document = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return "<!DOCTYPE html><p>This archived page cannot be parsed.</p>"

    def archived(url: str) -> str:
        return f"{resource}?url={quote(urljoin(page_url, url.strip()), safe='')}"

    for element in document.xpath("//script | //noscript | //iframe | //object | //embed | //base"):
        element.drop_tree()
    for image in document.iter("img", "source"):
        lazy = next((image.get(name) for name in LAZY_ATTRIBUTES if image.get(name)), None)
        if lazy:
            image.set("src", lazy)
        if image.get("src") and not image.get("src").startswith("data:"):
            image.set("src", archived(image.get("src")))
        for name in SRCSET_ATTRIBUTES:
            if image.get(name):
                candidates = [c.strip().split() for c in image.get(name).split(",") if c.strip()]
                image.set(
                    "srcset" if name == "srcset" or not image.get("srcset") else name,
                    ", ".join(" ".join([archived(c[0]), *c[1:]]) for c in candidates),
                )
    for link in document.xpath("//link[@href]"):
        if "stylesheet" in (link.get("rel") or "").lower():
            link.set("href", archived(link.get("href")))
        else:
            link.drop_tree()
    return lxml.html.tostring(document, encoding="unicode", doctype="<!DOCTYPE html>")


# Only these are served from a capture's requisites: images and stylesheets, never a page or a script.
RESOURCE_TYPES = ("image/", "text/css")


async def resource(datasette: Any, request: Any) -> Response:
    """An image or stylesheet archived with a capture's version (for the page as archived)."""

    db = await archive(datasette)
    capture_id, url = int(request.url_vars["capture_id"]), request.args.get("url") or ""
    # The requisites belong to the capture that found the version; a later unchanged capture shows the same.
    found = await rows(
        db,
        """
        SELECT r.mime, r.warc_record_id FROM requisites r
        WHERE r.url = ? AND r.outcome IN ('archived', 'duplicate') AND r.problem IS NULL AND r.capture_id IN (
            SELECT ? UNION SELECT min(c.id) FROM captures c WHERE c.outcome = 'new_version'
            AND c.version_id = (SELECT version_id FROM captures WHERE id = ?))
        ORDER BY r.id LIMIT 1""",
        [url, capture_id, capture_id],
    )
    if not found or not db.path or not (found[0]["mime"] or "").lower().startswith(RESOURCE_TYPES):
        raise NotFound("not archived with this capture")
    mime, record_id = found[0]["mime"], found[0]["warc_record_id"]
    warc_dir = Path(db.path).parent / WARC_DIR_NAME
    try:
        record = await db.execute_fn(lambda conn: ArchiveReader(conn).warc_record(record_id))
        if record and record["record_type"] == "revisit":
            record = await db.execute_fn(lambda conn: ArchiveReader(conn).warc_record(record["refers_to"]))
        if not record:
            raise NotFound("not archived with this capture")
        body = read_record(warc_dir / record["filename"], record["offset"]).body
    except WarcError as exc:
        raise NotFound(str(exc)) from None
    return Response(
        body,
        content_type=mime,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "max-age=31536000, immutable",
        },
    )


# -- the Atom feed -----------------------------------------------------------------------


async def feed(datasette: Any, request: Any) -> Response:
    """The Atom feed `crawler crawl` writes (archive/changes.atom), made from the archive as it is now."""
    db = await archive(datasette)
    events = await db.execute_fn(lambda conn: ArchiveReader(conn).change_events("", limit=HOME_EVENTS))
    archive_dir = Path(db.path).parent if db.path else Path(".")
    # write_feed is the crawler's own feed writer (the same ids, titles and bodies): it writes a file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FEED_NAME
        write_feed(path, events, archive_dir)
        body = path.read_bytes()
    return Response(body, content_type="application/atom+xml; charset=utf-8")

"""The archive's Datasette plugin: what happened first, the evidence one click away.

Registered through the ``datasette`` entry point, so installing the crawler is enough. Pages (each
also as JSON with ``.json``; see docs/datasette.md and pages.py):

- ``/`` what happened (new versions, removals with their cause, re-dating, failures) and the articles;
- ``/-/articles`` the articles, filtered by state, site and last change;
- ``/-/article/SEED`` an article: a banner when removed, its timeline, versions, screenshots, captures;
- ``/-/text/SEED/original`` or ``/-/text/SEED/N`` a text as paragraphs;
- ``/-/compare/SEED?from=original&to=N&view=side`` any two texts, inline or side by side;
  ``/-/diff/VERSION_ID?base=original|previous`` the same for one version;
- ``/-/capture/ID/raw`` a capture's response as text, ``/-/capture/ID/page`` the page sandboxed;
- ``/-/screenshot/ID`` a screenshot; ``/-/crawler/changes.atom`` the Atom feed.

Every archived value is escaped: markupsafe's Markup/escape build all HTML here; no page needs JavaScript.
"""

from __future__ import annotations

import copy
import functools
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from datasette import hookimpl
from markupsafe import Markup

from crawler.archive.search import excerpt, fts_query
from crawler.web import pages
from crawler.web.i18n import Labels
from crawler.web.people import duration, outcome_words, percent, short_hash, state_words, time_html, url_html
from crawler.web.render import diff_html, marked_excerpt, quoted

# The name Datasette gives archive/archive.db (its file name without extension).
ARCHIVE_DATABASE = "archive"

# Views whose seed ids link to the article page (tables link seed_id to the seeds row already).
_SEED_LINK_VIEWS = {"seed_overview", "changes", "search", "removals", None}
# Columns shown to people as local times with "3 h ago" (UTC on hover).
_TIME_COLUMNS = {
    "fetched_at",
    "created_at",
    "last_fetched",
    "next_due_at",
    "last_capture_at",
    "first_seen_at",
    "updated_at",
    "state_since",
    "last_seen_alive_at",
    "pending_since",
    "started_at",
    "finished_at",
    "detected_at",
    "changed_at",
    "since",
    "first_seen_removed_at",
    "confirmed_at",
    "sent_at",
    "dated",
    "last_changed",
}
_SHARE_COLUMNS = {"similarity", "similarity_to_previous", "similarity_to_original", "retained"}
_URL_COLUMNS = {"url", "fetch_url", "final_url", "canonical_url", "target_uri"}
_HASH_COLUMNS = {
    "text_sha256",
    "compare_sha256",
    "original_sha256",
    "payload_digest",
    "reader_fingerprint",
    "markup_digest",
}


@functools.lru_cache(maxsize=1)
def archive_metadata() -> dict[str, Any]:
    """The archive's Datasette metadata, shipped with the package (crawler/web/metadata.yml)."""
    text = (Path(__file__).parent / "metadata.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@hookimpl
def get_metadata(datasette: Any, key: str, database: str | None, table: str | None) -> dict[str, Any]:
    """The archive's metadata for a Datasette serving an archive; a user's own file overrides it."""
    if ARCHIVE_DATABASE not in datasette.databases:
        return {}
    return copy.deepcopy(archive_metadata())


@hookimpl(trylast=True)
def prepare_connection(conn: sqlite3.Connection) -> None:
    """SQL functions for search; in an archive, Datasette's search box uses the Chinese-aware query."""
    conn.create_function("search_query", 1, fts_query, deterministic=True)
    conn.create_function("search_excerpt", 2, excerpt, deterministic=True)
    try:
        is_archive = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_fts'").fetchone()
    except sqlite3.Error:
        is_archive = None
    if is_archive:
        # trylast: this runs after Datasette's own escape_fts and replaces it for this database,
        # so the table search box finds 微信 inside a run of Chinese characters (see crawler/archive/search.py).
        conn.create_function("escape_fts", 1, fts_query, deterministic=True)


def _setting_labels_and_zone(datasette: Any) -> tuple[Labels, Any]:
    """Labels and time zone for table cells (Datasette gives render_cell no request: the setting decides)."""
    config = datasette.plugin_config(pages.PLUGIN) or {}
    zone = None
    if config.get("timezone"):
        try:
            zone = ZoneInfo(str(config["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    return Labels(config.get("language") if config.get("language") in ("en", "zh") else "en"), zone


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """People's units in the archive: local times, percentages, outcomes in words, short URLs, linked seeds."""
    if database != ARCHIVE_DATABASE:
        return None
    keys = row.keys() if hasattr(row, "keys") else []
    base = datasette.urls.path("/-/")
    labels, zone = _setting_labels_and_zone(datasette)
    if column == "diff" and "ops" in keys:
        return diff_html(row["ops"], labels=labels)
    if column == "ops" and isinstance(value, str) and value.startswith("["):
        try:
            ops = json.loads(value)
        except ValueError:
            return None
        changed = sum(1 for op in ops if op.get("op") != "equal")
        return f"{changed} change{'' if changed == 1 else 's'} in {len(ops)} blocks"
    if column == "snippet" and isinstance(value, str):
        return marked_excerpt(value)
    if value is None:
        return None
    if (column == "seed_id" and table in _SEED_LINK_VIEWS) or (column == "id" and table == "seed_overview"):
        return Markup('<a href="{}article/{}">{}</a>').format(base, quoted(value), value)
    if column == "latest_version_id" and table == "seed_overview":
        return Markup('<a href="{}diff/{}?base=original">latest vs original</a>').format(base, value)
    if column in ("title", "seed_title") and table in _SEED_LINK_VIEWS and "seed_id" in keys and row["seed_id"]:
        return Markup('<a href="{}article/{}">{}</a>').format(base, quoted(row["seed_id"]), value)
    if column == "version_id" and table in ("changes", "search", None):
        # A search hit opens against the original; a change against the version before it.
        base_name = "original" if table == "search" or "snippet" in keys else "previous"
        return Markup('<a href="{}diff/{}?base={}">{}</a>').format(base, value, base_name, value)
    if column in _TIME_COLUMNS and isinstance(value, str):
        return time_html(value, datetime.now(timezone.utc), zone, labels)
    if column in _SHARE_COLUMNS and isinstance(value, (int, float)):
        return percent(value)
    if column in ("interval_seconds", "base_interval_seconds") and isinstance(value, (int, float)):
        return Markup('<span title="{} s">{}</span>').format(value, duration(value, labels))
    if column in ("outcome", "last_outcome") and isinstance(value, str):
        return outcome_words(value, labels)
    if column in ("state", "new_state", "old_state", "pending_state") and isinstance(value, str):
        return state_words(value, labels)
    if column in _URL_COLUMNS and isinstance(value, str):
        return url_html(value)
    if column in _HASH_COLUMNS and isinstance(value, str):
        return short_hash(value)
    return None


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    """The plugin's pages in Datasette's menu."""
    return [
        {"href": datasette.urls.path("/"), "label": "What happened"},
        {"href": datasette.urls.path("/-/articles"), "label": "Articles"},
    ]


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    """The plugin's pages (plugin routes come before Datasette's own, so / is the plugin's home page)."""
    json_suffix = r"(?P<format>\.json)?"
    return [
        (r"^/$", pages.home_page),
        (rf"^/-/home{json_suffix}$", pages.home_page),
        (rf"^/-/articles{json_suffix}$", pages.articles_page),
        (rf"^/-/article/(?P<seed_id>[^/]+?){json_suffix}$", pages.article_page),
        (rf"^/-/text/(?P<seed_id>[^/]+)/(?P<which>original|\d+){json_suffix}$", pages.text_page),
        (rf"^/-/compare/(?P<seed_id>[^/]+?){json_suffix}$", pages.compare_page),
        (rf"^/-/diff/(?P<version_id>\d+){json_suffix}$", pages.diff_page),
        (rf"^/-/capture/(?P<capture_id>\d+)/raw{json_suffix}$", pages.raw_page),
        (r"^/-/capture/(?P<capture_id>\d+)/page$", pages.replay_page),
        (r"^/-/capture/(?P<capture_id>\d+)/resource$", pages.resource),
        (r"^/-/screenshot/(?P<screenshot_id>\d+)$", pages.screenshot_image),
        (r"^/-/crawler/changes\.atom$", pages.feed),
    ]

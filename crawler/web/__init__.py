"""The archive's Datasette plugin: Chinese-aware search, coloured diffs, article pages with a timeline.

Registered through the ``datasette`` entry point, so installing the crawler is enough. Pages:
``/-/articles`` (every seed, linked to its latest diff against the original), ``/-/article/SEED``
(its timeline, versions and captures) and ``/-/diff/VERSION_ID?base=original|previous``.
Every archived value is escaped: markupsafe's Markup/escape build all HTML here.
"""

from __future__ import annotations

import copy
import functools
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

from crawler.archive.search import excerpt, fts_query
from crawler.web.render import diff_html, http_url, marked_excerpt, outcome_legend, quoted, timeline_svg

# The name Datasette gives archive/archive.db (its file name without extension).
ARCHIVE_DATABASE = "archive"

# Views whose seed ids link to the article page (tables link seed_id to the seeds row already).
_SEED_LINK_VIEWS = {"seed_overview", "changes", "search", None}


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


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """Diffs coloured, search excerpts marked, seeds and versions linked to the plugin's pages."""
    keys = row.keys() if hasattr(row, "keys") else []
    base = datasette.urls.path("/-/")
    if column == "diff" and "ops" in keys:
        return diff_html(row["ops"])
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
    if column == "version_id" and table in ("changes", "search"):
        return Markup('<a href="{}diff/{}?base={}">{}</a>').format(
            base, value, "previous" if table == "changes" else "original", value
        )
    return None


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    """The article list in Datasette's menu."""
    return [{"href": datasette.urls.path("/-/articles"), "label": "Articles"}]


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    """The plugin's pages."""
    return [
        (r"^/-/articles$", articles_page),
        (r"^/-/article/(?P<seed_id>[^/]+)$", article_page),
        (r"^/-/diff/(?P<version_id>\d+)$", diff_page),
        (r"^/-/screenshot/(?P<screenshot_id>\d+)$", screenshot_image),
    ]


async def _archive(datasette: Any) -> Any:
    """The first attached database that is a crawler archive."""
    for database in datasette.databases.values():
        if database.name.startswith("_"):
            continue
        if "seed_overview" in await database.view_names():
            return database
    raise NotFound("no crawler archive is attached: run 'crawler serve'")


async def _rows(db: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows of a query as dicts."""
    results = await db.execute(sql, params or [])
    return [dict(row) for row in results.rows]


async def _page(datasette: Any, request: Any, template: str, context: dict[str, Any]) -> Response:
    """A page of the plugin, in Datasette's layout."""
    return Response.html(await datasette.render_template(template, context, request=request))


async def articles_page(datasette: Any, request: Any) -> Response:
    """Every seed: state, versions, last fetch, and a link to its latest version against the original."""
    db = await _archive(datasette)
    rows = await _rows(db, "SELECT * FROM seed_overview ORDER BY coalesce(last_fetched, '') DESC, id")
    return await _page(datasette, request, "crawler_articles.html", {"rows": rows, "database": db.name})


async def article_page(datasette: Any, request: Any) -> Response:
    """One seed: its timeline, versions with their change measures, metadata changes and captures."""
    db = await _archive(datasette)
    # Datasette matches routes on the raw path: the id arrives percent-encoded (spaces, Chinese, ?, #).
    seed_id = unquote(request.url_vars["seed_id"])
    overview = await _rows(db, "SELECT * FROM seed_overview WHERE id = ?", [seed_id])
    if not overview:
        raise NotFound(f"no seed {seed_id}")
    versions = await _rows(db, "SELECT * FROM changes WHERE seed_id = ? ORDER BY version DESC", [seed_id])
    shots = await _screenshots(db, [v["version_id"] for v in versions])
    for v in versions:
        v["screenshot"] = shots.get(v["version_id"])
    captures = await _rows(
        db,
        """
        SELECT c.id, c.fetched_at, c.outcome, c.status_code, c.version_id, v.version,
               -- A removal's cause in words with its notice ("censored: 此内容因违规无法查看").
               CASE WHEN c.cause IS NULL THEN c.error ELSE c.cause || ': ' || coalesce(c.notice, c.error) END AS error,
               (SELECT similarity FROM diffs d WHERE d.version_id = c.version_id AND d.base = 'original') AS similarity
        FROM captures c LEFT JOIN versions v ON v.id = c.version_id
        WHERE c.seed_id = ? ORDER BY c.fetched_at DESC, c.id DESC LIMIT 500
        """,
        [seed_id],
    )
    drift = await _rows(
        db, "SELECT * FROM metadata_changes WHERE seed_id = ? ORDER BY detected_at DESC LIMIT 100", [seed_id]
    )
    return await _page(
        datasette,
        request,
        "crawler_article.html",
        {
            "seed": overview[0],
            "versions": versions,
            "captures": captures[:50],
            "more_captures": len(captures) > 50,
            "metadata_changes": drift,
            "timeline": timeline_svg(list(reversed(captures))),
            "legend": outcome_legend(),
            "database": db.name,
        },
    )


async def diff_page(datasette: Any, request: Any) -> Response:
    """A version against the original or its previous version, coloured, with links around it."""
    db = await _archive(datasette)
    version_id = int(request.url_vars["version_id"])
    base = request.args.get("base", "original")
    if base not in ("original", "previous"):
        base = "original"
    found = await _rows(db, "SELECT * FROM changes WHERE version_id = ?", [version_id])
    if not found:
        raise NotFound(f"no version {version_id}")
    version = found[0]
    diff = await _rows(db, "SELECT * FROM diffs WHERE version_id = ? AND base = ?", [version_id, base])
    neighbours = await _rows(
        db,
        "SELECT version, id FROM versions WHERE seed_id = ? AND version IN (?, ?)",
        [version["seed_id"], version["version"] - 1, version["version"] + 1],
    )
    by_number = {row["version"]: row["id"] for row in neighbours}
    captures = await _rows(db, "SELECT count(*) AS n FROM captures WHERE version_id = ?", [version_id])
    shots = await _screenshots(db, [version_id, by_number.get(version["version"] - 1) if base == "previous" else None])
    return await _page(
        datasette,
        request,
        "crawler_diff.html",
        {
            "version": version,
            "base": base,
            "diff": diff[0] if diff else None,
            "diff_html": diff_html(diff[0]["ops"]) if diff else None,
            "previous_id": by_number.get(version["version"] - 1),
            "next_id": by_number.get(version["version"] + 1),
            "captures": captures[0]["n"],
            "database": db.name,
            "screenshot": shots.get(version_id),
            "base_screenshot": shots.get(by_number.get(version["version"] - 1)) if base == "previous" else None,
        },
    )


async def _screenshots(db: Any, version_ids: list[Any]) -> dict[int, dict[str, Any]]:
    """The screenshot row of each version that has one (archives from before screenshots have none)."""
    wanted = [v for v in version_ids if v is not None]
    if not wanted or "screenshots" not in await db.table_names():
        return {}
    rows = await _rows(db, f"SELECT * FROM screenshots WHERE version_id IN ({', '.join('?' * len(wanted))}) "
                           "ORDER BY id", wanted)
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row["version_id"], row)
    return found


# Only these are served: a screenshot is a PNG or JPEG the crawler made, never archived content.
_SCREENSHOT_TYPES = {"image/png", "image/jpeg"}


async def screenshot_image(datasette: Any, request: Any) -> Response:
    """A version's screenshot, read from its WARC resource record."""
    from crawler.warc import WARC_DIR_NAME, WarcError, read_record

    db = await _archive(datasette)
    screenshot_id = int(request.url_vars["screenshot_id"])
    rows = await _rows(db, "SELECT * FROM screenshots WHERE id = ?", [screenshot_id])
    if not rows or rows[0]["mime"] not in _SCREENSHOT_TYPES or not db.path:
        raise NotFound(f"no screenshot {screenshot_id}")
    row = rows[0]
    try:
        record = read_record(Path(db.path).parent / WARC_DIR_NAME / row["filename"], row["offset"])
    except WarcError as exc:
        raise NotFound(str(exc)) from None
    return Response(record.raw_payload, content_type=row["mime"], headers={
        "Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "max-age=31536000, immutable",
    })


def _percent(value: Any) -> str:
    """A share as a percentage ('' when unknown)."""
    return "" if value is None else f"{100 * float(value):.1f}%"


@hookimpl
def extra_template_vars() -> dict[str, Any]:
    """Helpers for the plugin's templates."""
    return {"crawler_percent": _percent, "crawler_http_url": http_url, "crawler_quote": quoted}

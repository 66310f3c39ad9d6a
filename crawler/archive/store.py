"""The archive database: the only module that opens SQLite (migrating it with schema.py), writes and queries."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import sqlite_utils

from crawler.changes.intervals import RECHECK_ACCOUNT_CAUSES, DueState
from crawler.errors import ArchiveUnusableError, StoreError
from crawler.changes.metadata import FIELDS as METADATA_FIELDS, MetadataChange
from crawler.model import CaptureRecord, DiffRecord, VersionRecord, utcnow
from crawler.changes.seed_state import DEFAULT_CONFIRM, SeedState, next_seed_state
from crawler.archive.schema import MIGRATIONS, OUTCOMES, SCHEMA_VERSION, SEARCH_SCHEMA, sha256_hex, statements
from crawler.archive.search import search_form

DB_NAME = "archive.db"
# SQLite errors that mean the archive file cannot be used where it is, whatever the run does.
_UNUSABLE_ERRORS = frozenset(
    {"SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_CORRUPT"}
)
# Tables every archive has had since the first schema: a database without them is not ours.
CORE_TABLES = frozenset({"seeds", "runs", "captures", "versions", "diffs"})


def unusable_archive_message(path: Path, exc: BaseException) -> str | None:
    """One line saying why the archive database at path cannot be used and what to do, for the SQLite
    errors that mean so (damaged, not a database, read-only, ...); None for any other error."""
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith("SQLITE_CORRUPT"):
        return (
            f"archive database {path} is damaged ({exc}); restore it from a backup, or recover what it "
            f"holds with: sqlite3 {path} .recover | sqlite3 recovered.db"
        )
    if name.startswith("SQLITE_READONLY"):
        return (
            f"archive database {path} is read-only ({exc}); make it and its folder writable for this user "
            "or pass --archive DIR"
        )
    if name in _UNUSABLE_ERRORS:
        return (
            f"cannot use archive database {path}: {exc}; pass --archive DIR with a writable "
            "folder holding an archive.db made by this crawler (or none yet)"
        )
    return None


def archive_problem(path: Path) -> str | None:
    """Why the file at path is not an archive this crawler can read (None when it is one), read-only."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return unusable_archive_message(path, exc) or f"cannot open archive database {path}: {exc}"
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        return unusable_archive_message(path, exc) or f"cannot read archive database {path}: {exc}"
    finally:
        conn.close()
    return _foreign_problem(path, tables, version)


def _foreign_problem(path: Path, tables: set[str], version: int) -> str | None:
    """Why a database with these tables and user_version is not (or not yet) this crawler's archive."""
    if version > SCHEMA_VERSION:
        return (
            f"archive database {path} has schema version {version}, newer than this "
            f"crawler's {SCHEMA_VERSION}; upgrade the crawler"
        )
    tables = {t for t in tables if not t.startswith("sqlite_")}
    if tables and not CORE_TABLES <= tables:
        # Migrating it would add our tables to someone else's database: never do that silently.
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        return (
            f"{path} is an SQLite database but not an archive of this crawler (its tables: {shown}); "
            "move it away or pass --archive DIR"
        )
    return None


class Store:
    """The archive database, opened for reading and writing."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = Path(path)
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        if not create and not self.path.exists():
            raise StoreError(f"no archive at {self.path}; run 'crawler crawl' first or pass --archive DIR")
        if create and self.path.is_file() and not os.access(self.path, os.W_OK):
            # SQLite would open it read-only and fail at the run's first write, halfway through.
            raise ArchiveUnusableError(
                f"archive database {self.path} is read-only; make it writable (chmod u+w {self.path}) "
                "or pass --archive DIR"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveUnusableError(
                f"cannot open archive database {self.path}: {exc}; check the --archive folder"
            ) from exc
        # For the migration that rehashes versions.text, and for anyone checking the archive in SQL.
        conn.create_function("sha256_hex", 1, sha256_hex, deterministic=True)
        self.db = sqlite_utils.Database(conn)
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            conn.close()
            # Where the archive is (a file that is no database, a folder that cannot be written) is
            # a setup problem (exit 2); anything else (locked, I/O) is a failed run.
            message = unusable_archive_message(self.path, exc)
            if message is not None:
                raise ArchiveUnusableError(message) from exc
            raise StoreError(f"cannot use archive database {self.path}: {exc}") from exc

    @classmethod
    def in_archive(cls, archive_dir: Path, *, create: bool = True) -> "Store":
        """Open archive_dir/archive.db."""
        return cls(Path(archive_dir) / DB_NAME, create=create)

    def _prepare(self) -> None:
        """Set pragmas and bring the schema up to date."""
        self.db.execute("PRAGMA busy_timeout = 30000")
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        problem = _foreign_problem(self.path, tables, current)
        if problem is not None:
            raise ArchiveUnusableError(problem)
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")
        for number in range(current, SCHEMA_VERSION):
            # Statement by statement: executescript() would COMMIT halfway through the migration.
            with self.db.atomic():
                for statement in statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")
        if 0 < current < SEARCH_SCHEMA <= SCHEMA_VERSION:
            # An archive from before search: index what it already holds.
            self.rebuild_search()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- seeds -------------------------------------------------------------

    def sync_seeds(self, rows: Iterable[dict[str, Any]], now: str | None = None) -> None:
        """Insert or update seed rows (one transaction); first_seen_at and the schedule are kept.

        A new seed is due at once (now: ISO UTC, default the current time). A seed whose configured
        interval changed restarts from it.
        """
        now = now or utcnow()
        # One read of what is known, then batched upserts: per-row statements cost ~0.2 ms
        # each, which at 100,000 seeds would be most of a cron run.
        known = {
            row[0]: row[1:]
            for row in self.db.execute(
                "SELECT id, first_seen_at, base_interval_seconds, interval_seconds, next_due_at FROM seeds"
            )
        }
        indexed = {
            row[0]: row[1:]
            for row in self.db.execute("SELECT id, original_sha256, title FROM seeds WHERE original_text IS NOT NULL")
        }
        fresh, existing, unscheduled, reindex = [], [], [], []
        for row in rows:
            row = dict(row, updated_at=now)
            if row.get("original_text") is not None and indexed.get(row["id"]) != (
                row.get("original_sha256"),
                row.get("title"),
            ):
                reindex.append(row)
            base = row.get("base_interval_seconds")
            if row["id"] not in known:
                fresh.append(dict(row, first_seen_at=now, interval_seconds=base, next_due_at=now))
                continue
            first_seen, old_base, interval, next_due = known[row["id"]]
            changed = base is not None and old_base != base
            row = dict(row, first_seen_at=first_seen, interval_seconds=base if changed else interval)
            if next_due is None:
                # A seed from an archive made before scheduling existed: due at once, like a new one.
                # Its own batch: upsert_all writes every column it saw, as NULL where a row lacks it.
                unscheduled.append(dict(row, next_due_at=now))
            else:
                existing.append(row)
        with self.db.atomic():
            for batch in (fresh, existing, unscheduled):
                if batch:
                    self.db["seeds"].upsert_all(batch, pk="id")
            for row in reindex:
                self._index_text("original", row["id"], None, row.get("title"), row["original_text"])

    # -- full-text search ----------------------------------------------------

    def _index_text(self, kind: str, seed_id: str, version_id: int | None, title: str | None, text: str) -> None:
        """(Re)index one original or version for search; call inside a transaction."""
        old = self.db.execute(
            "SELECT id FROM search_docs WHERE seed_id = ? AND kind = ? AND version_id IS ?", [seed_id, kind, version_id]
        ).fetchone()
        if old:
            self.db.execute("DELETE FROM search_fts WHERE rowid = ?", [old[0]])
            self.db.execute("DELETE FROM search_docs WHERE id = ?", [old[0]])
        doc_id = self.db.execute(
            "INSERT INTO search_docs (kind, seed_id, version_id, title) VALUES (?, ?, ?, ?)",
            [kind, seed_id, version_id, title],
        ).lastrowid
        self.db.execute(
            "INSERT INTO search_fts (rowid, title, body) VALUES (?, ?, ?)",
            [doc_id, search_form(title), search_form(text)],
        )

    def rebuild_search(self) -> int:
        """Index every original and version again (an archive from before search); returns documents."""
        with self.db.atomic():
            self.db.execute("DELETE FROM search_fts")
            self.db.execute("DELETE FROM search_docs")
            for seed_id, title, text in self.db.execute(
                "SELECT id, title, original_text FROM seeds WHERE original_text IS NOT NULL"
            ).fetchall():
                self._index_text("original", seed_id, None, title, text)
            for version_id, seed_id, title, text in self.db.execute(
                "SELECT v.id, v.seed_id, coalesce(v.title, s.title), v.text FROM versions v JOIN seeds s ON s.id = v.seed_id"
            ).fetchall():
                self._index_text("version", seed_id, version_id, title, text)
        return self.db.execute("SELECT count(*) FROM search_docs").fetchone()[0]

    def _seed_title(self, seed_id: str) -> str | None:
        """The seed's title, or None."""
        row = self.db.execute("SELECT title FROM seeds WHERE id = ?", [seed_id]).fetchone()
        return row[0] if row else None

    def seed(self, seed_id: str) -> dict[str, Any] | None:
        """One seed row, or None."""
        rows = list(self.db.query("SELECT * FROM seeds WHERE id = ?", [seed_id]))
        return rows[0] if rows else None

    # -- runs --------------------------------------------------------------

    def start_run(self, trigger: str, seeds_requested: int, pid: int | None = None) -> int:
        """Record the start of a run and return its id."""
        with self.db.atomic():
            table = self.db["runs"].insert(
                {
                    "started_at": utcnow(),
                    "trigger": trigger,
                    "status": "running",
                    "pid": pid,
                    "seeds_requested": seeds_requested,
                }
            )
        return table.last_pk

    def finish_run(self, run_id: int, status: str = "completed", error: str | None = None) -> dict[str, Any]:
        """Close a run, counting its captures, and return the run row."""
        counts = self.run_counts(run_id)
        with self.db.atomic():
            self.db["runs"].update(run_id, dict(counts, finished_at=utcnow(), status=status, error=error))
        return self.db["runs"].get(run_id)

    def run_counts(self, run_id: int) -> dict[str, int]:
        """Captures of a run counted by outcome, in the runs table's terms."""
        by_outcome = dict(
            self.db.execute(
                "SELECT outcome, count(*) FROM captures WHERE run_id = ? GROUP BY outcome", [run_id]
            ).fetchall()
        )
        return {
            "fetched": sum(n for o, n in by_outcome.items() if o != "failed"),
            "new_versions": by_outcome.get("new_version", 0),
            "unchanged": by_outcome.get("unchanged", 0) + by_outcome.get("not_modified", 0),
            "gone": by_outcome.get("gone", 0) + by_outcome.get("removed", 0),
            "failed": by_outcome.get("failed", 0),
        }

    def by_outcome(self, run_id: int) -> dict[str, int]:
        """Captures of a run counted by their exact outcome."""
        return dict(
            self.db.execute(
                "SELECT outcome, count(*) FROM captures WHERE run_id = ? GROUP BY outcome", [run_id]
            ).fetchall()
        )

    def failure_reasons(self, run_id: int, limit: int = 3) -> list[tuple[str, int]]:
        """The commonest errors of a run's failed captures, with counts (commonest first)."""
        return [
            (error, count)
            for error, count in self.db.execute(
                "SELECT error, count(*) AS n FROM captures WHERE run_id = ? AND outcome = 'failed' "
                "GROUP BY error ORDER BY n DESC, error LIMIT ?",
                [run_id, limit],
            ).fetchall()
        ]

    def mark_interrupted_runs(self) -> int:
        """Mark runs left 'running' by a killed process as failed; returns how many."""
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE runs SET status = 'failed', error = 'interrupted: the process ended before the run finished' "
                "WHERE status = 'running'"
            )
        return cursor.rowcount

    # -- versions and captures ----------------------------------------------

    def latest_version(self, seed_id: str) -> dict[str, Any] | None:
        """The seed's newest version row, or None."""
        rows = list(self.db.query("SELECT * FROM versions WHERE seed_id = ? ORDER BY version DESC LIMIT 1", [seed_id]))
        return rows[0] if rows else None

    def version(self, seed_id: str, number: int) -> dict[str, Any] | None:
        """Version number of a seed, or None."""
        rows = list(self.db.query("SELECT * FROM versions WHERE seed_id = ? AND version = ?", [seed_id, number]))
        return rows[0] if rows else None

    def record_capture(
        self,
        capture: CaptureRecord,
        *,
        new_version: VersionRecord | None = None,
        diffs: Iterable[DiffRecord] = (),
        version_id: int | None = None,
        warc_records: Iterable[Mapping[str, Any]] = (),
        due: DueState | None = None,
        metadata_changes: Iterable[MetadataChange] = (),
        state_confirm: int = DEFAULT_CONFIRM,
        requisites: Iterable[Mapping[str, Any]] = (),
        screenshot: Mapping[str, Any] | None = None,
    ) -> tuple[int, int | None]:
        """Write a capture, and its new version, diffs and WARC record rows if any, in one transaction.

        Returns (capture id, version id). With new_version, the capture points at the
        new version; otherwise at version_id (the unchanged current version) or nothing.
        The same transaction records metadata drift and moves the seed's state (crawler/changes/seed_state.py).
        """
        if capture.outcome not in OUTCOMES:
            raise StoreError(f"unknown capture outcome {capture.outcome!r}")
        with self.db.atomic():
            if new_version is not None:
                number = (
                    self.db.execute(
                        "SELECT coalesce(max(version), 0) FROM versions WHERE seed_id = ?",
                        [capture.seed_id],
                    ).fetchone()[0]
                    + 1
                )
                version_id = self._insert(
                    "versions",
                    dict(
                        vars(new_version),
                        seed_id=capture.seed_id,
                        version=number,
                        chars=len(new_version.text),
                        created_at=capture.fetched_at,
                    ),
                )
                self._index_text(
                    "version",
                    capture.seed_id,
                    version_id,
                    new_version.title or self._seed_title(capture.seed_id),
                    new_version.text,
                )
                for diff in diffs:
                    self._insert("diffs", dict(vars(diff), version_id=version_id))
            redirects = json.dumps(capture.redirects, ensure_ascii=False) if capture.redirects else None
            capture_id = self._insert("captures", dict(vars(capture), version_id=version_id, redirects=redirects))
            for record in warc_records:
                self._insert("warc_records", dict(_warc_record_row(record), capture_id=capture_id))
            self._record_evidence(capture_id, version_id if new_version is not None else None, requisites, screenshot)
            if due is not None:
                self.db.execute(
                    "UPDATE seeds SET interval_seconds = ?, consecutive_failures = ?, next_due_at = ?, "
                    "last_capture_at = ? WHERE id = ?",
                    [round(due.interval), due.failures, due.next_due_at, capture.fetched_at, capture.seed_id],
                )
            for change in metadata_changes:
                self.db.execute(
                    "INSERT INTO metadata_changes (seed_id, capture_id, version_id, field, old_value, new_value, "
                    "detected_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        capture.seed_id,
                        capture_id,
                        version_id,
                        change.field,
                        change.old_value,
                        change.new_value,
                        capture.fetched_at,
                    ],
                )
            old = self._move_state(capture, capture_id, state_confirm)
            if (
                capture.outcome == "removed"
                and capture.cause in RECHECK_ACCOUNT_CAUSES
                and old is not None
                and "removed" not in (old.state, old.pending_state)
            ):
                self._recheck_account(capture.seed_id, capture.fetched_at)
        return capture_id, version_id

    def _recheck_account(self, seed_id: str, at: str) -> int:
        """Make the other live seeds of seed_id's account due at `at` (a newly seen censorship or block)."""
        cursor = self.db.execute(
            "UPDATE seeds SET next_due_at = ? WHERE account = (SELECT account FROM seeds WHERE id = ?) "
            "AND id != ? AND status = 'ok' AND next_due_at > ? "
            "AND coalesce(state, '') NOT IN ('removed', 'gone')",
            [at, seed_id, seed_id, at],
        )
        return cursor.rowcount

    def assign_accounts(self, accounts: Mapping[str, str | None]) -> None:
        """Set seeds' accounts (seed id -> account key); None leaves a seed's account as it is."""
        pairs = [(account, seed_id, account) for seed_id, account in accounts.items() if account]
        if pairs:
            with self.db.atomic():
                self.db.conn.executemany("UPDATE seeds SET account = ? WHERE id = ? AND account IS NOT ?", pairs)

    def account_removals(self, causes: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Per account: how many of its seeds were captured removed with one of these causes, and the latest when."""
        wanted = sorted(set(causes))
        if not wanted:
            return {}
        rows = self.db.execute(
            f"""
            SELECT s.account, count(DISTINCT c.seed_id), max(c.fetched_at) FROM captures c JOIN seeds s ON s.id = c.seed_id
            WHERE c.cause IN ({", ".join("?" * len(wanted))}) AND c.outcome = 'removed' AND s.account IS NOT NULL
            GROUP BY s.account
            """,
            wanted,
        )
        return {account: (count, latest) for account, count, latest in rows.fetchall()}

    def due_candidates(self, now: str) -> list[dict[str, Any]]:
        """Crawlable seeds due at `now` with what the budgeted selection weighs (crawler/changes/intervals.py plan_visits)."""
        cursor = self.db.execute(
            """
            SELECT s.id, s.next_due_at, s.last_capture_at, s.first_seen_at, s.date, s.account, s.state,
                   s.interval_seconds, v.published AS extracted_date
            FROM seeds s LEFT JOIN versions v ON v.seed_id = s.id AND v.version = 1
            WHERE s.status = 'ok' AND s.next_due_at <= ? ORDER BY s.next_due_at
            """,
            [now],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def seed_timing(self, seed_id: str) -> tuple[str | None, str | None, str | None]:
        """A seed's front matter date, its first version's extracted date and when it was first seen."""
        row = self.db.execute(
            "SELECT s.date, (SELECT v.published FROM versions v WHERE v.seed_id = s.id ORDER BY v.version LIMIT 1), "
            "s.first_seen_at FROM seeds s WHERE s.id = ?",
            [seed_id],
        ).fetchone()
        return tuple(row) if row else (None, None, None)  # type: ignore[return-value]

    def fetches_since(self, since: str) -> int:
        """Fetch attempts made by runs started at or after since (ISO UTC), finished or running."""
        row = self.db.execute(
            "SELECT coalesce(sum(CASE WHEN finished_at IS NULL "
            "THEN (SELECT count(*) FROM captures c WHERE c.run_id = r.id) ELSE fetched + failed END), 0) "
            "FROM runs r WHERE started_at >= ?",
            [since],
        ).fetchone()
        return row[0]

    def _record_evidence(
        self,
        capture_id: int,
        version_id: int | None,
        requisites: Iterable[Mapping[str, Any]],
        screenshot: Mapping[str, Any] | None,
    ) -> None:
        """A capture's requisites (and their WARC records) and its screenshot; inside record_capture's transaction."""
        for position, requisite in enumerate(requisites):
            for record in requisite.get("records") or ():
                self._insert("warc_records", dict(_warc_record_row(record), capture_id=capture_id))
            row = {name: requisite.get(name) for name in REQUISITE_COLUMNS}
            self._insert("requisites", dict(row, capture_id=capture_id, position=position))
        if screenshot:
            row = {name: screenshot.get(name) for name in SCREENSHOT_COLUMNS}
            self._insert("screenshots", dict(row, capture_id=capture_id, version_id=version_id))

    def payload_by_digest(self, digest: str) -> dict[str, Any] | None:
        """The newest response record holding a payload with this digest (any URL), or None."""
        rows = list(
            self.db.query(
                "SELECT target_uri, date, record_id, payload_digest, filename, offset, length FROM warc_records "
                "WHERE payload_digest = ? AND record_type = 'response' ORDER BY id DESC LIMIT 1",
                [digest],
            )
        )
        return rows[0] if rows else None

    def requisites(self, capture_id: int) -> list[dict[str, Any]]:
        """The requisites of a capture, in page order."""
        return list(self.db.query("SELECT * FROM requisites WHERE capture_id = ? ORDER BY position", [capture_id]))

    def screenshot(self, version_id: int) -> dict[str, Any] | None:
        """The screenshot of a version (taken with the capture that made it), or None."""
        rows = list(self.db.query("SELECT * FROM screenshots WHERE version_id = ? ORDER BY id LIMIT 1", [version_id]))
        return rows[0] if rows else None

    def export_records(self, seed_ids: Iterable[str], since: str | None) -> list[dict[str, Any]]:
        """WARC records of the chosen seeds' captures since a time (all seeds when none), their requisites and
        screenshots, and the records their revisits refer to; each once, oldest first."""
        where, params = self._export_filter(seed_ids, since)
        rows = list(
            self.db.query(
                f"SELECT w.* FROM warc_records w JOIN captures c ON c.id = w.capture_id WHERE {where} ORDER BY w.id",
                params,
            )
        )
        rows += list(
            self.db.query(
                "SELECT s.record_id, 'resource' AS record_type, NULL AS profile, s.target_uri, s.date, 200 AS status, "
                "s.mime, s.payload_digest, NULL AS refers_to, s.filename, s.offset, s.length "
                f"FROM screenshots s JOIN captures c ON c.id = s.capture_id WHERE {where} ORDER BY s.id",
                params,
            )
        )
        chosen = {row["record_id"] for row in rows}
        wanted = {row["refers_to"] for row in rows if row.get("refers_to") and row["refers_to"] not in chosen}
        for record_id in sorted(wanted):
            rows += list(self.db.query("SELECT * FROM warc_records WHERE record_id = ?", [record_id]))
        return sorted(rows, key=lambda row: row["date"])

    def export_pages(self, seed_ids: Iterable[str], since: str | None) -> list[dict[str, Any]]:
        """One row per version first captured since a time: URL and WARC date of its page, title and text."""
        where, params = self._export_filter(seed_ids, since)
        return list(
            self.db.query(
                "SELECT v.id AS version_id, v.seed_id, v.version, v.title, v.text, c.fetched_at, "
                "coalesce(w.target_uri, c.final_url, c.url) AS url, w.date AS warc_date "
                "FROM captures c JOIN versions v ON v.id = c.version_id "
                "LEFT JOIN warc_records w ON w.record_id = c.warc_record_id "
                f"WHERE c.outcome = 'new_version' AND {where} ORDER BY c.fetched_at, c.id",
                params,
            )
        )

    @staticmethod
    def _export_filter(seed_ids: Iterable[str], since: str | None) -> tuple[str, list[Any]]:
        """A WHERE clause on captures c for the chosen seeds and time."""
        seeds = list(seed_ids)
        clauses, params = ["1"], []
        if seeds:
            clauses.append(f"c.seed_id IN ({', '.join('?' * len(seeds))})")
            params += seeds
        if since:
            clauses.append("c.fetched_at >= ?")
            params.append(since)
        return " AND ".join(clauses), params

    def _insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row into an existing table and return its rowid; lists and dicts stored as JSON.

        The per-capture path: sqlite-utils' insert() checks the table and builds its statement anew
        on every call, several queries per row, a third of the crawl process's database time.
        """
        columns = tuple(row)
        sql = self._insert_sql.get((table, columns))
        if sql is None:
            sql = self._insert_sql[(table, columns)] = (
                f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
        values = [json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict, tuple)) else v for v in row.values()]
        return self.db.execute(sql, values).lastrowid

    def _move_state(self, capture: CaptureRecord, capture_id: int, confirm: int) -> SeedState | None:
        """Apply one capture to its seed's state columns, logging a change in state_changes; in a transaction."""
        row = self.db.execute(
            "SELECT state, state_since, last_seen_alive_at, pending_state, pending_count, pending_since "
            "FROM seeds WHERE id = ?",
            [capture.seed_id],
        ).fetchone()
        if row is None:
            return None
        old = SeedState(*row[:4], row[4] or 0, row[5])
        new = next_seed_state(old, capture.outcome, capture.fetched_at, confirm)
        if new == old:
            return old
        self.db.execute(
            "UPDATE seeds SET state = ?, state_since = ?, last_seen_alive_at = ?, pending_state = ?, "
            "pending_count = ?, pending_since = ? WHERE id = ?",
            [
                new.state,
                new.state_since,
                new.last_seen_alive_at,
                new.pending_state,
                new.pending_count,
                new.pending_since,
                capture.seed_id,
            ],
        )
        if new.state != old.state:
            self.db.execute(
                "INSERT INTO state_changes (seed_id, capture_id, old_state, new_state, since, changed_at, reason, "
                "cause, notice, last_seen_alive_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    capture.seed_id,
                    capture_id,
                    old.state,
                    new.state,
                    new.state_since,
                    capture.fetched_at,
                    capture.error,
                    capture.cause,
                    capture.notice,
                    new.last_seen_alive_at,
                ],
            )
        return old

    def current_metadata(self, latest: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The seed's title, author and published as last seen: the latest version's, then drift recorded since."""
        if latest is None:
            return None
        meta = {name: latest.get(name) for name in METADATA_FIELDS}
        for name, value in self.db.execute(
            "SELECT field, new_value FROM metadata_changes WHERE seed_id = ? AND version_id = ? ORDER BY id",
            [latest["seed_id"], latest["id"]],
        ):
            meta[name] = value
        return meta

    # -- changes and notifications -------------------------------------------

    def change_events(self, since: str, limit: int | None = None) -> list[dict[str, Any]]:
        """New versions (after the first), state changes and metadata drift detected at or after since, oldest first.

        Each event has a stable key (`event`): version:ID, state:ID or metadata:CAPTURE_ID. Drift found
        with a new version is part of that version's event. A seed's first state is no change unless
        it is something other than alive.
        """
        events: dict[str, dict[str, Any]] = {}
        # With a limit, each kind's newest `limit` are enough (the feed must not read the whole history).
        rows = limit or -1
        for row in self.db.query(
            """
            SELECT v.id AS version_id, v.seed_id, v.version, v.created_at AS at, v.title, v.chars,
                   s.title AS seed_title, s.url, p.similarity, p.chars_added, p.chars_removed, p.change, p.diff,
                   (SELECT c.id FROM captures c WHERE c.version_id = v.id AND c.outcome = 'new_version'
                    ORDER BY c.id LIMIT 1) AS capture_id
            FROM versions v JOIN seeds s ON s.id = v.seed_id
            LEFT JOIN diffs p ON p.version_id = v.id AND p.base = 'previous'
            WHERE v.created_at >= ? AND v.version > 1 ORDER BY v.created_at DESC, v.id DESC LIMIT ?
            """,
            [since, rows],
        ):
            events[f"version:{row['version_id']}"] = dict(row, kind="version", metadata=[])
        for row in self.db.query(
            """
            SELECT sc.id AS state_change_id, sc.seed_id, sc.changed_at AS at, sc.old_state, sc.new_state,
                   sc.since, sc.reason, sc.cause, sc.notice, sc.last_seen_alive_at, sc.capture_id,
                   s.title AS seed_title, s.url
            FROM state_changes sc JOIN seeds s ON s.id = sc.seed_id
            WHERE sc.changed_at >= ? AND NOT (sc.old_state IS NULL AND sc.new_state = 'alive')
            ORDER BY sc.changed_at DESC, sc.id DESC LIMIT ?
            """,
            [since, rows],
        ):
            events[f"state:{row['state_change_id']}"] = dict(row, kind="state")
        for row in self.db.query(
            """
            SELECT m.capture_id, m.seed_id, m.version_id, m.detected_at AS at, m.field, m.old_value, m.new_value,
                   c.outcome, s.title AS seed_title, s.url
            FROM metadata_changes m JOIN seeds s ON s.id = m.seed_id LEFT JOIN captures c ON c.id = m.capture_id
            WHERE m.id IN (SELECT id FROM metadata_changes WHERE detected_at >= ?
                           ORDER BY detected_at DESC, id DESC LIMIT ?)
            ORDER BY m.id
            """,
            [since, rows * len(METADATA_FIELDS) if limit else -1],
        ):
            change = {"field": row["field"], "old_value": row["old_value"], "new_value": row["new_value"]}
            version_event = events.get(f"version:{row['version_id']}")
            if row["outcome"] == "new_version" and version_event is not None:
                version_event["metadata"].append(change)
                continue
            key = f"metadata:{row['capture_id']}"
            if key not in events:
                events[key] = {
                    "kind": "metadata",
                    "capture_id": row["capture_id"],
                    "seed_id": row["seed_id"],
                    "version_id": row["version_id"],
                    "at": row["at"],
                    "seed_title": row["seed_title"],
                    "url": row["url"],
                    "metadata": [],
                }
            events[key]["metadata"].append(change)
        ordered = sorted((dict(e, event=k) for k, e in events.items()), key=lambda e: (e["at"], e["event"]))
        return ordered[-limit:] if limit else ordered

    def notifications(self, target: str) -> dict[str, dict[str, Any]]:
        """Per event key, what was sent (or tried) to one Apprise target."""
        return {row["event"]: row for row in self.db.query("SELECT * FROM notifications WHERE target = ?", [target])}

    def record_notification(
        self, event: str, target: str, target_url: str, run_id: int | None, ok: bool, error: str | None
    ) -> None:
        """Record a send to a target (a retry of a failed one counts its attempts)."""
        with self.db.atomic():
            self.db.execute(
                """
                INSERT INTO notifications (event, target, target_url, run_id, status, attempts, error, sent_at)
                VALUES (?, ?, ?, ?, ?, 1, ?, ?)
                ON CONFLICT (event, target) DO UPDATE SET run_id = excluded.run_id, status = excluded.status,
                    attempts = attempts + 1, error = excluded.error, sent_at = excluded.sent_at
                """,
                [event, target, target_url, run_id, "sent" if ok else "failed", error, utcnow()],
            )

    def current_payload(self, seed_id: str, version_id: int) -> str | None:
        """The payload digest of the seed's newest response whose text is version_id (for the revisit fast path)."""
        return self.current_response(seed_id, version_id)[0]

    def current_response(self, seed_id: str, version_id: int) -> tuple[str | None, str | None]:
        """Payload digest and reader fingerprint of the seed's newest response whose text is version_id."""
        row = self.db.execute(
            "SELECT payload_digest, reader_fingerprint FROM captures WHERE seed_id = ? AND version_id = ? "
            "AND outcome IN ('new_version', 'unchanged') AND payload_digest IS NOT NULL "
            "ORDER BY id DESC LIMIT 1",
            [seed_id, version_id],
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def current_markup(self, seed_id: str, version_id: int) -> tuple[str, str, str | None] | None:
        """Markup digest, layout and reader fingerprint of the seed's newest capture of version_id that has them."""
        row = self.db.execute(
            "SELECT markup_digest, markup_layout, reader_fingerprint FROM captures WHERE seed_id = ? "
            "AND version_id = ? AND markup_digest IS NOT NULL AND outcome IN ('new_version', 'unchanged') "
            "ORDER BY id DESC LIMIT 1",
            [seed_id, version_id],
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def due_state(self, seed_id: str, default_interval: float) -> DueState:
        """A seed's scheduling state (a seed not yet scheduled starts at default_interval)."""
        row = self.db.execute(
            "SELECT base_interval_seconds, interval_seconds, consecutive_failures, next_due_at FROM seeds WHERE id = ?",
            [seed_id],
        ).fetchone()
        base, interval, failures, next_due = row if row else (None, None, 0, None)
        base = base or default_interval
        return DueState(float(base), float(interval or base), failures or 0, next_due or utcnow())

    def seeds_with_versions(self) -> set[str]:
        """Ids of the seeds that have at least one version."""
        return {row[0] for row in self.db.execute("SELECT DISTINCT seed_id FROM versions")}

    def due_seed_ids(self, now: str, limit: int | None = None) -> list[str]:
        """Crawlable seeds due at `now` (ISO UTC), most overdue first; uses the seeds_due index."""
        sql = "SELECT id FROM seeds WHERE status = 'ok' AND next_due_at <= ? ORDER BY next_due_at"
        params: list[Any] = [now]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [row[0] for row in self.db.execute(sql, params).fetchall()]

    # -- WARC records --------------------------------------------------------

    def last_payloads(self) -> dict[str, dict[str, Any]]:
        """Per URL, the newest response record (the one holding its last stored payload)."""
        rows = self.db.query(
            """
            SELECT target_uri, date, record_id, payload_digest, filename, offset, length FROM warc_records
            WHERE id IN (SELECT max(id) FROM warc_records WHERE record_type = 'response' GROUP BY target_uri)
            """
        )
        return {row["target_uri"]: row for row in rows}

    def validators(self) -> dict[str, dict[str, Any]]:
        """Per requested URL, the ETag and Last-Modified of its last successful capture (for conditional GET)."""
        # A 304 often repeats no validator (Python's http.server sends none): it then leaves the
        # ones of the response before it in force.
        rows = self.db.query(
            """
            SELECT url, etag, last_modified FROM captures
            WHERE id IN (SELECT max(id) FROM captures
                         WHERE outcome IN ('new_version', 'unchanged')
                            OR (outcome = 'not_modified' AND (etag IS NOT NULL OR last_modified IS NOT NULL))
                         GROUP BY url)
              AND (etag IS NOT NULL OR last_modified IS NOT NULL)
            """
        )
        return {row["url"]: row for row in rows}

    def capture(self, capture_id: int) -> dict[str, Any] | None:
        """One capture row, or None."""
        rows = list(self.db.query("SELECT * FROM captures WHERE id = ?", [capture_id]))
        return rows[0] if rows else None

    def warc_record(
        self, record_id: str | None, uri: str | None = None, date: str | None = None
    ) -> dict[str, Any] | None:
        """The warc_records row of a WARC-Record-ID, else the response record of uri at date, or None."""
        rows = list(self.db.query("SELECT * FROM warc_records WHERE record_id = ?", [record_id]))
        if not rows and uri and date:
            rows = list(
                self.db.query(
                    "SELECT * FROM warc_records WHERE target_uri = ? AND date = ? AND record_type = 'response'",
                    [uri, date],
                )
            )
        return rows[0] if rows else None

    def warc_records(
        self, after: Mapping[str, int] | None = None, upto: Mapping[str, int] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every response and revisit record written, and every screenshot resource record, for the CDXJ index.

        With after and upto (record_marks() taken earlier and now), only the rows between the two.
        """
        after, upto = after or {}, upto or {}
        bounds = "WHERE id > ? AND id <= ?"
        for table, columns in (
            ("warc_records", "*"),
            (
                "screenshots",
                "record_id, 'resource' AS record_type, NULL AS profile, target_uri, date, 200 AS status, mime, "
                "payload_digest, NULL AS refers_to, filename, offset, length",
            ),
        ):
            limits = [after.get(table, 0), upto.get(table, 1 << 62)]
            yield from self.db.query(f"SELECT {columns} FROM {table} {bounds} ORDER BY id", limits)

    def record_marks(self) -> dict[str, int]:
        """The last id of each table the CDXJ index is made from (0 for an empty table)."""
        return {
            table: self.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
            for table in ("warc_records", "screenshots")
        }

    # -- queries -------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """One row per seed: URL, last fetch, last outcome, versions, latest similarity to the original."""
        return list(
            self.db.query(
                """
                SELECT s.id, s.url, s.title, s.status,
                       c.fetched_at AS last_fetched, c.outcome AS last_outcome, c.error AS last_error,
                       (SELECT count(*) FROM versions v WHERE v.seed_id = s.id) AS versions,
                       (SELECT d.similarity FROM versions v JOIN diffs d ON d.version_id = v.id
                         WHERE v.seed_id = s.id AND d.base = 'original'
                         ORDER BY v.version DESC LIMIT 1) AS similarity_to_original
                FROM seeds s
                LEFT JOIN captures c ON c.id = (
                    SELECT id FROM captures WHERE seed_id = s.id ORDER BY fetched_at DESC, id DESC LIMIT 1)
                ORDER BY s.id
                """
            )
        )

    def last_capture(self, seed_id: str) -> dict[str, Any] | None:
        """The seed's most recent capture, or None."""
        rows = list(
            self.db.query(
                "SELECT * FROM captures WHERE seed_id = ? ORDER BY fetched_at DESC, id DESC LIMIT 1", [seed_id]
            )
        )
        return rows[0] if rows else None

    def diff_row(self, version_id: int, base: str) -> dict[str, Any] | None:
        """The stored diff of a version against a base, or None."""
        rows = list(self.db.query("SELECT * FROM diffs WHERE version_id = ? AND base = ?", [version_id, base]))
        return rows[0] if rows else None

    def query(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows of a read-only query as dicts (for tests and benchmarks: code asks through a named method)."""
        return self.db.query(sql, list(params))

    # -- the cluster's coordinator and writer ----------------------------------

    def latest_version_id(self, seed_id: str) -> int | None:
        """The id of the seed's newest version, or None."""
        row = self.db.execute(
            "SELECT id FROM versions WHERE seed_id = ? ORDER BY version DESC LIMIT 1", [seed_id]
        ).fetchone()
        return row[0] if row else None

    def seed_validators(self, seed_id: str, url: str) -> dict[str, Any] | None:
        """As validators(), for one seed's URL: its last successful capture that carried a validator."""
        # By seed (the captures_seed index), not by URL alone: captures has no index on url, and a
        # per-URL lookup would scan every capture for every seed enqueued.
        rows = list(
            self.db.query(
                """
            SELECT etag, last_modified FROM captures
            WHERE seed_id = ? AND url = ? AND (outcome IN ('new_version', 'unchanged')
                  OR (outcome = 'not_modified' AND (etag IS NOT NULL OR last_modified IS NOT NULL)))
            ORDER BY id DESC LIMIT 1
            """,
                [seed_id, url],
            )
        )
        return rows[0] if rows else None

    def running_run_ids(self) -> list[int]:
        """The runs still marked running."""
        return [row[0] for row in self.db.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()]

    def has_capture(self, run_id: int, seed_id: str) -> bool:
        """True when the run has a capture of the seed already (a result delivered twice)."""
        # Through the seed's captures (a few per year), not the run's (all of them): "+run_id" keeps
        # SQLite from choosing the captures_run index, which would make each check cost a run's size.
        return (
            self.db.execute(
                "SELECT 1 FROM captures WHERE seed_id = ? AND +run_id = ? LIMIT 1", [seed_id, run_id]
            ).fetchone()
            is not None
        )

    def last_payload(self, uri: str) -> dict[str, Any] | None:
        """The response record holding uri's last stored payload (what a revisit record refers to)."""
        rows = list(
            self.db.query(
                "SELECT target_uri, date, record_id, payload_digest, filename, offset, length FROM warc_records "
                "WHERE target_uri = ? AND record_type = 'response' ORDER BY id DESC LIMIT 1",
                [uri],
            )
        )
        return rows[0] if rows else None

    # -- crawler add -----------------------------------------------------------

    def newest_capture(self, seed_id: str) -> dict[str, Any] | None:
        """Outcome and error of the seed's newest capture row, or None."""
        rows = list(
            self.db.query("SELECT outcome, error FROM captures WHERE seed_id = ? ORDER BY id DESC LIMIT 1", [seed_id])
        )
        return rows[0] if rows else None

    def record_original_diff(self, version_id: int, diff: DiffRecord) -> None:
        """Store a version's diff against an original set after it was captured (crawler add)."""
        row = dict(vars(diff), version_id=version_id, ops=json.dumps(diff.ops, ensure_ascii=False))
        with self.db.atomic():
            self.db["diffs"].upsert(row, pk=("version_id", "base"))

    def set_seed_problem(self, seed_id: str, problem: str) -> None:
        """Mark a seed broken with a reason (its file is gone): it leaves the schedule, its history stays."""
        with self.db.atomic():
            self.db.execute("UPDATE seeds SET status = 'broken', problem = ? WHERE id = ?", [problem, seed_id])


WARC_RECORD_COLUMNS = (
    "record_id",
    "record_type",
    "profile",
    "target_uri",
    "date",
    "status",
    "mime",
    "payload_digest",
    "refers_to",
    "filename",
    "offset",
    "length",
)


REQUISITE_COLUMNS = (
    "kind",
    "url",
    "outcome",
    "status",
    "mime",
    "bytes",
    "width",
    "height",
    "payload_digest",
    "warc_record_id",
    "problem",
    "error",
)
SCREENSHOT_COLUMNS = (
    "record_id",
    "target_uri",
    "date",
    "mime",
    "width",
    "height",
    "bytes",
    "payload_digest",
    "filename",
    "offset",
    "length",
    "viewport",
)


def _warc_record_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The warc_records columns of a written record's description."""
    return {name: record.get(name) for name in WARC_RECORD_COLUMNS}

"""The archive's schema: its migrations, in order, and the helpers they need (no connection here)."""

from __future__ import annotations

import hashlib
import sqlite3

OUTCOMES = ("new_version", "unchanged", "not_modified", "gone", "removed", "no_content", "failed")

# Each migration moves the schema from version N to N+1 (PRAGMA user_version).
# Never edit a released migration: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE seeds (
        id TEXT PRIMARY KEY,
        url TEXT,
        fetch_url TEXT,
        title TEXT,
        status TEXT NOT NULL,          -- ok | no_url | broken
        problem TEXT,
        url_from TEXT,
        date TEXT,
        fetch_date TEXT,
        source TEXT,
        front_matter TEXT,             -- other front-matter keys, JSON
        path TEXT,
        original_text TEXT,            -- the seed body as plain paragraphs
        original_sha256 TEXT,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX seeds_url ON seeds(fetch_url);

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        trigger TEXT NOT NULL,         -- manual | cron | schedule
        status TEXT NOT NULL,          -- running | completed | failed
        pid INTEGER,
        seeds_requested INTEGER NOT NULL DEFAULT 0,
        fetched INTEGER NOT NULL DEFAULT 0,
        new_versions INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        gone INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );

    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        seed_id TEXT NOT NULL REFERENCES seeds(id),
        version INTEGER NOT NULL,
        text TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        chars INTEGER NOT NULL,
        title TEXT,
        author TEXT,
        published TEXT,
        sitename TEXT,
        canonical_url TEXT,
        profile TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (seed_id, version)
    );
    CREATE INDEX versions_sha ON versions(seed_id, text_sha256);

    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        seed_id TEXT NOT NULL REFERENCES seeds(id),
        url TEXT NOT NULL,
        final_url TEXT,
        fetched_at TEXT NOT NULL,
        status_code INTEGER,
        outcome TEXT NOT NULL CHECK (outcome IN
            ('new_version','unchanged','not_modified','gone','removed','no_content','failed')),
        error TEXT,
        version_id INTEGER REFERENCES versions(id),
        elapsed_ms INTEGER,
        content_type TEXT,
        body_bytes INTEGER,
        redirects TEXT,                -- JSON list of URLs passed through
        title TEXT
    );
    CREATE INDEX captures_seed ON captures(seed_id, fetched_at);
    CREATE INDEX captures_run ON captures(run_id);
    CREATE INDEX captures_outcome ON captures(outcome);
    CREATE INDEX captures_version ON captures(version_id);

    CREATE TABLE diffs (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        base TEXT NOT NULL CHECK (base IN ('original', 'previous')),
        base_version_id INTEGER REFERENCES versions(id),
        similarity REAL NOT NULL,
        chars_added INTEGER NOT NULL,
        chars_removed INTEGER NOT NULL,
        diff TEXT NOT NULL,
        ops TEXT NOT NULL,             -- JSON operations, for rendering
        UNIQUE (version_id, base)
    );
    """,
    # WARC archive (issue #6): where each capture's response record is, its HTTP validators,
    # and one row per response/revisit record written (redirect hops included): the CDXJ table.
    """
    ALTER TABLE captures ADD COLUMN warc_filename TEXT;
    ALTER TABLE captures ADD COLUMN warc_offset INTEGER;
    ALTER TABLE captures ADD COLUMN warc_length INTEGER;
    ALTER TABLE captures ADD COLUMN warc_record_id TEXT;
    ALTER TABLE captures ADD COLUMN payload_digest TEXT;
    ALTER TABLE captures ADD COLUMN etag TEXT;
    ALTER TABLE captures ADD COLUMN last_modified TEXT;

    CREATE TABLE warc_records (
        id INTEGER PRIMARY KEY,
        capture_id INTEGER NOT NULL REFERENCES captures(id),
        record_id TEXT NOT NULL UNIQUE,    -- WARC-Record-ID
        record_type TEXT NOT NULL CHECK (record_type IN ('response', 'revisit')),
        profile TEXT,                      -- revisit profile
        target_uri TEXT NOT NULL,
        date TEXT NOT NULL,                -- WARC-Date
        status INTEGER,
        mime TEXT,
        payload_digest TEXT,
        refers_to TEXT,                    -- record id of the payload a revisit stands for
        filename TEXT NOT NULL,            -- under archive/warc/
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL
    );
    CREATE INDEX warc_records_uri ON warc_records(target_uri, record_type, id);
    CREATE INDEX warc_records_capture ON warc_records(capture_id);
    """,
    # Scheduling (issue #3): when each seed is due, its adaptive interval and failures in a row.
    """
    ALTER TABLE seeds ADD COLUMN base_interval_seconds INTEGER;
    ALTER TABLE seeds ADD COLUMN interval_seconds INTEGER;
    ALTER TABLE seeds ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE seeds ADD COLUMN next_due_at TEXT;
    ALTER TABLE seeds ADD COLUMN last_capture_at TEXT;
    CREATE INDEX seeds_due ON seeds(next_due_at) WHERE status = 'ok';
    """,
    # Inspection (issue #4) and change intelligence (issue #5): change measures, seed state,
    # metadata drift, full-text search documents and the views people read in Datasette.
    """
    ALTER TABLE diffs ADD COLUMN retained REAL;      -- original base: share of the original's sentences still present
    ALTER TABLE diffs ADD COLUMN change TEXT;        -- minor | edit | major | rewrite
    ALTER TABLE seeds ADD COLUMN state TEXT;         -- alive | gone | removed | failing; NULL until first captured
    ALTER TABLE seeds ADD COLUMN state_since TEXT;
    ALTER TABLE seeds ADD COLUMN last_seen_alive_at TEXT;
    ALTER TABLE seeds ADD COLUMN pending_state TEXT; -- what the latest captures say, until enough agree
    ALTER TABLE seeds ADD COLUMN pending_count INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX diffs_base ON diffs(base, version_id);

    CREATE TABLE metadata_changes (
        id INTEGER PRIMARY KEY,
        seed_id TEXT NOT NULL REFERENCES seeds(id),
        capture_id INTEGER REFERENCES captures(id),
        version_id INTEGER REFERENCES versions(id),
        field TEXT NOT NULL,           -- title | author | published
        old_value TEXT,
        new_value TEXT,
        detected_at TEXT NOT NULL
    );
    CREATE INDEX metadata_changes_seed ON metadata_changes(seed_id, detected_at);

    CREATE TABLE search_docs (
        id INTEGER PRIMARY KEY,        -- rowid of search_fts
        kind TEXT NOT NULL CHECK (kind IN ('original', 'version')),
        seed_id TEXT NOT NULL REFERENCES seeds(id),
        version_id INTEGER REFERENCES versions(id),
        title TEXT,
        UNIQUE (seed_id, kind, version_id)
    );
    -- Title and text in search form (every CJK character a token: see crawler/archive/search.py); rowid = search_docs.id.
    CREATE VIRTUAL TABLE search_fts USING fts5(title, body, tokenize='unicode61 remove_diacritics 2');

    CREATE VIEW search AS
    SELECT d.id, d.kind, d.seed_id, d.version_id, v.version, coalesce(d.title, s.title) AS title,
           coalesce(v.text, s.original_text) AS text, coalesce(v.created_at, s.fetch_date) AS dated
    FROM search_docs d JOIN seeds s ON s.id = d.seed_id LEFT JOIN versions v ON v.id = d.version_id;

    CREATE VIEW seed_overview AS
    SELECT s.id, s.title, s.url, s.status, s.state,
           (SELECT count(*) FROM versions v WHERE v.seed_id = s.id) AS versions,
           (SELECT count(*) FROM captures c WHERE c.seed_id = s.id) AS captures,
           lc.outcome AS last_outcome, lc.fetched_at AS last_fetched, lc.error AS last_error,
           lv.id AS latest_version_id,
           (SELECT d.similarity FROM diffs d WHERE d.version_id = lv.id AND d.base = 'original') AS similarity_to_original,
           (SELECT d.retained FROM diffs d WHERE d.version_id = lv.id AND d.base = 'original') AS retained,
           s.last_seen_alive_at, s.next_due_at
    FROM seeds s
    LEFT JOIN captures lc ON lc.id = (
        SELECT id FROM captures WHERE seed_id = s.id ORDER BY fetched_at DESC, id DESC LIMIT 1)
    LEFT JOIN versions lv ON lv.id = (
        SELECT id FROM versions WHERE seed_id = s.id ORDER BY version DESC LIMIT 1);

    CREATE VIEW changes AS
    SELECT v.id AS version_id, v.seed_id, s.title AS seed_title, v.version, v.created_at,
           v.title, v.chars,
           p.change, p.similarity AS similarity_to_previous, p.chars_added, p.chars_removed,
           o.similarity AS similarity_to_original, o.retained, o.change AS change_from_original
    FROM versions v JOIN seeds s ON s.id = v.seed_id
    LEFT JOIN diffs p ON p.version_id = v.id AND p.base = 'previous'
    LEFT JOIN diffs o ON o.version_id = v.id AND o.base = 'original';
    """,
    # Change intelligence (issue #5), continued: when each seed's state changed (seeds.state holds
    # only the current one), and which changes were announced to which Apprise target.
    """
    ALTER TABLE seeds ADD COLUMN pending_since TEXT;   -- when the first capture of pending_state was made

    CREATE TABLE state_changes (
        id INTEGER PRIMARY KEY,
        seed_id TEXT NOT NULL REFERENCES seeds(id),
        capture_id INTEGER NOT NULL REFERENCES captures(id),  -- the capture that confirmed the change
        old_state TEXT,                -- NULL for a seed's first state
        new_state TEXT NOT NULL CHECK (new_state IN ('alive', 'gone', 'removed', 'failing')),
        since TEXT NOT NULL,           -- fetched_at of the first capture that saw the new state
        changed_at TEXT NOT NULL,      -- fetched_at of the capture that confirmed it
        reason TEXT                    -- that capture's error: why the article is gone, removed or failing
    );
    CREATE INDEX state_changes_seed ON state_changes(seed_id, changed_at);
    CREATE INDEX state_changes_changed ON state_changes(changed_at);
    CREATE INDEX versions_created ON versions(created_at);
    CREATE INDEX metadata_changes_detected ON metadata_changes(detected_at);

    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        event TEXT NOT NULL,           -- version:VERSION_ID | state:STATE_CHANGE_ID | metadata:CAPTURE_ID
        target TEXT NOT NULL,          -- first 16 hex digits of the Apprise URL's SHA-256 (URLs hold secrets)
        target_url TEXT,               -- the Apprise URL with its secrets masked
        run_id INTEGER REFERENCES runs(id),
        status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 1,
        error TEXT,
        sent_at TEXT NOT NULL,         -- the last attempt
        UNIQUE (event, target)
    );
    """,
    # Revisits of pages whose bytes changed but whose article did not (issue #21): the reader
    # fingerprint of each capture (crawler/extract/fingerprint.py), compared with the current version's.
    """
    ALTER TABLE captures ADD COLUMN reader_fingerprint TEXT;
    """,
    # Takedowns (issue #18): a removal's cause and notice, the bracket "last seen alive -> first seen
    # removed" on each state change, seeds grouped by account, and the removals people read.
    """
    ALTER TABLE captures ADD COLUMN cause TEXT;            -- removed: why (crawler/changes/removal.py CAUSES); failed: blocked_by_site
    ALTER TABLE captures ADD COLUMN notice TEXT;           -- the notice's wording, as the page showed it
    ALTER TABLE state_changes ADD COLUMN cause TEXT;
    ALTER TABLE state_changes ADD COLUMN notice TEXT;
    ALTER TABLE state_changes ADD COLUMN last_seen_alive_at TEXT;  -- the last capture that found the article before
    ALTER TABLE seeds ADD COLUMN account TEXT;             -- the account the seed belongs to (schedule.accounts)
    CREATE INDEX seeds_account ON seeds(account) WHERE account IS NOT NULL;
    CREATE INDEX captures_cause ON captures(cause) WHERE cause IS NOT NULL;

    CREATE VIEW removals AS
    SELECT sc.id, sc.seed_id, s.title AS seed_title, s.url, s.account, sc.new_state AS state, sc.cause,
           coalesce(sc.cause, sc.new_state) || ': ' || coalesce(sc.notice, sc.reason, '') AS cause_in_words,
           sc.notice, sc.last_seen_alive_at, sc.since AS first_seen_removed_at, sc.changed_at AS confirmed_at,
           sc.reason
    FROM state_changes sc JOIN seeds s ON s.id = sc.seed_id
    WHERE sc.new_state IN ('removed', 'gone');
    """,
    # Evidence of what readers saw (issue #17): the images (and stylesheets) fetched with each new
    # version, linked to its capture and to their WARC records; a screenshot per new version, a WARC
    # resource record linked from the version; whether a capture's page was rendered in a browser.
    """
    ALTER TABLE captures ADD COLUMN rendered INTEGER;          -- 1: the page was rendered in chromium
    ALTER TABLE captures ADD COLUMN requisites_note TEXT;      -- what limited the requisites, if anything

    CREATE TABLE requisites (
        id INTEGER PRIMARY KEY,
        capture_id INTEGER NOT NULL REFERENCES captures(id),
        position INTEGER NOT NULL,     -- page order
        kind TEXT NOT NULL CHECK (kind IN ('image', 'stylesheet')),
        url TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('archived', 'duplicate', 'failed', 'skipped')),
        status INTEGER,
        mime TEXT,
        bytes INTEGER,
        width INTEGER,
        height INTEGER,
        payload_digest TEXT,
        warc_record_id TEXT,           -- warc_records.record_id: a response, or a revisit of a payload archived before
        problem TEXT,                  -- kept but never rendered: an SVG with script, a decompression bomb
        error TEXT                     -- why it was not archived
    );
    CREATE INDEX requisites_capture ON requisites(capture_id);
    CREATE INDEX requisites_url ON requisites(url);
    CREATE INDEX warc_records_digest ON warc_records(payload_digest, id) WHERE record_type = 'response';

    CREATE TABLE screenshots (
        id INTEGER PRIMARY KEY,
        capture_id INTEGER NOT NULL REFERENCES captures(id),
        version_id INTEGER REFERENCES versions(id),
        record_id TEXT NOT NULL UNIQUE,  -- a WARC resource record, target urn:view:<page URL>
        target_uri TEXT NOT NULL,
        date TEXT NOT NULL,
        mime TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        bytes INTEGER NOT NULL,
        payload_digest TEXT,
        filename TEXT NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        viewport TEXT                  -- desktop | phone
    );
    CREATE INDEX screenshots_version ON screenshots(version_id);
    CREATE INDEX screenshots_capture ON screenshots(capture_id);
    """,
    # Honest hashes and ignored changes (issue #19): versions.text_sha256 becomes the SHA-256 of
    # versions.text (UTF-8); the comparison hash it held moves to compare_sha256. sha256_hex is a
    # function the Store registers on its connection (SQLite has no SHA-256 of its own).
    """
    ALTER TABLE versions ADD COLUMN compare_sha256 TEXT;  -- comparison form without noise: decides "distinct"
    UPDATE versions SET compare_sha256 = text_sha256;
    UPDATE versions SET text_sha256 = sha256_hex(text);
    DROP INDEX versions_sha;
    CREATE INDEX versions_compare ON versions(seed_id, compare_sha256);
    ALTER TABLE captures ADD COLUMN ignored_changes TEXT; -- JSON [{"old", "new"}]: counters or times written as prose
    """,
    # Revisits decided from the markup alone (issue #21): where a version's page hides its volatile
    # spans (crawler/extract/markup.py); NULL on captures that did not read a version's text.
    """
    ALTER TABLE captures ADD COLUMN markup_digest TEXT;
    ALTER TABLE captures ADD COLUMN markup_layout TEXT;
    """,
)


SCHEMA_VERSION = len(MIGRATIONS)
SEARCH_SCHEMA = 4  # the schema version that added search_docs and search_fts


def sha256_hex(text: str | None) -> str | None:
    """Hex SHA-256 of a text's UTF-8 bytes (None stays None)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def statements(script: str) -> list[str]:
    """Split a migration script into complete SQL statements."""
    found, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        found.append(buffer.strip())
    return found

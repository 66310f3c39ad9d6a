"""The SQL behind the plugin's pages, read through Datasette's read-only connections.

Kept in the web package for now: they read the archive's tables and views (docs/archive-schema.md)
and belong with the store's queries once the stages settle.
"""

from __future__ import annotations

from typing import Any

# One row per seed for the articles list: seed_overview, plus when it last changed and its account.
ARTICLES_SQL = """
SELECT o.*, s.account, s.interval_seconds, s.state_since,
       nullif(max(
         coalesce((SELECT max(v.created_at) FROM versions v WHERE v.seed_id = o.id AND v.version > 1), ''),
         coalesce((SELECT max(sc.changed_at) FROM state_changes sc WHERE sc.seed_id = o.id
                   AND NOT (sc.old_state IS NULL AND sc.new_state = 'alive')), ''),
         coalesce((SELECT max(m.detected_at) FROM metadata_changes m WHERE m.seed_id = o.id), '')
       ), '') AS last_changed
FROM seed_overview o JOIN seeds s ON s.id = o.id
"""

# The latest removal (or disappearance) of a seed: what its banner says.
REMOVAL_SQL = """
SELECT sc.*, c.status_code FROM state_changes sc LEFT JOIN captures c ON c.id = sc.capture_id
WHERE sc.seed_id = ? AND sc.new_state = ? ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1
"""

# A seed's captures for its timeline and capture list, newest first.
CAPTURES_SQL = """
SELECT c.id, c.fetched_at, c.outcome, c.status_code, c.version_id, v.version, c.cause, c.notice, c.error,
       c.warc_filename IS NOT NULL AS archived, c.rendered,
       (SELECT similarity FROM diffs d WHERE d.version_id = c.version_id AND d.base = 'original') AS similarity
FROM captures c LEFT JOIN versions v ON v.id = c.version_id
WHERE c.seed_id = ? ORDER BY c.fetched_at DESC, c.id DESC LIMIT ?
"""

# A seed's versions with their measures and the capture that found each (its raw response and replay).
VERSIONS_SQL = """
SELECT ch.*, v.text_sha256,
       (SELECT c.id FROM captures c WHERE c.version_id = ch.version_id AND c.outcome = 'new_version'
        ORDER BY c.id LIMIT 1) AS capture_id,
       (SELECT count(*) FROM captures c WHERE c.version_id = ch.version_id) AS capture_count
FROM changes ch JOIN versions v ON v.id = ch.version_id
WHERE ch.seed_id = ? ORDER BY ch.version DESC
"""

# The capture a raw response or replay is read from, with the WARC record it points at.
CAPTURE_SQL = """
SELECT c.id, c.seed_id, c.url, c.final_url, c.fetched_at, c.outcome, c.status_code, c.error, c.cause,
       c.notice, c.version_id, c.content_type, c.warc_filename, c.warc_offset, c.warc_record_id
FROM captures c WHERE c.id = ?
"""


def period_args(seed_id: str, start: str, end: str) -> dict[str, Any]:
    """Datasette's table filters for a seed's captures between two times (UTC ISO)."""
    return {"seed_id": seed_id, "fetched_at__gte": start, "fetched_at__lt": end, "_sort_desc": "fetched_at"}

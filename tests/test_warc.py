"""WARC archive: every response kept as sent, deduplicated, indexed, replayable; checked with warcio's own tools."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Iterator

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from helpers import TEST_CONFIG, LocalServer, Project, free_port
from crawler.archive.store import Store
from crawler.warc import (
    IDENTICAL_PAYLOAD,
    SERVER_NOT_MODIFIED,
    Exchange,
    StoredPayload,
    WarcWriterFiles,
    index_marks,
    new_filename,
    write_index,
)
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body, wechat_page

WARCIO = Path(sys.executable).parent / "warcio"
ZH_TITLE = "档案员如何发现被修改的文章"
EN_TITLE = "Council approves library budget"


@pytest.fixture
def archive_server() -> Iterator[LocalServer]:
    """The local server speaking HTTP/1.1, for conditional GET, gzip and redirects, on a free port of 127.0.0.1."""
    with LocalServer(protocol="HTTP/1.1") as server:
        yield server


def sha1_b32(data: bytes) -> str:
    """A WARC payload digest computed here, independently of the crawler."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warc_files(project: Project) -> list[Path]:
    """The project's WARC files."""
    return sorted((project.archive / "warc").glob("*.warc.gz"))


def record_at(project: Project, filename: str, offset: int):
    """The record at offset of a WARC file, read with warcio: (WARC headers, HTTP headers, raw payload)."""
    with open(project.archive / "warc" / filename, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)))
        return record.rec_headers, record.http_headers, record.raw_stream.read()


def captures_by_seed(project: Project, run_id: int) -> dict[str, dict]:
    """The captures of one run, by seed id."""
    return {c["seed_id"]: c for c in project.rows("SELECT * FROM captures WHERE run_id = ?", run_id)}


def crawl(project: Project, *args: str) -> None:
    """Run one crawl and fail with its stderr when it does not complete."""
    result = project.run("crawl", *args)
    assert result.returncode == 0, result.stderr


def serve_site(server: LocalServer, project: Project) -> str:
    """Every kind of fetch the archive must keep: plain, ETag, gzip, GBK, redirect, 404, refused."""
    project.seed(
        "plain",
        server.page("/plain", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
        seed_body(EN_TITLE, EN_PARAGRAPHS),
    )
    project.seed(
        "etag",
        server.page("/etag", article_page(ZH_TITLE, ZH_PARAGRAPHS), etag='"v1"'),
        seed_body(ZH_TITLE, ZH_PARAGRAPHS),
    )
    project.seed(
        "gzipped",
        server.page("/gzip", wechat_page(ZH_TITLE, ZH_PARAGRAPHS), gzip=True),
        seed_body(ZH_TITLE, ZH_PARAGRAPHS),
    )
    gbk = article_page(ZH_TITLE, ZH_PARAGRAPHS, charset="gb2312").encode("gbk")
    project.seed("gbk", server.page("/gbk", gbk, content_type="text/html"), seed_body(ZH_TITLE, ZH_PARAGRAPHS))
    server.page("/new", article_page(EN_TITLE, EN_PARAGRAPHS[:2], lang="en"))
    project.seed(
        "moved",
        server.page("/old", b"moved", status=301, location=server.url("/new")),
        seed_body(EN_TITLE, EN_PARAGRAPHS[:2]),
    )
    project.seed("missing", server.url("/missing"), "A page that is not there.")
    dead = f"http://127.0.0.1:{free_port()}/article"
    project.seed("down", dead, "A server that is down.")
    return dead


def test_every_fetch_is_archived_deduplicated_and_readable(archive_server: LocalServer, project: Project) -> None:
    dead = serve_site(archive_server, project)

    # Run 1: every page is new.
    crawl(project)
    first = captures_by_seed(project, 1)
    assert {s: c["outcome"] for s, c in first.items()} == {
        "plain": "new_version",
        "etag": "new_version",
        "gzipped": "new_version",
        "gbk": "new_version",
        "moved": "new_version",
        "missing": "gone",
        "down": "failed",
    }
    for seed in ("plain", "etag", "gzipped", "gbk", "moved", "missing"):
        c = first[seed]
        assert c["warc_filename"] and c["warc_offset"] is not None and c["warc_length"] > 0, seed
    assert first["down"]["warc_filename"] is None and first["down"]["payload_digest"] is None

    # The payload is the body byte for byte as the server sent it; the digests are right.
    warc, http, payload = record_at(project, first["plain"]["warc_filename"], first["plain"]["warc_offset"])
    sent = archive_server.last_sent("/plain").body
    assert warc.get_header("WARC-Type") == "response"
    assert payload == sent
    assert warc.get_header("WARC-Payload-Digest") == sha1_b32(sent) == first["plain"]["payload_digest"]
    assert warc.get_header("WARC-Block-Digest", "").startswith("sha1:")
    assert warc.get_header("WARC-Record-ID") == first["plain"]["warc_record_id"]

    # A gzip-encoded response keeps the compressed bytes as sent, and its Content-Encoding.
    warc, http, payload = record_at(project, first["gzipped"]["warc_filename"], first["gzipped"]["warc_offset"])
    sent = archive_server.last_sent("/gzip").body
    assert sent[:2] == b"\x1f\x8b" and payload == sent
    assert http.get_header("Content-Encoding") == "gzip"
    assert gzip.decompress(payload) == wechat_page(ZH_TITLE, ZH_PARAGRAPHS).encode("utf-8")
    assert first["gzipped"]["payload_digest"] == sha1_b32(sent)

    # The redirect hop and the final page both have records; the capture points at the final one.
    hops = project.rows("SELECT * FROM warc_records WHERE capture_id = ? ORDER BY id", first["moved"]["id"])
    assert [(h["target_uri"], h["status"]) for h in hops] == [
        (archive_server.url("/old"), 301),
        (archive_server.url("/new"), 200),
    ]
    assert hops[1]["offset"] == first["moved"]["warc_offset"]
    # The failed fetch wrote nothing.
    all_records = b"".join(gzip.decompress(f.read_bytes()) for f in warc_files(project))
    assert archive_server.url("/plain").encode() in all_records and dead.encode() not in all_records

    # `crawler raw` prints the archived body as text: gzip undone, GBK decoded.
    shown = project.run("raw", str(first["gzipped"]["id"]))
    assert shown.returncode == 0, shown.stderr
    assert ZH_PARAGRAPHS[1] in shown.stdout
    gbk_shown = project.run("raw", str(first["gbk"]["id"]))
    assert ZH_PARAGRAPHS[2] in gbk_shown.stdout
    headers = project.run("raw", "--headers", str(first["gzipped"]["id"]))
    assert headers.stdout.startswith("HTTP/1.1 200 OK\n") and "Content-Encoding: gzip" in headers.stdout
    failed = project.run("raw", str(first["down"]["id"]))
    assert failed.returncode == 1 and "has no archived response (outcome failed" in failed.stderr

    # Run 2: nothing changed. Identical payloads become revisits; the ETag page is asked conditionally.
    crawl(project)
    second = captures_by_seed(project, 2)
    assert archive_server.last_sent("/etag").headers.get("if-none-match") == '"v1"'
    assert archive_server.last_sent("/etag").status == 304
    assert "if-none-match" not in archive_server.last_sent("/plain").headers
    assert second["etag"]["outcome"] == "not_modified"
    etag_v1 = project.rows("SELECT id FROM versions WHERE seed_id = 'etag'")
    assert len(etag_v1) == 1 and second["etag"]["version_id"] == etag_v1[0]["id"]
    for seed in ("plain", "gzipped", "gbk", "moved"):
        assert second[seed]["outcome"] == "unchanged", seed
    for seed in ("plain", "gzipped", "gbk", "moved", "missing", "etag"):
        warc, http, payload = record_at(project, second[seed]["warc_filename"], second[seed]["warc_offset"])
        original, _, _ = record_at(project, first[seed]["warc_filename"], first[seed]["warc_offset"])
        assert warc.get_header("WARC-Type") == "revisit", seed
        expected_profile = SERVER_NOT_MODIFIED if seed == "etag" else IDENTICAL_PAYLOAD
        assert warc.get_header("WARC-Profile") == expected_profile, seed
        assert warc.get_header("WARC-Refers-To") == original.get_header("WARC-Record-ID"), seed
        assert warc.get_header("WARC-Refers-To-Target-URI") == original.get_header("WARC-Target-URI"), seed
        assert warc.get_header("WARC-Refers-To-Date") == original.get_header("WARC-Date"), seed
        assert payload == b"", "a revisit stores no payload"
        assert second[seed]["payload_digest"] == first[seed]["payload_digest"], seed
    # No second copy of the payload: an unchanged revisit costs far less than the page.
    plain_revisit = second["plain"]["warc_length"]
    assert plain_revisit < 2048 and plain_revisit < first["plain"]["warc_length"]
    assert project.run("raw", str(second["plain"]["id"])).stdout == project.run("raw", str(first["plain"]["id"])).stdout
    assert ZH_PARAGRAPHS[0] in project.run("raw", str(second["etag"]["id"])).stdout, "a 304 shows the current payload"
    assert "304 Not Modified" in project.run("raw", "--headers", str(second["etag"]["id"])).stdout

    # Run 3: two pages changed; their new payloads are stored in full.
    edited = [p.replace("Sundays", "Saturdays") for p in EN_PARAGRAPHS]
    archive_server.page("/plain", article_page(EN_TITLE, edited, lang="en"))
    archive_server.page("/etag", article_page(ZH_TITLE, ZH_PARAGRAPHS[:3]), etag='"v2"')
    crawl(project, "plain", "etag")
    third = captures_by_seed(project, 3)
    assert {s: c["outcome"] for s, c in third.items()} == {"plain": "new_version", "etag": "new_version"}
    warc, _, payload = record_at(project, third["plain"]["warc_filename"], third["plain"]["warc_offset"])
    assert warc.get_header("WARC-Type") == "response" and payload == archive_server.last_sent("/plain").body
    assert "Saturdays" in project.run("raw", str(third["plain"]["id"])).stdout

    # warcio's own checker accepts every file; its indexer lists every record.
    files = warc_files(project)
    assert len(files) == 3
    check = subprocess.run([str(WARCIO), "check", "-v", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "fail" not in check.stdout
    listed = subprocess.run(
        [str(WARCIO), "index", "-f", "warc-type,warc-target-uri,offset", *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    types = [e["warc-type"] for e in entries]
    stored = project.rows("SELECT record_type, count(*) AS n FROM warc_records GROUP BY record_type")
    assert types.count("warcinfo") == 3
    assert {s["record_type"]: s["n"] for s in stored} == {
        "response": types.count("response"),
        "revisit": types.count("revisit"),
    }
    assert types.count("request") == types.count("response") + types.count("revisit")
    assert types.count("response") == 7 + 2  # run 1: six seeds answered, one redirect hop; run 3: two changed

    # The CDXJ index lists every response and revisit, sorted, pointing at the right record.
    lines = (project.archive / "warc" / "index.cdxj").read_text(encoding="utf-8").splitlines()
    assert lines == sorted(lines) and len(lines) == types.count("response") + types.count("revisit")
    for line in lines:
        key, timestamp, data = line.split(" ", 2)
        fields = json.loads(data)
        assert re.fullmatch(r"\d{14}", timestamp) and key.startswith("1,0,0,127:")
        warc, _, _ = record_at(project, fields["filename"], int(fields["offset"]))
        assert warc.get_header("WARC-Target-URI") == fields["url"]
    # Three runs each merged their records into it: the index is what writing it whole gives.
    store = Store(project.db_path)
    try:
        whole = project.archive / "whole.cdxj"
        write_index(whole, store.warc_records())
    finally:
        store.close()
    assert lines == whole.read_text(encoding="utf-8").splitlines()


def test_files_rotate_with_warcinfo_and_unique_names(archive_server: LocalServer, project: Project) -> None:
    project.config.write_text(
        TEST_CONFIG + "warc:\n  operator: Test Operator <ops@example.org>\n  rotate_bytes: 1\n", encoding="utf-8"
    )
    for name in ("a", "b", "c"):
        project.seed(
            name,
            archive_server.page(f"/{name}", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
            seed_body(EN_TITLE, EN_PARAGRAPHS),
        )
    crawl(project)
    files = warc_files(project)
    assert len(files) == 3, "with a 1-byte limit every exchange starts a new file"
    for path in files:
        assert re.fullmatch(r"archive-crawler-\d{20}-\d+-[0-9a-f]{8}\.warc\.gz", path.name)
        with open(path, "rb") as fh:
            records = list(ArchiveIterator(fh))
        assert [r.rec_type for r in records][:1] == ["warcinfo"]
        with open(path, "rb") as fh:
            info = next(iter(ArchiveIterator(fh)))
            fields = info.content_stream().read().decode()
        assert "operator: Test Operator <ops@example.org>" in fields
        assert "software: archive-crawler/" in fields
    check = subprocess.run([str(WARCIO), "check", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_warc_can_be_turned_off(archive_server: LocalServer, project: Project) -> None:
    project.config.write_text(TEST_CONFIG + "warc:\n  enabled: false\n", encoding="utf-8")
    project.seed(
        "plain",
        archive_server.page("/plain", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
        seed_body(EN_TITLE, EN_PARAGRAPHS),
    )
    crawl(project)
    assert not (project.archive / "warc").exists()
    capture = project.rows("SELECT * FROM captures")[0]
    assert capture["outcome"] == "new_version" and capture["warc_filename"] is None
    shown = project.run("raw", str(capture["id"]))
    assert shown.returncode == 1 and "no archived response" in shown.stderr


def _exchange(body: bytes) -> Exchange:
    return Exchange(
        "http://127.0.0.1:1/a",
        "GET",
        [("User-Agent", "t")],
        200,
        "HTTP/1.1",
        [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
        body,
    )


def test_a_write_cut_short_leaves_every_earlier_record_readable(tmp_path: Path) -> None:
    writer = WarcWriterFiles(tmp_path)
    written, bodies = [], {}
    for n in range(4):
        body = f"<p>page {n}</p>".encode() * 50
        record = writer.write(_exchange(body))
        path = tmp_path / record.filename
        # Nothing is left in a buffer: the file ends exactly where the record ends.
        assert path.stat().st_size == record.offset + record.length
        written.append(record)
        bodies[record.record_id] = body
    writer.close()
    whole = path.read_bytes()
    # A process killed mid-write leaves the file cut anywhere after the last complete record.
    complete_before = written[1].offset + written[1].length
    for cut in range(complete_before, len(whole), 97):
        cut_file = tmp_path / "cut.warc.gz"
        cut_file.write_bytes(whole[:cut])
        seen: dict[str, bytes] = {}
        with open(cut_file, "rb") as fh:
            try:
                for record in ArchiveIterator(fh):
                    seen[record.rec_headers.get_header("WARC-Record-ID")] = record.raw_stream.read()
            # warcio's ways of saying the record it reached is cut short
            except (EOFError, ValueError, AttributeError, zlib.error, ArchiveLoadFailed):
                pass
        for record in written:
            if record.offset + record.length <= cut:
                assert seen.get(record.record_id) == bodies[record.record_id], (cut, record.offset)


def test_revisit_and_not_modified_records_refer_to_the_stored_payload(tmp_path: Path) -> None:
    writer = WarcWriterFiles(tmp_path)
    body = b"<p>same</p>" * 100
    first = writer.write(_exchange(body))
    assert first.record_type == "response" and first.payload_digest == sha1_b32(body)
    stored = StoredPayload(first.target_uri, first.date, first.record_id, first.payload_digest)
    again = writer.write(_exchange(body), stored)
    assert (again.record_type, again.profile, again.refers_to) == ("revisit", IDENTICAL_PAYLOAD, first.record_id)
    changed = writer.write(_exchange(body + b"!"), stored)
    assert changed.record_type == "response"
    not_modified = writer.write(Exchange(first.target_uri, "GET", [], 304, "HTTP/1.1", [("ETag", '"x"')], b""), stored)
    assert (not_modified.record_type, not_modified.profile) == ("revisit", SERVER_NOT_MODIFIED)
    assert not_modified.payload_digest == first.payload_digest
    writer.close()
    assert len({new_filename() for _ in range(1000)}) == 1000


def test_concurrent_responses_share_their_fsyncs_and_all_are_readable(tmp_path: Path) -> None:
    """The crawl's middleware fsyncs once per batch of concurrent responses, never after returning one."""
    import asyncio

    from crawler.fetch.warc_recorder import GroupSync

    writer = WarcWriterFiles(tmp_path, fsync_each=False)
    sync = GroupSync(writer)
    done: list[int] = []

    async def respond(n: int) -> None:
        writer.write(_exchange(f"<p>page {n}</p>".encode() * 50))
        await sync.durable()
        done.append(n)

    async def crawl() -> None:
        await asyncio.gather(*(respond(n) for n in range(40)))

    asyncio.run(crawl())
    writer.close()
    assert sorted(done) == list(range(40))
    # 40 responses in flight together: far fewer fsyncs than records, at least one.
    assert 1 <= sync.rounds < 40
    with open(tmp_path / writer.files_written[0], "rb") as fh:
        bodies = [r.content_stream().read() for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert sorted(bodies) == sorted(f"<p>page {n}</p>".encode() * 50 for n in range(40))


def test_a_deleted_warc_file_is_healed_by_the_next_capture(archive_server: LocalServer, project: Project) -> None:
    """When the file holding a URL's payload is gone, the next capture writes the payload whole again."""
    # Before: unchanged captures kept writing revisit records (and 304 revisits) pointing at the lost payload.
    project.seed(
        "plain",
        archive_server.page("/plain", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
        seed_body(EN_TITLE, EN_PARAGRAPHS),
    )
    project.seed(
        "etag",
        archive_server.page("/etag", article_page(ZH_TITLE, ZH_PARAGRAPHS), etag='"v1"'),
        seed_body(ZH_TITLE, ZH_PARAGRAPHS),
    )
    crawl(project)
    for path in warc_files(project):
        path.unlink()
    crawl(project)
    assert archive_server.last_sent("/etag").status == 200, "no conditional GET for a payload that is lost"
    crawl(project)
    assert archive_server.last_sent("/etag").status == 304, "conditional GET again once the payload is back"
    records = {}
    for capture in project.rows(
        "SELECT c.run_id, c.seed_id, w.* FROM captures c JOIN warc_records w ON w.record_id = c.warc_record_id"
    ):
        records[capture["run_id"], capture["seed_id"]] = capture
    for seed in ("plain", "etag"):
        assert records[2, seed]["record_type"] == "response", seed
        assert (
            records[3, seed]["record_type"] == "revisit"
            and records[3, seed]["refers_to"] == records[2, seed]["record_id"]
        )
        # The healed payload is really there, in a file that exists.
        _, _, payload = record_at(project, records[2, seed]["filename"], records[2, seed]["offset"])
        assert payload and records[2, seed]["payload_digest"] == sha1_b32(payload)


def test_two_seeds_with_one_url_store_its_bytes_once(archive_server: LocalServer, project: Project) -> None:
    # Records are built on threads and appended in turn: the second response of one URL refers to the
    # first's payload (for images shared by articles, arriving together: tests/test_evidence.py).
    url = archive_server.page("/shared", article_page("One page, two seeds", EN_PARAGRAPHS, lang="en"))
    project.seed("shared_a", url, "One page, two seeds.")
    project.seed("shared_b", url, "One page, two seeds.")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    # Rows come in the order the captures were recorded, which need not be the WARC file's.
    records = {r["record_type"]: r for r in project.rows("SELECT record_type, record_id, refers_to FROM warc_records")}
    assert sorted(records) == ["response", "revisit"]
    assert records["revisit"]["refers_to"] == records["response"]["record_id"]


def test_the_index_is_merged_run_by_run_and_written_whole_when_it_was_touched(
    archive_server: LocalServer, project: Project
) -> None:
    """Each run merges its own records into the index; an index edited, replaced or missing its note is rebuilt."""
    archive_server.page("/a", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    archive_server.page("/b", article_page(ZH_TITLE, ZH_PARAGRAPHS))
    project.seed("a", archive_server.url("/a"), seed_body(EN_TITLE, EN_PARAGRAPHS))
    project.seed("b", archive_server.url("/b"), seed_body(ZH_TITLE, ZH_PARAGRAPHS))
    index = project.archive / "warc" / "index.cdxj"

    def whole() -> list[str]:
        store = Store(project.db_path)
        try:
            written = project.archive / "whole.cdxj"
            write_index(written, store.warc_records())
            return written.read_text(encoding="utf-8").splitlines()
        finally:
            store.close()

    crawl(project, "a", "b")
    assert index_marks(index) == {"warc_records": 2, "screenshots": 0}
    crawl(project, "a", "b")
    assert index_marks(index) == {"warc_records": 4, "screenshots": 0}
    assert index.read_text(encoding="utf-8").splitlines() == whole() and len(whole()) == 4

    # Someone cut the index short: it no longer matches its note, and the next run writes it whole.
    index.write_text(index.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert index_marks(index) is None
    crawl(project, "a")
    assert index.read_text(encoding="utf-8").splitlines() == whole() and len(whole()) == 5
    # And without its note (deleted, or an archive from before the note existed): written whole too.
    (index.parent / ".index.cdxj.covers.json").unlink()
    index.write_text("", encoding="utf-8")
    crawl(project, "b")
    assert index.read_text(encoding="utf-8").splitlines() == whole() and len(whole()) == 6

"""Servers that misbehave: every fault ends as one capture with a precise outcome and error, nothing crashes.

All faults are crawled in ONE run (one seed per fault, plus healthy seeds that must still get their
version), against tests/fault_server.py, which breaks HTTP at the byte level.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from warcio.archiveiterator import ArchiveIterator

from helpers import Project, crawler_env, free_port
from crawler.fetch.network_guard import address_problem, scheme_problem
from fault_server import (
    HOLD_SECONDS,
    Connection,
    FaultServer,
    delayed,
    dynamic,
    drip,
    endless_headers,
    gated,
    hang,
    in_turn,
    many_headers,
    redirect,
    reset_mid_body,
    respond,
    short_body,
)
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body

LIMIT = 1_000_000  # crawl.max_response_bytes in these crawls
PAGE_TIME_LIMIT = 3  # crawl.page_time_limit in these crawls
FAULT_CONFIG = f"""\
crawl:
  download_delay: 0
  autothrottle: false
  timeout: 2
  retries: 0
  concurrent_requests: 32
  concurrent_per_domain: 32
  max_response_bytes: {LIMIT}
  page_time_limit: {PAGE_TIME_LIMIT}
"""
# A site's own noise pattern that backtracks catastrophically on a run of "a" not at a sentence's end:
# no built-in pattern does any more, so this stands for any pattern, page or library bug that hangs.
RUNAWAY_CONFIG = "change:\n  ignore:\n    127.0.0.1: ['(a+)+$']\n"
EN_TITLE = "Council approves library budget"
ZH_TITLE = "档案员如何发现被修改的文章"
HEALTHY = article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")
# Issue 15's page: 866 bytes whose counter run made the built-in noise patterns backtrack for 11 minutes.
BACKTRACKING = article_page(
    "Readers respond to the council vote on the library budget", [EN_PARAGRAPHS[0], "likes (1) " * 21 + "q."], lang="en"
)
# A bell and an escape written as character references inside the article (issue 15: no_content before).
CONTROL_REFS = article_page(
    EN_TITLE, [EN_PARAGRAPHS[0], "The bell rang twice.", *EN_PARAGRAPHS[1:]], lang="en"
).replace("bell rang", "bell&#7; rang&#27;")
RUNAWAY = article_page(EN_TITLE, [*EN_PARAGRAPHS, "Then the crowd shouted " + "a" * 40 + "!"], lang="en")
# The crawl runs through this wrapper so the test can read the crawl process's own peak memory.
MEASURED_CRAWL = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print(f'maxrss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr))\n"
    "from crawler.cli import main\n"
    "main()\n"
)


def gzip_bomb(members: int = 90, member_bytes: int = 10_000_000) -> bytes:
    """About 0.9 MB of gzip that inflates to 900 MB: the same small member repeated (a valid multi-member stream)."""
    return gzip.compress(b"\0" * member_bytes, compresslevel=9, mtime=0) * members


@dataclass(frozen=True)
class Expected:
    """What one fault must leave in the archive."""

    outcome: str
    status: int | None
    error: str | None  # a regular expression the whole error must match; None: no error


# Disallowed by the fault server's robots.txt: with Scrapy's own RobotsTxtMiddleware most were fetched.
ROBOTS = range(1, 7)

# seed id -> the capture it must produce. The port of the refused seed and the server vary: \d+.
EXPECTED: dict[str, Expected] = {
    "refused": Expected(
        "failed",
        None,
        r"connection refused by 127\.0\.0\.1:\d+: nothing is listening there \(server down or wrong port\?\)",
    ),
    "no_answer": Expected(
        "failed", None, r"timed out after 2 s \(crawl\.timeout\): no complete response from 127\.0\.0\.1:\d+"
    ),
    "reset_mid_body": Expected("failed", None, r"response body incomplete: the connection was reset mid-body"),
    "short_body": Expected(
        "failed",
        None,
        r"response body incomplete: the server closed the connection before sending all of Content-Length",
    ),
    "http_500": Expected("failed", 500, r"HTTP 500 Internal Server Error"),
    "http_502": Expected("failed", 502, r"HTTP 502 Bad Gateway"),
    "http_503": Expected("failed", 503, r"HTTP 503 Service Unavailable \(Retry-After: 120\)"),
    "http_429": Expected("failed", 429, r"HTTP 429 Too Many Requests \(Retry-After: 30\)"),
    "http_404": Expected("gone", 404, r"HTTP 404 Not Found"),
    "http_410": Expected("gone", 410, r"HTTP 410 Gone"),
    "redirect_loop": Expected(
        "failed", None, r"redirect loop: gave up after 20 redirects \(stopped at http://127\.0\.0\.1:\d+/redirect/a\)"
    ),
    "redirect_file": Expected(
        "failed",
        302,
        r"HTTP 302 Found redirect to file:///etc/passwd not followed: only http and https URLs are fetched",
    ),
    "redirect_ftp": Expected(
        "failed",
        301,
        r"HTTP 301 Moved Permanently redirect to ftp://127\.0\.0\.1/pub/a\.html not followed: only http and https URLs are fetched",
    ),
    "too_large": Expected(
        "failed",
        None,
        rf"response larger than the {LIMIT}-byte limit \(crawl\.max_response_bytes\): Content-Length is 1500000; not downloaded",
    ),
    "too_large_unsized": Expected(
        "failed",
        None,
        rf"response larger than the {LIMIT}-byte limit \(crawl\.max_response_bytes\): download cancelled mid-body",
    ),
    "gzip_bomb": Expected(
        "failed",
        None,
        rf"compressed body inflates past the {LIMIT}-byte limit \(crawl\.max_response_bytes\): stopped after \d+ bytes \(a compression bomb\?\)",
    ),
    "corrupt_gzip": Expected(
        "failed",
        None,
        r"corrupt compressed body: cannot decode its Content-Encoding \(Error -3 while decompressing data: .+\)",
    ),
    "wrong_charset": Expected("new_version", 200, None),
    "pdf": Expected("no_content", 200, r"not an HTML page: application/pdf"),
    "image": Expected("no_content", 200, r"not an HTML page: image/png"),
    "pdf_labelled_html": Expected(
        "no_content", 200, r"not an HTML page: the body is a PDF document although Content-Type says text/html"
    ),
    "empty_200": Expected("no_content", 200, r"empty response body"),
    "slow_drip": Expected(
        "failed", None, r"timed out after 2 s \(crawl\.timeout\): no complete response from 127\.0\.0\.1:\d+"
    ),
    "endless_headers": Expected(
        "failed",
        None,
        r"response headers over the limit: more than 262144 bytes \(crawl\.max_header_bytes\); not downloaded",
    ),
    "endless_folded_header": Expected(
        "failed",
        None,
        r"response headers over the limit: more than 262144 bytes \(crawl\.max_header_bytes\); not downloaded",
    ),
    "many_headers": Expected(
        "failed", None, r"response headers over the limit: more than 500 lines \(crawl\.max_headers\); not downloaded"
    ),
    "backtracking": Expected("new_version", 200, None),
    "control_refs": Expected("new_version", 200, None),
    "runaway_analysis": Expected(
        "failed",
        200,
        rf"extraction and change analysis stopped after {PAGE_TIME_LIMIT} s \(crawl\.page_time_limit\); the page is kept in the WARC file",
    ),
    # Several on one host: Scrapy 2.13+ checked only the first request waiting for robots.txt.
    **{f"robots_{n}": Expected("failed", None, r"forbidden by robots\.txt") for n in ROBOTS},
    "healthy": Expected("new_version", 200, None),
    "healthy_zh": Expected("new_version", 200, None),
}

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def serve_faults(server: FaultServer, project: Project) -> None:
    """One route and one seed per fault."""
    healthy_bytes = HEALTHY.encode()
    routes = {
        "no_answer": hang(),
        "reset_mid_body": reset_mid_body(len(healthy_bytes), healthy_bytes[:400]),
        "short_body": short_body(len(healthy_bytes) + 5000, healthy_bytes),
        "http_500": respond(500, "<h1>Internal error</h1>"),
        "http_502": respond(502, "<h1>Bad gateway</h1>"),
        "http_503": respond(503, "<h1>Busy</h1>", headers={"Retry-After": "120"}),
        "http_429": respond(429, "<h1>Slow down</h1>", headers={"Retry-After": "30"}),
        "http_404": respond(404, "<h1>Not found</h1>"),
        "http_410": respond(410, "<h1>Gone</h1>"),
        "redirect_file": redirect("file:///etc/passwd"),
        "redirect_ftp": redirect("ftp://127.0.0.1/pub/a.html", status=301),
        "too_large": respond(200, b"<p>" + b"x" * (1_500_000 - 3)),
        "too_large_unsized": respond(200, b"<p>" + b"x" * 1_500_000, length=False),
        "gzip_bomb": respond(200, gzip_bomb(), headers={"Content-Encoding": "gzip"}),
        "corrupt_gzip": respond(
            200,
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"not deflate data" * 20,
            headers={"Content-Encoding": "gzip"},
        ),
        # GBK bytes declared as UTF-8 in the header; the page's own <meta> says gb2312.
        "wrong_charset": respond(
            200,
            article_page(ZH_TITLE, ZH_PARAGRAPHS, charset="gb2312").encode("gbk"),
            content_type="text/html; charset=utf-8",
        ),
        "pdf": respond(200, PDF, content_type="application/pdf"),
        "image": respond(200, PNG, content_type="image/png"),
        "pdf_labelled_html": respond(200, PDF, content_type="text/html"),
        "empty_200": respond(200, b""),
        "slow_drip": drip(0.2),
        "endless_headers": endless_headers(),
        "endless_folded_header": endless_headers(continued=True),
        "many_headers": many_headers(2000),
        "backtracking": respond(200, BACKTRACKING),
        "control_refs": respond(200, CONTROL_REFS),
        "runaway_analysis": respond(200, RUNAWAY),
        "healthy": respond(200, HEALTHY),
        "healthy_zh": respond(200, article_page(ZH_TITLE, ZH_PARAGRAPHS)),
    }
    # Slow, so every seed's request is waiting for it when it arrives (where Scrapy's middleware failed).
    server.route("/robots.txt", delayed(0.5, respond(200, "User-agent: *\nDisallow: /private/\n", "text/plain")))
    server.route("/redirect/a", redirect("/redirect/b"))
    server.route("/redirect/b", redirect("/redirect/a"))
    for seed_id, fault in routes.items():
        project.seed(seed_id, server.route(f"/{seed_id}", fault), seed_body(EN_TITLE, EN_PARAGRAPHS))
    for n in ROBOTS:
        project.seed(f"robots_{n}", server.route(f"/private/{n}", respond(200, HEALTHY)), "Disallowed.")
    project.seed("redirect_loop", server.url("/redirect/a"), "A loop.")
    project.seed("refused", f"http://127.0.0.1:{free_port()}/article", "A server that is down.")
    assert {p.stem for p in project.seeds.iterdir()} == set(EXPECTED)


def run_measured(project: Project, *args: str) -> subprocess.CompletedProcess:
    """Run the crawler CLI like Project.run, through MEASURED_CRAWL (which reports peak memory)."""
    env = crawler_env()
    command = [
        sys.executable,
        "-c",
        MEASURED_CRAWL,
        "--seeds",
        str(project.seeds),
        "--archive",
        str(project.archive),
        "--config",
        str(project.config),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=project.root)


@dataclass
class FaultCrawl:
    """The result of the one crawl over every fault."""

    project: Project
    server: FaultServer
    returncode: int
    stdout: str
    stderr: str
    maxrss_kib: int

    def capture(self, seed_id: str) -> dict:
        """The seed's only capture."""
        rows = self.project.rows("SELECT * FROM captures WHERE seed_id = ?", seed_id)
        assert len(rows) == 1, f"{seed_id}: expected one capture, got {len(rows)}"
        return rows[0]


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultCrawl]:
    """Crawl every fault once (module-scoped: the faults share one run)."""
    project = Project(tmp_path_factory.mktemp("faults"))
    project.seeds.mkdir()
    project.config.write_text(FAULT_CONFIG + RUNAWAY_CONFIG, encoding="utf-8")
    server = FaultServer().start()
    try:
        serve_faults(server, project)
        result = run_measured(project, "crawl")
        maxrss = int(re.search(r"maxrss_kib=(\d+)", result.stderr).group(1))
        yield FaultCrawl(project, server, result.returncode, result.stdout, result.stderr, maxrss)
    finally:
        server.stop()


def test_the_run_completes_with_one_capture_per_seed(fault_crawl: FaultCrawl) -> None:
    assert fault_crawl.returncode == 0, fault_crawl.stderr
    assert "Traceback" not in fault_crawl.stderr
    n = len(EXPECTED)
    counts = {
        o: sum(e.outcome == o for e in EXPECTED.values()) for o in ("new_version", "gone", "no_content", "failed")
    }
    summary, *reasons = fault_crawl.stdout.strip().splitlines()
    assert summary == (
        f"run 1: {n} seeds, {n - counts['failed']} fetched, {counts['new_version']} new versions, 0 unchanged, "
        f"{counts['gone']} gone, 0 removed, {counts['no_content']} no content, {counts['failed']} failed"
    )
    # The commonest failure reasons follow, with counts, commonest first.
    assert len(reasons) == 3 and reasons[0] == "  6 failed: forbidden by robots.txt"
    shown = [int(line.split()[0]) for line in reasons]
    assert shown == sorted(shown, reverse=True)
    captures = fault_crawl.project.rows("SELECT seed_id FROM captures")
    assert sorted(c["seed_id"] for c in captures) == sorted(EXPECTED)
    runs = fault_crawl.project.rows("SELECT status FROM runs")
    assert runs == [{"status": "completed"}]


@pytest.mark.parametrize("seed_id", sorted(EXPECTED))
def test_fault_outcome_and_error(fault_crawl: FaultCrawl, seed_id: str) -> None:
    expected = EXPECTED[seed_id]
    capture = fault_crawl.capture(seed_id)
    assert (capture["outcome"], capture["status_code"]) == (expected.outcome, expected.status), capture["error"]
    if expected.error is None:
        assert capture["error"] is None
    else:
        assert capture["error"] is not None and re.fullmatch(expected.error, capture["error"]), capture["error"]


def test_healthy_seeds_get_their_versions(fault_crawl: FaultCrawl) -> None:
    texts = {v["seed_id"]: v["text"] for v in fault_crawl.project.rows("SELECT seed_id, text FROM versions")}
    assert set(texts) == {"healthy", "healthy_zh", "wrong_charset", "backtracking", "control_refs"}
    assert "Sundays from next spring" in texts["healthy"]
    assert "档案管理员认为" in texts["healthy_zh"]


def test_control_character_references_are_dropped_not_the_article(fault_crawl: FaultCrawl) -> None:
    assert "&#7;" in CONTROL_REFS and "&#27;" in CONTROL_REFS
    text = fault_crawl.project.rows("SELECT text FROM versions WHERE seed_id = 'control_refs'")[0]["text"]
    assert "The bell rang twice." in text.splitlines() and EN_PARAGRAPHS[2] in text


def test_wrong_charset_header_is_overruled_by_the_bytes(fault_crawl: FaultCrawl) -> None:
    text = fault_crawl.project.rows("SELECT text FROM versions WHERE seed_id = 'wrong_charset'")[0]["text"]
    assert "档案管理员认为" in text and "\ufffd" not in text


def test_gzip_bomb_is_not_inflated(fault_crawl: FaultCrawl) -> None:
    # The bomb inflates to 900 MB; Scrapy's HttpCompressionMiddleware stops at DOWNLOAD_MAXSIZE.
    assert fault_crawl.maxrss_kib < 600 * 1024, f"crawl peaked at {fault_crawl.maxrss_kib} KiB"
    assert fault_crawl.server.hits["/gzip_bomb"] == 1


def test_endless_headers_are_cut_off_without_retries(fault_crawl: FaultCrawl) -> None:
    # Before the limit, one such URL grew the crawl by 65 MB a second (4 GB in 100 s); the whole
    # fault crawl, endless senders included, now peaks near 100 MB.
    assert fault_crawl.maxrss_kib < 300 * 1024, f"crawl peaked at {fault_crawl.maxrss_kib} KiB"
    hits = fault_crawl.server.hits
    assert [hits[f"/{s}"] for s in ("endless_headers", "endless_folded_header", "many_headers")] == [1, 1, 1]


def test_the_backtracking_page_is_archived_with_its_text(fault_crawl: FaultCrawl) -> None:
    assert len(BACKTRACKING.encode()) == 866
    text = fault_crawl.project.rows("SELECT text FROM versions WHERE seed_id = 'backtracking'")[0]["text"]
    assert "likes (1) " * 21 + "q." in text


def test_a_runaway_analysis_is_stopped_and_its_page_kept(fault_crawl: FaultCrawl) -> None:
    capture = fault_crawl.capture("runaway_analysis")
    assert capture["warc_filename"] and capture["payload_digest"], "the response is in the WARC file"
    due = fault_crawl.project.rows("SELECT consecutive_failures FROM seeds WHERE id = 'runaway_analysis'")
    assert due and due[0]["consecutive_failures"] == 1, "a failure like any other: backed off, not retried at once"


def test_each_fault_was_requested_once_and_loops_and_robots_are_bounded(fault_crawl: FaultCrawl) -> None:
    hits = fault_crawl.server.hits
    assert hits["/robots.txt"] == 1
    assert [hits[f"/private/{n}"] for n in ROBOTS] == [0] * len(ROBOTS), "a disallowed page was fetched"
    # REDIRECT_MAX_TIMES is 20: 21 requests in all, then the loop is given up.
    assert hits["/redirect/a"] + hits["/redirect/b"] == 21
    assert all(hits[f"/{seed}"] == 1 for seed in ("http_503", "http_500", "no_answer", "slow_drip", "healthy"))


def test_nothing_but_http_is_fetched_or_archived(fault_crawl: FaultCrawl) -> None:
    project = fault_crawl.project
    uris = [r["target_uri"] for r in project.rows("SELECT target_uri FROM warc_records")]
    assert uris and all(u.startswith("http://127.0.0.1:") for u in uris)
    for path in (project.archive / "warc").glob("*.warc.gz"):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                assert b"root:x:0:0" not in record.content_stream().read()
    # The redirect itself is archived as it was sent.
    capture = fault_crawl.capture("redirect_file")
    assert capture["warc_filename"] and capture["final_url"].endswith("/redirect_file")


def test_failed_fetches_are_quiet_on_stderr(fault_crawl: FaultCrawl) -> None:
    # Failures are data (capture rows); the crawl's stderr has no log noise for them.
    lines = [line for line in fault_crawl.stderr.splitlines() if not line.startswith("maxrss_kib=")]
    assert lines == []


def test_retry_after_is_retried_then_recorded(project: Project) -> None:
    project.config.write_text(FAULT_CONFIG.replace("retries: 0", "retries: 1"), encoding="utf-8")
    server = FaultServer().start()
    try:
        busy = respond(503, "<h1>Busy</h1>", headers={"Retry-After": "1"})
        project.seed("busy", server.route("/busy", busy), "Always busy.")
        project.seed(
            "flaky", server.route("/flaky", in_turn(busy, respond(200, HEALTHY))), seed_body(EN_TITLE, EN_PARAGRAPHS)
        )
        project.seed("dead", f"http://127.0.0.1:{free_port()}/x", "Down.")
        result = project.run("crawl")
        hits = dict(server.hits)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert hits["/busy"] == 2 and hits["/flaky"] == 2
    captures = {c["seed_id"]: c for c in project.rows("SELECT * FROM captures")}
    assert (captures["busy"]["outcome"], captures["busy"]["status_code"]) == ("failed", 503)
    assert captures["busy"]["error"] == (
        "HTTP 503 Service Unavailable (Retry-After: 1; still failing after 1 retry, see crawl.retries)"
    )
    assert captures["flaky"]["outcome"] == "new_version" and captures["flaky"]["error"] is None
    # Nothing listening: a retry cannot fix that, so none is spent on it.
    assert captures["dead"]["error"].startswith("connection refused by 127.0.0.1:")
    assert "still failing after" not in captures["dead"]["error"]
    # Both 503 answers are in the WARC archive, attached to the one capture.
    records = project.rows("SELECT status FROM warc_records WHERE capture_id = ?", captures["busy"]["id"])
    assert [r["status"] for r in records] == [503, 503]


def test_block_private_refuses_loopback_before_any_request(project: Project) -> None:
    project.config.write_text(FAULT_CONFIG + "network:\n  block_private: true\n", encoding="utf-8")
    server = FaultServer().start()
    try:
        page = respond(200, HEALTHY)
        project.seed("by_ip", server.route("/a", page), "By address.")
        project.seed("by_name", server.route("/b", page).replace("127.0.0.1", "localhost"), "By name.")
        result = project.run("crawl")
        hits = sum(server.hits.values())
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    errors = {c["seed_id"]: (c["outcome"], c["error"]) for c in project.rows("SELECT * FROM captures")}
    assert errors == {
        "by_ip": ("failed", "refused: 127.0.0.1 is a loopback address (network.block_private)"),
        "by_name": ("failed", "refused: localhost resolves to 127.0.0.1, a loopback address (network.block_private)"),
    }
    assert hits == 0, "nothing, not even robots.txt, may be requested from a refused address"


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("100.64.0.1", "a non-public address"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    assert address_problem(address) == problem


def test_only_http_and_https_schemes_are_fetched() -> None:
    assert scheme_problem("http://example.org/") is None and scheme_problem("HTTPS://example.org/") is None
    for url in ("file:///etc/passwd", "ftp://example.org/a", "data:text/html,hi", "gopher://example.org/"):
        assert scheme_problem(url) == f"refused: {url} is not an http or https URL (only http and https are fetched)"


def test_fault_server_really_misbehaves() -> None:
    """The server itself: a short body ends cleanly but short, a reset is a reset (so the crawl tests test something)."""
    server = FaultServer().start()
    try:
        server.route("/short", short_body(100, b"abc"))
        server.route("/reset", reset_mid_body(100, b"abc"))
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
        assert b"Content-Length: 100\r\n" in received and received.endswith(b"\r\n\r\nabc")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                while sock.recv(4096):
                    pass
    finally:
        server.stop()


def test_gzip_bomb_is_valid_gzip_past_the_limit() -> None:
    """The bomb is a real gzip stream, small on the wire, inflating past the limit (inflated in bounded steps)."""
    bomb = gzip_bomb(members=2)
    inflated = zlib.decompressobj(wbits=31).decompress(bomb, LIMIT + 1)
    assert len(inflated) == LIMIT + 1 and set(inflated) == {0} and len(bomb) < 25_000


def test_readme_table_shows_these_errors() -> None:
    """Every error the table in docs/reliability.md shows is one this crawl produces."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    section = doc.split("## What misbehaving servers and pages become", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 22
    patterns = [e.error for e in EXPECTED.values() if e.error]
    for row in rows:
        outcome, error = row[1].strip("` "), row[2].rstrip(" |")
        if error.startswith("("):
            continue
        for shown in error.split(" / "):
            assert any(re.fullmatch(p, shown) for p in patterns), f"README shows an error no test produces: {shown}"
            assert outcome in {e.outcome for e in EXPECTED.values() if e.error and re.fullmatch(e.error, shown)}


def test_unresolvable_host_fails_at_once_without_retries(project: Project) -> None:
    """A name that does not resolve (.invalid never does) is not retried; its robots.txt failure ends the seed."""
    project.config.write_text(FAULT_CONFIG.replace("retries: 0", "retries: 2"), encoding="utf-8")
    project.seed("nowhere", "http://archive-crawler-test.invalid/article", "Text.")
    project.seed("refused", f"http://127.0.0.1:{free_port()}/article", "Text.")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    errors = {c["seed_id"]: c["error"] for c in project.rows("SELECT seed_id, error FROM captures")}
    assert errors["nowhere"].startswith("DNS lookup failed") and "archive-crawler-test.invalid" in errors["nowhere"]
    assert errors["refused"].startswith("connection refused by 127.0.0.1:")
    assert not any("still failing after" in e for e in errors.values()), "no retry is spent on these"
    assert "  1 failed: DNS lookup failed" in result.stdout


def _children(pid: int) -> list[int]:
    """The pids whose parent is pid (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while the directory was being read
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def extraction_workers(crawl_pid: int) -> list[int]:
    """The extraction pool's processes of a crawl: children of its forkserver, itself a child of the crawl."""
    for child in _children(crawl_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmdline:
            return _children(child)
    return []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the pool's processes through /proc")
def test_a_killed_extraction_process_does_not_lose_the_run(project: Project) -> None:
    """SIGKILL one pool process mid-run (as the OOM killer would): every page is still archived."""
    project.config.write_text(
        FAULT_CONFIG.replace("timeout: 2", "timeout: 60") + "  extract_workers: 2\n", encoding="utf-8"
    )
    server = FaultServer().start()
    gate = threading.Event()  # half the pages answer only once a worker has been killed
    pages = 30
    for n in range(pages):
        page = respond(200, article_page(f"{EN_TITLE} {n}", [*EN_PARAGRAPHS, f"Article number {n}."], lang="en"))
        project.seed(f"page_{n}", server.route(f"/page/{n}", page if n % 2 else gated(gate, page)), "An article.")
    crawl = subprocess.Popen(
        project.command("crawl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=project.root,
        env=crawler_env(),
    )
    try:
        deadline = time.monotonic() + 90
        workers: list[int] = []
        while not workers and time.monotonic() < deadline and crawl.poll() is None:
            workers = extraction_workers(crawl.pid)
            if not workers:
                time.sleep(0.05)  # a poll interval: /proc has no event to wait on
        assert workers, "the crawl never started an extraction process"
        os.kill(workers[0], signal.SIGKILL)
        gate.set()
        stdout, stderr = crawl.communicate(timeout=120)
    finally:
        gate.set()
        if crawl.poll() is None:
            crawl.kill()
            crawl.communicate()
        server.stop()
    assert crawl.returncode == 0, stderr
    assert "Traceback" not in stderr and "BrokenProcessPool" not in stderr
    assert stdout.strip() == (
        f"run 1: {pages} seeds, {pages} fetched, {pages} new versions, 0 unchanged, 0 gone, 0 removed, 0 no content, 0 failed"
    )
    outcomes = {c["seed_id"]: c["outcome"] for c in project.rows("SELECT seed_id, outcome FROM captures")}
    assert outcomes == {f"page_{n}": "new_version" for n in range(pages)}


def lock_is_free(archive_dir: Path) -> bool:
    """True when no process holds the archive's run lock (taken and given back at once)."""
    import fcntl

    with open(archive_dir / ".crawler.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_notifications_go_out_after_the_lock_in_parallel_under_one_deadline(project: Project) -> None:
    server = FaultServer().start()
    lock_free_when_asked: list[bool] = []

    def never_answers(conn: Connection) -> None:
        # A notification target that accepts the request and never answers (Apprise waits for its timeouts).
        lock_free_when_asked.append(lock_is_free(project.archive))
        conn.stopping.wait(HOLD_SECONDS)

    hooks = [server.route("/hook/a", never_answers), server.route("/hook/b", never_answers)]
    project.config.write_text(
        FAULT_CONFIG
        + "notify:\n  deadline: 2s\n  apprise:\n"
        + "".join(f"    - {url.replace('http://', 'json://')}\n" for url in hooks),
        encoding="utf-8",
    )
    page = dynamic(lambda n: article_page(EN_TITLE, [*EN_PARAGRAPHS, f"Correction number {n}."], lang="en"))
    project.seed("changing", server.route("/changing", page), seed_body(EN_TITLE, EN_PARAGRAPHS))
    try:
        first = project.run("crawl")  # the first version is not a change: nothing to send
        second = project.run("crawl")
    finally:
        server.stop()
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    # Both targets were asked (in parallel: one after the other, the second would wait for the first's
    # timeouts, past the deadline), and only once the archive lock was free for the next run.
    assert lock_free_when_asked == [True, True]
    sent = project.rows("SELECT event, status, error FROM notifications ORDER BY target")
    assert sent == [{"event": "version:2", "status": "failed", "error": "no answer within 2 s (notify.deadline)"}] * 2
    assert second.stderr.count("no answer within 2 s (notify.deadline)") == 2


def test_page_pool_replaces_a_worker_past_the_limit_or_dead() -> None:
    """The pool itself: a page past the limit and a worker that dies each cost one worker, not the pool."""
    import math
    import multiprocessing

    from crawler.extract.pool import PagePool, PageTimeout, PoolProcessDied

    pool = PagePool(1, multiprocessing.get_context("forkserver"), limit=1)
    try:
        assert pool.run(math.sqrt, 16) == 4.0
        with pytest.raises(PageTimeout, match=r"analysis ran longer than 1 s"):
            pool.run(time.sleep, 30)  # stands for a regular expression stuck in C: only a kill ends it
        with pytest.raises(PoolProcessDied, match=r"the extraction process was killed by SIGABRT"):
            pool.run(os.abort)
        with pytest.raises(ValueError, match="math domain error"):
            pool.run(math.sqrt, -1)  # an exception is the page's result: its worker goes on
        assert pool.run(math.sqrt, 81) == 9.0
        assert pool.replaced == 2
    finally:
        pool.shutdown()


def test_timeouts_are_not_retried_and_long_urls_are_fetched(project: Project) -> None:
    """A tripped time limit is not retried; a URL over Scrapy's 2,083 characters is fetched, not dropped."""
    project.config.write_text(FAULT_CONFIG.replace("retries: 0", "retries: 2"), encoding="utf-8")
    server = FaultServer().start()
    try:
        project.seed("slow", server.route("/slow", hang()), "Never answers.")
        long_path = "/long/" + "a" * 3000
        project.seed("long", server.route(long_path, respond(200, HEALTHY)), seed_body(EN_TITLE, EN_PARAGRAPHS))
        result = project.run("crawl")
        hits = dict(server.hits)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert hits["/slow"] == 1, "the time limit tripped once and was not retried"
    captures = {c["seed_id"]: c for c in project.rows("SELECT seed_id, outcome, error FROM captures")}
    assert captures["slow"]["error"].startswith("timed out after 2 s")
    assert "still failing after" not in captures["slow"]["error"]
    assert hits[long_path] == 1 and captures["long"]["outcome"] == "new_version"


@pytest.mark.parametrize("per_domain", [1, 3])
def test_concurrent_per_domain_holds_without_a_download_delay(project: Project, per_domain: int) -> None:
    """crawl.concurrent_per_domain with download_delay 0: at most that many requests to the host at once."""
    # Before: Scrapy 2.19 started all six at once with CONCURRENT_REQUESTS_PER_DOMAIN 1 (peak 6).
    project.config.write_text(
        FAULT_CONFIG.replace("concurrent_per_domain: 32", f"concurrent_per_domain: {per_domain}"), encoding="utf-8"
    )
    server = FaultServer().start()
    try:
        for n in range(6):
            page = respond(200, article_page(f"{EN_TITLE} {n}", [*EN_PARAGRAPHS, f"Article number {n}."], lang="en"))
            # Each answer takes a while, so requests started together overlap at the server.
            project.seed(f"page_{n}", server.route(f"/page/{n}", delayed(0.3, page)), "An article.")
        result = project.run("crawl")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert sum(server.hits[f"/page/{n}"] for n in range(6)) == 6
    assert server.peak_in_flight == per_domain


BOOM_PIPELINE = '''\
class Boom:
    """A pipeline that fails on one seed, as a full disk would fail writing its capture."""

    def process_item(self, item, spider=None):
        if (item.seed_id if hasattr(item, "seed_id") else item["seed_id"]) == "boom":
            raise OSError(28, "No space left on device")
        return item
'''


def test_an_item_that_cannot_be_archived_is_one_line_not_its_page(project: Project) -> None:
    """Before: Scrapy logged "Error processing {...}" with the whole item (page body included) and a traceback."""
    (project.root / "boom.py").write_text(BOOM_PIPELINE, encoding="utf-8")  # the crawl's cwd is importable
    project.config.write_text(FAULT_CONFIG + "scrapy:\n  ITEM_PIPELINES:\n    boom.Boom: 100\n", encoding="utf-8")
    server = FaultServer().start()
    marker = "A sentence only the page body holds."
    try:
        page = article_page(EN_TITLE, [*EN_PARAGRAPHS, marker * 2000], lang="en")
        boom_url = server.route("/boom", respond(200, page))
        project.seed("boom", boom_url, seed_body(EN_TITLE, EN_PARAGRAPHS))
        project.seed("healthy", server.route("/healthy", respond(200, HEALTHY)), seed_body(EN_TITLE, EN_PARAGRAPHS))
        result = project.run("crawl")
    finally:
        server.stop()
    assert result.returncode == 1
    assert marker not in result.stderr and "Traceback" not in result.stderr
    logged, last = result.stderr.splitlines()
    assert re.fullmatch(
        r"\S+ \S+ \[crawler\.run\.\w+\] ERROR: "
        + re.escape(f"could not archive boom ({boom_url}): OSError: [Errno 28] No space left on device"),
        logged,
    ), logged
    assert last == "error: the run could not archive 1 response(s); first: OSError: [Errno 28] No space left on device"
    assert [c["seed_id"] for c in project.rows("SELECT seed_id FROM captures")] == ["healthy"]

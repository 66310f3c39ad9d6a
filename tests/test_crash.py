"""Crash safety: `crawler crawl` killed with SIGKILL at random moments leaves a consistent archive,
and the next run carries on.

The kill moments are random but replayable: the test prints its seed; run it again with
CRASH_TEST_SEED=<seed> to get the same delays and settings.
"""

from __future__ import annotations

import io
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from helpers import Project, crawler_env
from fault_server import FaultServer, dynamic
from pages import EN_PARAGRAPHS, article_page, seed_body

SEEDS = 60
KILLS = 20
TITLE = "Council approves library budget"
CONFIG = """\
crawl:
  download_delay: 0
  autothrottle: false
  timeout: 5
  retries: 0
  concurrent_requests: 16
  concurrent_per_domain: 16
"""


def changing_page(seed: int, visit: int) -> str:
    """An article whose last paragraph changes on every visit, so every capture writes a version and diffs."""
    return article_page(
        TITLE, [*EN_PARAGRAPHS, f"Update {visit} to article {seed}: the council will meet again."], lang="en"
    )


def crawl_command(project: Project) -> list[str]:
    """`python -m crawler crawl` on the project."""
    return [
        sys.executable,
        "-m",
        "crawler",
        "--seeds",
        str(project.seeds),
        "--archive",
        str(project.archive),
        "--config",
        str(project.config),
        "crawl",
    ]


def crawl_env(extract_workers: str) -> dict[str, str]:
    """The environment of a crawl: no CRAWLER_* from outside, extraction in-process or in a pool."""
    return crawler_env(CRAWLER_CRAWL__EXTRACT_WORKERS=extract_workers)


def check_archive(project: Project) -> dict[str, int]:
    """Every invariant a killed run must keep; returns row counts."""
    conn = sqlite3.connect(project.db_path)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT id FROM versions v WHERE NOT EXISTS (SELECT 1 FROM captures c WHERE c.version_id = v.id)"
        ).fetchall()
        assert orphans == [], "a version without the capture that made it"
        # Versions of a seed are numbered 1..n without gaps, and each has its diffs.
        for row in conn.execute("SELECT seed_id, count(*) AS n, max(version) AS top FROM versions GROUP BY seed_id"):
            assert row["n"] == row["top"], f"version numbers of {row['seed_id']} have a gap"
        undiffed = conn.execute(
            "SELECT v.id FROM versions v WHERE (SELECT count(*) FROM diffs d WHERE d.version_id = v.id) "
            "!= CASE WHEN v.version = 1 THEN 1 ELSE 2 END"
        ).fetchall()
        assert undiffed == [], "a version without its diffs against the original and the previous version"
        unlinked = conn.execute(
            "SELECT id FROM captures WHERE outcome IN ('new_version', 'unchanged') AND version_id IS NULL"
        ).fetchall()
        assert unlinked == []
        assert conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] <= 1
        pointers = conn.execute(
            "SELECT warc_filename AS filename, warc_offset AS offset, warc_length AS length, warc_record_id AS record_id "
            "FROM captures WHERE warc_filename IS NOT NULL "
            "UNION ALL SELECT filename, offset, length, record_id FROM warc_records"
        ).fetchall()
        counts = {
            "captures": conn.execute("SELECT count(*) FROM captures").fetchone()[0],
            "versions": conn.execute("SELECT count(*) FROM versions").fetchone()[0],
            "runs": conn.execute("SELECT count(*) FROM runs").fetchone()[0],
        }
    finally:
        conn.close()
    for pointer in pointers:
        check_record(
            project.archive / "warc" / pointer["filename"], pointer["offset"], pointer["length"], pointer["record_id"]
        )
    for path in (project.archive / "warc").glob("*.warc.gz"):
        # Readable from start to end: a record cut short by the kill would raise here.
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                record.content_stream().read()
    return counts


def check_record(path: Path, offset: int, length: int, record_id: str) -> None:
    """The WARC record a row points at is exactly there, whole, with the id the row says."""
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    assert len(data) == length, f"{path.name}@{offset}: file ends inside the record"
    records = list(ArchiveIterator(io.BytesIO(data)))
    assert len(records) == 1, f"{path.name}@{offset}: not exactly one record"
    assert records[0].rec_headers.get_header("WARC-Record-ID") == record_id


def test_sigkill_at_random_moments_keeps_the_archive_consistent(project: Project) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed {seed} (replay: CRASH_TEST_SEED={seed} pytest {Path(__file__).name})")
    rng = random.Random(seed)
    project.config.write_text(CONFIG, encoding="utf-8")
    server = FaultServer().start()
    try:
        for n in range(SEEDS):
            url = server.route(f"/article/{n}", dynamic(lambda visit, n=n: changing_page(n, visit)))
            project.seed(f"article_{n:02d}", url, seed_body(TITLE, EN_PARAGRAPHS))

        # A whole run first: its length bounds the kill moments, so they fall anywhere in a run.
        started = time.monotonic()
        first = subprocess.run(crawl_command(project), env=crawl_env("0"), capture_output=True, text=True, timeout=120)
        whole_run = time.monotonic() - started
        assert first.returncode == 0, first.stderr
        assert check_archive(project)["versions"] == SEEDS

        kills = attempts = 0
        while kills < KILLS:
            attempts += 1
            assert attempts <= KILLS * 2, "too many runs finished before their kill moment"
            workers = rng.choice(["0", "2"])
            delay = rng.uniform(0.1, whole_run)
            print(f"run {attempts}: extract_workers={workers}, SIGKILL after {delay:.3f} s")
            proc = subprocess.Popen(
                crawl_command(project),
                env=crawl_env(workers),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                # A bounded wait on the process itself: it ends by itself or is killed at `delay`.
                finished = proc.wait(timeout=delay)
                assert finished == 0, f"run {attempts} exited {finished}"
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
            finally:
                leftovers = _still_running_after(_session_pids(proc.pid), timeout=10)
                for pid in leftovers:
                    os.kill(pid, signal.SIGKILL)
            # The extraction pool (forkserver and workers) must end with the crawl, not linger.
            assert leftovers == [], f"run {attempts} left processes behind: {leftovers}"
            check_archive(project)

        last = subprocess.run(crawl_command(project), env=crawl_env("0"), capture_output=True, text=True, timeout=120)
        assert last.returncode == 0, last.stderr
        assert f": {SEEDS} seeds, {SEEDS} fetched, {SEEDS} new versions" in last.stdout
    finally:
        server.stop()
    counts = check_archive(project)
    runs = project.rows("SELECT id, status, error FROM runs ORDER BY id")
    assert runs[-1]["status"] == "completed" and runs[0]["status"] == "completed"
    assert all(r["status"] in ("completed", "failed") for r in runs)
    assert all("interrupted" in r["error"] for r in runs if r["status"] == "failed")
    final = project.rows("SELECT seed_id, outcome FROM captures WHERE run_id = ?", runs[-1]["id"])
    assert sorted(c["seed_id"] for c in final) == [f"article_{n:02d}" for n in range(SEEDS)]
    assert {c["outcome"] for c in final} == {"new_version"}
    print(f"{kills} kills in {attempts} runs; archive: {counts}")


def _still_running_after(pids: list[int], timeout: float) -> list[int]:
    """The pids still running after waiting up to timeout seconds for them to end (pidfd: no polling)."""
    deadline = time.monotonic() + timeout
    running = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if not readable:
            running.append(pid)
    return running


def _session_pids(session_id: int) -> list[int]:
    """Live processes whose session id is session_id (the crawl started its own session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that ends the command name: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session_id and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def test_sigterm_fails_the_run_and_blames_no_seed(project: Project) -> None:
    """SIGTERM mid-run: the run is recorded as failed with the reason; seeds not reached get no capture."""
    import threading

    from fault_server import Connection, hang, respond

    arrived = threading.Event()
    held = hang()

    def hold_and_tell(conn: Connection) -> None:
        arrived.set()
        held(conn)

    server = FaultServer().start()
    try:
        server.route("/robots.txt", respond(404, b"", "text/plain"))
        # One request at a time: the first page hangs, the others wait behind it and are never fetched.
        project.config.write_text(
            CONFIG.replace("concurrent_requests: 16", "concurrent_requests: 1")
            .replace("concurrent_per_domain: 16", "concurrent_per_domain: 1")
            .replace("timeout: 5", "timeout: 3"),
            encoding="utf-8",
        )
        for n in range(5):
            project.seed(f"s{n}", server.route(f"/p{n}", hold_and_tell), "Text.")
        env = crawler_env()
        proc = subprocess.Popen(
            project.command("crawl"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert arrived.wait(60), "the crawl never reached the server"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].startswith("error: the run was stopped by Ctrl-C or SIGTERM")
    run = project.rows("SELECT status, error FROM runs")[0]
    assert run["status"] == "failed" and "SIGTERM" in run["error"]
    captures = project.rows("SELECT seed_id, error FROM captures")
    # At most the page in flight was attempted (and timed out); the seeds never reached have no capture.
    assert len(captures) <= 1
    assert all("stopped early" not in (c["error"] or "") for c in captures)
    assert project.rows("SELECT count(*) AS n FROM state_changes") == [{"n": 0}]

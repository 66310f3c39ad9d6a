"""Scheduling: due selection, adaptive intervals, the run lock, `crawler run` and the daemon."""

from __future__ import annotations

import configparser
import contextlib
import re
import shlex
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Iterator

import pytest

from helpers import ROOT, LocalServer, Project, crawler_env
from crawler.changes.intervals import DueState, RevisitPolicy, iso, next_state, parse_duration, seed_interval
from crawler.model import CaptureRecord
from crawler.archive.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
POLICY = RevisitPolicy(
    interval=86400, min_interval=3600, max_interval=10 * 86400, factor=2, failure_backoff=600, max_failure_backoff=3600
)
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEDULING_DOC = (ROOT / "docs" / "scheduling.md").read_text(encoding="utf-8")


def state(interval: float = 86400, failures: int = 0) -> DueState:
    return DueState(86400, interval, failures, iso(T0))


def test_parse_duration() -> None:
    assert [parse_duration(v) for v in ("2s", "30m", "6h", "1d", "1w", 90, "1.5h")] == [
        2,
        1800,
        21600,
        86400,
        604800,
        90,
        5400,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_unchanged_lengthens_up_to_the_maximum() -> None:
    current, seen = state(), []
    for _ in range(6):
        current = next_state("unchanged", current, POLICY, T0)
        seen.append(current.interval)
    assert seen == [2 * 86400, 4 * 86400, 8 * 86400, 10 * 86400, 10 * 86400, 10 * 86400]
    assert current.next_due_at == iso(T0 + timedelta(days=10))


def test_change_shortens_to_the_minimum_and_first_version_starts_at_the_seed_interval() -> None:
    assert next_state("new_version", state(8 * 86400), POLICY, T0).interval == 3600
    first = next_state("new_version", state(), POLICY, T0, first_version=True)
    assert (first.interval, first.next_due_at) == (86400, iso(T0 + timedelta(days=1)))


def test_failures_back_off_separately_and_reset_on_success() -> None:
    current, waits = state(4 * 86400), []
    for _ in range(5):
        current = next_state("failed", current, POLICY, T0)
        waits.append(datetime.fromisoformat(current.next_due_at) - T0)
    assert waits == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    assert (current.failures, current.interval) == (5, 4 * 86400), "the revisit interval is kept through failures"
    recovered = next_state("unchanged", current, POLICY, T0)
    assert (recovered.failures, recovered.interval) == (0, 8 * 86400)


def test_seed_interval_precedence() -> None:
    by_id, by_url = {"a": "2h"}, {"https://mp.weixin.qq.com/*": "12h"}
    wechat = "https://mp.weixin.qq.com/s?x=1"
    assert seed_interval(POLICY, "a", wechat, {"revisit": "3h"}, by_id, by_url) == 7200
    assert seed_interval(POLICY, "b", wechat, {"revisit": "3h"}, by_id, by_url) == 10800
    assert seed_interval(POLICY, "b", wechat, {}, by_id, by_url) == 43200
    assert seed_interval(POLICY, "b", "https://example.org/", {}, by_id, by_url) == 86400


def test_due_selection_with_a_controlled_clock(tmp_path: Path) -> None:
    store = Store.in_archive(tmp_path)
    store.sync_seeds(
        [
            {
                "id": s,
                "url": f"https://example.org/{s}",
                "fetch_url": f"https://example.org/{s}",
                "status": "ok",
                "base_interval_seconds": 86400,
            }
            for s in ("a", "b", "c")
        ]
        + [{"id": "n", "status": "no_url"}]
    )
    store.db.execute("UPDATE seeds SET next_due_at = ?", [iso(T0)])
    assert store.due_seed_ids(iso(T0)) == ["a", "b", "c"], "never-captured seeds are due at once"
    run = store.start_run("cron", 3)
    for seed_id, outcome in (("a", "unchanged"), ("b", "failed")):
        due = next_state(outcome, store.due_state(seed_id, 86400), POLICY, T0)
        store.record_capture(CaptureRecord(run, seed_id, "u", outcome, fetched_at=iso(T0)), due=due)
    assert store.due_seed_ids(iso(T0)) == ["c"]
    assert store.due_seed_ids(iso(T0 + timedelta(minutes=11))) == ["c", "b"], "most overdue first"
    assert store.due_seed_ids(iso(T0 + timedelta(days=2, seconds=1))) == ["c", "b", "a"]
    plan = " ".join(
        str(r)
        for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM seeds WHERE status = 'ok' AND next_due_at <= ? ORDER BY next_due_at",
            [iso(T0)],
        )
    )
    assert "seeds_due" in plan
    store.close()


def test_seeds_from_before_scheduling_become_due_and_others_keep_their_schedule(tmp_path: Path) -> None:
    store = Store.in_archive(tmp_path)
    rows = [
        {
            "id": s,
            "url": f"https://example.org/{s}",
            "fetch_url": f"https://example.org/{s}",
            "status": "ok",
            "base_interval_seconds": 86400,
        }
        for s in ("old", "kept")
    ]
    store.sync_seeds(rows)
    later = iso(T0 + timedelta(days=400))
    # "old" as an archive upgraded by the scheduling migration leaves it: no due time at all.
    store.db.execute("UPDATE seeds SET next_due_at = NULL WHERE id = 'old'")
    store.db.execute("UPDATE seeds SET next_due_at = ? WHERE id = 'kept'", [later])
    store.db.conn.commit()
    store.sync_seeds(rows)
    due = {r["id"]: r["next_due_at"] for r in store.query("SELECT id, next_due_at FROM seeds")}
    assert due["kept"] == later, "a scheduled seed keeps its due time through a sync"
    assert due["old"] is not None and store.due_seed_ids(iso(datetime.now(timezone.utc) + timedelta(seconds=1))) == [
        "old"
    ]
    store.close()


PATIENT_PAGE = b"<html><body><article><p>" + b"A patient page. " * 30 + b"</p></article></body></html>"


@pytest.fixture
def gated() -> Iterator[LocalServer]:
    """The local server whose /article answers only once the test opens the gate."""
    with LocalServer() as server:
        server.page("/article", PATIENT_PAGE, content_type="text/html", hold=True)
        server.gate.clear()
        yield server


def start(project: Project, *args: str, stderr: int | IO[str] = subprocess.PIPE) -> subprocess.Popen:
    """Start `python -m crawler` for this project without waiting for it."""
    env = crawler_env()
    cmd = project.command(*args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)


def test_two_runs_one_crawls_the_other_exits_75_and_kill_9_frees_the_lock(gated: LocalServer, project: Project) -> None:
    project.seed("slow", gated.url("/article"), "A patient page.")
    first = start(project, "run")
    assert gated.reached.wait(timeout=60), "the first run never fetched"
    second = project.run("run")
    assert second.returncode == 75
    assert second.stderr.strip().count("\n") == 0 and "holds the archive lock" in second.stderr
    gated.gate.set()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert project.rows("SELECT outcome FROM captures") == [{"outcome": "new_version"}]

    gated.gate.clear()
    gated.reached.clear()
    killed = start(project, "crawl")
    assert gated.reached.wait(timeout=60)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    gated.gate.set()
    after = project.run("crawl")
    assert after.returncode == 0, after.stderr
    runs = project.rows("SELECT status, trigger, error FROM runs ORDER BY id")
    assert [(r["status"], r["trigger"]) for r in runs] == [
        ("completed", "cron"),
        ("failed", "manual"),
        ("completed", "manual"),
    ]
    assert "interrupted" in runs[1]["error"]
    conn = project.db()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_run_crawls_only_due_seeds_and_records_empty_runs(page_server, project: Project) -> None:
    project.seed(
        "a",
        page_server.page("/a", "<html><body><article><p>" + "Words here. " * 40 + "</p></article></body></html>"),
        "x",
    )
    first = project.run("run")
    assert first.returncode == 0 and first.stdout == "" and first.stderr == "", "quiet when nothing needs attention"
    second = project.run("-v", "run")
    assert second.returncode == 0
    assert "0 seeds" in second.stderr
    runs = project.rows("SELECT trigger, seeds_requested FROM runs ORDER BY id")
    assert runs == [{"trigger": "cron", "seeds_requested": 1}, {"trigger": "cron", "seeds_requested": 0}]
    due = project.rows("SELECT next_due_at, interval_seconds FROM seeds WHERE id = 'a'")[0]
    assert due["interval_seconds"] == 86400 and due["next_due_at"] > datetime.now(timezone.utc).isoformat()


def test_intervals_from_front_matter_config_id_and_url_glob(page_server, project: Project) -> None:
    page = "<html><body><article><p>" + "Words here. " * 40 + "</p></article></body></html>"
    for seed_id, extra in (
        ("front", "revisit: 6h\n"),
        ("byid", ""),
        ("byurl", ""),
        ("typo", "revisit: soon\n"),
        ("plain", ""),
    ):
        url = page_server.page(f"/{'slow' if seed_id == 'byurl' else 'news'}/{seed_id}", page)
        (project.seeds / f"{seed_id}.md").write_text(f"---\nurl: {url}\n{extra}---\n\nx\n", encoding="utf-8")
    project.config.write_text(
        project.config.read_text() + 'schedule:\n  seeds: {byid: 2h}\n  urls: {"http://127.0.0.1:*/slow/*": 12h}\n'
    )
    result = project.run("-v", "run")
    assert result.returncode == 0, result.stderr
    assert "seed typo" in result.stderr and "'soon' is not a duration" in result.stderr, "a typo is reported, not fatal"
    # The docs' "what is due next" query, as a Datasette user would run it.
    query = re.search(r"```sql\n(.*?next_due_at.*?)```", SCHEDULING_DOC, re.S).group(1)
    rows = {r["id"]: r for r in project.rows(query)}
    assert {k: v["interval_seconds"] for k, v in rows.items()} == {
        "front": 21600,
        "byid": 7200,
        "byurl": 43200,
        "typo": 86400,
        "plain": 86400,
    }
    assert all(r["consecutive_failures"] == 0 and r["next_due_at"] for r in rows.values())


def test_failures_are_reported_and_counted(project: Project) -> None:
    project.seed("down", "http://127.0.0.1:9/never", "x")
    quiet = project.run("run")
    assert quiet.returncode == 0 and "1 failed" in quiet.stderr, "a failure needs attention: one line"
    assert project.run("crawl").returncode == 0
    failing = project.rows("SELECT consecutive_failures FROM seeds WHERE id = 'down'")[0]
    assert failing["consecutive_failures"] == 2


def test_fail_on_errors_exit_code(project: Project) -> None:
    project.seed("down", "http://127.0.0.1:9/never", "x")
    result = project.run("run", "--fail-on-errors")
    assert result.returncode == 1 and "1 failed" in result.stderr


def test_daemon_starts_runs_and_stops_on_sigterm(page_server, project: Project) -> None:
    project.seed(
        "a",
        page_server.page("/a", "<html><body><article><p>" + "Words here. " * 40 + "</p></article></body></html>"),
        "x",
    )
    log_path = project.root / "daemon.log"
    with log_path.open("w") as log:
        # A file, not a pipe: the daemon and its runs write to it while the test polls the archive.
        daemon = start(project, "schedule", "--every", "1s", stderr=log)
    deadline = datetime.now() + timedelta(seconds=90)
    runs: list[dict] = []
    while datetime.now() < deadline:
        try:
            daemon.wait(timeout=0.5)  # a bounded wait on the daemon, which must not exit by itself
            break
        except subprocess.TimeoutExpired:
            pass
        # The database file appears before its tables: poll only once the schema is in.
        if project.db_path.exists() and project.rows("SELECT name FROM sqlite_master WHERE name = 'runs'"):
            runs = project.rows("SELECT trigger, status FROM runs WHERE status = 'completed'")
            if len(runs) >= 2:
                break
    assert daemon.poll() is None, log_path.read_text()
    assert len(runs) >= 2 and all(r["trigger"] == "schedule" for r in runs)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=90)
    err = log_path.read_text()
    assert daemon.returncode == 0, err
    assert "received SIGTERM" in err and "scheduler stopped" in err
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", err, re.M), "log lines carry timestamps"
    assert project.rows("SELECT count(*) AS n FROM runs WHERE status = 'running'")[0]["n"] == 0


def test_bad_daemon_options(project: Project) -> None:
    result = project.run("schedule", "--cron", "every hour")
    assert result.returncode == 2 and "bad cron expression" in result.stderr
    result = project.run("schedule")
    assert result.returncode == 2 and "--every" in result.stderr


@pytest.mark.parametrize("doc", [README, SCHEDULING_DOC], ids=["README", "docs/scheduling.md"])
def test_readme_crontab_line_runs(page_server, project: Project, doc: str) -> None:
    line = re.search(r"^(\S+ \S+ \S+ \S+ \S+) (cd .+crawler run.*)$", doc, re.M)
    assert line, "the README and docs/scheduling.md show a crontab line"
    fields, command = line.groups()
    assert len(fields.split()) == 5
    # The README's line with this project's folders in place of the install path.
    command = command.replace("/srv/archive-crawler", str(project.root)).replace(
        ".venv/bin/crawler", f"{sys.executable} -m crawler"
    )
    (project.root / "config").mkdir()
    project.config.rename(project.root / "config" / "crawler.yaml")
    project.seed(
        "a",
        page_server.page("/a", "<html><body><article><p>" + "Words here. " * 40 + "</p></article></body></html>"),
        "x",
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120, env=crawler_env())
    assert done.returncode == 0, done.stderr
    assert project.rows("SELECT trigger FROM runs") == [{"trigger": "cron"}]


def test_readme_systemd_unit_names_the_daemon() -> None:
    unit_text = re.search(r"```ini\n(\[Unit\].+?)```", SCHEDULING_DOC, re.S).group(1)
    unit = configparser.ConfigParser(strict=True)
    unit.optionxform = str
    unit.read_string(unit_text)
    exec_start = shlex.split(unit["Service"]["ExecStart"])
    assert exec_start[0].endswith(".venv/bin/crawler") and "schedule" in exec_start
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    from click.testing import CliRunner

    from crawler.cli import cli

    # The unit's arguments parse as a real command line (up to the daemon itself).
    result = CliRunner().invoke(cli, [*exec_start[1:], "--help"])
    assert result.exit_code == 0 and "daemon" in result.stdout


def test_backoff_after_thousands_of_failures_stays_at_its_maximum() -> None:
    # 2 ** 1100 times a float overflowed: a seed failing hourly for years would have failed every run after.
    after = next_state("failed", DueState(86400, 86400, 5000, None), POLICY, T0)
    assert after.failures == 5001 and after.next_due_at == iso(T0 + timedelta(seconds=POLICY.max_failure_backoff))


@pytest.mark.parametrize("value", ["3651d", "99999999999w", 10**400, float("inf"), "1" + "0" * 400])
def test_durations_are_at_most_ten_years(value: object) -> None:
    with pytest.raises(ValueError, match="is too long; a duration is at most 3650d"):
        parse_duration(value)  # type: ignore[arg-type]
    assert parse_duration("3650d") == 3650 * 86400


def test_starts_skipped_during_a_long_run_are_one_line(gated: LocalServer, project: Project) -> None:
    """Before: APScheduler logged a warning at every tick the run outlasted."""
    project.seed("slow", gated.url("/article"), "A patient page.")
    log_path = project.root / "daemon.log"
    with log_path.open("w") as log:
        daemon = start(project, "schedule", "--every", "1s", stderr=log)
    try:
        assert gated.reached.wait(timeout=60), log_path.read_text()
        # The run is held open across ticks on purpose: what is tested is the ticks it outlasts.
        threading.Event().wait(3.5)
        gated.gate.set()
        deadline = datetime.now() + timedelta(seconds=60)
        while datetime.now() < deadline and "run finished" not in log_path.read_text():
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(timeout=0.2)  # a bounded wait on the daemon, which must not exit by itself
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=90)
    err = log_path.read_text()
    assert "maximum number of running instances" not in err
    skipped = re.findall(r"INFO crawler\.schedule: (\d+) scheduled starts? skipped while the run went on", err)
    assert len(skipped) == 1 and int(skipped[0]) >= 2, err

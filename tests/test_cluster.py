"""Crawling on several machines: a real redis-server, real worker and ingest processes, a local page server."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from helpers import LocalServer, Project, Route, crawler_env, free_port
from crawler.warc import read_record

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (.ci/run installs it: apt-get install redis-server)"
)

ARTICLE = (
    "<html><head><title>Article {n}</title></head><body><article><h1>Article {n}</h1>{paras}</article></body></html>"
)


def article(n: int) -> str:
    return ARTICLE.format(
        n=n, paras="".join(f"<p>Paragraph {i} of article {n} says something worth keeping.</p>" for i in range(8))
    )


def wait_for(
    check: Callable[[], object], timeout: float, what: str, procs: tuple[subprocess.Popen, ...] = ()
) -> object:
    """Poll an observable condition until it holds, failing with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for proc in procs:
            assert proc.poll() is None, f"{proc.args[-1]} exited early with {proc.returncode}"
        time.sleep(0.05)  # a poll interval, not a wait for something to happen
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(port=self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port of 127.0.0.1, without persistence."""
    import redis

    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port, proc)

    def ready() -> bool:
        try:
            return bool(server.client().ping())
        except redis.ConnectionError:
            return False

    wait_for(ready, 20, "redis-server to accept connections", (proc,))
    yield server
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def counting() -> Iterator[LocalServer]:
    """The local server with articles at /a/N, answered once its gate is open (open unless a test closes it)."""
    with LocalServer() as server:
        server.under("/a/", lambda path: Route(body=article(int(path.rsplit("/", 1)[1])).encode(), hold=True))
        yield server


def cluster_project(project: Project, redis_url: str, crawl: str = "", lease: str = "20s") -> None:
    """The test configuration with a cluster section (and `crawl` lines added to its crawl section).

    The lease is long unless a test needs a killed worker's tasks back soon: a busy CI machine
    must not make a live worker's lease run out (its page would then be fetched twice, though
    captured once).
    """
    config = project.config.read_text().replace("crawl:\n", "crawl:\n" + crawl, 1)
    project.config.write_text(
        config + f"cluster:\n  redis_url: {redis_url}\n  lease: {lease}\n  key_prefix: test\n", encoding="utf-8"
    )


def start(project: Project, *args: str) -> subprocess.Popen:
    """Start `python -m crawler ARGS` for the project; its stderr goes to a log file."""
    env = crawler_env()
    log = open(project.root / f"{args[0]}-{time.monotonic_ns()}.log", "w+")
    cmd = project.command(*args)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def stop(procs: list[subprocess.Popen]) -> list[str]:
    """SIGTERM each process, wait for it, and return what each printed."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    outputs = []
    for proc in procs:
        proc.wait(timeout=60)
        outputs.append(output(proc))
    return outputs


def workers_alive(redis_server: RedisServer, count: int) -> Callable[[], bool]:
    return lambda: len(redis_server.client().keys("test:worker:*")) >= count


def run_finished(project: Project, run_id: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = project.rows("SELECT status FROM runs WHERE id = ?", run_id)
        return bool(rows) and rows[0]["status"] == "completed"

    return check


def run_written(project: Project, run_id: int, procs: tuple[subprocess.Popen, ...]) -> None:
    """Enqueue run run_id, wait until it is written, then make every seed due again (the next run revisits)."""
    enqueued = project.run("-v", "run")
    assert enqueued.returncode == 0, enqueued.stderr
    wait_for(run_finished(project, run_id), 120, f"run {run_id} to be written", procs)
    conn = project.db()
    conn.execute("UPDATE seeds SET next_due_at = '2000-01-01T00:00:00+00:00'")
    conn.commit()
    conn.close()


def assert_each_seed_captured_once(project: Project, run_id: int, seeds: list[str]) -> list[dict]:
    captures = project.rows("SELECT * FROM captures WHERE run_id = ? ORDER BY seed_id", run_id)
    assert sorted(c["seed_id"] for c in captures) == sorted(seeds), "every due seed exactly once"
    for capture in captures:
        assert capture["outcome"] == "new_version", capture
        # The WARC record the capture points at is on disk and holds the page.
        record = read_record(project.archive / "warc" / capture["warc_filename"], capture["warc_offset"])
        assert record.record_type == "response" and b"Paragraph 0 of article" in record.body
    assert project.rows("SELECT count(*) AS n FROM versions")[0]["n"] == len(seeds)
    return captures


def test_three_workers_capture_every_due_seed_exactly_once(redis_server, counting, project: Project) -> None:
    cluster_project(project, redis_server.url, crawl="  concurrent_requests: 4\n")
    seeds = [f"s{n:02d}" for n in range(40)]
    for n, seed in enumerate(seeds):
        project.seed(
            seed, counting.url(f"/a/{n}"), f"Article {n}\n\nParagraph 0 of article {n} says something worth keeping."
        )
    counting.gate.clear()
    workers = [start(project, "worker") for _ in range(3)]
    writer = start(project, "ingest")
    try:
        wait_for(workers_alive(redis_server, 3), 60, "three workers to register", tuple(workers))
        enqueued = project.run("-v", "run")
        assert enqueued.returncode == 0, enqueued.stderr
        assert "run 1: 40 seeds enqueued for the cluster" in enqueued.stderr
        # Each worker holds at most 4 tasks (crawl.concurrent_requests): 12 leases are all three at work.
        client = redis_server.client()
        wait_for(lambda: client.zcard("test:leases") == 12, 60, "three workers holding four tasks each", tuple(workers))
        counting.gate.set()
        wait_for(run_finished(project, 1), 120, "run 1 to be written", (*workers, writer))
        # Nothing is due now, and nothing is in flight: the next run enqueues nothing and is complete.
        again = project.run("-v", "run")
        assert again.returncode == 0 and "run 2: 0 seeds enqueued" in again.stderr
    finally:
        logs = stop([*workers, writer])
    assert all(p.returncode == 0 for p in (*workers, writer)), logs
    assert_each_seed_captured_once(project, 1, seeds)
    assert all(counting.count(f"/a/{n}") == 1 for n in range(40)), "each page fetched once"
    delivered = [int(log.rsplit(": ", 1)[1].split()[0]) for log in logs[:3]]
    assert sum(delivered) == 40 and all(delivered), logs
    assert "40 captures written" in logs[3]
    runs = project.rows("SELECT status, seeds_requested, fetched, new_versions FROM runs ORDER BY id")
    assert runs == [
        {"status": "completed", "seeds_requested": 40, "fetched": 40, "new_versions": 40},
        {"status": "completed", "seeds_requested": 0, "fetched": 0, "new_versions": 0},
    ]
    # The schedule moved on as in a local run, and Redis holds no leftovers.
    assert all(r["next_due_at"] > r["last_capture_at"] for r in project.rows("SELECT * FROM seeds"))
    client = redis_server.client()
    assert client.llen("test:tasks") == 0 and client.zcard("test:leases") == 0 and client.hlen("test:inflight") == 0
    assert client.xlen("test:results") == 0
    assert (project.archive / "warc" / "index.cdxj").read_text().count("\n") == 40


def test_a_worker_killed_mid_run_loses_nothing(redis_server, counting, project: Project) -> None:
    cluster_project(project, redis_server.url, lease="2s")
    seeds = [f"k{n:02d}" for n in range(12)]
    for n, seed in enumerate(seeds):
        project.seed(seed, counting.url(f"/a/{n}"), f"Article {n}")
    counting.gate.clear()  # pages answer only once the gate opens: the first worker dies holding them
    first = start(project, "worker")
    writer = start(project, "ingest")
    second = None
    try:
        wait_for(workers_alive(redis_server, 1), 60, "the first worker to register", (first,))
        assert project.run("run").returncode == 0
        # Mid-run: the worker holds every task, and 8 requests (concurrent_per_domain) are at the server.
        wait_for(lambda: counting.count() >= 8, 60, "the first worker's requests to reach the server", (first,))
        client = redis_server.client()
        assert client.zcard("test:leases") == 12 and client.llen("test:tasks") == 0
        in_flight = sorted(set(counting.requests) - {"/robots.txt"})
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        counting.gate.set()
        second = start(project, "worker")
        wait_for(run_finished(project, 1), 120, "run 1 to be written after the kill", (second, writer))
    finally:
        logs = stop([p for p in (second, writer) if p is not None])
    assert first.returncode == -signal.SIGKILL
    assert_each_seed_captured_once(project, 1, seeds)
    # The pages the killed worker had at the server were fetched again by the second worker.
    assert all(counting.count(path) >= 2 for path in in_flight), counting.requests
    assert "12 results delivered" in logs[0] and "12 captures written" in logs[1], logs


def test_a_result_delivered_twice_makes_one_capture_and_ingest_resumes(
    redis_server, counting, project: Project
) -> None:
    cluster_project(project, redis_server.url)
    seeds = [f"d{n}" for n in range(6)]
    for n, seed in enumerate(seeds):
        project.seed(seed, counting.url(f"/a/{n}"), f"Article {n}")
    worker = start(project, "worker")
    try:
        wait_for(workers_alive(redis_server, 1), 60, "the worker to register", (worker,))
        assert project.run("run").returncode == 0
        client = redis_server.client()
        # No writer yet: the results wait in the stream.
        wait_for(lambda: client.xlen("test:results") == 6, 60, "six results on the stream", (worker,))
    finally:
        stop([worker])
    # Two workers delivering the same task (a lease that ran out while its worker was slow): the
    # same result twice on the stream.
    for _, fields in client.xrange("test:results", count=3):
        client.xadd("test:results", fields)
    # A writer that read two entries and died before committing them: they are pending, never
    # delivered to a reader again by themselves; the next ingest starts with them.
    assert len(client.xreadgroup("writers", "ingest", {"test:results": ">"}, count=2)[0][1]) == 2
    done = project.run("-v", "ingest", "--exit-when-idle")
    assert done.returncode == 0, done.stderr
    assert "6 captures written, 3 duplicate results dropped" in done.stderr
    assert_each_seed_captured_once(project, 1, seeds)
    assert project.rows("SELECT status FROM runs") == [{"status": "completed"}]
    assert client.xlen("test:results") == 0 and client.xpending("test:results", "writers")["pending"] == 0


def test_politeness_holds_for_the_cluster_as_a_whole(redis_server, counting, project: Project) -> None:
    # One request at a time to the host and 0.3 s between starts, for both workers together.
    project.config.write_text(
        "crawl:\n  download_delay: 0.3\n  autothrottle: false\n  timeout: 5\n  retries: 0\n"
        "  concurrent_per_domain: 1\n  concurrent_requests: 2\n"
        f"cluster:\n  redis_url: {redis_server.url}\n  lease: 20s\n  key_prefix: test\n",
        encoding="utf-8",
    )
    seeds = [f"p{n}" for n in range(10)]
    for n, seed in enumerate(seeds):
        project.seed(seed, counting.url(f"/a/{n}"), f"Article {n}")
    counting.delay = 0.1
    workers = [start(project, "worker") for _ in range(2)]
    writer = start(project, "ingest")
    try:
        wait_for(workers_alive(redis_server, 2), 60, "two workers to register", tuple(workers))
        assert project.run("run").returncode == 0
        wait_for(run_finished(project, 1), 120, "run 1 to be written", (*workers, writer))
    finally:
        logs = stop([*workers, writer])
    delivered = [int(log.rsplit(": ", 1)[1].split()[0]) for log in logs[:2]]
    assert sorted(delivered) != [0, 10] and sum(delivered) == 10, "both workers fetched pages"
    spans = sorted(counting.spans)
    assert len(spans) == 10
    for (start_a, end_a), (start_b, _) in zip(spans, spans[1:]):
        assert start_b >= end_a, "never two requests at once to the host"
        assert start_b - start_a >= 0.3 - 0.02, "the download delay holds between workers"


def test_unreachable_or_missing_redis_is_one_clear_error(project: Project) -> None:
    project.seed("a", "http://127.0.0.1:9/a", "x")
    missing = project.run("worker")
    assert missing.returncode == 2 and "no Redis configured: set cluster.redis_url" in missing.stderr
    cluster_project(project, f"redis://127.0.0.1:{free_port()}/0")
    for command in ("run", "ingest", "worker"):
        result = project.run(command)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:")
        assert result.stderr.count("\n") == 1
    assert not project.db_path.exists(), "nothing is recorded for a run that could not be enqueued"
    # A one-off crawl still fetches here, Redis or not.
    local = project.run("crawl")
    assert local.returncode == 0 and "1 failed" in local.stdout, local.stderr
    assert project.rows("SELECT outcome FROM captures") == [{"outcome": "failed"}]


def test_the_writer_killed_mid_stream_resumes_where_it_stopped(redis_server, counting, project: Project) -> None:
    cluster_project(project, redis_server.url)
    seeds = [f"w{n:02d}" for n in range(30)]
    for n, seed in enumerate(seeds):
        project.seed(seed, counting.url(f"/a/{n}"), f"Article {n}")
    worker = start(project, "worker")
    client = redis_server.client()
    try:
        wait_for(workers_alive(redis_server, 1), 60, "the worker to register", (worker,))
        assert project.run("run").returncode == 0
        wait_for(lambda: client.xlen("test:results") == 30, 60, "thirty results on the stream", (worker,))
    finally:
        stop([worker])
    writer = start(project, "ingest")

    def captured() -> int:
        """Captures the writer has committed so far (0 before it made the table)."""
        if not project.db_path.exists():
            return 0
        if not project.rows("SELECT count(*) AS n FROM sqlite_master WHERE name = 'captures'")[0]["n"]:
            return 0
        return project.rows("SELECT count(*) AS n FROM captures")[0]["n"]

    wait_for(lambda: (captured() or 0) >= 3, 60, "the writer's first captures", (writer,))
    writer.send_signal(signal.SIGKILL)  # anywhere: between WARC and commit, commit and acknowledgement...
    writer.wait(timeout=30)
    done = project.run("ingest", "--exit-when-idle")
    assert done.returncode == 0, done.stderr
    assert_each_seed_captured_once(project, 1, seeds)
    assert project.rows("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    assert project.rows("SELECT status FROM runs") == [{"status": "completed"}]
    assert client.xlen("test:results") == 0 and client.xpending("test:results", "writers")["pending"] == 0


def test_a_runaway_page_is_stopped_at_the_page_time_limit_in_the_cluster(redis_server, project: Project) -> None:
    """Before: a worker extracted, and the writer analysed, with no time limit: a site's own noise pattern
    that backtracks (or any page or library bug) held the only writer for good."""
    from fault_server import FaultServer, respond
    from pages import EN_PARAGRAPHS, article_page
    from test_faults import RUNAWAY, RUNAWAY_CONFIG, extraction_workers

    cluster_project(project, redis_server.url, crawl="  page_time_limit: 3\n")
    project.config.write_text(project.config.read_text() + RUNAWAY_CONFIG, encoding="utf-8")
    server = FaultServer().start()
    project.seed("runaway", server.route("/runaway", respond(200, RUNAWAY)), "A page whose analysis runs away.")
    healthy = article_page("Council approves library budget", EN_PARAGRAPHS, lang="en")
    project.seed("healthy", server.route("/healthy", respond(200, healthy)), "A healthy page.")
    worker = start(project, "worker")
    writer = start(project, "ingest")
    try:
        wait_for(workers_alive(redis_server, 1), 60, "the worker to register", (worker,))
        enqueued = project.run("-v", "run")
        assert enqueued.returncode == 0, enqueued.stderr
        wait_for(run_finished(project, 1), 120, "run 1 to be written", (worker, writer))
        # The worker's extraction ran in a page pool (processes under the worker's forkserver).
        assert extraction_workers(worker.pid), "no extraction process under the worker"
    finally:
        logs = stop([worker, writer])
        server.stop()
    assert worker.returncode == 0 and writer.returncode == 0, logs
    captures = {c["seed_id"]: c for c in project.rows("SELECT * FROM captures")}
    assert captures["healthy"]["outcome"] == "new_version"
    assert (captures["runaway"]["outcome"], captures["runaway"]["error"]) == (
        "failed",
        "extraction and change analysis stopped after 3 s (crawl.page_time_limit); the page is kept in the WARC file",
    )
    assert captures["runaway"]["warc_filename"], "the response is in the WARC file"


def test_the_writer_heals_a_deleted_warc_file(redis_server, counting, project: Project) -> None:
    """Before: later unchanged captures wrote revisit records pointing at the payload in the lost file."""
    cluster_project(project, redis_server.url)
    seeds = ["s0", "s1"]
    for n, seed in enumerate(seeds):
        project.seed(seed, counting.url(f"/a/{n}"), f"Article {n}")
    worker = start(project, "worker")
    writer = start(project, "ingest")

    def run(run_id: int) -> dict[str, dict]:
        run_written(project, run_id, (worker, writer))
        return {
            r["seed_id"]: r
            for r in project.rows(
                "SELECT c.seed_id, w.* FROM captures c JOIN warc_records w ON w.record_id = c.warc_record_id "
                "WHERE c.run_id = ?",
                run_id,
            )
        }

    try:
        wait_for(workers_alive(redis_server, 1), 60, "the worker to register", (worker,))
        run(1)
        for path in (project.archive / "warc").glob("*.warc.gz"):
            path.unlink()
        second = run(2)
        third = run(3)
    finally:
        logs = stop([worker, writer])
    assert worker.returncode == 0 and writer.returncode == 0, logs
    for seed in seeds:
        assert second[seed]["record_type"] == "response", "the lost payload is written whole again"
        assert read_record(project.archive / "warc" / second[seed]["filename"], second[seed]["offset"]).body
        assert (third[seed]["record_type"], third[seed]["refers_to"]) == ("revisit", second[seed]["record_id"])


def noisy_article(n: int, token: str, edit: str = "") -> str:
    """article(n) as a site sends it: a fresh token in a script and a data- attribute on every request."""
    return (
        article(n)
        .replace("</head>", f'<script>window.csrf = "{token}";</script></head>')
        .replace("<body>", f'<body data-request-id="{token}">')
        .replace("says something", edit or "says something")
    )


def test_a_worker_decides_noisy_revisits_from_the_markup(redis_server, counting, project: Project) -> None:
    """A page whose token alone changed is unchanged without the worker's pool; an edit is still a version."""
    cluster_project(project, redis_server.url)
    seeds = ["m0", "m1"]
    for n, seed in enumerate(seeds):
        counting.page(f"/m/{n}", noisy_article(n, "first"))
        project.seed(seed, counting.url(f"/m/{n}"), f"Article {n}")
    worker = start(project, "worker")
    writer = start(project, "ingest")

    try:
        wait_for(workers_alive(redis_server, 1), 60, "the worker to register", (worker,))
        run_written(project, 1, (worker, writer))
        for n in range(2):
            counting.page(f"/m/{n}", noisy_article(n, "second"))
        run_written(project, 2, (worker, writer))
        counting.page("/m/0", noisy_article(0, "third"))
        counting.page("/m/1", noisy_article(1, "third", edit="says something else"))
        run_written(project, 3, (worker, writer))
    finally:
        logs = stop([worker, writer])
    assert worker.returncode == 0 and writer.returncode == 0, logs
    captures = project.rows(
        "SELECT run_id, seed_id, outcome, reader_fingerprint FROM captures ORDER BY run_id, seed_id"
    )
    assert [(c["run_id"], c["seed_id"], c["outcome"]) for c in captures] == [
        (1, "m0", "new_version"),
        (1, "m1", "new_version"),
        (2, "m0", "unchanged"),
        (2, "m1", "unchanged"),
        (3, "m0", "unchanged"),
        (3, "m1", "new_version"),
    ]
    assert captures[0]["reader_fingerprint"] == captures[2]["reader_fingerprint"] == captures[4]["reader_fingerprint"]
    # Three of the four unchanged-looking revisits (new bytes each time) were told by their markup.
    assert "6 results delivered (3 of them unchanged, told by their markup alone)" in logs[0], logs
    assert (
        "says something else" in project.rows("SELECT text FROM versions WHERE seed_id = 'm1' ORDER BY id")[-1]["text"]
    )

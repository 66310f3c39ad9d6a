"""Cluster benchmark: pages per second with 1 and 2 local workers, the writer's rate, Redis memory (not a test).

    .venv/bin/python benchmarks/cluster_bench.py [--pages 600] [--workers 1,2]

The same pages, servers and relaxed politeness as benchmarks/crawl_bench.py (16 loopback hosts, no
delay, 4 requests at a time per host), with a real redis-server on a free port. For each number
of workers, on a fresh archive:

- fetch + extract: workers only (no writer yet), from `crawler run` enqueueing every seed until
  every result is on the Redis stream: the workers' pages per second, and Redis memory per
  waiting result;
- ingest: `crawler ingest --exit-when-idle` alone draining that stream into the archive: the
  writer's pages per second (WARC records, database rows, diffs);
- end to end: workers and writer together on another fresh archive (first crawl, then an
  unchanged revisit with every seed made due again, then a revisit with a fresh script token and
  `data-` value on every page, as crawl_bench's noisy revisit), with database and WARC bytes per
  capture.

Everything runs on this machine: workers, writer, page servers and Redis share its cores, so
"machine CPU s/page" (all processes) is the cost to compare, and pages/s per worker core is what a
worker gets when it has a core of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawl_bench import (  # noqa: E402
    CONFIG,
    CORPUS,
    Servers,
    folder_bytes,
    load_pages,
    machine_cpu_seconds,
    project_command,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """pid and every living process under it (a worker's extraction pool runs under its forkserver)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def process_cpu(pids: list[int], tree: bool = True) -> float:
    """CPU seconds (user + system) the processes (and, with tree, those under them) have used so far, from /proc.

    A process under them that ended during the measure is not counted: the pools live as long as their worker.
    """
    total = 0.0
    for pid in {p for top in pids for p in (descendants(top) if tree else [top])}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Bench:
    def __init__(self, servers: Servers, pages: int, work: Path, redis_port: int, redis_pid: int = 0):
        import redis

        self.servers, self.pages, self.work = servers, pages, work
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.client = redis.Redis(port=redis_port)
        self.count = 0
        self.redis_pid = redis_pid
        self.prefixes: dict[Path, str] = {}

    def project(self, name: str) -> Path:
        self.count += 1
        project = self.work / name
        seeds = project / "seeds"
        seeds.mkdir(parents=True)
        for i in range(self.pages):
            (seeds / f"p{i:06d}.md").write_text(f"---\nurl: {self.servers.url(i)}\n---\n\nSaved text of page {i}.\n")
        prefix = f"bench{self.count}"
        (project / "crawler.yaml").write_text(
            CONFIG + f"cluster:\n  redis_url: {self.redis_url}\n  key_prefix: {prefix}\n"
        )
        self.prefixes[project] = prefix
        return project

    def command(self, project: Path, *args: str) -> list[str]:
        return project_command(project, *args)

    def start_workers(self, project: Path, count: int) -> list[subprocess.Popen]:
        procs = [
            subprocess.Popen(self.command(project, "worker"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(count)
        ]
        wait_for(lambda: len(self.client.keys(f"{self.prefixes[project]}:worker:*")) >= count, 120, "workers to start")
        return procs

    def stop(self, procs: list[subprocess.Popen]) -> None:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=120)

    def run_done(self, project: Path, run_id: int) -> bool:
        db = project / "archive" / "archive.db"
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()
        finally:
            conn.close()
        return bool(row) and row[0] == "completed"

    def enqueue(self, project: Path, *args: str) -> None:
        subprocess.run(self.command(project, *args), check=True, capture_output=True)

    def split(self, workers: int) -> dict:
        """Workers alone, then the writer alone."""
        project = self.project(f"split-{workers}")
        procs = self.start_workers(project, workers)
        memory_before = self.client.info("memory")["used_memory"]
        pids = [p.pid for p in procs]
        try:
            own0, cpu0, t0 = process_cpu(pids), machine_cpu_seconds(), time.perf_counter()
            self.enqueue(project, "run")
            results = f"{self.prefixes[project]}:results"
            wait_for(lambda: self.client.xlen(results) >= self.pages, 1800, "every result on the stream")
            fetch_s, fetch_cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
            worker_cpu = process_cpu(pids) - own0
            stream_bytes = (self.client.info("memory")["used_memory"] - memory_before) / self.pages
        finally:
            self.stop(procs)
        cpu0, t0 = machine_cpu_seconds(), time.perf_counter()
        proc = subprocess.Popen(
            self.command(project, "ingest", "--exit-when-idle"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(proc.pid, 0)
        ingest_s, ingest_cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"ingest failed: {proc.stderr.read().decode()[-2000:]}")
        assert self.run_done(project, 1)
        return {
            "fetch_pps": self.pages / fetch_s,
            "fetch_cpu": fetch_cpu / self.pages,
            "worker_cpu": worker_cpu / self.pages,
            "stream_bytes": stream_bytes,
            "ingest_pps": self.pages / ingest_s,
            "ingest_cpu": ingest_cpu / self.pages,
            "ingest_rss": usage.ru_maxrss / 1024,
        }

    def end_to_end(self, workers: int) -> dict:
        """Workers and writer together: a first crawl, an unchanged revisit, a revisit with invisible noise."""
        project = self.project(f"e2e-{workers}")
        procs = self.start_workers(project, workers)
        writer = subprocess.Popen(self.command(project, "ingest"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out = {}
        archive = project / "archive"
        try:
            for run_id, name in ((1, "first"), (2, "revisit"), (3, "noisy")):
                # A fresh token in every response of the third run (crawl_bench.with_noise).
                self.servers.noise = name == "noisy"
                if run_id > 1:
                    # Every seed due again at once (as a day later), for `crawler run` to enqueue.
                    conn = sqlite3.connect(archive / "archive.db")
                    conn.execute("UPDATE seeds SET next_due_at = '2000-01-01T00:00:00+00:00' WHERE status = 'ok'")
                    conn.commit()
                    conn.close()
                db_before = folder_bytes(archive) - folder_bytes(archive / "warc")
                warc_before = folder_bytes(archive / "warc")
                pids = [p.pid for p in procs]
                own0, writer0 = process_cpu(pids), process_cpu([writer.pid])
                others0 = process_cpu([os.getpid(), self.redis_pid], tree=False)
                cpu0, t0 = machine_cpu_seconds(), time.perf_counter()
                self.enqueue(project, "run")
                wait_for(lambda: self.run_done(project, run_id) or _died(writer), 1800, f"run {run_id}")  # noqa: B023 (called here)
                if writer.poll() is not None:
                    raise SystemExit(f"ingest exited: {writer.stderr.read().decode()[-2000:]}")
                seconds, cpu = time.perf_counter() - t0, machine_cpu_seconds() - cpu0
                worker_cpu, writer_cpu = process_cpu(pids) - own0, process_cpu([writer.pid]) - writer0
                others = process_cpu([os.getpid(), self.redis_pid], tree=False) - others0
                conn = sqlite3.connect(archive / "archive.db")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                outcomes = dict(
                    conn.execute(
                        "SELECT outcome, count(*) FROM captures WHERE run_id = ? GROUP BY outcome", [run_id]
                    ).fetchall()
                )
                conn.close()
                out[name] = {
                    "pps": self.pages / seconds,
                    "cpu": cpu / self.pages,
                    "outcomes": outcomes,
                    "worker_cpu": worker_cpu / self.pages,
                    "writer_cpu": writer_cpu / self.pages,
                    "servers_redis_cpu": others / self.pages,
                    "db_bytes": (folder_bytes(archive) - folder_bytes(archive / "warc") - db_before) / self.pages,
                    "warc_bytes": (folder_bytes(archive / "warc") - warc_before) / self.pages,
                }
        finally:
            self.servers.noise = False
            self.stop([*procs, writer])
        conn = sqlite3.connect(archive / "archive.db")
        out["version_bytes"] = conn.execute("SELECT avg(length(CAST(text AS BLOB))) FROM versions").fetchone()[0]
        out["diff_bytes"] = conn.execute(
            "SELECT avg(length(CAST(diff AS BLOB)) + length(CAST(ops AS BLOB))) FROM diffs"
        ).fetchone()[0]
        conn.close()
        return out

    def task_bytes(self, count: int = 100_000) -> float:
        """Redis memory per queued task (seed, URL, validators, payload, fingerprint, markup), in-flight marks included."""
        from crawler.cluster.queue import Queue

        queue = Queue(self.client, "taskbench", 60)
        before = self.client.info("memory")["used_memory"]
        tasks = [
            {
                "run": 1,
                "seed": f"{i:06d}_4387e3e1fc3e043d",
                "url": f"https://mp.weixin.qq.com/s/{i:020d}abcdefghij",
                "etag": '"5f3c-61a7b2c0"',
                "last_modified": "Tue, 01 Dec 2026 20:00:00 GMT",
                "known_payload": "sha1:2N6XJZ3W7ZKQ3E7TQ6N4DOXBG2RQSF5M",
                "known_fingerprint": "b" * 32,
                # The median corpus page's markup (of 300): a 40-digit digest and a 276-character layout.
                "known_markup": ["a" * 40, "1234s56a" * 34 + "1234"],
            }
            for i in range(count)
        ]
        queue.enqueue(1, tasks)
        used = (self.client.info("memory")["used_memory"] - before) / count
        for key in self.client.keys("taskbench:*"):
            self.client.delete(key)
        return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if not redis_server:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    pages = load_pages(args.pages)
    source = "$BENCH_CORPUS/pages" if CORPUS.exists() else "synthetic pages"
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    port = free_port()
    redis_proc = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
    )
    servers = Servers(pages)
    try:
        bench = Bench(servers, len(pages), work, port, redis_proc.pid)
        wait_for(lambda: _ping(bench), 20, "redis-server")
        print(f"{len(pages)} pages from {source}; {os.cpu_count()} cores; work in {work}", file=sys.stderr)
        rows = {}
        for workers in (int(w) for w in args.workers.split(",")):
            split = bench.split(workers)
            print(f"  {workers} worker(s), split: {json.dumps(split)}", file=sys.stderr)
            e2e = bench.end_to_end(workers)
            print(f"  {workers} worker(s), end to end: {json.dumps(e2e)}", file=sys.stderr)
            rows[workers] = (split, e2e)
        task = bench.task_bytes()

        print(
            f"\n{len(pages)} pages ({source}), {os.cpu_count()} cores, Redis {bench.client.info()['redis_version']}\n"
        )
        print(
            "| workers | fetch+extract pages/s | ingest alone pages/s | end to end pages/s | revisit pages/s "
            "| worker CPU s/page | writer CPU s/page | page servers + Redis CPU s/page | machine CPU s/page "
            "| Redis bytes/waiting result |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workers, (split, e2e) in rows.items():
            print(
                f"| {workers} | {split['fetch_pps']:.1f} | {split['ingest_pps']:.1f} | {e2e['first']['pps']:.1f} "
                f"| {e2e['revisit']['pps']:.1f} | {e2e['first']['worker_cpu']:.4f} | {e2e['first']['writer_cpu']:.4f} "
                f"| {e2e['first']['servers_redis_cpu']:.4f} | {e2e['first']['cpu']:.4f} | {split['stream_bytes']:.0f} |"
            )
        print(
            "\nunchanged revisit: worker CPU s/page "
            + ", ".join(f"{w}: {e2e['revisit']['worker_cpu']:.4f}" for w, (_, e2e) in rows.items())
            + "; writer CPU s/page "
            + ", ".join(f"{w}: {e2e['revisit']['writer_cpu']:.4f}" for w, (_, e2e) in rows.items())
        )
        print(
            "revisit with invisible noise: pages/s "
            + ", ".join(f"{w}: {e2e['noisy']['pps']:.1f}" for w, (_, e2e) in rows.items())
            + "; worker CPU s/page "
            + ", ".join(f"{w}: {e2e['noisy']['worker_cpu']:.4f}" for w, (_, e2e) in rows.items())
            + "; writer CPU s/page "
            + ", ".join(f"{w}: {e2e['noisy']['writer_cpu']:.4f}" for w, (_, e2e) in rows.items())
        )
        print("ingest peak RSS MB: " + ", ".join(f"{split['ingest_rss']:.0f}" for split, _ in rows.values()))
        _, e2e = rows[min(rows)]
        print(
            f"\nper capture: DB {e2e['first']['db_bytes']:.0f} B and WARC {e2e['first']['warc_bytes']:.0f} B "
            f"(first crawl); DB {e2e['revisit']['db_bytes']:.0f} B and WARC {e2e['revisit']['warc_bytes']:.0f} B "
            f"(unchanged revisit)"
        )
        print(f"per version: text {e2e['version_bytes']:.0f} B, per diff {e2e['diff_bytes']:.0f} B (diff + ops)")
        print(f"Redis per queued task: {task:.0f} B")
        print(
            f"outcomes: first {e2e['first']['outcomes']}, revisit {e2e['revisit']['outcomes']}, "
            f"noisy revisit {e2e['noisy']['outcomes']}"
        )
    finally:
        servers.close()
        redis_proc.terminate()
        redis_proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _died(proc: subprocess.Popen) -> bool:
    return proc.poll() is not None


def _ping(bench: Bench) -> bool:
    try:
        return bool(bench.client.ping())
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())

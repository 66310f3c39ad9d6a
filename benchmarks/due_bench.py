"""Due selection at scale: how long `crawler run` takes to pick the due seeds among 100,000 (not a test).

    .venv/bin/python benchmarks/due_bench.py [--seeds 100000]

Builds a temporary archive through the store (seeds spread over the next 30 days, 1% overdue),
then times Store.due_seed_ids and shows SQLite's query plan.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from crawler.changes.intervals import iso
from crawler.archive.store import Store


def main() -> None:
    """Build the archive, time the selection, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    rng = random.Random(1)
    store = Store.in_archive(Path(tempfile.mkdtemp(prefix="due-bench-")))
    started = time.perf_counter()
    store.sync_seeds(
        {
            "id": f"s{i:07d}",
            "url": f"https://example.org/{i}",
            "fetch_url": f"https://example.org/{i}",
            "status": "ok",
            "base_interval_seconds": 86400,
        }
        for i in range(args.seeds)
    )
    with store.db.atomic():
        store.db.conn.executemany(
            "UPDATE seeds SET next_due_at = ? WHERE id = ?",
            (
                (iso(now + timedelta(seconds=rng.uniform(-0.01, 0.99) * 30 * 86400)), f"s{i:07d}")
                for i in range(args.seeds)
            ),
        )
    build = time.perf_counter() - started
    timings, due = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        due = store.due_seed_ids(iso(now))
        timings.append(time.perf_counter() - t)
    # What else `crawler run` does before selecting: sync every seed row (all known by now).
    t = time.perf_counter()
    store.sync_seeds(
        {
            "id": f"s{i:07d}",
            "url": f"https://example.org/{i}",
            "fetch_url": f"https://example.org/{i}",
            "status": "ok",
            "base_interval_seconds": 86400,
        }
        for i in range(args.seeds)
    )
    resync = time.perf_counter() - t
    assert len(store.due_seed_ids(iso(now))) == len(due), "a re-sync must not move any seed's due time"
    plan = store.db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM seeds WHERE status = 'ok' AND next_due_at <= ? ORDER BY next_due_at",
        [iso(now)],
    ).fetchall()
    print(f"seeds: {args.seeds:,} (archive built in {build:.1f} s); due now: {len(due):,}")
    print(
        f"due selection: median {statistics.median(timings) * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms "
        f"over {args.repeat} runs"
    )
    print(f"re-sync of {args.seeds:,} known seed rows (every run does it): {resync * 1000:.0f} ms")
    print("query plan:", "; ".join(row[-1] for row in plan))
    store.close()


if __name__ == "__main__":
    main()

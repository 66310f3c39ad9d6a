"""Crawl speed of two or more checkouts of the project, alternating, on the same pages and servers (not a test).

    .venv/bin/python benchmarks/compare_trees.py [--pages 300] [--rounds 3] TREE [TREE ...]

Each TREE is a checkout with its own `.venv` (for example `git worktree add ../before <commit>` and a
venv there). Serves real pages from $BENCH_CORPUS/pages (as benchmarks/crawl_bench.py does), then in
each round runs every tree's `crawler crawl` three times on a fresh project: the first crawl, the
byte-identical revisit, and the revisit with invisible noise on every response. The trees take turns,
in reverse order every other round, so a neighbour's burst on this shared machine falls on both.
Prints each round and the medians in pages per second: how a change moved the crawl's speed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import crawl_bench  # benchmarks/crawl_bench.py: the servers, the pages, the project layout

KINDS = ("first", "revisit", "noisy")


def main() -> int:
    """Measure every tree in turn, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("trees", nargs="+", type=Path)
    args = parser.parse_args()
    pages = crawl_bench.load_pages(args.pages)
    servers = crawl_bench.Servers(pages)
    speeds = {tree: {kind: [] for kind in KINDS} for tree in args.trees}
    try:
        for round_ in range(args.rounds):
            for tree in args.trees if round_ % 2 == 0 else args.trees[::-1]:
                project = crawl_bench.crawl_project(servers, len(pages), Path(tempfile.mkdtemp(prefix="compare-")))
                command = crawl_bench.project_command(project, "crawl", python=str(tree / ".venv" / "bin" / "python"))
                for kind in KINDS:
                    servers.noise = kind == "noisy"
                    started = time.perf_counter()
                    subprocess.run(command, check=True, capture_output=True, cwd=tree)
                    speeds[tree][kind].append(len(pages) / (time.perf_counter() - started))
                servers.noise = False
                print(
                    f"round {round_ + 1} {tree}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in speeds[tree].items()),
                    flush=True,
                )
    finally:
        servers.close()
    print(f"\n{len(pages)} pages, {args.rounds} rounds, median pages/s")
    for tree, measured in speeds.items():
        medians = {kind: statistics.median(values) for kind, values in measured.items()}
        print(
            f"{tree}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
            + f"; noisy / first {medians['noisy'] / medians['first']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

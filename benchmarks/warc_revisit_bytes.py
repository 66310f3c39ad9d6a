"""WARC bytes per unchanged revisit (target: under 2 KB), measured on real crawls of a local server.

Serves N article pages (2-12 KB each) from a local HTTP server, runs the real `crawler crawl`
twice, and reports what the second, unchanged crawl added to archive/warc/: per page, the revisit
record alone (captures.warc_length) and the whole exchange (request record + revisit record), next to
what the first crawl stored per page. Run it twice over: with the test server's few headers, and with
a header set like a real CDN's (cookies, CSP, caching: about 1 KB), since a revisit keeps the headers.

    .venv/bin/python benchmarks/warc_revisit_bytes.py [--pages 50]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import LocalServer  # noqa: E402
from crawl_bench import project_command  # noqa: E402  (benchmarks/, the script's own folder)
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body  # noqa: E402

CONFIG = "crawl:\n  download_delay: 0\n  autothrottle: false\n  timeout: 5\n  retries: 0\n  concurrent_per_domain: 8\n"
CDN_HEADERS = {
    "Server": "nginx/1.25.3",
    "Date": "Tue, 01 Oct 2024 08:00:00 GMT",
    "Cache-Control": "max-age=0, private, must-revalidate",
    "Vary": "Accept-Encoding, Cookie",
    "Set-Cookie": "sessionid=0f3c9a7e5b2d4c1a8e6f9b3d7a2c5e1f; Path=/; HttpOnly; Secure; SameSite=Lax",
    "Content-Security-Policy": "default-src 'self'; img-src * data:; script-src 'self' 'unsafe-inline' "
    "https://cdn.example.com https://analytics.example.com; style-src 'self' 'unsafe-inline'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "X-Request-Id": "7d0b3f7e-4c1a-4e8b-9f0c-2a6d5e8b1c3f",
    "X-Cache": "MISS from cache-hkg17932-HKG",
    "Via": "1.1 varnish, 1.1 cdn-edge-07",
    "Age": "0",
    "Accept-Ranges": "bytes",
}


def run(project: Path, *args: str) -> None:
    """One `crawler` command in its own process."""
    subprocess.run(project_command(project, *args), check=True, capture_output=True, cwd=project)


def measure(pages: int, headers: dict[str, str]) -> dict[str, float]:
    """Crawl pages twice; the bytes each crawl added to the WARC files, per page."""
    server = LocalServer(protocol="HTTP/1.1").start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            (project / "seeds").mkdir()
            (project / "crawler.yaml").write_text(CONFIG, encoding="utf-8")
            for n in range(pages):
                paragraphs = (ZH_PARAGRAPHS if n % 2 else EN_PARAGRAPHS) * (5 + n % 10)
                title = f"Article {n}"
                url = server.page(f"/a/{n}", article_page(title, paragraphs), headers=headers)
                body = seed_body(title, paragraphs)
                (project / "seeds" / f"s{n:03}.md").write_text(f"---\nurl: {url}\n---\n\n{body}", encoding="utf-8")
            warc = project / "archive" / "warc"
            run(project, "crawl")
            after_first = {p: p.stat().st_size for p in warc.glob("*.warc.gz")}
            run(project, "crawl")
            added = sum(p.stat().st_size - after_first.get(p, 0) for p in warc.glob("*.warc.gz"))
            db = sqlite3.connect(project / "archive" / "archive.db")
            try:
                rows = db.execute(
                    "SELECT c.run_id, c.outcome, c.warc_length, c.body_bytes FROM captures c ORDER BY c.id"
                ).fetchall()
            finally:
                db.close()
    finally:
        server.stop()
    first = [r for r in rows if r[0] == 1]
    second = [r for r in rows if r[0] == 2]
    assert all(r[1] == "unchanged" for r in second), "the second crawl must find every page unchanged"
    revisit_records = [r[2] for r in second]
    return {
        "pages": pages,
        "body_bytes_mean": statistics.mean(r[3] for r in first),
        "first_response_record_mean": statistics.mean(r[2] for r in first),
        "revisit_record_mean": statistics.mean(revisit_records),
        "revisit_record_max": max(revisit_records),
        # Everything run 2 wrote (request + revisit records, and one warcinfo record per file) per page.
        "run2_bytes_per_page": added / pages,
    }


def main() -> None:
    """Print the figures for the plain test server and for CDN-like headers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    pages = parser.parse_args().pages
    for label, headers in (("few headers", {}), ("CDN-like headers", CDN_HEADERS)):
        figures = measure(pages, headers)
        print(
            f"{label:17} {figures['pages']} pages, body {figures['body_bytes_mean']:.0f} B: "
            f"run 1 response record {figures['first_response_record_mean']:.0f} B; "
            f"run 2 revisit record {figures['revisit_record_mean']:.0f} B (max {figures['revisit_record_max']}), "
            f"all WARC bytes of run 2 per page {figures['run2_bytes_per_page']:.0f} B"
            f" -> {'under' if figures['run2_bytes_per_page'] < 2048 else 'OVER'} 2 KB"
        )


if __name__ == "__main__":
    main()

"""What evidence costs (issue #17): extra time and bytes per new version with images, with and without
rendering and screenshots; and that an unchanged revisit costs what it did without any of it.

Serves N real pages (BENCH_CORPUS/pages) from a local server. Their images are served too: image
URLs in the pages are rewritten to the local host, which answers each with incompressible bytes of
a size derived from its path (8-80 KB, like article photos). Each configuration crawls a fresh
archive twice with the real `crawler crawl`: the first crawl makes a new version of every page, the
second finds them unchanged. Reported per configuration: wall time and WARC bytes of each crawl, per
page, and the differences against the configuration with everything off. download_delay is 0 here:
with politeness on, each image also waits crawl.download_delay on its host.

    BENCH_CORPUS=/path/to/corpus .venv/bin/python benchmarks/evidence_bench.py [--pages 100] [--no-render] [--only NAME]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import corpus_root  # noqa: E402
from crawl_bench import project_command  # noqa: E402

BASE_CONFIG = (
    "crawl:\n  download_delay: 0\n  autothrottle: false\n  timeout: 10\n  retries: 0\n"
    "  concurrent_per_domain: 8\n  obey_robots_txt: false\n"
)
CONFIGS = {
    "everything off": "requisites:\n  images: false\n",
    "images": "",
    "images + screenshots": "render:\n  screenshots: true\n",
    "rendered + images + screenshots": "render:\n  screenshots: true\n  urls: ['*']\n",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg")
_ABSOLUTE_IN_ATTRIBUTE = re.compile(
    r"""(?i)((?:src|data-src|data-original|data-lazy-src|data-actualsrc|srcset|data-srcset)\s*=\s*["'])([^"']*)"""
)


def localise(html: str) -> str:
    """Image URLs pointed at the local server (/ext/HOST/PATH), so every image the page names can be fetched."""

    def rewrite(match: re.Match) -> str:
        return match.group(1) + re.sub(r"(?i)https?://", "/ext/", match.group(2))

    return _ABSOLUTE_IN_ATTRIBUTE.sub(rewrite, html)


def image_bytes(path: str) -> bytes:
    """Incompressible bytes, 8-80 KB, the same for the same path."""
    seed = hashlib.sha256(path.encode()).digest()
    size = 8_000 + int.from_bytes(seed[:4], "big") % 72_000
    out, block = bytearray(), seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return b"\xff\xd8\xff\xe0" + bytes(out[:size])


class Site:
    """Pages at /p/N, an image for any other path that looks like one."""

    def __init__(self, pages: list[bytes]):
        self.pages = pages
        self.image_requests = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path.startswith("/p/"):
                    body, kind = site.pages[int(path[3:])], "text/html; charset=utf-8"
                elif path.startswith("/ext/") or path.lower().endswith(IMAGE_SUFFIXES):
                    # Scripts of other hosts land here too (their URLs were rewritten): only images count.
                    accept = self.headers.get("Accept") or ""
                    if self.headers.get("Sec-Fetch-Dest") == "image" or accept.startswith("image/"):
                        site.image_requests += 1
                    body, kind = image_bytes(path), "image/jpeg"
                else:
                    body, kind = b"not found", "text/plain"
                self.send_response(200 if kind != "text/plain" else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a browser dropping a connection it no longer needs is not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/p/{n}"


def load_pages(count: int) -> list[bytes]:
    """The first count pages of the corpus that name at least one image, image URLs made local."""
    pages = []
    for path in sorted((corpus_root() / "pages").glob("*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        if "<img" not in html.lower():
            continue
        pages.append(localise(html).encode("utf-8"))
        if len(pages) == count:
            break
    return pages


def warc_bytes(archive: Path) -> int:
    return sum(p.stat().st_size for p in (archive / "warc").glob("*.warc.gz"))


def crawl(project: Path) -> float:
    """Seconds of one `crawler crawl` in its own process."""
    command = project_command(project, "crawl")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=project)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"crawl failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def measure(site: Site, pages: int, extra: str) -> dict[str, float]:
    """Two crawls of a fresh archive under one configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "seeds").mkdir()
        (project / "crawler.yaml").write_text(BASE_CONFIG + extra, encoding="utf-8")
        for n in range(pages):
            (project / "seeds" / f"p{n:04}.md").write_text(f"---\nurl: {site.url(n)}\n---\n\nx\n", encoding="utf-8")
        images_before = site.image_requests
        first = crawl(project)
        first_bytes = warc_bytes(project / "archive")
        images_first = site.image_requests - images_before
        second = crawl(project)
        second_bytes = warc_bytes(project / "archive") - first_bytes
        images_second = site.image_requests - images_before - images_first
        db = sqlite3.connect(project / "archive" / "archive.db")
        try:
            versions = db.execute("SELECT count(*) FROM versions").fetchone()[0]
            unchanged = db.execute(
                "SELECT count(*) FROM captures WHERE run_id = 2 AND outcome = 'unchanged'"
            ).fetchone()[0]
            requisites = db.execute(
                "SELECT count(*), coalesce(sum(outcome IN ('archived', 'duplicate')), 0) FROM requisites"
            ).fetchone()
            shots = db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM screenshots").fetchone()
        finally:
            db.close()
    return {
        "first_s": first,
        "first_bytes": first_bytes,
        "second_s": second,
        "second_bytes": second_bytes,
        "versions": versions,
        "unchanged": unchanged,
        "requisites": requisites[0],
        "archived": requisites[1],
        "image_requests_first": images_first,
        "image_requests_second": images_second,
        "screenshots": shots[0],
        "screenshot_bytes": shots[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--no-render", action="store_true", help="skip the configurations that need chromium")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="measure only this configuration (repeatable); 'everything off' is always measured",
    )
    args = parser.parse_args()
    pages = load_pages(args.pages)
    if len(pages) < args.pages:
        raise SystemExit(f"only {len(pages)} pages with images under {corpus_root() / 'pages'}; set BENCH_CORPUS")
    site = Site(pages)
    results = {}
    for name, extra in CONFIGS.items():
        if args.no_render and "render" in extra:
            continue
        if args.only and name not in args.only and name != "everything off":
            continue
        results[name] = measure(site, len(pages), extra)
        r = results[name]
        print(f"{name}: {r}", file=sys.stderr)
    base = results["everything off"]
    n = len(pages)
    print(f"{n} real pages, each naming at least one image; per page (a new version each in the first crawl)\n")
    print(
        f"{'configuration':34} {'crawl 1 s/page':>14} {'+s/version':>10} {'+KB/version':>11} {'images/version':>14}"
        f" {'revisit s/page':>14} {'revisit B/page':>14} {'images on revisit':>17}"
    )
    for name, r in results.items():
        print(
            f"{name:34} {r['first_s'] / n:14.3f} {(r['first_s'] - base['first_s']) / r['versions']:10.3f} "
            f"{(r['first_bytes'] - base['first_bytes']) / r['versions'] / 1024:11.1f} "
            f"{r['archived'] / r['versions']:14.2f} {r['second_s'] / n:14.3f} {r['second_bytes'] / n:14.0f} "
            f"{r['image_requests_second']:17d}"
        )
    print()
    for name, r in results.items():
        print(
            f"{name}: {r['versions']} versions, {r['requisites']} requisites ({r['archived']} archived), "
            f"{r['screenshots']} screenshots averaging {r['screenshot_bytes'] / max(r['screenshots'], 1) / 1024:.0f} KB; "
            f"revisit: {r['unchanged']} unchanged, {r['image_requests_second']} image requests"
        )


if __name__ == "__main__":
    main()

"""Check the core loop on real saved pages, as a new user would (not a test: needs $BENCH_CORPUS).

Serves real article pages from $BENCH_CORPUS over a local HTTP server, writes a front-matter seed
for each whose body is the article text, then runs the real `crawler crawl` four times:
first crawl (version 1 each), unchanged revisit (no version), a one-sentence edit in some pages
(version 2 whose diff against the previous version shows that sentence), and checks 404/410 -> gone,
an unreachable host -> failed, and PRAGMA integrity_check.

    .venv/bin/python benchmarks/real_pages_check.py [--pages 40]
"""

from __future__ import annotations

import argparse
import gzip
import html as htmllib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from corpus import corpus_root  # benchmarks/corpus.py: $BENCH_CORPUS or benchmarks/corpus/
from crawl_bench import crawler_command

from crawler.extract.article import decode_html, extract
from crawler.changes.normalise import split_sentences

CORPUS = corpus_root()
CONFIG = "crawl:\n  download_delay: 0\n  autothrottle: false\n  timeout: 5\n  retries: 0\n  concurrent_per_domain: 8\n"


def corpus_files(limit: int) -> list[Path]:
    """WeChat and Chinese news pages first, then general pages, up to limit."""
    files = sorted((CORPUS / "wechat").glob("*.html.gz")) + sorted((CORPUS / "zh-news").glob("*.html.gz"))
    files += sorted((CORPUS / "pages").glob("*.html.gz"))[: max(0, limit - len(files))]
    return files[:limit]


def serve(routes: dict[str, tuple[int, bytes]]) -> ThreadingHTTPServer:
    """A local server answering from the routes mapping (path -> (status, body))."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, body = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def edit_one_sentence(raw: bytes, text: str) -> tuple[bytes, str, str] | None:
    """Change one sentence of the article that appears verbatim in the page source."""
    page = decode_html(raw, "text/html")
    for sentence in sorted(split_sentences(text), key=len, reverse=True):
        if len(sentence) < 12:
            break
        for form in (sentence, htmllib.escape(sentence, quote=False)):
            if page.count(form) == 1:
                cjk = any("\u4e00" <= ch <= "\u9fff" for ch in sentence)
                new = sentence[:-1] + ("，据后来的更正有所修改。" if cjk else " (corrected later).")
                edited = page.replace(form, new if form == sentence else htmllib.escape(new, quote=False))
                return edited.encode("utf-8"), sentence, new
    return None


def main() -> int:
    """Run the check and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"no corpus at {CORPUS}: nothing to check", file=sys.stderr)
        return 0
    work = Path(tempfile.mkdtemp(prefix="real-pages-"))
    seeds, archive = work / "seeds", work / "archive"
    seeds.mkdir()
    (work / "crawler.yaml").write_text(CONFIG)
    routes: dict[str, tuple[int, bytes]] = {}
    server = serve(routes)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    texts: dict[str, tuple[bytes, str]] = {}
    for i, path in enumerate(corpus_files(args.pages)):
        raw = gzip.decompress(path.read_bytes())
        extracted = extract(decode_html(raw, "text/html"), f"{base}/p/{i}")
        if extracted is None or len(extracted.text) < 200:
            continue  # not an article (notice pages, video posts): not a fair seed
        seed_id = f"p{i:03d}"
        routes[f"/p/{i}"] = (200, raw)
        texts[seed_id] = (raw, extracted.text)
        (seeds / f"{seed_id}.md").write_text(
            f"---\nurl: {base}/p/{i}\ntitle: {path.name}\n---\n\n{extracted.text}\n", encoding="utf-8"
        )
    routes["/gone"] = (410, b"gone")
    (seeds / "z_missing.md").write_text(f"---\nurl: {base}/missing\n---\nA page that is not there.\n")
    (seeds / "z_gone.md").write_text(f"---\nurl: {base}/gone\n---\nA deleted page.\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    (seeds / "z_dead.md").write_text(f"---\nurl: http://127.0.0.1:{dead}/x\n---\nA server that is down.\n")

    def crawl() -> str:
        done = subprocess.run(
            crawler_command(seeds, archive, work / "crawler.yaml", "crawl"), capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise SystemExit(f"crawl failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout.strip()

    def query(sql: str) -> list[tuple]:
        conn = sqlite3.connect(archive / "archive.db")
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    print(f"{len(texts)} real article pages served from {base}")
    print("first crawl:   ", crawl())
    v1 = query("SELECT count(*) FROM versions WHERE version = 1")[0][0]
    low = query(
        "SELECT v.seed_id, d.similarity FROM diffs d JOIN versions v ON v.id = d.version_id "
        "WHERE d.base = 'original' AND d.similarity < 0.99"
    )
    print(f"  versions 1: {v1} of {len(texts)}; similarity to the saved text < 0.99: {low}")
    print("revisit:       ", crawl())
    print(f"  versions after revisit: {query('SELECT count(*) FROM versions')[0][0]}")

    edits: dict[str, tuple[str, str]] = {}
    for seed_id, (raw, text) in list(texts.items())[::3]:
        edited = edit_one_sentence(raw, text)
        if edited:
            routes[f"/p/{int(seed_id[1:])}"] = (200, edited[0])
            edits[seed_id] = (edited[1], edited[2])
    print(f"one-sentence edits in {len(edits)} pages:", crawl())
    shown = 0
    for seed_id, (_old, new) in edits.items():
        rows = query(
            f"SELECT d.diff FROM diffs d JOIN versions v ON v.id = d.version_id "
            f"WHERE v.seed_id = '{seed_id}' AND v.version = 2 AND d.base = 'previous'"
        )
        if rows and f"+{new}" in rows[0][0].splitlines():
            shown += 1
        else:
            print(f"  {seed_id}: edit not shown as a changed sentence")
    print(f"  version 2 with the edited sentence in its diff: {shown} of {len(edits)}")
    outcomes = query(
        "SELECT seed_id, outcome, error FROM captures WHERE seed_id LIKE 'z_%' AND run_id = (SELECT max(id) FROM runs)"
    )
    print("  errors pages:", outcomes)
    print(
        "  integrity_check:",
        query("PRAGMA integrity_check")[0][0],
        "foreign_key_check rows:",
        len(query("PRAGMA foreign_key_check")),
    )
    print(f"  archive: {archive}")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

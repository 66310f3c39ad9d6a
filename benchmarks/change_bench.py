"""Change detection on real pages: noise must not make versions, edits must (not a test).

    .venv/bin/python benchmarks/change_bench.py [--pages 300] [--show 5] [--no-builtin-noise] [--keep]

Reads real pages at run time from $BENCH_CORPUS (pages/, plus the Chinese wechat/ and zh-news/
pages; never copied into the repository), keeps those with an article (200+ characters extracted),
and gives each page three seeds, one per kind of scripted mutation between two visits:

  (a) script/attribute noise: inline <script> contents, class and data- attribute values, and
      tracking parameters (utm_*) on every link change;
  (b) visible chrome noise: a view counter and relative time next to the article ("阅读 1234 ·
      3小时前", "1,234 views · updated 5 minutes ago"), a related-links aside beside the first
      paragraph whose headlines change, and a footer with a last-updated date and time;
  (c) a one-sentence edit: one word (Latin) or two characters (Chinese) of one sentence of the
      article text are replaced.

Serves the first variant of every page from a local HTTP server on 127.0.0.1, runs the real
`python -m crawler crawl` as a subprocess, serves the second variant, crawls again, and reports per
kind the false new versions (a, b) and the edits detected (c): a new version whose diff against the
previous version shows the edited sentence. Targets: 0 for (a), at most 2% for (b), 100% for (c).
"""

from __future__ import annotations

import argparse
import gzip
import html as htmllib
import json
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from corpus import corpus_root  # benchmarks/corpus.py: $BENCH_CORPUS or benchmarks/corpus/

from crawler.extract import decode_html, extract
from crawler.textnorm import comparison_form, is_cjk, split_sentences

CORPUS = corpus_root()
CONFIG = """\
crawl:
  download_delay: 0
  autothrottle: false
  timeout: 20
  retries: 0
  concurrent_requests: 32
  concurrent_per_domain: 16
"""
KINDS = {
    "a": "(a) script/attribute noise",
    "b": "(b) visible chrome noise",
    "c": "(c) one-sentence edit",
}


@dataclass
class Page:
    """A corpus page with an article: its HTML (decoded) and extracted text."""

    name: str
    html: str
    text: str

    @property
    def cjk(self) -> bool:
        """True for a Chinese/Japanese article (counters and edits in its script)."""
        sample = self.text[:400]
        return sum(map(is_cjk, sample)) * 4 > len(sample)


def corpus_files(limit: int | None) -> list[Path]:
    """Chinese pages first (few), then the general pages, up to limit."""
    files = sorted((CORPUS / "wechat").glob("*.html.gz")) + sorted((CORPUS / "zh-news").glob("*.html.gz"))
    files += sorted((CORPUS / "pages").glob("*.html.gz"))
    return files[:limit] if limit else files


def load_pages(limit: int | None) -> list[Page]:
    """Corpus pages that hold an article (200+ characters of extracted text)."""
    pages = []
    for path in corpus_files(limit):
        html = decode_html(gzip.decompress(path.read_bytes()), "text/html")
        extracted = extract(html, "http://127.0.0.1/x")
        if extracted is not None and len(extracted.text) >= 200:
            pages.append(Page(path.name, html, extracted.text))
    return pages


# --- (a) script and attribute noise ----------------------------------------------------

_INLINE_SCRIPT = re.compile(r"(<script\b(?![^>]*\bsrc=)[^>]*>)(.*?)(</script>)", re.IGNORECASE | re.DOTALL)
_CLASS = re.compile(r"""(\sclass=)(["'])([^"'<>]*)\2""", re.IGNORECASE)
_DATA_ATTR = re.compile(r"""(\sdata-[\w-]+=)(["'])[^"'<>]*\2""", re.IGNORECASE)
_HREF = re.compile(r"""(<a\b[^>]*?\shref=)(["'])(https?://[^"'<>#]*)""", re.IGNORECASE)


def script_noise(html: str, token: str) -> str:
    """Scripts, classes, data- attributes and tracking parameters that differ per token."""
    html = _INLINE_SCRIPT.sub(lambda m: f'{m[1]}{m[2]}\n;window.__pv="{token}";{m[3]}', html)
    html = re.sub(r"</head>", f'<script>var pageviewId = "{token}"; var ts = {int(token, 16) % 10**9};</script></head>',
                  html, count=1, flags=re.IGNORECASE)
    html = _CLASS.sub(lambda m: f"{m[1]}{m[2]}{m[3]} css-{token[:6]}{m[2]}", html)
    html = _DATA_ATTR.sub(lambda m: f'{m[1]}{m[2]}{token}{m[2]}', html)
    sep = lambda url: "&" if "?" in url else "?"  # noqa: E731
    return _HREF.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{sep(m[3])}utm_source=feed&utm_campaign={token}", html)


# --- (b) visible chrome noise -------------------------------------------------------------

_RAW_TEXT = re.compile(r"<(?:title|script|style|textarea|noscript|template)\b", re.IGNORECASE)
_BLOCK_START = re.compile(r"<(?:p|div|h[1-6]|li|section|blockquote|td|span|section)\b", re.IGNORECASE)


def article_start(page: Page) -> int | None:
    """Offset in the HTML of the block holding the article's first sentence, if found verbatim in the body."""
    # After <body> (or </head> on pages without one): never inside <title> or a meta tag.
    body = re.search(r"<body\b[^>]*>", page.html, re.IGNORECASE) or re.search(r"</head>", page.html, re.IGNORECASE)
    body_start = body.end() if body else 0
    for sentence in split_sentences(page.text)[:5]:
        for form in (sentence[:40], htmllib.escape(sentence[:40], quote=False)):
            pos = page.html.find(form, body_start) if len(form) >= 12 else -1
            while pos > 0:
                tag = page.html.rfind("<", 0, pos)
                # In text content, and not the text of an element whose content is not markup.
                if tag < page.html.rfind(">", 0, pos) and not _RAW_TEXT.match(page.html, tag):
                    starts = list(_BLOCK_START.finditer(page.html, max(body_start, pos - 3000), pos))
                    return starts[-1].start() if starts else pos
                pos = page.html.find(form, pos + 1)
    return None


def chrome_noise(page: Page, rng: random.Random, headlines: list[str], at: int | None) -> str:
    """A counter and relative time by the article, a related-links aside, a dated footer."""
    views, minutes = rng.randint(100, 99999), rng.randint(2, 59)
    if page.cjk:
        meta = f"阅读 {views} · {rng.randint(1, 23)}小时前"
        footer = f"更新时间：2024-03-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{minutes:02d}"
    else:
        meta = f"{views:,} views · updated {minutes} minutes ago"
        footer = f"Last updated: March {rng.randint(1, 28)}, 2024 {rng.randint(0, 23):02d}:{minutes:02d}"
    links = "".join(f'<li><a href="/related/{rng.randint(1, 10**6)}">{htmllib.escape(h)}</a></li>'
                    for h in rng.sample(headlines, 4))
    aside = f'<aside class="related-posts"><h3>Related</h3><ul>{links}</ul></aside>'
    # A plain paragraph, as many CMS templates print it: trafilatura keeps it, so the comparison must drop it.
    block = f'<p>{htmllib.escape(meta)}</p>{aside}'
    html = page.html
    if at is None:
        html = re.sub(r"(<body[^>]*>)", lambda m: m[1] + block, html, count=1, flags=re.IGNORECASE)
    else:
        html = html[:at] + block + html[at:]
    foot = f'<footer class="site-footer"><p>{htmllib.escape(footer)}</p><p>© 2024 Example Media</p></footer>'
    return re.sub(r"</body>", foot + "</body>", html, count=1, flags=re.IGNORECASE)


# --- (c) one-sentence edit ----------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{4,}")


def _in_text(html: str, form: str) -> bool:
    """True when form occurs exactly once in html, in text content (not in a tag or a meta attribute)."""
    pos = html.find(form)
    return pos >= 0 and html.find(form, pos + 1) < 0 and html.rfind("<", 0, pos) < html.rfind(">", 0, pos)


def edit_one_sentence(page: Page, rng: random.Random) -> tuple[str, str, str] | None:
    """The page with one sentence of its article changed: (html, old sentence, new sentence)."""
    candidates = [s for s in split_sentences(page.text) if len(s) >= 20]
    rng.shuffle(candidates)
    for sentence in candidates[:20]:
        forms = [f for f in (sentence, htmllib.escape(sentence, quote=False)) if _in_text(page.html, f)]
        if not forms:
            continue
        if page.cjk:
            middle = len(sentence) // 2
            if not (is_cjk(sentence[middle]) and is_cjk(sentence[middle + 1])):
                continue
            new = sentence[:middle] + "修订" + sentence[middle + 2:]
        else:
            words = list(_WORD.finditer(sentence))
            if not words:
                continue
            word = words[len(words) // 2]
            new = sentence[: word.start()] + "revised" + sentence[word.end():]
        if new == sentence:
            continue
        form = forms[0]
        replacement = new if form == sentence else htmllib.escape(new, quote=False)
        edited = page.html.replace(form, replacement)
        # Only an edit the article text shows is an edit to detect (not one in a hidden duplicate).
        extracted = extract(edited, "http://127.0.0.1/x")
        if extracted is not None and new in extracted.text:
            return edited, sentence, new
    return None


# --- serving and crawling ----------------------------------------------------------------


def serve(routes: dict[str, bytes]) -> ThreadingHTTPServer:
    """A local server answering from routes (path -> body); other paths are 404."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            body = body if body is not None else b"not found"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    """Build the mutations, crawl twice, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="corpus files to read (default: all)")
    parser.add_argument("--show", type=int, default=5, help="failures to show per kind")
    parser.add_argument("--seed", type=int, default=5, help="random seed of the mutations")
    parser.add_argument("--no-builtin-noise", action="store_true", help="crawl with change.builtin_noise: false")
    parser.add_argument("--keep", action="store_true", help="keep the archive (its path is printed)")
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"no corpus at {CORPUS}: nothing to measure", file=sys.stderr)
        return 0
    rng = random.Random(args.seed)
    started = time.perf_counter()
    pages = load_pages(args.pages)
    headlines = [s for p in pages for s in split_sentences(p.text) if 25 <= len(s) <= 90]
    work = Path(tempfile.mkdtemp(prefix="change-bench-"))
    seeds, archive = work / "seeds", work / "archive"
    seeds.mkdir()
    (work / "crawler.yaml").write_text(CONFIG + ("change:\n  builtin_noise: false\n" if args.no_builtin_noise else ""))
    first: dict[str, bytes] = {}
    second: dict[str, bytes] = {}
    edits: dict[str, tuple[str, str]] = {}
    placed = Counter()
    for i, page in enumerate(pages):
        at = article_start(page)
        placed["by the article" if at is not None else "after <body>"] += 1
        variants = {
            "a": (script_noise(page.html, f"{rng.getrandbits(48):012x}"), script_noise(page.html, f"{rng.getrandbits(48):012x}")),
            "b": (chrome_noise(page, rng, headlines, at), chrome_noise(page, rng, headlines, at)),
        }
        edited = edit_one_sentence(page, rng)
        if edited:
            variants["c"] = (page.html, edited[0])
            edits[f"c{i:04d}"] = (edited[1], edited[2])
        for kind, (one, two) in variants.items():
            seed_id, path = f"{kind}{i:04d}", f"/{kind}/{i}"
            first[path], second[path] = one.encode("utf-8"), two.encode("utf-8")
            (seeds / f"{seed_id}.md").write_text(
                f"---\nurl: PLACEHOLDER{path}\ntitle: {page.name}\n---\n\n{page.text}\n", encoding="utf-8"
            )
    routes: dict[str, bytes] = dict(first)
    server = serve(routes)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for seed in seeds.iterdir():
        seed.write_text(seed.read_text(encoding="utf-8").replace("PLACEHOLDER", base, 1), encoding="utf-8")
    prepared = time.perf_counter() - started

    def crawl() -> tuple[str, float]:
        command = [sys.executable, "-m", "crawler", "--seeds", str(seeds), "--archive", str(archive),
                   "--config", str(work / "crawler.yaml"), "crawl"]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"crawl failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout.strip(), time.perf_counter() - began

    def query(sql: str, *params: object) -> list[tuple]:
        conn = sqlite3.connect(archive / "archive.db")
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    print(f"{len(pages)} article pages of {len(corpus_files(args.pages))} corpus files; counters placed "
          f"{dict(placed)}; {len(edits)} pages with an editable sentence; prepared in {prepared:.0f} s",
          file=sys.stderr)
    line, seconds = crawl()
    print(f"first crawl ({seconds:.0f} s): {line}", file=sys.stderr)
    routes.update(second)
    line, seconds = crawl()
    print(f"second crawl ({seconds:.0f} s): {line}", file=sys.stderr)

    run2 = query("SELECT max(id) FROM runs")[0][0]
    # Seeds whose first visit made a version: the ones a second visit can judge.
    judged = {row[0] for row in query("SELECT seed_id FROM captures WHERE run_id = ? AND outcome = 'new_version'", run2 - 1)}
    outcomes = {row[0]: row[1] for row in query("SELECT seed_id, outcome FROM captures WHERE run_id = ?", run2)}
    texts = {row[0]: row[1] for row in query("SELECT seed_id, text FROM versions WHERE version = 1")}

    rows = []
    for kind in ("a", "b"):
        ids = sorted(s for s in judged if s.startswith(kind))
        false = [s for s in ids if outcomes.get(s) == "new_version"]
        other = Counter(outcomes.get(s) for s in ids if outcomes.get(s) not in ("new_version", "unchanged"))
        noise_seen = ""
        if kind == "b":
            counters = sum(1 for s in ids if re.search(r"阅读 \d+|[\d,]+ views", texts.get(s, "")))
            noise_seen = f"counter in {counters} of {len(ids)} extracted texts"
        rows.append((KINDS[kind], len(ids), f"{len(false)} false new versions", 100 * len(false) / max(1, len(ids)),
                     "0" if kind == "a" else "<= 2%", noise_seen, dict(other)))
        for seed_id in false[: args.show]:
            diff = query("SELECT d.diff FROM diffs d JOIN versions v ON v.id = d.version_id "
                         "WHERE v.seed_id = ? AND v.version = 2 AND d.base = 'previous'", seed_id)
            print(f"\n{kind}: false new version {seed_id} ({pages[int(seed_id[1:])].name}):\n"
                  + "\n".join(diff[0][0].splitlines()[:12]), file=sys.stderr)

    ids = sorted(s for s in judged if s in edits)
    detected, classes = [], Counter()
    for seed_id in ids:
        if outcomes.get(seed_id) != "new_version":
            continue
        diff, change, ops = query(
            "SELECT d.diff, d.change, d.ops FROM diffs d JOIN versions v ON v.id = d.version_id "
            "WHERE v.seed_id = ? AND v.version = 2 AND d.base = 'previous'", seed_id)[0]
        added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        # Compared folded: the stored text has clean spaces where the page had runs or NBSPs.
        shown, edited = comparison_form("".join(added)), comparison_form(edits[seed_id][1])
        if edited in shown or (shown and shown in edited):
            detected.append(seed_id)
            classes[change] += 1
            classes["with word ops"] += any("words" in op for op in json.loads(ops))
    missed = [s for s in ids if s not in detected]
    rows.append((KINDS["c"], len(ids), f"{len(detected)} edits detected", 100 * len(detected) / max(1, len(ids)),
                 "100%", "change classes " + ", ".join(f"{k}: {v}" for k, v in classes.most_common()),
                 dict(Counter(outcomes.get(s) for s in missed))))
    for seed_id in missed[: args.show]:
        print(f"\nc: edit not detected {seed_id} ({outcomes.get(seed_id)}): {edits[seed_id]}", file=sys.stderr)

    print(f"\n{len(pages)} real article pages ($BENCH_CORPUS), two crawls of {2 * len(pages) + len(edits)} seeds\n")
    print("| mutation between visits | pages | result | % | target | notes |")
    print("|---|---:|---|---:|---:|---|")
    for name, count, result, share, target, notes, other in rows:
        extra = f"; other outcomes {other}" if other else ""
        print(f"| {name} | {count} | {result} | {share:.1f}% | {target} | {notes}{extra} |")
    server.shutdown()
    if args.keep:
        print(f"\narchive: {archive}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

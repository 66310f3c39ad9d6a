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
from crawl_bench import crawler_command

from crawler.extract.article import decode_html, extract
from crawler.changes.normalise import comparison_form, is_cjk, split_sentences
from crawler.changes.versions import IGNORED_HUNK

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
    "d": "(d) counters written as prose",
    "e": "(e) a corrected number beside a prose counter",
    "f": "(f) re-dated page",
    "g": "(g) retitled page",
    "z": "(z) two Chinese characters replaced",
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
    html = re.sub(
        r"</head>",
        f'<script>var pageviewId = "{token}"; var ts = {int(token, 16) % 10**9};</script></head>',
        html,
        count=1,
        flags=re.IGNORECASE,
    )
    html = _CLASS.sub(lambda m: f"{m[1]}{m[2]}{m[3]} css-{token[:6]}{m[2]}", html)
    html = _DATA_ATTR.sub(lambda m: f"{m[1]}{m[2]}{token}{m[2]}", html)
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
    links = "".join(
        f'<li><a href="/related/{rng.randint(1, 10**6)}">{htmllib.escape(h)}</a></li>' for h in rng.sample(headlines, 4)
    )
    aside = f'<aside class="related-posts"><h3>Related</h3><ul>{links}</ul></aside>'
    # A plain paragraph, as many CMS templates print it: trafilatura keeps it, so the comparison must drop it.
    block = f"<p>{htmllib.escape(meta)}</p>{aside}"
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
            if not (is_cjk(sentence[middle]) and is_cjk(sentence[middle + 1])) or set(
                sentence[middle : middle + 2]
            ) & set("修订"):
                continue
            new = sentence[:middle] + "修订" + sentence[middle + 2 :]
        else:
            words = list(_WORD.finditer(sentence))
            if not words:
                continue
            word = words[len(words) // 2]
            new = sentence[: word.start()] + "revised" + sentence[word.end() :]
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


# --- (d) counters and times written as prose ---------------------------------------------

# Phrasings of counters and relative times inside the article, as sites write them; each visit fills
# in new values. None of them stands apart from the prose the way the built-in noise patterns need.
EN_COUNTERS = (
    "This story has been viewed {n:,} times.",
    "Read {k}k times · {c} comments.",
    "Last updated {m} minutes ago by the newsroom.",
    "So far {n:,} readers have liked this article.",
    "This article has {c} comments and has been shared {s} times.",
    "More than {n:,} people have read this piece.",
    "You are one of {n:,} visitors who viewed this page today.",
    "{c} readers commented on this story, and it was liked {n:,} times.",
    "This post was last edited {m} minutes ago and has been read {n:,} times.",
    "Posted {d} days ago, with {c} replies so far.",
    "It has {n:,} views and {s} likes.",
    "Our readers have recommended this article {s} times.",
)
ZH_COUNTERS = (
    "本文已被浏览{n}次。",
    "共有{c}位读者点赞。",
    "更新于{h}小时前。",
    "这篇文章已有{n}人阅读，{c}人留言。",
    "截至目前，本文累计阅读{n}次。",
    "已有{c}位网友发表了评论。",
    "本文发布于{m}分钟前，已被转发{c}次。",
    "{c}人觉得这篇文章有用并点了赞。",
    "该文章共被收藏{c}次，分享{s}次。",
    "最后编辑于{m}分钟前。",
    "阅读量已突破{w}万，在看{c}。",
    "今天有{n}人看过这篇文章。",
)


def counter_sentence(phrasing: str, rng: random.Random, previous: str | None) -> str:
    """The phrasing with new values (never the same sentence as the previous visit's)."""
    while True:
        sentence = phrasing.format(
            n=rng.randint(100, 99999),
            c=rng.randint(1, 999),
            s=rng.randint(1, 500),
            m=rng.randint(2, 59),
            h=rng.randint(1, 23),
            d=rng.randint(2, 30),
            w=rng.randint(1, 99),
            k=f"{rng.randint(10, 99) / 10:.1f}",
        )
        if sentence != previous:
            return sentence


def _text_position(html: str, sentences: list[str], body_start: int) -> tuple[int, str] | None:
    """(offset just after, form) of the first of sentences found once in the HTML's text content."""
    for sentence in sentences[:8]:
        for form in (sentence, htmllib.escape(sentence, quote=False)):
            pos = html.find(form, body_start)
            if (
                len(form) >= 12
                and pos >= 0
                and html.find(form, pos + 1) < 0
                and html.rfind("<", 0, pos) < html.rfind(">", 0, pos)
                and not _RAW_TEXT.match(html, html.rfind("<", 0, pos))
            ):
                return pos + len(form), form
    return None


def with_counter(page: Page, html: str, counter: str) -> str | None:
    """html with the counter sentence written into the article right after one of its first sentences."""
    body = re.search(r"<body\b[^>]*>", html, re.IGNORECASE)
    found = _text_position(html, split_sentences(page.text), body.end() if body else 0)
    if found is None:
        return None
    at = found[0]
    gap = "" if page.cjk else " "
    return html[:at] + gap + htmllib.escape(counter, quote=False) + html[at:]


def counter_visits(page: Page, html: str, phrasing: str, rng: random.Random, visits: int = 3) -> list[str] | None:
    """The page on each visit with new counter values, if the counter reaches the extracted text."""
    sentences: list[str] = []
    for _ in range(visits):
        sentences.append(counter_sentence(phrasing, rng, sentences[-1] if sentences else None))
    pages = [with_counter(page, html, sentence) for sentence in sentences]
    if pages[0] is None:
        return None
    extracted = extract(pages[0], "http://127.0.0.1/x")
    # Only a counter the article text shows can make a false version.
    if extracted is None or comparison_form(sentences[0]) not in comparison_form(extracted.text):
        return None
    return pages


# --- (e) a corrected number ------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\d.,])\d{1,6}(?![\d])")


# A dateline ("Updated June 13, 2019", "19.10.2019 07:49 Uhr") or a copyright line: a new date there is
# a re-dating, measured by (f) as an event without a version, or page chrome; not a corrected number.
_COPYRIGHT = re.compile(r"©|\bcopyright\b|版权所有", re.IGNORECASE)
_DATE_WORDS = re.compile(
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|januar|februar|märz|mai|juni|juli|oktober|dezember)[a-zä]*"
    r"|mon|tue|wed|thu|fri|sat|sun|[a-z]+day|updated|published|posted|modified|last|on|at|uhr|am|pm|gmt|utc|[ecmp][sd]t|cet|cest"
    r"|aktualisiert|veröffentlicht|stand|erstellt|zuletzt|mis|à|jour|publié|le|mise"
)


def dateline(sentence: str) -> bool:
    """True for a sentence that is only a date and time (with its label), or a copyright line."""
    if _COPYRIGHT.search(sentence):
        return True
    words = [w for w in re.findall(r"[^\W\d_]+", sentence.lower()) if not _DATE_WORDS.fullmatch(w)]
    return not words and not is_cjk(sentence)


# A number that is itself a live counter ("2.1 million twitter followers", "(2.247 Follower)"): what (d)
# measures as noise, not an article's fact to correct.
_COUNTED = re.compile(
    r"\d\s*(?:(?:million|billion|thousand|k|m|mio\.?)\s+)?(?:\w+\s+)?"
    r"(?:followers?|follower|views|likes|comments|readers|subscribers|abonnenten|kommentare|aufrufe|retweets)\b",
    re.IGNORECASE,
)


def correct_number(page: Page, rng: random.Random) -> tuple[str, str, str] | None:
    """The page with one number in one article sentence corrected: (html, old sentence, new sentence)."""
    candidates = [
        s
        for s in split_sentences(page.text)
        if len(s) >= 20 and _NUMBER.search(s) and not dateline(s) and not _COUNTED.search(s)
    ]
    rng.shuffle(candidates)
    for sentence in candidates[:20]:
        forms = [f for f in (sentence, htmllib.escape(sentence, quote=False)) if _in_text(page.html, f)]
        if not forms:
            continue
        number = rng.choice(list(_NUMBER.finditer(sentence)))
        digits = number.group()
        fixed = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 8)) % 10)
        new = sentence[: number.start()] + fixed + sentence[number.end() :]
        form = forms[0]
        edited = page.html.replace(form, new if form == sentence else htmllib.escape(new, quote=False))
        extracted = extract(edited, "http://127.0.0.1/x")
        if extracted is not None and new in extracted.text:
            return edited, sentence, new
    return None


# --- (f) re-dated and (g) retitled pages -----------------------------------------------------


def redated(page: Page, day: int) -> str:
    """The page with a new publication date in its metadata and a dateline in the article."""
    stamp = f"2024-03-{day:02d}T10:00:00+00:00"
    html = re.sub(
        r"""<meta[^>]+(?:published_time|datePublished|pubdate|publishdate|DC\.date)[^>]*>""",
        "",
        page.html,
        flags=re.IGNORECASE,
    )
    meta = f'<meta property="article:published_time" content="{stamp}">'
    html = re.sub(r"(<head[^>]*>)", lambda m: m[1] + meta, html, count=1, flags=re.IGNORECASE)
    line = f"发布时间：2024年3月{day}日" if page.cjk else f"Published on March {day}, 2024"
    found = article_start(page)
    if found is not None:
        html = html[:found] + f"<p>{line}</p>" + html[found:]
    return html


def retitled(page: Page, title: str) -> str:
    """The page with a new headline in <title> and the og:/twitter: title metadata."""
    safe = htmllib.escape(title)
    html = re.sub(
        r"<title[^>]*>.*?</title>", f"<title>{safe}</title>", page.html, count=1, flags=re.IGNORECASE | re.DOTALL
    )
    return re.sub(
        r"""(<meta[^>]+(?:og:title|twitter:title)["'][^>]*content=)(["'])[^"']*\2""",
        lambda m: f"{m[1]}{m[2]}{safe}{m[2]}",
        html,
        flags=re.IGNORECASE,
    )


# --- (z) two characters of a Chinese sentence replaced ----------------------------------------

CENSOR_MARKS = ("××", "□□", "某某", "有关", "相关")


def replace_two_characters(page: Page, rng: random.Random, count: int) -> list[tuple[str, str, str, str, str]]:
    """Up to count versions of a Chinese page, each with two characters of one sentence replaced.

    Each is (html, old sentence, new sentence, old two characters, new two characters).
    """
    out = []
    candidates = [s for s in split_sentences(page.text) if len(s) >= 12]
    rng.shuffle(candidates)
    for sentence in candidates:
        if len(out) >= count:
            break
        forms = [f for f in (sentence, htmllib.escape(sentence, quote=False)) if _in_text(page.html, f)]
        spots = [
            i
            for i in range(2, len(sentence) - 3)
            if is_cjk(sentence[i]) and is_cjk(sentence[i + 1]) and sentence[i : i + 2].isalpha()
        ]
        if not forms or not spots:
            continue
        at = rng.choice(spots)
        old = sentence[at : at + 2]
        marks = [
            m
            for m in CENSOR_MARKS
            if m[0] != old[0] and m[1] != old[1] and m[0] != sentence[at - 1] and m[1] != sentence[at + 2]
        ]
        mark = rng.choice(marks)
        new = sentence[:at] + mark + sentence[at + 2 :]
        form = forms[0]
        edited = page.html.replace(form, new if form == sentence else htmllib.escape(new, quote=False))
        extracted = extract(edited, "http://127.0.0.1/x")
        if extracted is not None and new in extracted.text:
            out.append((edited, sentence, new, old, mark))
    return out


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


def added_lines(diff: str, ignored: bool = False) -> list[str]:
    """The + lines of a stored unified diff: of real changes only, or (ignored=True) of ignored ones only."""
    out, in_ignored = [], False
    for line in diff.splitlines():
        if line.startswith("@@"):
            in_ignored = line.endswith(IGNORED_HUNK)
        elif line.startswith("+") and not line.startswith("+++") and in_ignored == ignored:
            out.append(line[1:])
    return out


def main() -> int:
    """Build the mutations, crawl three times, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="corpus files to read (default: all)")
    parser.add_argument("--show", type=int, default=5, help="failures to show per kind")
    parser.add_argument("--seed", type=int, default=5, help="random seed of the mutations")
    parser.add_argument("--kinds", default="abcdefgz", help="mutation kinds to run (default: all, abcdefgz)")
    parser.add_argument("--meta-every", type=int, default=5, help="re-date and retitle every Nth page (default 5)")
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
    visits: dict[str, list[bytes]] = {}
    edits: dict[str, tuple[str, str]] = {}  # c, e, z seeds: (old sentence, new sentence)
    pairs: dict[str, tuple[str, str]] = {}  # z seeds: (old two characters, new two characters)
    phrasing_of: dict[str, str] = {}  # d and e seeds: the counter phrasing they carry
    expected_meta: dict[str, str] = {}  # f and g seeds: the value the first visit shows
    placed = Counter()
    for i, page in enumerate(pages):
        at = article_start(page)
        placed["by the article" if at is not None else "after <body>"] += 1
        variants: dict[str, list[str]] = {}
        if "a" in args.kinds:
            variants["a"] = [script_noise(page.html, f"{rng.getrandbits(48):012x}") for _ in range(3)]
        if "b" in args.kinds:
            variants["b"] = [chrome_noise(page, rng, headlines, at) for _ in range(3)]
        if "c" in args.kinds and (edited := edit_one_sentence(page, rng)):
            variants["c"] = [page.html, edited[0], edited[0]]
            edits[f"c{i:04d}"] = (edited[1], edited[2])
        if "d" in args.kinds:
            phrasings = ZH_COUNTERS if page.cjk else (EN_COUNTERS[i % len(EN_COUNTERS)],)
            for j, phrasing in enumerate(phrasings):
                made = counter_visits(page, page.html, phrasing, rng)
                if made:
                    key = f"d{i:04d}" + (f"{j:02d}" if page.cjk else "")
                    variants[key] = made
                    phrasing_of[key] = phrasing
        if "e" in args.kinds and (corrected := correct_number(page, rng)):
            phrasing = (ZH_COUNTERS if page.cjk else EN_COUNTERS)[(i + 3) % len(EN_COUNTERS)]
            counters: list[str] = []
            for _ in range(3):
                counters.append(counter_sentence(phrasing, rng, counters[-1] if counters else None))
            avoid = Page(page.name, page.html, page.text.replace(corrected[1], ""))
            made = [with_counter(avoid, html, c) for html, c in zip((page.html, corrected[0], corrected[0]), counters)]
            # The counter written in can move the extractor's choice of article: keep only corrections
            # the visits' extracted text shows.
            if all(made) and all(
                sentence in (getattr(extract(html, "http://127.0.0.1/x"), "text", None) or "")
                for html, sentence in ((made[0], corrected[1]), (made[1], corrected[2]))
            ):
                variants["e"] = made
                edits[f"e{i:04d}"] = (corrected[1], corrected[2])
                phrasing_of[f"e{i:04d}"] = phrasing
        if i % args.meta_every == 0:
            if "f" in args.kinds:
                days = rng.sample(range(1, 29), 2)
                variants["f"] = [redated(page, days[0]), redated(page, days[1]), redated(page, days[1])]
                expected_meta[f"f{i:04d}"] = f"2024-03-{days[0]:02d}"
            if "g" in args.kinds:
                titles = rng.sample(headlines, 2)
                variants["g"] = [retitled(page, titles[0]), retitled(page, titles[1]), retitled(page, titles[1])]
                expected_meta[f"g{i:04d}"] = titles[0]
        if "z" in args.kinds and page.cjk:
            for k, (html, old, new, old2, new2) in enumerate(replace_two_characters(page, rng, 5)):
                variants[f"z{k}"] = [page.html, html, html]
                edits[f"z{i:04d}{k}"] = (old, new)
                pairs[f"z{i:04d}{k}"] = (old2, new2)
        for name, htmls in variants.items():
            kind = name[0]
            seed_id = name if kind == "d" else f"{kind}{i:04d}{name[1:]}"
            path = f"/{seed_id}"
            visits[path] = [html.encode("utf-8") for html in htmls]
            (seeds / f"{seed_id}.md").write_text(
                f"---\nurl: PLACEHOLDER{path}\ntitle: {page.name}\n---\n\n{page.text}\n", encoding="utf-8"
            )
    routes: dict[str, bytes] = {path: bodies[0] for path, bodies in visits.items()}
    server = serve(routes)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for seed in seeds.iterdir():
        seed.write_text(seed.read_text(encoding="utf-8").replace("PLACEHOLDER", base, 1), encoding="utf-8")
    prepared = time.perf_counter() - started

    def cli(*command: str) -> str:
        done = subprocess.run(
            crawler_command(seeds, archive, work / "crawler.yaml", *command),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if done.returncode != 0:
            raise SystemExit(f"crawler {' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def crawl() -> tuple[str, float]:
        began = time.perf_counter()
        return cli("crawl").strip(), time.perf_counter() - began

    def query(sql: str, *params: object) -> list[tuple]:
        conn = sqlite3.connect(archive / "archive.db")
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    kinds_count = Counter(path[1] for path in visits)
    print(
        f"{len(pages)} article pages of {len(corpus_files(args.pages))} corpus files ({sum(p.cjk for p in pages)} Chinese); "
        f"counters placed {dict(placed)}; seeds per kind {dict(sorted(kinds_count.items()))}; "
        f"prepared in {prepared:.0f} s",
        file=sys.stderr,
    )
    for visit in range(3):
        if visit:
            routes.update({path: bodies[visit] for path, bodies in visits.items()})
        line, seconds = crawl()
        print(f"crawl {visit + 1} ({seconds:.0f} s): {line}", file=sys.stderr)

    run3 = query("SELECT max(id) FROM runs")[0][0]
    run1, run2 = run3 - 2, run3 - 1
    # Seeds whose first visit made a version: the ones later visits can judge.
    judged = {
        row[0] for row in query("SELECT seed_id FROM captures WHERE run_id = ? AND outcome = 'new_version'", run1)
    }
    outcome = {
        run: {row[0]: row[1] for row in query("SELECT seed_id, outcome FROM captures WHERE run_id = ?", run)}
        for run in (run2, run3)
    }
    texts = {row[0]: row[1] for row in query("SELECT seed_id, text FROM versions WHERE version = 1")}

    def of(kind: str) -> list[str]:
        return sorted(s for s in judged if s.startswith(kind))

    def previous_diff(seed_id: str, version: int = 2) -> tuple[str, str, str]:
        return query(
            "SELECT d.diff, d.change, d.ops FROM diffs d JOIN versions v ON v.id = d.version_id "
            "WHERE v.seed_id = ? AND v.version = ? AND d.base = 'previous'",
            seed_id,
            version,
        )[0]

    def show_false(kind: str, seed_ids: list[str]) -> None:
        for seed_id in seed_ids[: args.show]:
            diff = query(
                "SELECT d.diff FROM diffs d JOIN versions v ON v.id = d.version_id "
                "WHERE v.seed_id = ? AND v.version = 2 AND d.base = 'previous'",
                seed_id,
            )
            print(
                f"\n{kind}: false new version {seed_id}:\n" + "\n".join((diff[0][0] if diff else "").splitlines()[:12]),
                file=sys.stderr,
            )

    rows = []
    # (a), (b): noise that must never make a version, on two revisits.
    for kind in "ab":
        ids = of(kind)
        if not ids:
            continue
        false = [s for s in ids for run in (run2, run3) if outcome[run].get(s) == "new_version"]
        other = Counter(
            outcome[run].get(s)
            for s in ids
            for run in (run2, run3)
            if outcome[run].get(s) not in ("new_version", "unchanged")
        )
        noise_seen = ""
        if kind == "b":
            counters = sum(1 for s in ids if re.search(r"阅读 \d+|[\d,]+ views", texts.get(s, "")))
            noise_seen = f"counter in {counters} of {len(ids)} extracted texts"
        rows.append(
            (
                KINDS[kind],
                f"{len(ids)} × 2 revisits",
                f"{len(false)} false new versions",
                100 * len(false) / max(1, 2 * len(ids)),
                "0" if kind == "a" else "<= 2%",
                noise_seen,
                dict(other),
            )
        )
        show_false(kind, sorted(set(false)))

    # (c), (z): edits that must be found on the second visit (and nothing more on the third).
    for kind in "cz":
        ids = sorted(s for s in judged if s in edits and s.startswith(kind))
        if not ids:
            continue
        detected, classes, exact, inexact = [], Counter(), 0, []
        for seed_id in ids:
            if outcome[run2].get(seed_id) != "new_version":
                continue
            diff, change, ops = previous_diff(seed_id)
            # Compared folded: the stored text has clean spaces where the page had runs or NBSPs.
            shown, edited = comparison_form("".join(added_lines(diff))), comparison_form(edits[seed_id][1])
            if edited in shown or (shown and shown in edited):
                detected.append(seed_id)
                classes[change] += 1
                classes["with word ops"] += any("words" in op for op in json.loads(ops))
            if kind == "z":
                old2, new2 = pairs[seed_id]
                printed = cli("diff", seed_id, "--from", "1", "--to", "2", "--word-diff")
                marks = re.findall(r"\[-.*?-\]|\{\+.*?\+\}", printed)
                if marks == [f"[-{old2}-]", f"{{+{new2}+}}"]:
                    exact += 1
                else:
                    inexact.append((seed_id, marks))
        missed = [s for s in ids if s not in detected]
        later = sum(1 for s in ids if outcome[run3].get(s) == "new_version")
        notes = "change classes " + ", ".join(f"{k}: {v}" for k, v in classes.most_common())
        if kind == "z":
            notes += f"; `crawler diff --word-diff` shows exactly the two characters for {exact} of {len(detected)}"
        notes += f"; third visit (no change): {later} new versions"
        rows.append(
            (
                KINDS[kind],
                str(len(ids)),
                f"{len(detected)} edits detected",
                100 * len(detected) / len(ids),
                "100%",
                notes,
                dict(Counter(outcome[run2].get(s) for s in missed)),
            )
        )
        for seed_id in missed[: args.show]:
            print(
                f"\n{kind}: edit not detected {seed_id} ({outcome[run2].get(seed_id)}): {edits[seed_id]}",
                file=sys.stderr,
            )
        for seed_id, marks in inexact[: args.show]:
            print(f"\n{kind}: word diff of {seed_id} shows {marks}, not {pairs[seed_id]}", file=sys.stderr)

    # (d), (e): counters written as prose, new values on every visit.
    revisits = [(s, run) for s in of("d") for run in (run2, run3)] + [(s, run3) for s in of("e")]
    if revisits:
        false = [(s, run) for s, run in revisits if outcome[run].get(s) == "new_version"]
        by_script = Counter()
        for s, run in revisits:
            script = "zh" if phrasing_of[s] in ZH_COUNTERS else "en"
            by_script[script, "revisits"] += 1
            by_script[script, "false"] += outcome[run].get(s) == "new_version"
        bad = Counter(phrasing_of[s] for s, _ in false)
        ignored = query(
            "SELECT count(*) FROM captures WHERE run_id IN (?, ?) AND ignored_changes IS NOT NULL "
            "AND (seed_id LIKE 'd%' OR seed_id LIKE 'e%')",
            run2,
            run3,
        )[0][0]
        notes = (
            f"{len(EN_COUNTERS)} English phrasings: {by_script['en', 'false']} of {by_script['en', 'revisits']}; "
            f"{len(ZH_COUNTERS)} Chinese: {by_script['zh', 'false']} of {by_script['zh', 'revisits']}; "
            f"{ignored} unchanged captures list the ignored sentences"
        )
        if bad:
            notes += "; false versions by phrasing " + "; ".join(f"{p!r}: {n}" for p, n in bad.most_common())
        rows.append(
            (
                KINDS["d"],
                f"{len(revisits)} revisits",
                f"{len(false)} false new versions",
                100 * len(false) / len(revisits),
                "<= 2%",
                notes,
                {},
            )
        )
        show_false("d", sorted({s for s, _ in false}))
    ids = sorted(s for s in judged if s in edits and s.startswith("e"))
    if ids:
        detected, flagged = [], 0
        for seed_id in ids:
            if outcome[run2].get(seed_id) != "new_version":
                continue
            diff, _, ops = previous_diff(seed_id)
            shown, edited = comparison_form("".join(added_lines(diff))), comparison_form(edits[seed_id][1])
            if edited in shown:
                detected.append(seed_id)
            flagged += any(op.get("ignored") for op in json.loads(ops))
        missed = [s for s in ids if s not in detected]
        rows.append(
            (
                KINDS["e"],
                str(len(ids)),
                f"{len(detected)} corrections detected",
                100 * len(detected) / len(ids),
                "100%",
                f"the counter beside it marked ignored in {flagged} of {len(detected)} diffs",
                dict(Counter(outcome[run2].get(s) for s in missed)),
            )
        )
        for seed_id in missed[: args.show]:
            print(
                f"\ne: correction not detected {seed_id} ({outcome[run2].get(seed_id)}): {edits[seed_id]}",
                file=sys.stderr,
            )

    # (f), (g): re-dated and retitled pages are events (metadata changes), not versions.
    events = json.loads(cli("changes", "--since", "30d", "--json"))
    for kind, column, field in (("f", "published", "published"), ("g", "title", "title")):
        ids = of(kind)
        if not ids:
            continue
        first = {row[0]: row[1] for row in query(f"SELECT seed_id, {column} FROM versions WHERE version = 1")}
        reached = [s for s in ids if (first.get(s) or "").startswith(expected_meta[s])]
        versions = sum(1 for s in ids for run in (run2, run3) if outcome[run].get(s) == "new_version")
        seen = {
            e["seed_id"]
            for e in events
            if e.get("kind") == "metadata" and any(m["field"] == field for m in e.get("metadata", []))
        }
        evented = sum(1 for s in reached if s in seen)
        rows.append(
            (
                KINDS[kind],
                str(len(ids)),
                f"{versions} new versions",
                100 * versions / (2 * len(ids)),
                "0",
                f"the first visit's {field} extracted on {len(reached)}; a `crawler changes` {field} event "
                f"for {evented} of them",
                {},
            )
        )

    total = len(visits)
    print(f"\n{len(pages)} real article pages ($BENCH_CORPUS), three crawls of {total} seeds\n")
    print("| mutation between visits | judged | result | % | target | notes |")
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

"""Check on real pages that the reader fingerprint's stripping leaves extraction as it was (not a test).

    BENCH_CORPUS=/path/to/corpus .venv/bin/python benchmarks/fingerprint_check.py [--limit N]

For every page under $BENCH_CORPUS (pages/, wechat/, zh-news/): extraction as the crawler does it
(scripts and per-request attributes stripped first, crawler/extract/fingerprint.py) against extraction of the
unstripped page; text, title, author and date must be equal. Also checks that invisible noise (a script
token, a data- attribute on <body>) leaves the fingerprint unchanged while a one-character edit of the
extracted text changes it. Prints the counts; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from unittest import mock

from corpus import corpus_root  # benchmarks/corpus.py: $BENCH_CORPUS or benchmarks/corpus/
from crawl_bench import with_noise

import crawler.extract.article as extract_module
from crawler.changes.outcome import page_fingerprint
from crawler.model import RawResponse
from crawler.extract.article import decode_html, extract

FIELDS = ("text", "title", "author", "date")


def _in_script(body: bytes, index: int) -> bool:
    """True when position index of the page lies inside a <script> element."""
    return body.rfind(b"<script", 0, index) > body.rfind(b"</script", 0, index)


def raw(body: bytes) -> RawResponse:
    """A 200 response as the spider hands it on."""
    return RawResponse(
        seed_id="s", url="http://127.0.0.1/p", status=200, headers={"content-type": ["text/html"]}, body=body
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="at most this many pages (0: all)")
    args = parser.parse_args()
    paths = sorted(p for folder in ("pages", "wechat", "zh-news") for p in (corpus_root() / folder).glob("*.html.gz"))
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        print(f"no pages under {corpus_root()}: see benchmarks/README.md", file=sys.stderr)
        return 2
    differ = noise_changed = edit_missed = extracted = 0
    for path in paths:
        body = gzip.decompress(path.read_bytes())
        html = decode_html(body)
        stripped = extract(html, "http://127.0.0.1/p")
        with mock.patch.object(extract_module, "strip_volatile", lambda tree: None):
            plain = extract(html, "http://127.0.0.1/p")
        if (stripped is None) != (plain is None) or (
            stripped and any(getattr(stripped, f) != getattr(plain, f) for f in FIELDS)
        ):
            differ += 1
            print(f"differs: {path.name}", file=sys.stderr)
        fingerprint = page_fingerprint(raw(body))
        if page_fingerprint(raw(with_noise(body))) != fingerprint:
            noise_changed += 1
            print(f"noise changed the fingerprint: {path.name}", file=sys.stderr)
        if stripped and stripped.text:
            extracted += 1
            # One character of the longest extracted line, changed where it is in the page.
            line = max(stripped.text.splitlines(), key=len)
            word = next(
                (
                    w
                    for w in line.split()
                    if len(w) > 3
                    and w.isalpha()
                    and body.count(w.encode()) == 1
                    and not _in_script(body, body.index(w.encode()))
                ),
                None,
            )
            if word and page_fingerprint(raw(body.replace(word.encode(), (word[:-1] + "#").encode()))) == fingerprint:
                edit_missed += 1
                print(f"an edit left the fingerprint unchanged: {path.name}", file=sys.stderr)
    print(
        f"{len(paths)} pages: extraction differs on {differ}; invisible noise changed the fingerprint on "
        f"{noise_changed}; of {extracted} pages with text, a one-character edit left it unchanged on {edit_missed}"
    )
    return 1 if differ or noise_changed or edit_missed else 0


if __name__ == "__main__":
    sys.exit(main())

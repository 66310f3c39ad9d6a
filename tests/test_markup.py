"""Markup digests: a revisit whose scripts, comments and volatile attribute values alone changed is known unchanged without a parse; nothing else is."""

from __future__ import annotations

import random
import re

import pytest

from crawler.archive.store import Store
from crawler.changes.outcome import markup_unchanged, page_fingerprint
from crawler.extract import markup
from crawler.extract.article import drop_xml_invalid_refs, loader_input
from crawler.extract.markup import Markup, page_markup, same_markup, volatile_spans
from crawler.model import RawResponse
from helpers import LocalServer, Project
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body

URL = "http://127.0.0.1:8000/a"
TITLE = "Council approves library budget"
PAGE = article_page(TITLE, EN_PARAGRAPHS, lang="en").replace(
    "</head>",
    '<meta property="article:published_time" content="2024-03-01T08:00:00Z">'
    '<script type="application/ld+json">{"@type": "NewsArticle", "author": {"name": "Ana Lopez"}}</script>'
    "</head>",
)

pytestmark = pytest.mark.skipif(not markup.SUPPORTED, reason="markup digests follow libxml2 2.14's tokenizer")


def tokened(page: str, token: str) -> str:
    """The page as a site sends it, its per-request token in a script, attributes and a comment."""
    return (
        page.replace("<body>", f"<body data-request-id=\"{token}\" data-csrf='{token}'>")
        .replace(
            "</head>",
            f'<script nonce="{token}">window.csrf = "{token}"; if (a < b && c) {{ go("</div>"); }}</script>'
            f"<!-- rendered in {token} ms --></head>",
        )
        .replace("</body>", f"<script>track('{token}')</script></body>")
    )


def known(page: str) -> Markup:
    found = page_markup(page, URL, "text/html")
    assert found is not None
    return found


def fingerprint(html: str) -> str | None:
    return page_fingerprint(
        RawResponse(seed_id="s", url=URL, status=200, headers={"content-type": ["text/html"]}, body=html.encode())
    )


def test_a_fresh_token_keeps_the_markup_and_the_fingerprint() -> None:
    first = known(tokened(PAGE, "a1b2c3"))
    for token in ("zz99", "", "a much longer token with spaces"):
        page = tokened(PAGE, token)
        assert same_markup(page, URL, "text/html", first), token
        assert fingerprint(page) == fingerprint(tokened(PAGE, "a1b2c3"))
    chinese = tokened(article_page("预算获批", ZH_PARAGRAPHS, lang="zh"), "t1")
    assert same_markup(
        tokened(article_page("预算获批", ZH_PARAGRAPHS, lang="zh"), "t2"), URL, "text/html", known(chinese)
    )


CHANGES = {
    "one word in the article": lambda p: p.replace("modest increase", "large increase"),
    "the title": lambda p: p.replace(f"<title>{TITLE}", "<title>Council rejects library budget"),
    "JSON-LD (authors, dates)": lambda p: p.replace("Ana Lopez", "Ana Lopes"),
    "a script gaining a year": lambda p: p.replace("track('", "track('2025 "),
    "a data- attribute gaining a year": lambda p: p.replace('data-request-id="', 'data-request-id="2025 '),
    "a value gaining a character reference": lambda p: p.replace('data-request-id="', 'data-request-id="&#50;'),
    "a comment ending early": lambda p: p.replace("<!-- rendered in", "<!-- --> <p>shown</p> rendered in"),
    "a script ending early": lambda p: p.replace("track('", "track('</script><p>shown</p><script>"),
    "a quote closing a value": lambda p: p.replace('data-request-id="', 'data-request-id="x" title="y'),
    "a script added": lambda p: p.replace("</body>", "<script>more()</script></body>"),
    "an attribute added": lambda p: p.replace("<body ", '<body data-more="1" '),
    "a kept data- attribute": lambda p: p.replace("<body ", '<body data-src="/a.png" '),
    "a control character": lambda p: p.replace("track('", "track('\x01"),
    "an escaped script": lambda p: p.replace("track('", "<!--<script>track('"),
    "a script closed XML-style in a script": lambda p: p.replace("track('", "track('<script a/>"),
}


@pytest.mark.parametrize("what", CHANGES)
def test_anything_else_is_not_the_same_markup(what: str) -> None:
    base = tokened(PAGE, "t1")
    changed = CHANGES[what](tokened(PAGE, "t2"))
    assert changed != tokened(PAGE, "t2")
    assert not same_markup(changed, URL, "text/html", known(base)), what


def test_url_rules_and_media_type_are_part_of_it() -> None:
    page = tokened(PAGE, "t1")
    assert not same_markup(page, "http://127.0.0.2:8000/a", "text/html", known(page))
    assert not same_markup(page, URL, "application/xhtml+xml", known(page))
    assert page_markup(page, URL, "text/html", salt="other rules") != known(page)


REFUSED = {
    "plaintext": "<plaintext>a<script>x</script>",
    "a script closed XML-style": '<script src="a.js"/>',
    "a control character": "<p>a\x07b</p>",
    "a comment left open": "<!-- open",
    "an element left open": "<style>p {}",
    "an attribute in no form a tokenizer could agree on": '<a href="x>',
}


@pytest.mark.parametrize("what", REFUSED)
def test_what_the_tokenizer_does_not_follow_gets_no_markup(what: str) -> None:
    assert page_markup(PAGE.replace("</body>", REFUSED[what] + "</body>"), URL, "text/html") is None


# Places where a tokenizer that did not follow libxml2 would mask what a reader sees: each is put in
# a page, every masked span is rewritten, and whenever the markup says "same", the fingerprint must too.
TRICKY = [
    "<title><script>x</script></title>",
    '<textarea data-x="a"><script>y</script></textarea>',
    '<div title="<script>abc</script>" data-t="v">t</div>',
    "<!-- <script>abc</script> --><p>after</p>",
    "<style>/* <script> */ p {}</style><script>z</script>",
    '<noscript><script>a</script><p data-k="v">n</p></noscript>',
    "<script><!-- document.write('<p>') //--></script>",
    '<a b="c"data-x="y">link</a>',
    '<svg><style>s{}</style><circle data-r="1"/></svg>',
    '</p foo="a>b"><p>after</p>',
    '<iframe><script>i</script></iframe><xmp><b data-x="1">x</b></xmp>',
    "<![CDATA[<script>c</script>]]><p>after</p>",
    "<? <script>q</script> ?><p>after</p>",
    "<p>a < b and c > d</p><script>if (a<b) x()</script>",
    "<SCRIPT>upper()</SCRIPT><Style>p{}</STYLE>",
    "<div data-x='single' data-y=\"double\" data-z=unquoted>v</div>",
    '<script type="text/template"><div data-x="in-template">t</div></script>',
    '<scripts data-x="1">not a script</scripts>',
    '<!----><!---><!--><p data-x="1">x</p><!-- a --!> b -->',
    "<p>text</p>\n<script>\nvar x = '</scriptx>';\n</script>\n<p>more</p>",
]


@pytest.mark.parametrize("snippet", TRICKY)
def test_markup_agrees_with_the_parser_on_tricky_markup(snippet: str) -> None:
    page = tokened(PAGE, "t1").replace("</body>", snippet + "</body>")
    found = page_markup(page, URL, "text/html")
    if found is None:
        return  # refused: such pages are fingerprinted, never skipped
    spans = volatile_spans(loader_input(page))
    assert spans, snippet
    rng = random.Random(snippet)
    tried = same = 0
    for _ in range(20):
        pieces, last = [], 0
        for start, end in spans:
            pieces.append(page[last:start])
            pieces.append("".join(rng.choice("abXY_-: 39;(){}=") for _ in range(rng.randint(0, 9))))
            last = end
        pieces.append(page[last:])
        rewritten = "".join(pieces)
        tried += 1
        if same_markup(rewritten, URL, "text/html", found):
            same += 1
            assert fingerprint(rewritten) == fingerprint(page), snippet
    assert same > tried // 2, snippet  # the check is not vacuous


def test_the_fast_reference_check_drops_what_the_old_one_did() -> None:
    def reference(html: str) -> str:
        """The per-match reading it replaces: every reference parsed, XML-invalid ones dropped."""

        def keep(match: re.Match[str]) -> str:
            hex_digits, decimal = match.groups()
            code = int(hex_digits, 16) if hex_digits else int(decimal)
            valid = code in (9, 10, 13) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code
            return match.group(0) if valid or code == 0 or 0xD800 <= code <= 0xDFFF else ""

        return re.sub(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?", keep, html)

    forms = []
    for code in [*range(0, 300), 0xD7FF, 0xD800, 0xDFFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x10FFFF, 0x110000, 10**10]:
        forms += [f"&#{code};", f"&#{code}x", f"&#x{code:x};", f"&#X{code:X}", f"&#{code:010d}1", f"&#x{code:08x}f"]
    rng = random.Random(3)
    alphabet = ["&#", "&#x", "0", "1", "9", "b", "F", "e", ";", "2", "3", "6553", "5", "00000", "a"]
    forms += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(30_000)]
    assert [f for f in forms if drop_xml_invalid_refs(f) != reference(f)] == []
    assert sum(drop_xml_invalid_refs(f) != f for f in forms) > 100  # some were dropped


def test_a_noisy_response_is_decided_from_the_stored_markup(tmp_path) -> None:
    first = tokened(PAGE, "t1")
    found = known(first)
    store = Store(tmp_path / "archive.db")
    store.db.execute("PRAGMA foreign_keys = OFF")  # a capture row alone: the lookup is what is tested
    store.db.execute(
        "INSERT INTO captures (run_id, seed_id, url, outcome, fetched_at, version_id, markup_digest, markup_layout, "
        "reader_fingerprint) VALUES (1, 's', ?, 'new_version', '2026-01-01T00:00:00+00:00', 7, ?, ?, 'fp')",
        [URL, found.digest, found.layout],
    )
    assert store.current_markup("s", 7) == (found.digest, found.layout, "fp")
    assert store.current_markup("s", 8) is None
    response = RawResponse(
        seed_id="s", url=URL, status=200, headers={"content-type": ["text/html"]}, body=tokened(PAGE, "t2").encode()
    )
    assert markup_unchanged(response, found)
    edited = RawResponse(**{**vars(response), "body": CHANGES["one word in the article"](tokened(PAGE, "t2")).encode()})
    assert not markup_unchanged(edited, found)
    assert not markup_unchanged(RawResponse(**{**vars(response), "status": 404}), found)


def test_crawls_decide_noisy_revisits_from_the_markup(page_server: LocalServer, project: Project) -> None:
    """Real crawls: the first notes the page's markup; fresh tokens then change nothing; an edit does."""
    url = page_server.page("/a", tokened(PAGE, "first"))
    project.seed("a", url, seed_body(TITLE, EN_PARAGRAPHS))
    for token in ("second", "third"):
        assert project.run("crawl").returncode == 0
        page_server.page("/a", tokened(PAGE, token))
    assert project.run("crawl").returncode == 0
    page_server.page("/a", tokened(CHANGES["one word in the article"](PAGE), "fourth"))
    assert project.run("crawl").returncode == 0
    captures = project.rows(
        "SELECT outcome, reader_fingerprint, markup_digest, markup_layout FROM captures ORDER BY id"
    )
    assert [c["outcome"] for c in captures] == ["new_version", "unchanged", "unchanged", "new_version"]
    assert captures[0]["markup_digest"] and captures[0]["markup_layout"]
    assert captures[0]["reader_fingerprint"] == captures[1]["reader_fingerprint"] == captures[2]["reader_fingerprint"]
    # Decided by the first capture's markup: nothing of their own to note.
    assert captures[1]["markup_digest"] is None and captures[2]["markup_digest"] is None
    assert captures[3]["markup_digest"] not in (None, captures[0]["markup_digest"])

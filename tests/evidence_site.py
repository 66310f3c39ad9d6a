"""A local news site for the evidence tests: lazy images, an image two articles share, a page built by script."""

from __future__ import annotations

import struct
import zlib
from html import escape

from fault_server import FaultServer, respond
from pages import EN_PARAGRAPHS, article_page

JS_PARAGRAPHS = [
    "The harbour authority announced on Monday that the old ferry terminal will close at the end of the year. "
    "Passengers will use the new terminal on the east pier.",
    "Local businesses near the old terminal said they had not been consulted. Several shop owners plan to ask "
    "the council for support during the move.",
    "The authority said the new terminal has space for larger ships and better access for people with disabilities.",
]
OTHER_PARAGRAPHS = [
    "The regional museum reopened its east wing after two years of repairs. Visitors queued from early morning.",
    "The restored rooms hold the museum's collection of maps, some of them four hundred years old.",
    "Admission stays free on the first Sunday of every month, the director said at the opening.",
]


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG of one colour."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def bomb_png(side: int = 50_000) -> bytes:
    """A PNG whose header claims side x side pixels (10 GB decoded) in a few hundred bytes of zeros."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    kind = b"IHDR"
    ihdr = struct.pack(">I", len(header)) + kind + header + struct.pack(">I", zlib.crc32(kind + header) & 0xFFFFFFFF)
    idat_data = zlib.compress(b"\x00" * 100_000, 9)
    idat = (
        struct.pack(">I", len(idat_data))
        + b"IDAT"
        + idat_data
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data) & 0xFFFFFFFF)
    )
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>fetch("/steal?c=" + document.cookie)</script><rect width="10" height="10"/></svg>'
)

RED, BLUE, GREEN = png(24, 12, (220, 20, 20)), png(30, 30, (20, 20, 220)), png(40, 20, (20, 160, 20))


def with_images(html: str, images: str) -> str:
    """The article page with images placed right after its headline (inside the article)."""
    return html.replace("</h1>", "</h1>\n" + images, 1)


def lazy_article(paragraphs: list[str] = EN_PARAGRAPHS) -> str:
    """An article whose own image is lazy (data-src, a placeholder src) and which shows the shared image."""
    page = article_page("Library budget", paragraphs, lang="en")
    page = page.replace("<header>", '<header><img src="/img/logo.png" alt="logo">', 1)  # chrome, not article
    return with_images(
        page,
        '<img data-src="/img/lazy.png" src="/img/blank.gif" alt="chart">\n'
        '<img src="/img/shared.png" alt="the council">',
    )


def other_article() -> str:
    """A second article that shows the shared image."""
    return with_images(article_page("Museum reopens", OTHER_PARAGRAPHS, lang="en"), '<img src="/img/shared.png">')


def script_article() -> str:
    """A page whose article (text and image) exists only after its script runs."""
    paragraphs = ", ".join(f'"{escape(p)}"' for p in JS_PARAGRAPHS)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Ferry terminal to close</title></head>
<body><main id="app"><p>Loading…</p></main>
<script>
const paragraphs = [{paragraphs}];
const article = document.createElement("article");
article.innerHTML = "<h1>Ferry terminal to close</h1>" + paragraphs.map(p => "<p>" + p + "</p>").join("")
  + '<img src="/img/ferry.png">';
const app = document.getElementById("app");
app.replaceChildren(article);
</script></body></html>"""


def serve_site(server: FaultServer) -> dict[str, str]:
    """Routes of the evidence site; returns the article URLs by name."""
    server.route("/img/lazy.png", respond(200, RED, "image/png"))
    server.route("/img/shared.png", respond(200, BLUE, "image/png"))
    server.route("/img/ferry.png", respond(200, GREEN, "image/png"))
    server.route("/img/logo.png", respond(200, png(5, 5), "image/png"))
    server.route("/img/blank.gif", respond(200, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"))
    return {
        "lazy": server.route("/news/library", respond(200, lazy_article())),
        "other": server.route("/news/museum", respond(200, other_article())),
        "script": server.route("/news/ferry", respond(200, script_article())),
    }

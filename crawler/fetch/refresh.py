"""Scrapy's meta-refresh redirects, with a look at the raw bytes first: most pages have none to follow.

Scrapy's MetaRefreshMiddleware decodes every HTML body whole (`response.text`) to search its first
4,096 characters for `<meta http-equiv="refresh">`: about 4% of a revisit's time on the reactor's
thread, for the few pages that have one. Its check (w3lib's) reads the word "refresh" as written,
not spelled with character references, so it cannot find one unless "refresh" is in the first bytes,
in any encoding that writes ASCII as ASCII; other pages (UTF-16 or -32, EBCDIC) go through Scrapy's
check as before.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse, Request, Response

# Scrapy reads the first 4,096 characters; no ASCII-compatible encoding takes more than 4 bytes for one.
HEAD_BYTES = 4 * 4096
_HINT = re.compile(rb"refresh", re.IGNORECASE)
_CHARSET = re.compile(rb"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def may_refresh(body: bytes, content_type: bytes | None = None) -> bool:
    """False only when the page's first 4,096 characters cannot hold a meta refresh (pure)."""
    head = body[:HEAD_BYTES]
    if head.startswith(_WIDE_BOMS) or b"\x00" in head[:1024]:
        return True  # UTF-16 or UTF-32: ASCII letters are not ASCII bytes there
    declared = _CHARSET.search(content_type or b"")
    if declared:
        try:
            if "refresh".encode(declared.group(1).decode("ascii")) != b"refresh":
                return True  # EBCDIC and the like
        except (LookupError, UnicodeError):
            pass  # a charset Python does not know: decoding falls back to an ASCII-compatible guess
    return _HINT.search(head) is not None


class QuickMetaRefreshMiddleware(MetaRefreshMiddleware):
    """MetaRefreshMiddleware that skips pages whose bytes show no refresh (may_refresh)."""

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        if isinstance(response, HtmlResponse) and not may_refresh(response.body, response.headers.get(b"Content-Type")):
            return response
        return super().process_response(request, response)

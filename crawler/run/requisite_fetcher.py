"""Fetch a new version's requisites (its images) through the crawl's own Scrapy stack.

The pipeline calls this once it knows a capture is a new version (never for an unchanged revisit).
Each image is one Scrapy request sent through the downloader: the same network guard, robots.txt,
per-domain politeness and WARC middleware as the page, with the Referer the page would send and
tighter limits (requisites.timeout, requisites.max_bytes). The WARC middleware writes each response
(or a revisit record when the payload is archived already, under any URL) before it gets here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

import scrapy
from twisted.python.failure import Failure

from crawler.extract.requisites import inspect_image, referer_for, requisites_from
from crawler.fetch.spider import describe_failure
from crawler.fetch.warc_recorder import REQUISITE_META
from crawler.model import RawResponse

log = logging.getLogger(__name__)

# Requisites of one page fetched at once; the downloader's per-domain limits still apply below this.
PARALLEL = 4


class RequisiteFetcher:
    """Download the requisites a page's analysis found, within the configured limits."""

    def __init__(self, crawler: Any, limits: Mapping[str, Any]):
        self.crawler = crawler
        self.max_bytes = int(limits.get("max_bytes", 5 * 1024 * 1024))
        self.max_total_bytes = int(limits.get("max_total_bytes", 30 * 1024 * 1024))
        self.timeout = float(limits.get("timeout", 15.0))
        self.max_pixels = int(limits.get("max_pixels", 40_000_000))

    async def fetch(self, item: RawResponse, found: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One row per requisite (archived, duplicate, failed or skipped), in page order."""
        page_url = item.page_url
        wanted = requisites_from(found.get("requisites") or ())
        rows: list[dict[str, Any]] = [{"kind": r.kind, "url": r.url} for r in wanted]
        spent = 0
        gate = asyncio.Semaphore(PARALLEL)

        async def one(row: dict[str, Any]) -> None:
            nonlocal spent
            async with gate:
                if spent >= self.max_total_bytes:
                    row.update(
                        outcome="skipped",
                        error=f"the version's {self.max_total_bytes}-byte budget "
                        "(requisites.max_total_bytes) was spent",
                    )
                    return
                loaded = (item.browser_records or {}).get(row["url"])
                if loaded is not None:
                    _from_browser(row, loaded)  # rendered: the browser fetched it already
                else:
                    await self._fetch_one(row, item.seed_id, page_url, found.get("referrer_policy"))
                spent += row.get("bytes") or 0

        await asyncio.gather(*(one(row) for row in rows))
        stats = self.crawler.stats
        for row in rows:
            stats.inc_value(f"archive/requisites/{row['outcome']}")
        return rows

    async def _fetch_one(self, row: dict[str, Any], seed_id: str, page_url: str, policy: str | None) -> None:
        """Download one requisite into row: status, type, size, WARC record, or the reason it failed."""
        headers = {
            "Accept": "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
            if row["kind"] == "image"
            else "text/css,*/*;q=0.1"
        }
        referer = referer_for(page_url, row["url"], policy)
        if referer:
            headers["Referer"] = referer
        request = scrapy.Request(
            row["url"],
            headers=headers,
            dont_filter=True,
            meta={
                REQUISITE_META: seed_id,
                "download_timeout": self.timeout,
                "download_maxsize": self.max_bytes,
                "dont_retry": True,
            },
        )
        try:
            response = await self._download(request)
        except Exception as exc:  # any download failure is this requisite's, recorded with its reason
            failure = Failure(exc)
            failure.request = request
            reason = describe_failure(failure, self.timeout, self.max_bytes)
            # The words name the page's settings; a requisite has its own.
            reason = reason.replace("(crawl.max_response_bytes)", "(requisites.max_bytes)")
            row.update(outcome="failed", error=reason.replace("(crawl.timeout)", "(requisites.timeout)"))
            return
        record = response.meta.get("warc")
        mime = response.headers.get("Content-Type", b"").decode("latin-1").split(";")[0].strip().lower() or None
        body = response.body
        row.update(status=response.status, mime=mime, bytes=len(body))
        if record:
            row.update(
                # Redirect hops included: every record the requisite wrote goes into the index.
                records=list(response.meta.get("warc_records") or [record]),
                warc_record_id=record["record_id"],
                payload_digest=record["payload_digest"],
                outcome="duplicate" if record["record_type"] == "revisit" else "archived",
            )
        else:
            row.update(outcome="failed", error="not written to WARC (warc.enabled is false)")
        if not 200 <= response.status < 300:
            # What the server sent is archived all the same: a missing image is evidence too.
            row.update(outcome="failed", error=f"HTTP {response.status}")
        else:
            row["_body"] = body  # for the screenshot of the archived page; dropped before the store
        if 200 <= response.status < 300 and row["kind"] == "image":
            inspection = inspect_image(body, mime, self.max_pixels)
            row.update(width=inspection.width, height=inspection.height, problem=inspection.problem)

    async def _download(self, request: scrapy.Request) -> Any:
        """The response through the engine's downloader (middlewares, slots, delays), following redirects."""
        engine = self.crawler.engine
        if hasattr(engine, "download_async"):  # Scrapy 2.14+
            return await engine.download_async(request)
        from scrapy.utils.defer import maybe_deferred_to_future

        return await maybe_deferred_to_future(engine.download(request))


def _from_browser(row: dict[str, Any], record: Mapping[str, Any]) -> None:
    """A requisite row from the WARC record of a response the browser received while rendering."""
    row.update(
        status=record.get("status"),
        mime=record.get("mime"),
        bytes=record.get("body_bytes"),
        warc_record_id=record["record_id"],
        payload_digest=record.get("payload_digest"),
        outcome="duplicate" if record["record_type"] == "revisit" else "archived",
    )
    if not 200 <= (record.get("status") or 0) < 300:
        row.update(outcome="failed", error=f"HTTP {record.get('status')}")

"""What readers saw, kept with each new version: its requisites (images) and a screenshot.

The pipeline calls collect() for a capture that is a new version, before writing it: the requisites
are fetched (crawler/run/requisite_fetcher.py), the screenshot is the rendered page's (crawler/fetch/browser.py)
or one taken of the archived page, and written to WARC as a resource record. An unchanged revisit
never comes here: it fetches no image and takes no screenshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from crawler.extract.article import SiteProfile, decode_html
from crawler.run.requisite_fetcher import RequisiteFetcher
from crawler.extract.requisites import LAZY_ATTRIBUTES, find_requisites, image_size
from crawler.model import RawResponse
from crawler.warc import WarcWriterFiles

log = logging.getLogger(__name__)


@dataclass
class Evidence:
    """A new version's requisite rows, what limited them, and its screenshot row (store columns)."""

    requisites: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    screenshot: dict[str, Any] | None = None


class EvidenceCollector:
    """Requisites and screenshots for new versions, within the limits of config's requisites and render sections."""

    def __init__(
        self,
        crawler: Any,
        requisites: Mapping[str, Any],
        render: Mapping[str, Any],
        warc_dir: Path | None,
        warc_options: Mapping[str, Any] | None = None,
    ):
        self.crawler = crawler
        self.limits = dict(requisites)
        self.render = dict(render)
        self.fetcher = RequisiteFetcher(crawler, self.limits) if warc_dir is not None else None
        self.writer = WarcWriterFiles(warc_dir, **(warc_options or {})) if warc_dir is not None else None
        self.browser = None
        if self.render.get("screenshots") and self.render.get("available") and warc_dir is not None:
            from crawler.fetch.browser import ArchiveBrowser

            self.browser = ArchiveBrowser(self.render, LAZY_ATTRIBUTES)

    @classmethod
    def from_settings(cls, crawler: Any) -> "EvidenceCollector":
        """Build from the ARCHIVE_REQUISITES / ARCHIVE_RENDER / WARC_* settings the run sets."""
        settings = crawler.settings
        warc_dir = (
            Path(settings["WARC_DIR"]) if settings.getbool("WARC_ENABLED", True) and settings.get("WARC_DIR") else None
        )
        options = {
            "operator": settings.get("WARC_OPERATOR") or "",
            "rotate_bytes": settings.getint("WARC_ROTATE_BYTES"),
        }
        return cls(
            crawler, settings.getdict("ARCHIVE_REQUISITES"), settings.getdict("ARCHIVE_RENDER"), warc_dir, options
        )

    async def collect(self, item: RawResponse, version: Any, profiles: Sequence[SiteProfile]) -> Evidence:
        """Fetch the new version's requisites and take its screenshot."""
        evidence = Evidence()
        started = time.monotonic()
        page_url = item.page_url
        content_type = item.header("content-type")
        if self.fetcher is not None and (self.limits.get("images", True) or self.limits.get("stylesheets")):
            css = next((p.content for p in profiles if p.name == version.profile), None)
            html = decode_html(item.body or b"", content_type)
            # A parse of the page (milliseconds), off the reactor thread.
            found = await asyncio.to_thread(
                find_requisites,
                html,
                page_url,
                version.text,
                content_css=css,
                max_images=int(self.limits.get("max_images", 50)) if self.limits.get("images", True) else 0,
                stylesheets=bool(self.limits.get("stylesheets")),
            )
            evidence.note = found.note
            evidence.requisites = await self.fetcher.fetch(item, found.as_dict())
        evidence.screenshot = await self._screenshot(item, page_url, content_type, evidence.requisites)
        for row in evidence.requisites:
            row.pop("_body", None)
        self.crawler.stats.inc_value("archive/evidence/seconds", time.monotonic() - started)
        return evidence

    async def _screenshot(
        self, item: RawResponse, page_url: str, content_type: str | None, requisites: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The screenshot row: the rendered page's shot, else one of the archived page; None when off."""
        if self.writer is None:
            return None
        shot, viewport = item.screenshot, item.viewport
        if shot is None and self.browser is not None:
            resources = {
                r["url"]: (r.get("mime"), r["_body"])
                for r in requisites
                if r.get("_body") is not None and not r.get("problem")
            }
            try:
                shot, viewport = await self.browser.shoot(
                    page_url, item.body or b"", content_type, resources, scripts=not item.rendered
                )
            except Exception as exc:  # a browser crash costs the screenshot, never the capture
                log.warning("no screenshot of %s: %s", page_url, " ".join(str(exc).split())[:300])
                self.crawler.stats.inc_value("archive/evidence/screenshot_failed")
                return None
        if not shot:
            return None
        mime = "image/jpeg" if shot[:3] == b"\xff\xd8\xff" else "image/png"
        record = self.writer.write_resource(
            f"urn:view:{page_url}", mime, shot, concurrent_to=(item.warc or {}).get("record_id")
        )
        size = image_size(shot) or (None, None)
        self.crawler.stats.inc_value("archive/evidence/screenshots")
        return dict(record.as_dict(), width=size[0], height=size[1], bytes=len(shot), viewport=viewport)

    async def close(self) -> None:
        """Close the browser and the screenshot WARC file."""
        if self.browser is not None:
            await self.browser.close()
        if self.writer is not None:
            self.writer.close()


def evidence_collector(crawler: Any) -> EvidenceCollector | None:
    """The crawl's collector, closed with the spider; None when requisites and screenshots are both off."""
    if not hasattr(crawler, "signals"):
        # The cluster's single writer (crawler/cluster/ingest.py) runs the pipeline without a
        # downloader: it has nothing to fetch requisites with (docs/evidence.md, "Not done").
        return None
    settings = crawler.settings
    requisites, render = settings.getdict("ARCHIVE_REQUISITES"), settings.getdict("ARCHIVE_RENDER")
    wanted = requisites.get("images") or requisites.get("stylesheets") or render.get("screenshots")
    if not wanted or not settings.getbool("WARC_ENABLED", True):
        return None
    collector = EvidenceCollector.from_settings(crawler)
    from scrapy import signals

    async def closed(**_: Any) -> None:
        await collector.close()

    crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
    return collector

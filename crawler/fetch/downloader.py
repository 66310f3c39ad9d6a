"""Scrapy's downloader with its per-domain concurrency kept when there is no download delay.

Scrapy 2.19 (asyncio reactor) hands each queued request to a task (`_schedule_coro`) and marks it
transferring only once that task runs. Its queue loop, which checks the slot's free transfer places,
runs first: with `DOWNLOAD_DELAY` 0 it started every queued request at once, so
`CONCURRENT_REQUESTS_PER_DOMAIN: 1` sent seven requests to one host together (a bare Scrapy spider
does the same). With a delay the loop stops after one request, which is why the bug hid there.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class PoliteDownloader(Downloader):
    """Marks a request transferring when it leaves the slot's queue, not when its task first runs."""

    def _process_queue(self, slot: Slot) -> None:
        """Scrapy's Downloader._process_queue, with the request counted against the slot at once."""
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            # The one change: Downloader._download adds it again (a set: no-op) and removes it when done.
            slot.transferring.add(request)
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break

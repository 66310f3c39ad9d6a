"""Scrapy settings of a crawl from the config: limits, middlewares, the pipeline's rules, rendering.

No archive here (the cluster worker builds its settings from these): the archive is named by dotted
paths only (ITEM_PIPELINES, WARC_HISTORY).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from crawler.config import Settings
from crawler.scrapy_section import ARCHIVE_PIPELINE, NETWORK_GUARD, WARC_WRITER, merged_scrapy_settings
from crawler.warc import WARC_DIR_NAME


# Scrapy loggers that report per-request failures the archive already records.
QUIET_LOGGERS = (
    "scrapy.downloadermiddlewares.robotstxt",
    "scrapy.downloadermiddlewares.retry",
)


class ItemErrorLines(logging.Filter):
    """Scrapy's "Error processing {item}" records (the whole item, page body included, and a traceback)
    dropped, or, given a verb, rewritten as one line: "VERB SEED (URL): Error: message"."""

    def __init__(self, verb: str | None = None) -> None:
        super().__init__()
        from scrapy.logformatter import ITEMERRORMSG  # Scrapy only where a crawl runs

        self.message = ITEMERRORMSG
        self.verb = verb

    def filter(self, record: logging.LogRecord) -> bool:
        """False for Scrapy's item-error record (True, rewritten, with a verb); True for every other record."""
        if record.msg != self.message:
            return True
        if self.verb is None:
            return False
        item = getattr(record, "item", None)
        error = record.exc_info[1] if record.exc_info else None
        record.msg, record.args = (
            "%s %s (%s): %s",
            (
                self.verb,
                getattr(item, "seed_id", None),
                short_line(str(getattr(item, "url", None))),
                short_line(f"{type(error).__name__}: {error}") if error else "unknown error",
            ),
        )
        record.exc_info = record.exc_text = None
        return True


def short_line(text: str, limit: int = 300) -> str:
    """text on one line, whitespace collapsed, at most limit characters (an ellipsis marks the cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Scrapy's RETRY_EXCEPTIONS (2.13+) without the failures that a retry cannot fix (see crawler/fetch/robots.py)
# and without timeouts (a limit that tripped).
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectionLost",
    # HttpCompressionMiddleware raises OSError on an empty compressed body.
    OSError,
    "scrapy.core.downloader.handlers.http11.TunnelError",
]


def scrapy_settings(
    settings: Settings,
    db_path: Path,
    run_id: int,
    verbose: int = 0,
    extract_workers: int = 0,
    warm_workers: bool = True,
) -> dict[str, Any]:
    """Scrapy settings from the crawl section, then the verbatim `scrapy:` mapping on top."""
    crawl = settings.crawl
    result: dict[str, Any] = {
        "BOT_NAME": "archive-crawler",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots_txt,
        "CONCURRENT_REQUESTS": crawl.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay,
        # Scrapy's own starts every queued request of a host at once when DOWNLOAD_DELAY is 0,
        # whatever CONCURRENT_REQUESTS_PER_DOMAIN says (crawler/fetch/downloader.py).
        "DOWNLOADER": "crawler.fetch.downloader.PoliteDownloader",
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_response_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": crawl.retries,
        # A name that does not resolve or a port where nothing listens will not answer a second later
        # either, and a server that ran out the time limit has had its chance (issue #15: no limit is
        # retried when it trips): only broken connections and 5xx/429 answers are retried.
        "RETRY_EXCEPTIONS": RETRY_EXCEPTIONS,
        # A seed's URL is fetched whatever its length (Scrapy would drop one over 2,083 characters
        # without a word, leaving the seed with no capture at all); a server that refuses it says so.
        "URLLENGTH_LIMIT": 0,
        # Error statuses reach the spider: a 404 is data (outcome gone), not something to drop.
        "HTTPERROR_ALLOW_ALL": True,
        # The spider yields one item per response; Scrapy's default of 100 starts 100 asyncio tasks
        # per response to process it (about 10% of the crawl process's CPU in a first crawl).
        "CONCURRENT_ITEMS": 1,
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy 2.19 starts, in every crawl, an HTTP server on localhost that runs any Python code
        # sent with the token it writes to ~/.local/state/scrapy/job_files (files a killed crawl leaves
        # behind). A scheduled archiver wants no such door; not loading it also spares aiohttp's
        # import, a fifth of a second of every run's start.
        "REMOTE_CONTROL_ENABLED": False,
        # Left out of the base list, not set to None in EXTENSIONS: Scrapy imports every extension
        # named in either to match names with classes, disabled or not.
        "EXTENSIONS_BASE": extensions_base(),
        # Quiet by default so cron mail stays useful: every failure is a capture row anyway.
        "LOG_LEVEL": "DEBUG" if verbose > 1 else "INFO" if verbose == 1 else "ERROR",
        "ITEM_PIPELINES": {ARCHIVE_PIPELINE: 300},
        "ARCHIVE_DB": str(db_path),
        "ARCHIVE_RUN_ID": run_id,
        "ARCHIVE_PROFILES": [p.model_dump() for p in settings.profiles],
        "ARCHIVE_REVISIT_POLICY": asdict(settings.schedule.policy()),
        "ARCHIVE_ACCOUNTS": dict(settings.schedule.accounts),
        "ARCHIVE_EXTRACT_WORKERS": extract_workers,
        "ARCHIVE_EXTRACT_WARM": warm_workers,
        "ARCHIVE_PAGE_TIME_LIMIT": crawl.page_time_limit,
        # What comparisons ignore (change section): plain values, the pipeline builds NoiseRules.
        "ARCHIVE_NOISE": {"builtin": settings.change.builtin_noise, "ignore": settings.change.ignore},
        "ARCHIVE_REMOVAL": asdict(settings.removal.rules()),
        "ARCHIVE_STATE_CONFIRM": settings.state.confirm,
        # Next to the downloader (above HttpCompressionMiddleware's 590): sees bodies as sent.
        # The network guard runs first (before robots.txt, 100): a refused request sends nothing at all.
        "DOWNLOADER_MIDDLEWARES": {
            NETWORK_GUARD: 50,
            # Scrapy's own lets concurrent requests skip the robots.txt check (see crawler/fetch/robots.py).
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawler.fetch.robots.RobotsTxtMiddleware": 100,
            # Scrapy's, with a look at the raw bytes first (crawler/fetch/refresh.py).
            "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
            "crawler.fetch.refresh.QuickMetaRefreshMiddleware": 580,
            WARC_WRITER: 950,
        },
        "NETWORK_BLOCK_PRIVATE": settings.network.block_private,
        # Only http and https are ever fetched: no handler for file:, ftp:, s3: or data: URLs.
        "DOWNLOAD_HANDLERS": {
            "file": None,
            "ftp": None,
            "s3": None,
            "data": None,
            # Scrapy's HTTP/1.1 handler with limits on the response headers (crawler/fetch/download_handler.py).
            "http": "crawler.fetch.download_handler.BoundedHTTP11DownloadHandler",
            "https": "crawler.fetch.download_handler.BoundedHTTP11DownloadHandler",
        },
        "HEADERS_MAX_COUNT": crawl.max_headers,
        "HEADERS_MAX_BYTES": crawl.max_header_bytes,
        "WARC_ENABLED": settings.warc.enabled,
        # The archive's record of earlier runs, for revisit records and conditional GET (by dotted path:
        # the fetch stage never imports the archive).
        "WARC_HISTORY": "crawler.archive.store.Store",
        "WARC_DIR": str(db_path.parent / WARC_DIR_NAME),
        "WARC_OPERATOR": settings.warc.operator,
        "WARC_ROTATE_BYTES": settings.warc.rotate_bytes,
        # Evidence (docs/evidence.md): images with each new version; rendering and screenshots when chosen.
        "ARCHIVE_REQUISITES": settings.requisites.model_dump(),
        "ARCHIVE_RENDER": render_plan(settings),
    }
    result["DOWNLOADER_MIDDLEWARES"]["crawler.fetch.browser.RenderMiddleware"] = 960
    # Merged, not replaced: `DOWNLOADER_MIDDLEWARES: {}` dropped the network guard and WARC writing.
    return merged_scrapy_settings(result, settings.scrapy)


# Scrapy's extensions a crawl never loads: a Python shell over telnet, and remote code execution over HTTP.
UNWANTED_EXTENSIONS = frozenset(
    {"scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl"}
)


def extensions_base() -> dict[str, int]:
    """Scrapy's default extensions without the UNWANTED_EXTENSIONS."""
    from scrapy.settings import default_settings  # Scrapy only where a crawl runs

    return {name: order for name, order in default_settings.EXTENSIONS_BASE.items() if name not in UNWANTED_EXTENSIONS}


_CHROMIUM_WARNED: set[str] = set()


def render_plan(settings: Settings) -> dict[str, Any]:
    """The render section as plain values, with 'available': False (and one line on stderr) when chromium is missing."""
    plan = settings.render.model_dump()
    plan["available"] = False
    plan["profile_domains"] = {p.name: list(p.domains) for p in settings.profiles}
    if settings.render.profiles:
        from crawler.extract.article import BUILTIN_PROFILES  # trafilatura: only when profiles are named

        for profile in BUILTIN_PROFILES:
            plan["profile_domains"].setdefault(profile.name, list(profile.domains))
    if settings.render.wanted():
        from crawler.fetch.browser import chromium_problem

        problem = chromium_problem(settings.render.chromium)
        if problem and problem not in _CHROMIUM_WARNED:
            _CHROMIUM_WARNED.add(problem)
            print(f"warning: {problem}", file=sys.stderr)
        plan["available"] = problem is None
    return plan


def render_target(plan: dict[str, Any], seed_id: str, url: str) -> bool:
    """True when this seed's page is fetched through chromium in this run."""
    if not plan.get("available"):
        return False
    from crawler.fetch.browser import wants_rendering

    return wants_rendering(plan, seed_id, url, plan["profile_domains"])


def with_rendering(options: dict[str, Any], settings: Settings, schemes: set[str]) -> dict[str, Any]:
    """Scrapy settings with scrapy-playwright as the handler of the schemes rendered pages use.

    It hands requests not marked for rendering to Scrapy's own handler. One scheme, one handler,
    one chromium: each handler instance launches its own browser.
    """
    from crawler.fetch.browser import playwright_settings

    extra = playwright_settings(settings.render.model_dump(), settings.crawl.user_agent)
    extra["DOWNLOAD_HANDLERS"] = {
        scheme: handler
        for scheme, handler in extra["DOWNLOAD_HANDLERS"].items()
        if handler is None or scheme in schemes
    }
    # Mappings merged as the `scrapy:` section's are (a user's DOWNLOAD_HANDLERS no longer drops the
    # browser's handler), and that section still has the last word.
    return merged_scrapy_settings(merged_scrapy_settings(options, extra), settings.scrapy)

"""The Scrapy process of a local run: the extraction pool's size, then the revisit spider over the targets."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence
from urllib.parse import urlsplit

from crawler.config import Settings
from crawler.errors import ConfigError, CrawlerError, RunInterruptedError
from crawler.run.lifecycle import one_line
from crawler.run.scrapy_settings import QUIET_LOGGERS, ItemErrorLines, scrapy_settings, short_line, with_rendering

log = logging.getLogger(__name__)


class Target(NamedTuple):
    """A seed to fetch in this run: all the crawl keeps of it once the archive has its row."""

    id: str
    fetch_url: str
    render: bool = False  # fetched through chromium (render.* in config)
    known: bool = False  # the seed has a version already: a revisit


def check_extraction_stack() -> None:
    """Import trafilatura and its helpers before fetching: a broken install fails the run, never a seed."""
    try:
        import crawler.extract.article  # noqa: F401  (trafilatura, jusText, lxml's HTML cleaner)
    except Exception as exc:  # ImportError mostly; any failure to import is a broken install
        raise CrawlerError(
            f"cannot start the crawl: the extraction stack does not import "
            f"({type(exc).__name__}: {one_line(str(exc))}); "
            "reinstall the crawler with: pip install -e ."
        ) from None


# Below this many pages one worker is enough: more start-ups (a process each) would cost more than they save.
POOL_MIN_PAGES = 20


def extract_workers(settings: Settings, pages: int) -> int:
    """Processes for extraction and diffing: 0 means in the crawl process itself."""
    wanted = settings.crawl.extract_workers
    if wanted == "auto":
        cores = os.cpu_count() or 1
        # At least one: only a page analysed in another process can be stopped when it runs past
        # crawl.page_time_limit (a regular expression stuck in C ignores signals and threads).
        return max(1, min(cores, pages)) if pages >= POOL_MIN_PAGES else 1
    return int(wanted)


def warm_pool(targets: Sequence[Target]) -> bool:
    """True when the extraction pool should warm up (seconds of CPU) before its first page: a first crawl.

    Only seeds never captured are sure to need extraction. A revisit extracts only the pages a reader
    would see changed, often none or a handful: warming up for those would cost them seconds each.
    """
    return sum(1 for t in targets if not t.known) >= POOL_MIN_PAGES


def run_scrapy(
    settings: Settings,
    db_path: Path,
    run_id: int,
    targets: Sequence[Target],
    verbose: int,
    on_capture: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Run the revisit spider over the targets in this process (the reactor starts once)."""
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from crawler.fetch.spider import RevisitSpider

    options = scrapy_settings(
        settings,
        db_path,
        run_id,
        verbose,
        extract_workers(settings, len(targets)),
        warm_workers=warm_pool(targets),
    )
    rendered_schemes = {urlsplit(t.fetch_url).scheme for t in targets if t.render}
    if rendered_schemes:
        options = with_rendering(options, settings, rendered_schemes)
    process = CrawlerProcess(options)
    # Scrapy leaves its loggers at DEBUG and drops records in the handler: each response's "Crawled"
    # and "Scraped from" records were built (and filtered) for nothing, 3% of a revisit's CPU.
    logging.getLogger("scrapy").setLevel(process.settings.get("LOG_LEVEL"))
    if not verbose:
        # Fetch failures are recorded as captures with a reason; their tracebacks are noise here.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if verbose < 2:
        # A megabyte page body per failed item, before: item_error below says it in one line.
        logging.getLogger("scrapy.core.scraper").addFilter(ItemErrorLines())
    crawler = process.create_crawler(RevisitSpider)
    errors: list[str] = []

    def item_scraped(item: dict[str, Any], **_: Any) -> None:
        if on_capture:
            on_capture(item)

    def item_error(item: Any, response: Any, spider: Any, failure: Any) -> None:
        # A capture that could not be written is a broken run, not a skipped seed.
        reason = short_line(f"{type(failure.value).__name__}: {failure.value}")
        errors.append(reason)
        log.error(
            "could not archive %s (%s): %s",
            getattr(item, "seed_id", None),
            short_line(str(getattr(item, "url", None))),
            reason,
        )

    crawler.signals.connect(item_scraped, signal=signals.item_scraped)
    crawler.signals.connect(item_error, signal=signals.item_error)
    started = process.crawl(
        crawler, targets=[{"seed_id": s.id, "url": s.fetch_url, "render": s.render, "known": s.known} for s in targets]
    )
    start_errors: list[str] = []
    # A crawler that cannot start (e.g. a `scrapy:` setting naming a missing class) must fail the run,
    # not end it quietly with every seed "stopped early".
    started.addErrback(lambda failure: start_errors.append(f"{type(failure.value).__name__}: {failure.value}"))
    # All that start-up made (modules, Scrapy's objects, the targets) lives as long as the crawl: frozen,
    # the collector never walks it again (_locked_crawl paused it for this start-up and unfreezes after the run).
    gc.freeze()
    gc.enable()
    process.start()
    if crawler.stats.get_value("finish_reason") == "shutdown":
        # Ctrl-C or SIGTERM: Scrapy finished what was in flight; whatever was not fetched stays due.
        raise RunInterruptedError(
            "the run was stopped by Ctrl-C or SIGTERM before it finished; seeds not fetched stay due for the next run"
        )
    if start_errors:
        message = f"Scrapy could not start the crawl: {start_errors[0]}"
        if settings.scrapy:
            raise ConfigError(f"{message}; check the scrapy: section of the config")
        raise CrawlerError(message)
    if errors:
        raise CrawlerError(f"the run could not archive {len(errors)} response(s); first: {errors[0]}")

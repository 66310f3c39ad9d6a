"""One crawl run in this process: seeds into the archive, Scrapy settings from config, the run recorded."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence
from urllib.parse import urlsplit

from crawler.notify import announce
from crawler.config import Settings
from crawler.changes.intervals import (
    RECHECK_ACCOUNT_CAUSES, RISK_CAUSES, Candidate, account_key, iso, next_state, plan_visits, publication_time,
    seed_interval,
)
from crawler.archive.lock import archive_lock
from crawler.errors import ConfigError, CrawlerError, RunInterruptedError, SeedError
from crawler.seeds import Seed, load_seeds
from crawler.archive.store import Store
from crawler.changes.normalise import markdown_to_text, text_sha256
from crawler.warc import INDEX_NAME, WARC_DIR_NAME, write_index

log = logging.getLogger(__name__)

# Taken by the feed and notifications after a run, so two runs finishing together never send twice.
NOTIFY_LOCK_NAME = ".notify.lock"

# Scrapy loggers that report per-request failures the archive already records.
QUIET_LOGGERS = (
    "scrapy.downloadermiddlewares.robotstxt",
    "scrapy.downloadermiddlewares.retry",
)


class Target(NamedTuple):
    """A seed to fetch in this run: all the crawl keeps of it once the archive has its row."""

    id: str
    fetch_url: str
    render: bool = False  # fetched through chromium (render.* in config)
    known: bool = False  # the seed has a version already: a revisit


@dataclass
class RunSummary:
    """What a run did, for the one-line summary."""

    run_id: int
    seeds: int
    by_outcome: dict[str, int]
    status: str
    # One line per seed that was not crawled or needs a look (broken, no URL, shared URL), for stderr.
    seed_warnings: list[str] = field(default_factory=list)
    # The commonest reasons of the run's failed captures, with their counts, commonest first.
    failure_reasons: list[tuple[str, int]] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed after a run."""
        n = self.by_outcome.get
        fetched = sum(v for k, v in self.by_outcome.items() if k != "failed")
        parts = [
            f"{fetched} fetched",
            f"{n('new_version', 0)} new versions",
            f"{n('unchanged', 0) + n('not_modified', 0)} unchanged",
            f"{n('gone', 0)} gone",
            f"{n('removed', 0)} removed",
            f"{n('no_content', 0)} no content",
            f"{n('failed', 0)} failed",
        ]
        return f"run {self.run_id}: {self.seeds} seeds, " + ", ".join(parts)

    def failure_lines(self) -> list[str]:
        """One line per common failure reason, to print under the summary."""
        lines = [f"  {count} failed: {reason}" for reason, count in self.failure_reasons]
        unreached = self.seeds - sum(self.by_outcome.values())
        if self.status == "completed" and unreached > 0:
            # Never expected: every request ends in a capture. Said rather than hidden; they stay due.
            lines.append(f"  {unreached} not fetched: the crawl never answered for them (they stay due); "
                         "please report this with -vv output")
        return lines


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


def seed_row(seed: Seed, base_interval: float | None = None) -> dict[str, Any]:
    """The seeds-table row of a parsed seed, with its normalised original text and revisit interval."""
    original = markdown_to_text(seed.body) if seed.body else ""
    return {
        "id": seed.id,
        "url": seed.url,
        "fetch_url": seed.fetch_url,
        "title": seed.title,
        "status": seed.status,
        "problem": seed.problem,
        "url_from": seed.url_from,
        "date": seed.date,
        "fetch_date": seed.fetch_date,
        "source": seed.source,
        "front_matter": json.dumps(seed.extra, ensure_ascii=False, default=str) if seed.extra else None,
        "path": str(seed.path),
        "original_text": original or None,
        "original_sha256": text_sha256(original) if original else None,
        "base_interval_seconds": round(base_interval) if base_interval is not None else None,
    }


def seed_accounts(settings: Settings, seeds: Sequence[Seed]) -> dict[str, str | None]:
    """Each seed's account from its URL (schedule.accounts); accounts by author come with captures."""
    rules = settings.schedule.accounts
    return {s.id: account_key(s.fetch_url, rules) for s in seeds if s.status == "ok"} if rules else {}


def fetch_budget(store: Store, settings: Settings, now: datetime) -> int | None:
    """How many fetches this run may make (schedule.max_fetches_per_hour / _per_run), None for no limit."""
    schedule = settings.schedule
    limits = []
    if schedule.max_fetches_per_run is not None:
        limits.append(schedule.max_fetches_per_run)
    if schedule.max_fetches_per_hour is not None:
        spent = store.fetches_since(iso(now - timedelta(hours=1)))
        limits.append(max(schedule.max_fetches_per_hour - spent, 0))
    return min(limits) if limits else None


def due_seed_ids(store: Store, settings: Settings, now: datetime, limit: int | None = None) -> list[str]:
    """The seeds to visit now: every due seed, or within the fetch budget the most valuable ones.

    limit overrides the budget the settings give (the takedown simulation passes its own).
    """
    if limit is None:
        limit = fetch_budget(store, settings, now)
    if limit is None:
        return store.due_seed_ids(iso(now))
    policy = settings.schedule.policy()
    candidates = [
        Candidate(
            row["id"], row["next_due_at"], row["last_capture_at"],
            publication_time(row["date"], row["extracted_date"], row["first_seen_at"]), row["account"],
            row["state"], row["interval_seconds"],
        )
        for row in store.due_candidates(iso(now))
    ]
    risks = {account: count for account, (count, _) in store.account_removals(RISK_CAUSES).items()}
    alerts = {account: latest for account, (_, latest) in store.account_removals(RECHECK_ACCOUNT_CAUSES).items()}
    return plan_visits(candidates, now, policy, limit, risks, alerts)


def seed_warnings(seeds: Sequence[Seed]) -> list[str]:
    """One line per seed a full crawl skips or should flag: broken, without URL, sharing a URL."""
    lines = []
    for seed in seeds:
        if seed.status == "broken":
            lines.append(f"warning: seed {seed.id} skipped: {seed.path}: {seed.problem}")
        elif seed.status == "no_url":
            lines.append(f"note: seed {seed.id} not fetched: {seed.problem}")
        elif seed.problem:
            lines.append(f"warning: seed {seed.id}: {seed.problem}")
    return lines


def first_per_id(seeds: Sequence[Seed]) -> list[Seed]:
    """The first seed of each id: a second file with the same id (a.txt beside a.md) is reported, never stored.

    Stored, its broken row replaced the good seed's, which was then never revisited.
    """
    seen: set[str] = set()
    first = []
    for seed in seeds:
        if seed.id not in seen:
            seen.add(seed.id)
            first.append(seed)
    return first


def select_seeds(seeds: Sequence[Seed], wanted: Sequence[str]) -> list[Seed]:
    """The crawlable seeds among those named (all crawlable seeds when none are named)."""
    if not wanted:
        return [s for s in seeds if s.status == "ok"]
    by_id = {s.id: s for s in seeds}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise SeedError(f"no seed named {', '.join(unknown)} in the seeds folder; see 'crawler seeds'")
    not_ok = [by_id[w] for w in wanted if by_id[w].status != "ok"]
    if not_ok:
        s = not_ok[0]
        raise SeedError(f"seed {s.id} cannot be crawled: {s.problem}")
    return [by_id[w] for w in wanted]


def scrapy_settings(
    settings: Settings, db_path: Path, run_id: int, verbose: int = 0, extract_workers: int = 0,
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
        # Quiet by default so cron mail stays useful: every failure is a capture row anyway.
        "LOG_LEVEL": "DEBUG" if verbose > 1 else "INFO" if verbose == 1 else "ERROR",
        "ITEM_PIPELINES": {"crawler.run.pipeline.ArchivePipeline": 300},
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
            "crawler.fetch.network_guard.NetworkGuardMiddleware": 50,
            # Scrapy's own lets concurrent requests skip the robots.txt check (see crawler/fetch/robots.py).
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawler.fetch.robots.RobotsTxtMiddleware": 100,
            "crawler.fetch.warc_recorder.WarcArchiveMiddleware": 950,
        },
        "NETWORK_BLOCK_PRIVATE": settings.network.block_private,
        # Only http and https are ever fetched: no handler for file:, ftp:, s3: or data: URLs.
        "DOWNLOAD_HANDLERS": {
            "file": None, "ftp": None, "s3": None, "data": None,
            # Scrapy's HTTP/1.1 handler with limits on the response headers (crawler/fetch/download_handler.py).
            "http": "crawler.fetch.download_handler.BoundedHTTP11DownloadHandler",
            "https": "crawler.fetch.download_handler.BoundedHTTP11DownloadHandler",
        },
        "HEADERS_MAX_COUNT": crawl.max_headers,
        "HEADERS_MAX_BYTES": crawl.max_header_bytes,
        "WARC_ENABLED": settings.warc.enabled,
        "WARC_DIR": str(db_path.parent / WARC_DIR_NAME),
        "WARC_OPERATOR": settings.warc.operator,
        "WARC_ROTATE_BYTES": settings.warc.rotate_bytes,
        # Evidence (docs/evidence.md): images with each new version; rendering and screenshots when chosen.
        "ARCHIVE_REQUISITES": settings.requisites.model_dump(),
        "ARCHIVE_RENDER": render_plan(settings),
    }
    result["DOWNLOADER_MIDDLEWARES"]["crawler.fetch.browser.RenderMiddleware"] = 960
    result.update(settings.scrapy)
    return result


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
        scheme: handler for scheme, handler in extra["DOWNLOAD_HANDLERS"].items()
        if handler is None or scheme in schemes
    }
    # The `scrapy:` section still has the last word.
    return {**options, **{k: v for k, v in extra.items() if k not in settings.scrapy}}


def seed_interval_of(settings: Settings, seed: Seed, warnings: list[str] | None = None) -> float:
    """A seed's starting revisit interval; a bad `revisit` in its front matter is a warning (or a SeedError)."""
    schedule = settings.schedule
    try:
        return seed_interval(
            schedule.policy(), seed.id, seed.fetch_url, seed.extra, schedule.seeds, schedule.urls
        )
    except ValueError as exc:
        if warnings is None:
            raise SeedError(f"{seed.path}: front matter 'revisit': {exc}") from None
        # One seed's typo must not stop every other seed's run: it keeps the default interval.
        warnings.append(
            f"warning: seed {seed.id}: {seed.path}: front matter 'revisit': {exc}; "
            f"using schedule.interval ({schedule.interval})"
        )
        return schedule.policy().interval


def crawl(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str] = (),
    trigger: str = "manual",
    verbose: int = 0,
    on_capture: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    due_only: bool = False,
    now: datetime | None = None,
) -> RunSummary:
    """Crawl the wanted seeds (all crawlable ones by default, or only the due ones) as one recorded run.

    Holds the archive lock for the whole run, so runs never overlap (RunLockedError otherwise).
    With cluster.redis_url set, a run of the due seeds (`crawler run`, `crawler schedule`) enqueues
    them for `crawler worker`s instead (crawler/cluster); a one-off crawl still runs here.
    """
    if settings.cluster.redis_url and due_only:
        from crawler.cluster.coordinator import enqueue_run

        return enqueue_run(settings, seeds_dir, archive_dir, wanted, trigger, due_only, now)
    started: list[int] = []
    try:
        with archive_lock(archive_dir):
            return _locked_crawl(
                settings, seeds_dir, archive_dir, wanted, trigger, verbose, on_capture, on_start, due_only, now,
                started,
            )
    finally:
        if started:
            # After the lock is released: a slow notification target must not make the next cron run
            # exit 75. The Atom feed and notifications are logged, never raised: they cannot fail the run.
            announce_run(settings, archive_dir, started[0])


def announce_run(settings: Settings, archive_dir: Path, run_id: int) -> None:
    """Rewrite the feed and send the notifications after a run, one process at a time (a skipped one sends next time)."""
    try:
        with archive_lock(archive_dir, name=NOTIFY_LOCK_NAME, what="notification round"):
            store = Store.in_archive(archive_dir, create=False)
            try:
                # A run that captured nothing (it could not start) has nothing to announce: the feed stays.
                if store.by_outcome(run_id):
                    announce(store, settings, archive_dir, run_id)
            finally:
                store.close()
    except CrawlerError as exc:
        log.info("notify: skipped: %s", exc)


def _locked_crawl(
    settings: Settings,
    seeds_dir: Path,
    archive_dir: Path,
    wanted: Sequence[str],
    trigger: str,
    verbose: int,
    on_capture: Callable[[dict[str, Any]], None] | None,
    on_start: Callable[[int], None] | None,
    due_only: bool,
    now: datetime | None,
    started: list[int],
) -> RunSummary:
    """The body of crawl(), run while holding the archive lock; the run's id is appended to started."""
    seeds = load_seeds(seeds_dir, settings.seeds.urls)
    targets = select_seeds(seeds, wanted)
    warnings = seed_warnings([] if wanted else seeds)
    rows = [
        seed_row(s, seed_interval_of(settings, s, warnings) if s.status == "ok" else None) for s in first_per_id(seeds)
    ]
    store = Store.in_archive(archive_dir)
    try:
        store.mark_interrupted_runs()
        store.sync_seeds(rows)
        store.assign_accounts(seed_accounts(settings, seeds))
        if due_only:
            due = set(due_seed_ids(store, settings, now or datetime.now(timezone.utc)))
            targets = [s for s in targets if s.id in due]
        run_id = store.start_run(trigger, len(targets), pid=os.getpid())
        started.append(run_id)
        captured = store.seeds_with_versions()
    finally:
        store.close()
    never_captured = sum(1 for s in targets if s.id not in captured)
    if never_captured and extract_workers(settings, len(targets)):
        from crawler.run.pipeline import start_extraction_server

        # Seeds never captured will all need extraction: start the pool's server now rather than at
        # the first response, so its seconds of warm-up overlap Scrapy's start-up. A revisit of known
        # seeds may need no extraction at all, and leaves the server to the first page that does.
        start_extraction_server(warm=len(targets) >= POOL_MIN_PAGES)
    # Seed bodies are in the archive now; holding thousands of parsed seeds through the crawl would
    # make memory grow with the number of seeds: keep each target's id and URL, and nothing else.
    render = render_plan(settings)
    targets = [
        Target(s.id, s.fetch_url, render_target(render, s.id, s.fetch_url), s.id in captured) for s in targets
    ]
    del seeds, rows
    gc.collect()
    if on_start:
        on_start(len(targets))
    status, error = "completed", None
    try:
        if targets:
            check_extraction_stack()
            _run_scrapy(settings, store.path, run_id, targets, verbose, on_capture)
    except CrawlerError as exc:
        status, error = "failed", str(exc)
        raise
    except BaseException as exc:
        # Ctrl-C outside Scrapy's own handling, or a bug of ours: the run failed, no seed did.
        status, error = "failed", one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise
    finally:
        store = Store(store.path)
        try:
            # Seeds the run never reached get no capture: the failure was the run's, not theirs, and
            # they stay due for the next run (DESIGN: a capture is a fetch attempt).
            store.finish_run(run_id, status=status, error=error)
            if settings.warc.enabled:
                write_index(store.path.parent / WARC_DIR_NAME / INDEX_NAME, store.warc_records())
            by_outcome = store.by_outcome(run_id)
            summary = RunSummary(
                run_id, len(targets), by_outcome, status, warnings,
                failure_reasons=store.failure_reasons(run_id),
            )
        finally:
            store.close()
    return summary


def one_line(text: str) -> str:
    """Text on one line: an error message must never span lines (logs, cron mail, the runs table)."""
    return " ".join(text.split())


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


def _run_scrapy(
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
        settings, db_path, run_id, verbose, extract_workers(settings, len(targets)),
        warm_workers=len(targets) >= POOL_MIN_PAGES,
    )
    rendered_schemes = {urlsplit(t.fetch_url).scheme for t in targets if t.render}
    if rendered_schemes:
        options = with_rendering(options, settings, rendered_schemes)
    process = CrawlerProcess(options)
    if not verbose:
        # Fetch failures are recorded as captures with a reason; their tracebacks are noise here.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    crawler = process.create_crawler(RevisitSpider)
    errors: list[str] = []

    def item_scraped(item: dict[str, Any], **_: Any) -> None:
        if on_capture:
            on_capture(item)

    def item_error(item: Any, response: Any, spider: Any, failure: Any) -> None:
        # A capture that could not be written is a broken run, not a skipped seed.
        errors.append(f"{type(failure.value).__name__}: {failure.value}")
        log.error("could not archive %s: %s", item.get("seed_id"), failure.value)

    crawler.signals.connect(item_scraped, signal=signals.item_scraped)
    crawler.signals.connect(item_error, signal=signals.item_error)
    started = process.crawl(
        crawler, targets=[{"seed_id": s.id, "url": s.fetch_url, "render": s.render, "known": s.known} for s in targets]
    )
    start_errors: list[str] = []
    # A crawler that cannot start (e.g. a `scrapy:` setting naming a missing class) must fail the run,
    # not end it quietly with every seed "stopped early".
    started.addErrback(lambda failure: start_errors.append(f"{type(failure.value).__name__}: {failure.value}"))
    process.start()
    if crawler.stats.get_value("finish_reason") == "shutdown":
        # Ctrl-C or SIGTERM: Scrapy finished what was in flight; whatever was not fetched stays due.
        raise RunInterruptedError(
            "the run was stopped by Ctrl-C or SIGTERM before it finished; seeds not fetched stay due "
            "for the next run"
        )
    if start_errors:
        message = f"Scrapy could not start the crawl: {start_errors[0]}"
        if settings.scrapy:
            raise ConfigError(f"{message}; check the scrapy: section of the config")
        raise CrawlerError(message)
    if errors:
        raise CrawlerError(f"the run could not archive {len(errors)} response(s); first: {errors[0]}")

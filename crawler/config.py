"""One typed settings object: defaults < config/crawler.yaml < CRAWLER_* environment < flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crawler import __version__
from crawler.changes.intervals import (
    DEFAULT_AGE_CURVE,
    RevisitPolicy,
    check_account_rule,
    format_duration,
    parse_duration,
)
from crawler.errors import ConfigError
from crawler.changes.noise import NoiseRules
from crawler.changes.patterns import check_patterns
from crawler.changes.removal import ALL_CAUSES, DEFAULT_NOTICE_CAUSE, RemovalRules

DEFAULT_CONFIG_PATH = Path("config/crawler.yaml")
ENV_PREFIX = "CRAWLER_"
# Environment variables handled by the CLI as global options, not as config keys.
CLI_ENV_VARS = {"CRAWLER_SEEDS", "CRAWLER_ARCHIVE", "CRAWLER_CONFIG"}


class Section(BaseModel):
    """A config section: unknown keys are errors, not silent defaults."""

    # No inf or nan: `timeout: .inf` or `download_delay: .inf` hung a crawl, holding the archive lock.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SeedsSection(Section):
    """Where seeds come from and URLs for seeds that have none."""

    urls: dict[str, str] = Field(default_factory=dict)


class CrawlSection(Section):
    """Politeness and limits of the fetcher (mapped onto Scrapy settings)."""

    user_agent: str = f"archive-crawler/{__version__} (scheduled article revisits; add your contact here)"
    obey_robots_txt: bool = True
    # Upper bounds catch typos (1e300, a stray digit) that would otherwise hang a run holding the lock.
    concurrent_requests: int = Field(16, ge=1, le=10_000)
    concurrent_per_domain: int = Field(1, ge=1, le=10_000)
    download_delay: float = Field(1.0, ge=0, le=3600)
    autothrottle: bool = True
    timeout: float = Field(30.0, gt=0, le=3600)
    max_response_bytes: int = Field(10 * 1024 * 1024, gt=0, le=2**40)
    # What a server may send before the body: header lines, and their bytes (status line included).
    max_headers: int = Field(500, ge=1, le=100_000)
    max_header_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    retries: int = Field(2, ge=0, le=100)
    # Processes that extract, normalise and diff off the fetching thread: a number, 0 (in the crawl
    # process, with no page_time_limit) or "auto" (one, or one per core when a run has enough pages).
    extract_workers: int | Literal["auto"] = "auto"
    # Seconds one page's extraction and change analysis may take in a worker before it is killed
    # (and replaced) and the capture recorded failed: no page can stall a run.
    page_time_limit: float = Field(60.0, gt=0, le=86400)

    @field_validator("extract_workers")
    @classmethod
    def _workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 1024:
            raise ValueError("extract_workers must be 0 to 1024, or 'auto'")
        return value


class ScheduleSection(Section):
    """When seeds are due and when the daemon starts runs (durations like 30m, 6h, 1d)."""

    interval: str = "1d"  # a seed's starting revisit interval
    min_interval: str = "1h"  # a change brings a seed's interval back down to this
    max_interval: str = "30d"  # unchanged captures lengthen it up to this
    factor: float = Field(1.5, ge=1.0, le=100)
    failure_backoff: str = "1h"  # first wait after a failed fetch, doubled per failure in a row
    max_failure_backoff: str = "7d"
    seeds: dict[str, str] = Field(default_factory=dict)  # seed id -> interval
    urls: dict[str, str] = Field(default_factory=dict)  # URL glob pattern -> interval
    every: str | None = None  # the daemon: start a run this often...
    cron: str | None = None  # ...or on this cron expression (minute hour day month weekday)
    misfire_grace: str = "10m"  # a run missed by less than this (daemon busy or asleep) still starts
    # Article age -> longest revisit interval (docs/takedowns.md "Age curve"); {} turns it off.
    age_curve: dict[str, str] = Field(
        default_factory=lambda: {format_duration(age): format_duration(every) for age, every in DEFAULT_AGE_CURVE}
    )
    # Domain -> how its seeds are grouped into accounts: query:NAME, host, path:N or author.
    accounts: dict[str, str] = Field(default_factory=lambda: {"mp.weixin.qq.com": "query:__biz"})
    # A fetch budget: when more is due, the most valuable visits go first (None: no limit).
    max_fetches_per_hour: int | None = Field(None, ge=1)
    max_fetches_per_run: int | None = Field(None, ge=1)

    @field_validator(
        "interval", "min_interval", "max_interval", "failure_backoff", "max_failure_backoff", "misfire_grace", "every"
    )
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("seeds", "urls")
    @classmethod
    def _durations(cls, value: dict[str, str]) -> dict[str, str]:
        for duration in value.values():
            parse_duration(duration)
        return value

    @field_validator("age_curve")
    @classmethod
    def _curve(cls, value: dict[str, str]) -> dict[str, str]:
        for age, interval in value.items():
            parse_duration(age)
            if parse_duration(interval) <= 0:
                raise ValueError(f"the interval for age {age} must be longer than 0s")
        return value

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, value: dict[str, str]) -> dict[str, str]:
        for rule in value.values():
            check_account_rule(rule)
        return value

    def policy(self) -> RevisitPolicy:
        """The revisit policy these settings describe."""
        return RevisitPolicy(
            interval=parse_duration(self.interval),
            min_interval=parse_duration(self.min_interval),
            max_interval=parse_duration(self.max_interval),
            factor=self.factor,
            failure_backoff=parse_duration(self.failure_backoff),
            max_failure_backoff=parse_duration(self.max_failure_backoff),
            age_curve=tuple(
                sorted((parse_duration(age), parse_duration(interval)) for age, interval in self.age_curve.items())
            ),
        )


class ProfileSection(Section):
    """A site profile: CSS selectors for one site's article template."""

    name: str
    domains: list[str] = Field(default_factory=list)
    content: str
    title: str | None = None
    author: str | None = None
    signature: str | None = None

    @field_validator("content", "title", "author", "signature")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        """A CSS selector lxml can compile (checked here: on the first page it stopped the whole run)."""
        if value:
            from cssselect import SelectorError
            from lxml.cssselect import CSSSelector

            try:
                CSSSelector(value)
            except SelectorError as err:
                raise ValueError(f"invalid CSS selector {value!r}: {err}") from err
        return value


class WarcSection(Section):
    """Every response kept as received, in WARC files (ISO 28500) under archive/warc/."""

    enabled: bool = True
    # Who runs the crawl (a name and a contact), written in each file's warcinfo record.
    operator: str = ""
    # A new file is started once the current one reaches this size: 1 GiB, as IIPC recommends.
    rotate_bytes: int = Field(1024**3, gt=0, le=2**40)


class NetworkSection(Section):
    """Where the crawler may connect (for archives published to others)."""

    # Refuse loopback, private and link-local addresses (checked after DNS resolution).
    block_private: bool = False


class ChangeSection(Section):
    """What counts as a change of text: page noise ignored when comparing (docs/change-detection.md)."""

    # Built-in patterns for read counts, relative times and timestamp lines (crawler/changes/noise.py).
    builtin_noise: bool = True
    # Per domain (a host or parent domain; "*" for every site): regular expressions whose matches
    # in a sentence are ignored when comparing versions; the stored text keeps them.
    ignore: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("ignore")
    @classmethod
    def _ignore_patterns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        NoiseRules.from_config(value)  # a bad domain or regex is a ValueError naming it
        return value

    def rules(self) -> NoiseRules:
        """The noise rules these settings describe (plain strings: cheap to send to workers)."""
        return NoiseRules.from_config(self.ignore, builtin=self.builtin_noise)


class NoticeRule(Section):
    """A takedown notice of one site, with the cause it means (docs/takedowns.md)."""

    pattern: str  # a regular expression matched in the page's visible text
    cause: str = DEFAULT_NOTICE_CAUSE  # from the vocabulary; blocked_by_site makes it a failed fetch

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        check_patterns([value])
        return value

    @field_validator("cause")
    @classmethod
    def _cause(cls, value: str) -> str:
        if value not in ALL_CAUSES:
            raise ValueError(f"unknown cause {value!r}; use one of {', '.join(ALL_CAUSES)}")
        return value


class RemovalSection(Section):
    """When an answered page counts as a removed article (outcome removed; see crawler/changes/removal.py)."""

    # Per domain (a host or parent domain; "*" for every site): its takedown notices, each a regular
    # expression (cause taken_down) or {pattern, cause}, matched against the page's visible text.
    notices: dict[str, list[NoticeRule]] = Field(default_factory=dict)
    not_found: list[str] = Field(default_factory=list)  # extra "not found" wording for soft 404s
    collapse_ratio: float = Field(0.2, ge=0, le=1)  # text at most this share of the previous one
    notice_max_chars: int = Field(200, ge=0, le=10**9)  # built-in notices count on pages with at most this much text
    home_redirect: bool = True  # a redirect to the site's home page is a soft 404

    @field_validator("notices", mode="before")
    @classmethod
    def _bare_patterns(cls, value: Any) -> Any:
        # A bare regular expression is a notice whose cause is not said (taken_down).
        if isinstance(value, dict):
            return {
                domain: [{"pattern": p} if isinstance(p, str) else p for p in patterns]
                if isinstance(patterns, list)
                else patterns
                for domain, patterns in value.items()
            }
        return value

    @field_validator("not_found")
    @classmethod
    def _not_found_patterns(cls, value: list[str]) -> list[str]:
        check_patterns(value)
        return value

    def rules(self) -> RemovalRules:
        """The detection rules these settings describe."""
        return RemovalRules(
            notices={
                domain: tuple((p.pattern, p.cause) for p in patterns) for domain, patterns in self.notices.items()
            },
            not_found=tuple(self.not_found),
            collapse_ratio=self.collapse_ratio,
            notice_max_chars=self.notice_max_chars,
            home_redirect=self.home_redirect,
        )


class StateSection(Section):
    """A seed's state (alive, gone, removed, failing) changes after this many captures agree."""

    confirm: int = Field(2, ge=1, le=1000)


class NotifySection(Section):
    """Telling people about changes after each run: an Atom feed and Apprise notifications."""

    feed: bool = True  # write archive/changes.atom after each run
    feed_entries: int = Field(50, ge=1, le=100_000)
    apprise: list[str] = Field(default_factory=list)  # Apprise URLs, e.g. mailtos://..., json://host/path
    # Changes older than this are not sent (a target added later does not get the whole history).
    max_age: str = "7d"
    max_attempts: int = Field(5, ge=1, le=1000)  # a failed send is retried on later runs up to this many times
    # All of one run's notifications, every target in parallel, end by then (unanswered: failed, retried later).
    deadline: str = "60s"

    @field_validator("max_age", "deadline")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class ClusterSection(Section):
    """Crawling on several machines through Redis (crawler/cluster); off while redis_url is unset."""

    # e.g. redis://host:6379/0. When set, `crawler run` / `crawler crawl` enqueue instead of crawling,
    # `crawler worker` fetches and extracts, `crawler ingest` is the one process writing the archive.
    redis_url: str | None = None
    key_prefix: str = "archive-crawler"  # every Redis key starts with this (several archives, one Redis)
    lease: str = "60s"  # a task a worker took and stopped renewing (killed, hung) is handed out again after this
    max_attempts: int = Field(3, ge=1, le=1000)  # leases lost in a row before the task becomes a failed capture

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("lease must be longer than 0s")
        return value


class RequisitesSection(Section):
    """Page requisites: the article's images fetched with each new version (docs/evidence.md)."""

    images: bool = True  # fetch the images of the article's region for every new version
    stylesheets: bool = False  # also the page's stylesheets, for a replay that looks like the page
    max_images: int = Field(50, ge=0)  # per new version; a page with more is cut here, and says so
    max_bytes: int = Field(5 * 1024 * 1024, gt=0)  # per image (larger ones are not downloaded)
    max_total_bytes: int = Field(30 * 1024 * 1024, gt=0)  # per new version, all requisites together
    timeout: float = Field(15.0, gt=0)  # per requisite: a hanging image host costs at most this
    max_pixels: int = Field(40_000_000, gt=0)  # larger images are kept as sent but never decoded or rendered


class RenderSection(Section):
    """Browser rendering (Debian's chromium through Playwright) and screenshots; off by default."""

    # Which pages are rendered in the browser before extraction: seed ids, URL globs, site profile names.
    seeds: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)
    # A full-page screenshot of every new version (WARC resource record, shown in Datasette).
    screenshots: bool = False
    chromium: str = "/usr/bin/chromium"
    timeout: float = Field(30.0, gt=0)  # page load and scripts, per page
    viewport: tuple[int, int] = (1280, 900)
    # Pages of these domains are shown at a phone's size (WeChat articles are made for phones).
    phone_domains: list[str] = Field(default_factory=lambda: ["mp.weixin.qq.com"])
    phone_viewport: tuple[int, int] = (390, 844)
    max_screenshot_height: int = Field(20000, gt=0)  # pixels; a longer page is cut here
    screenshot_format: Literal["png", "jpeg"] = "png"  # png keeps text exact; jpeg is a few times smaller

    def wanted(self) -> bool:
        """True when any page may need the browser."""
        return bool(self.seeds or self.urls or self.profiles or self.screenshots)


class Settings(Section):
    """The whole configuration of the crawler."""

    seeds: SeedsSection = Field(default_factory=SeedsSection)
    crawl: CrawlSection = Field(default_factory=CrawlSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    profiles: list[ProfileSection] = Field(default_factory=list)
    warc: WarcSection = Field(default_factory=WarcSection)
    network: NetworkSection = Field(default_factory=NetworkSection)
    change: ChangeSection = Field(default_factory=ChangeSection)
    removal: RemovalSection = Field(default_factory=RemovalSection)
    state: StateSection = Field(default_factory=StateSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    cluster: ClusterSection = Field(default_factory=ClusterSection)
    requisites: RequisitesSection = Field(default_factory=RequisitesSection)
    render: RenderSection = Field(default_factory=RenderSection)
    # Passed to Scrapy settings after the crawl section, so Scrapy's own names win; mappings such as
    # DOWNLOADER_MIDDLEWARES are merged over the crawler's own (crawler/run/crawl.py).
    scrapy: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scrapy")
    @classmethod
    def _scrapy_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Each value of a setting Scrapy knows converts to the type of Scrapy's default for it."""
        if value:
            from crawler.scrapy_section import scrapy_value_problem

            for name, setting in value.items():
                problem = scrapy_value_problem(str(name), setting)
                if problem:
                    raise ValueError(problem)
        return value


def _read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping from path; problems become ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}; pass --config FILE") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"bad YAML in {where}: {problem}; fix the file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """CRAWLER_SECTION__KEY=value pairs as a nested mapping; values are parsed as YAML scalars."""
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in CLI_ENV_VARS:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if len(path) < 2 or not all(path):
            raise ConfigError(
                f"environment variable {name} is not of the form CRAWLER_SECTION__KEY; "
                "unset it or rename it (e.g. CRAWLER_CRAWL__TIMEOUT=10)"
            )
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw else raw
    return overrides


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge extra into a copy of base (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    """The first validation problem as one line naming the key and the file."""
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key '{key}' in {source}; remove it or check its spelling"
    return f"bad value for '{key}' in {source}: {first['msg']}"


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, the YAML file (if any), the environment and flags."""
    environ = os.environ if environ is None else environ
    explicit = path is not None
    path = Path(path) if explicit else DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if path.exists():
        data = _read_yaml(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist; create it or pass another --config")
    source = str(path)
    try:
        Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from exc
    data = _merge(data, _env_overrides(environ))
    data = _merge(data, overrides or {})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, f"{source} or the CRAWLER_* environment")) from exc

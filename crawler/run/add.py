"""`crawler add`: start watching URLs: fetch each once, save its text as a new seed's original.

The fetch is an ordinary recorded crawl (WARC, capture row, version 1), of a seed file written
first with front matter only; the extracted text of version 1 then becomes the seed file's body,
that is the original, so later versions are compared with what the page said when it was added.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

import yaml

from crawler.config import Settings
from crawler.errors import SeedError
from crawler.changes.outcome import diff_record
from crawler.model import utcnow
from crawler.run.crawl import crawl
from crawler.run.seeding import seed_interval_of, seed_row
from crawler.seeds import load_seed, load_seeds, validate_url
from crawler.archive.store import Store

SLUG_MAX = 80


@dataclass
class Added:
    """What happened to one URL."""

    url: str
    seed_id: str | None = None
    path: Path | None = None
    version_chars: int = 0
    error: str | None = None

    def line(self) -> str:
        """One line for the terminal."""
        if self.error:
            return f"not added: {self.url}: {self.error}"
        return f"added {self.seed_id}: {self.path} ({self.version_chars} characters, version 1)"


def slug_for(url: str) -> str:
    """A file-name-safe seed id from a URL's host and path: blog.example.org/2024/05/story -> blog.example.org-2024-05-story."""
    parts = urlsplit(url)
    path = re.sub(r"\.(html?|shtml|php|aspx?|jsp)$", "", parts.path, flags=re.IGNORECASE)
    raw = (parts.hostname or "") + "-" + path + ("-" + parts.query if parts.query else "")
    ascii_only = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", ascii_only).strip("-.").lower()
    return slug[:SLUG_MAX].rstrip("-.") or "seed"


def read_url_list(path: Path) -> list[tuple[str, str | None]]:
    """(url, title) pairs from a file: one URL a line, optionally a tab and a title; # starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read URL list {path}: {exc}; give a UTF-8 text file, one URL a line") from None
    pairs = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, _, title = line.partition("\t")
        pairs.append((url.strip(), title.strip() or None))
    return pairs


def seed_text(url: str, title: str | None, fetch_date: str, body: str) -> str:
    """A seed file: YAML front matter (url, title, fetch_date) and the body."""
    front = {"url": url, **({"title": title} if title else {}), "fetch_date": fetch_date}
    return "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10_000) + "---\n\n" + body


def add_urls(
    settings: Settings, seeds_dir: Path, archive_dir: Path, wanted: Iterable[tuple[str, str | None]], verbose: int = 0
) -> list[Added]:
    """Add each (url, title) as a seed: refuse duplicates, fetch them in one run, keep what was found."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    known = {s.fetch_url: s.id for s in load_seeds(seeds_dir, settings.seeds.urls) if s.fetch_url}
    results: list[Added] = []
    pending: dict[str, tuple[Added, str | None]] = {}
    fetch_date = utcnow()
    for url, title in wanted:
        result = Added(url)
        results.append(result)
        problem = validate_url(url)
        fetch_url = url.split("#", 1)[0]
        slug = slug_for(url) if problem is None else ""
        if problem:
            result.error = problem
        elif fetch_url in known:
            result.error = f"already watched by seed {known[fetch_url]}"
        elif any((seeds_dir / f"{slug}{suffix}").exists() for suffix in (".md", ".txt", ".markdown")):
            result.error = f"a seed named {slug} exists already; add it by hand under another name"
        elif slug in pending:
            result.error = f"given twice (seed {slug})"
        if result.error:
            continue
        result.seed_id, result.path = slug, seeds_dir / f"{slug}.md"
        # Front matter only: the body is filled with the text the fetch finds.
        result.path.write_text(seed_text(url, title, fetch_date, ""), encoding="utf-8")
        pending[slug] = (result, title)
        known[fetch_url] = slug
    if not pending:
        return results
    try:
        crawl(settings, seeds_dir, archive_dir, wanted=list(pending), trigger="manual", verbose=verbose)
    except BaseException:
        for result, _ in pending.values():
            result.path.unlink(missing_ok=True)
        raise
    store = Store.in_archive(archive_dir)
    try:
        for result, title in pending.values():
            _keep_or_drop(settings, store, result, title, fetch_date)
    finally:
        store.close()
    return results


def _keep_or_drop(settings: Settings, store: Store, result: Added, title: str | None, fetch_date: str) -> None:
    """Write version 1's text into the seed file as its original, or remove the file when nothing was found."""
    assert result.seed_id and result.path
    version = store.latest_version(result.seed_id)
    if version is None:
        capture = store.newest_capture(result.seed_id)
        why = capture["error"] or capture["outcome"].replace("_", " ") if capture else "not fetched"
        result.path.unlink(missing_ok=True)
        store.set_seed_problem(result.seed_id, f"crawler add found no article: {why}; run crawler add again later")
        result.error = f"{why} (nothing written; the attempt is recorded in the archive)"
        return
    body = "\n\n".join(version["text"].splitlines()) + "\n"
    result.path.write_text(seed_text(result.url, title or version["title"], fetch_date, body), encoding="utf-8")
    seed = load_seed(result.path, settings.seeds.urls)
    row = seed_row(seed, seed_interval_of(settings, seed))
    store.sync_seeds([row])
    store.record_original_diff(
        version["id"], diff_record("original", row["original_text"], version["text"], "original", "version 1", None)
    )
    result.version_chars = len(version["text"])

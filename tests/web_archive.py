"""A small archive built by real crawls, for the Datasette and browser tests.

Three crawled seeds: a Chinese article that gains a sentence on the second crawl, an English article
whose text shows a <script> element as text (and then gains a sentence), and a seed with no
URL whose original is only searchable; and the five shipped seeds, never captured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import SHIPPED_SEEDS, TEST_CONFIG, LocalServer, Project
from crawler.run.seeding import seed_row
from crawler.seeds import load_seeds
from crawler.archive.store import Store
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page

INSERTED_ZH = "编辑部后来在第二段之后加上了这句新的说明文字。"
INSERTED_EN = "A spokesperson later added that the opening hours were still under review."
# Archived text that would run if any page rendered it as HTML.
HOSTILE = "Readers wrote <script>document.documentElement.setAttribute('data-pwned','yes')</script> in the comments."
NO_URL_TEXT = "Notes on sustainability reporting, kept without a URL.\n\nThe ledger of commitments grows every year."


@dataclass
class WebArchive:
    """The project folders of the built archive and the facts tests check."""

    project: Project
    zh_seed: str = "zh_article"
    en_seed: str = "en_article"
    no_url_seed: str = "notes"

    @property
    def db_path(self) -> Path:
        return self.project.db_path


def build(root: Path) -> WebArchive:
    """Crawl two local articles twice (the second time edited) and return the archive."""
    project = Project(root)
    project.seeds.mkdir(parents=True)
    project.config.write_text(TEST_CONFIG, encoding="utf-8")
    server = LocalServer()
    server.thread.start()
    try:
        en = EN_PARAGRAPHS[:2] + [HOSTILE] + EN_PARAGRAPHS[2:]
        zh_url = server.page("/zh", article_page("人工智能与新闻编辑室", ZH_PARAGRAPHS))
        en_url = server.page("/en", article_page("Library budget approved", en, lang="en"))
        project.seed("zh_article", zh_url, "\n\n".join(ZH_PARAGRAPHS), title="人工智能与新闻编辑室")
        project.seed("en_article", en_url, "\n\n".join(en), title="Library budget approved")
        project.seed("notes", None, NO_URL_TEXT)
        first = project.run("crawl")
        assert first.returncode == 0, first.stderr
        zh2 = ZH_PARAGRAPHS[:2] + [INSERTED_ZH] + ZH_PARAGRAPHS[2:]
        server.page("/zh", article_page("人工智能与新闻编辑室", zh2))
        server.page("/en", article_page("Library budget approved", en[:2] + [INSERTED_EN] + en[2:], lang="en"))
        second = project.run("crawl")
        assert second.returncode == 0, second.stderr
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    # The five shipped seeds too, never captured (no internet here): their originals are searchable.
    store = Store.in_archive(project.archive)
    try:
        store.sync_seeds(seed_row(seed) for seed in load_seeds(SHIPPED_SEEDS, {}))
    finally:
        store.close()
    return WebArchive(project)


LONG_SEED = "long_history"
# Long enough that a seed's URL pushes a table wider than a phone when nothing wraps it.
LONG_URL = "https://news.example.org/2026/articles/" + "a-very-long-slug-" * 6 + "index.html?utm_source=feed&ref=home"
LONG_PARAGRAPHS = [
    f"Paragraph {n}: the harbour authority published its weekly figures, and the port handled "
    f"{1000 + 37 * n} containers, according to the report released on Monday."
    for n in range(1, 13)
]


def add_long_history(project: Project, captures: int = 500, days: int = 75) -> str:
    """A seed visited `captures` times over `days` days (a new version now and then, a few failures), through the store.

    Real crawls of 500 visits would take minutes; the store's own record_capture writes the same rows.
    One version carries HOSTILE: archived text that would run if a page rendered it as HTML.
    """
    from datetime import datetime, timedelta, timezone

    from crawler.changes.outcome import diff_record
    from crawler.changes.versions import version_sha256
    from crawler.model import CaptureRecord, VersionRecord
    import hashlib

    original = "\n\n".join(LONG_PARAGRAPHS)
    project.seed(LONG_SEED, LONG_URL, original, title="Harbour figures, updated every week")
    store = Store.in_archive(project.archive)
    try:
        store.sync_seeds(seed_row(seed) for seed in load_seeds(project.seeds, {}))
        run_id = store.start_run("manual", 1)
        start = datetime.now(timezone.utc) - timedelta(days=days)
        step = timedelta(days=days) / captures
        previous, previous_id, version_id = original, None, None
        for n in range(captures):
            at = (start + n * step).isoformat(timespec="seconds")
            if n % 60 == 0:
                paragraphs = list(LONG_PARAGRAPHS)
                paragraphs[3] = paragraphs[3].replace("containers", f"containers ({n // 60} corrections so far)")
                if n == 120:
                    paragraphs.insert(5, HOSTILE)
                text = "\n\n".join(paragraphs)
                diffs = [diff_record("original", original, text, "original", "new", None)]
                if previous_id is not None:
                    diffs.append(diff_record("previous", previous, text, "previous", "new", previous_id))
                record = CaptureRecord(
                    run_id=run_id,
                    seed_id=LONG_SEED,
                    url=LONG_URL,
                    outcome="new_version",
                    fetched_at=at,
                    status_code=200,
                )
                version = VersionRecord(
                    text=text,
                    text_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    compare_sha256=version_sha256(text),
                    title="Harbour figures, updated every week",
                )
                _, version_id = store.record_capture(record, new_version=version, diffs=diffs)
                previous, previous_id = text, version_id
            elif n % 97 == 50:
                store.record_capture(
                    CaptureRecord(
                        run_id=run_id,
                        seed_id=LONG_SEED,
                        url=LONG_URL,
                        outcome="failed",
                        fetched_at=at,
                        status_code=503,
                        error="HTTP 503 Service Unavailable",
                    )
                )
            else:
                store.record_capture(
                    CaptureRecord(
                        run_id=run_id,
                        seed_id=LONG_SEED,
                        url=LONG_URL,
                        outcome="unchanged",
                        fetched_at=at,
                        status_code=200,
                    ),
                    version_id=version_id,
                )
        store.finish_run(run_id)
    finally:
        store.close()
    return LONG_SEED

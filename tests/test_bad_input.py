"""Bad seeds and bad configuration, end to end: one clear line each, every good seed still crawled,
and a configuration problem stops `crawler crawl` with exit code 2 before it writes anything."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import LocalServer, Project
from crawler.cli import cli
from crawler.archive.lock import LOCK_NAME
from crawler.archive.store import SCHEMA_VERSION
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body

ZH_TITLE = "档案员如何发现被修改的文章"
EN_TITLE = "Council approves library budget"

# seed file name -> bytes; {url} and {zh_url} are filled in with the page server's URLs.
BAD_SEEDS: dict[str, bytes] = {
    "bad_yaml.md": b"---\nurl: https://example.org/a\ntitle: [unclosed\n---\nText.\n",
    "unclosed.md": b"---\nurl: https://example.org/b\ntitle: never closed\n\nText.\n",
    "bad_url.md": b"---\nurl: http://exa mple.org/a\n---\nText.\n",
    "no_scheme.md": b"---\nurl: example.org/a\n---\nText.\n",
    "ftp.md": b"---\nurl: ftp://example.org/a.txt\n---\nText.\n",
    "empty.md": b"",
    "blank.md": b"\n  \n\t\n",
    "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
    "huge.txt": b"---\nurl: https://example.org/huge\n---\n" + b"x" * (21 * 1024 * 1024),
    # The bytes ff fe in the name, not UTF-8 (Python holds them as surrogates): every crawl died in sync_seeds.
    "bad\udcff\udcfe.md": b"---\nurl: https://example.org/c\n---\nText.\n",
}
# The one line each broken seed gets (after "warning: seed ID skipped: PATH: ").
PROBLEMS = {
    "bad_yaml": "bad YAML front matter at line 3: expected ',' or ']', but got '<stream end>'; fix the front matter",
    "unclosed": "front matter opened by '---' on line 1 is never closed; add a '---' line after it",
    "bad_url": "invalid URL in front matter url: URL 'http://exa mple.org/a' contains spaces or control characters; "
    "fix it in the front matter or give a URL in config/crawler.yaml under seeds.urls.bad_url",
    "no_scheme": "invalid URL in front matter url: URL 'example.org/a' has no scheme; write it as https://...; "
    "fix it in the front matter or give a URL in config/crawler.yaml under seeds.urls.no_scheme",
    "ftp": "invalid URL in front matter url: URL 'ftp://example.org/a.txt' has unsupported scheme 'ftp:' "
    "(only http and https can be fetched); fix it in the front matter or give a URL in config/crawler.yaml "
    "under seeds.urls.ftp",
    "empty": "file is empty; add the article text (and front matter with a url) or remove it",
    "blank": "file is empty; add the article text (and front matter with a url) or remove it",
    "binary": "file is binary (contains NUL bytes; UTF-16 text does too); save it as UTF-8 text or remove it",
    "huge": "file is larger than the 20 MB limit for seed files; shorten it or remove it from the seed folder",
    "bad\\xff\\xfe": "file name is not valid UTF-8 (the \\x.. are its undecodable bytes); rename the file",
}


def shown(path: Path) -> Path:
    """A seed file's path as the crawler prints it: bytes of the name that are not UTF-8 as \\xNN."""
    return path.with_name(os.fsencode(path.name).decode("utf-8", "backslashreplace"))


def write_seeds(server: LocalServer, project: Project) -> None:
    """Good seeds (served), a GBK-encoded seed, two seeds sharing a URL, one without URL, and every broken kind."""
    en_url = server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    zh_url = server.page("/zh", article_page(ZH_TITLE, ZH_PARAGRAPHS))
    project.seed("good", en_url, seed_body(EN_TITLE, EN_PARAGRAPHS))
    project.seed("shared_a", zh_url, seed_body(ZH_TITLE, ZH_PARAGRAPHS))
    project.seed("shared_b", zh_url, seed_body(ZH_TITLE, ZH_PARAGRAPHS))
    gbk = f"---\nurl: {zh_url}?gbk\ntitle: {ZH_TITLE}\n---\n\n" + seed_body(ZH_TITLE, ZH_PARAGRAPHS)
    (project.seeds / "gbk.txt").write_bytes(gbk.encode("gbk"))
    (project.seeds / "no_url.md").write_text("---\ntitle: Saved without its address\n---\nText.\n", encoding="utf-8")
    for name, data in BAD_SEEDS.items():
        (project.seeds / name).write_bytes(data)
    server.page("/zh?gbk", article_page(ZH_TITLE, ZH_PARAGRAPHS))


def test_bad_seeds_end_to_end(page_server: LocalServer, project: Project) -> None:
    write_seeds(page_server, project)
    paths = {shown(p).stem: shown(p) for p in project.seeds.iterdir()}

    listed = project.run("seeds")
    assert listed.returncode == 0
    expected_broken = sorted(f"broken: {paths[s]}: {problem}" for s, problem in PROBLEMS.items())
    assert sorted(line for line in listed.stderr.splitlines() if line.startswith("broken:")) == expected_broken
    assert "15 seeds: 4 crawlable, 1 without URL, 10 broken" in listed.stderr
    assert "warning: shared_a: same URL as seed shared_b" in listed.stderr.splitlines()

    checked = project.run("seeds", "--check")
    assert checked.returncode == 1

    crawled = project.run("crawl")
    assert crawled.returncode == 0, crawled.stderr
    assert (
        crawled.stdout.strip()
        == "run 1: 4 seeds, 4 fetched, 4 new versions, 0 unchanged, 0 gone, 0 removed, 0 no content, 0 failed"
    )
    assert sorted(crawled.stderr.splitlines()) == sorted(
        [f"warning: seed {s} skipped: {paths[s]}: {problem}" for s, problem in PROBLEMS.items()]
        + [
            "note: seed no_url not fetched: front matter has no url or arturl_encode; add url: there or give one "
            "in config/crawler.yaml under seeds.urls.no_url",
            "warning: seed shared_a: same URL as seed shared_b",
            "warning: seed shared_b: same URL as seed shared_a",
        ]
    )
    versions = {v["seed_id"]: v["text"] for v in project.rows("SELECT seed_id, text FROM versions")}
    assert set(versions) == {"good", "shared_a", "shared_b", "gbk"}
    assert "档案管理员认为" in versions["gbk"]
    # The GBK seed file was read as the Chinese text it holds.
    gbk = project.rows("SELECT title, original_text FROM seeds WHERE id = 'gbk'")[0]
    assert gbk["title"] == ZH_TITLE and "档案管理员认为" in gbk["original_text"]
    # Broken seeds are in the archive too, with their reason, and never fetched.
    broken = {r["id"]: r["problem"] for r in project.rows("SELECT id, problem FROM seeds WHERE status = 'broken'")}
    assert broken == PROBLEMS
    assert not project.rows("SELECT id FROM captures WHERE seed_id IN (SELECT id FROM seeds WHERE status != 'ok')")


def test_readme_shows_real_seed_warnings() -> None:
    section = (Path(__file__).resolve().parent.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    shown = section.split("```\n", 1)[1].split("```", 1)[0].splitlines()
    real = {f"warning: seed {s} skipped: seeds/{s}.md: {p}" for s, p in PROBLEMS.items()} | {
        "warning: seed shared_a: same URL as seed shared_b",
        "note: seed no_url not fetched: front matter has no url or arturl_encode; add url: there or give one "
        "in config/crawler.yaml under seeds.urls.no_url",
    }
    assert shown and set(shown) <= real


def test_naming_a_broken_seed_is_an_error(page_server: LocalServer, project: Project) -> None:
    write_seeds(page_server, project)
    result = project.run("crawl", "bad_yaml", "good")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: seed bad_yaml cannot be crawled: {PROBLEMS['bad_yaml']}"
    assert not project.archive.joinpath("archive.db").exists()


def invoke(project: Project, *args: str):
    """`crawler crawl` in-process with the project's folders."""
    return CliRunner().invoke(
        cli,
        ["--seeds", str(project.seeds), "--archive", str(project.archive), "--config", str(project.config), *args],
        env={},
        catch_exceptions=False,
    )


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under folder, by relative path."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("crawl:\n  timout: 5\n", "error: unknown key 'crawl.timout' in {config}; remove it or check its spelling"),
        (
            "netwrok:\n  block_private: true\n",
            "error: unknown key 'netwrok' in {config}; remove it or check its spelling",
        ),
        (
            "crawl:\n  timeout: soon\n",
            "error: bad value for 'crawl.timeout' in {config}: Input should be a valid number, unable to parse string as a number",
        ),
        (
            "network:\n  block_private: maybe\n",
            "error: bad value for 'network.block_private' in {config}: Input should be a valid boolean, unable to interpret input",
        ),
        (
            "crawl:\n  retries: -1\n",
            "error: bad value for 'crawl.retries' in {config}: Input should be greater than or equal to 0",
        ),
        ("crawl: [1, 2\n", "error: bad YAML in {config}:2: expected ',' or ']', but got '<stream end>'; fix the file"),
        ("- just\n- a list\n", "error: config file {config} must hold a mapping of sections, not list"),
        # Numbers that hung the crawl holding the lock, or failed every run (issue 15).
        (
            "crawl:\n  timeout: .inf\n",
            "error: bad value for 'crawl.timeout' in {config}: Input should be a finite number",
        ),
        (
            "crawl:\n  download_delay: .nan\n",
            "error: bad value for 'crawl.download_delay' in {config}: Input should be a finite number",
        ),
        (
            "crawl:\n  timeout: 1e300\n",
            "error: bad value for 'crawl.timeout' in {config}: Input should be less than or equal to 3600",
        ),
        (
            "crawl:\n  page_time_limit: 0\n",
            "error: bad value for 'crawl.page_time_limit' in {config}: Input should be greater than 0",
        ),
        (
            "schedule:\n  interval: 99999999999w\n",
            "error: bad value for 'schedule.interval' in {config}: Value error, '99999999999w' is too long; a duration is at most 3650d (10 years)",
        ),
        (
            "schedule:\n  max_interval: '1" + "0" * 400 + "'\n",
            "error: bad value for 'schedule.max_interval' in {config}: Value error, '10000000000000000000...(401 characters)' is too long; a duration is at most 3650d (10 years)",
        ),
        # Issue 15: an invalid selector stopped the run at Scrapy's start (exit 1).
        (
            "profiles:\n  - name: x\n    domains: [a.org]\n    content: 'div[[['\n",
            "error: bad value for 'profiles.0.content' in {config}: Value error, invalid CSS selector 'div[[[': Expected ident or '*', got <DELIM '[' at 4>",
        ),
        # Wrongly typed scrapy: values were tracebacks or exit 1 ("JSONDecodeError", "cannot unpack non-iterable int").
        (
            "scrapy:\n  ITEM_PIPELINES: x\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.ITEM_PIPELINES: 'x' is not a mapping (Scrapy's default is {{}} or a mapping like it)",
        ),
        (
            "scrapy:\n  DOWNLOADER_MIDDLEWARES: [1]\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.DOWNLOADER_MIDDLEWARES: [1] is not a mapping (Scrapy's default is {{}} or a mapping like it)",
        ),
        (
            "scrapy:\n  DEFAULT_REQUEST_HEADERS: 5\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.DEFAULT_REQUEST_HEADERS: 5 is not a mapping (Scrapy's default is {{}} or a mapping like it)",
        ),
        (
            "scrapy:\n  CONCURRENT_REQUESTS: many\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.CONCURRENT_REQUESTS: 'many' is not a number (Scrapy's default is 16)",
        ),
        (
            "scrapy:\n  HTTPCACHE_ENABLED: maybe\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.HTTPCACHE_ENABLED: 'maybe' is not true or false (Scrapy's default is False)",
        ),
        (
            "scrapy:\n  DOWNLOADER_MIDDLEWARES:\n    crawler.fetch.network_guard.NetworkGuardMiddleware: null\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.DOWNLOADER_MIDDLEWARES may not switch off crawler.fetch.network_guard.NetworkGuardMiddleware: it is the network guard (only http and https; network.block_private); remove that entry",
        ),
        (
            "scrapy:\n  DOWNLOADER_MIDDLEWARES:\n    crawler.fetch.warc_recorder.WarcArchiveMiddleware: null\n",
            "error: bad value for 'scrapy' in {config}: Value error, scrapy.DOWNLOADER_MIDDLEWARES may not switch off crawler.fetch.warc_recorder.WarcArchiveMiddleware: it is WARC writing (to stop it, set warc.enabled: false); remove that entry",
        ),
    ],
)
def test_bad_configuration_stops_before_writing(project: Project, config: str, message: str) -> None:
    project.config.write_text(config, encoding="utf-8")
    project.seed("a", "http://127.0.0.1:9/a", "Text.")
    result = invoke(project, "crawl")
    assert result.exit_code == 2
    assert result.stderr == message.format(config=project.config) + "\n"
    assert not project.archive.exists()


def test_archive_folder_that_cannot_be_created(project: Project) -> None:
    blocker = project.root / "not-a-folder"
    blocker.write_text("a file where the archive folder should go", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "--seeds",
            str(project.seeds),
            "--archive",
            str(blocker / "archive"),
            "--config",
            str(project.config),
            "crawl",
        ],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot use archive folder {blocker / 'archive'}: Not a directory; pass a writable --archive DIR\n"
    )
    assert blocker.read_text(encoding="utf-8") == "a file where the archive folder should go"


def test_archive_database_that_is_a_folder(project: Project) -> None:
    (project.archive / "archive.db").mkdir(parents=True)
    before = snapshot(project.archive)
    result = invoke(project, "crawl")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot open archive database {project.archive / 'archive.db'}: unable to open database file; "
        "check the --archive folder\n"
    )
    # Only the run lock (an empty file) is left beside it.
    assert snapshot(project.archive) == dict(before, **{LOCK_NAME: b""})


def test_archive_database_that_is_not_a_database(project: Project) -> None:
    project.archive.mkdir()
    (project.archive / "archive.db").write_text("my notes, not an archive\n" * 100, encoding="utf-8")
    before = snapshot(project.archive)
    result = invoke(project, "crawl")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: cannot use archive database {project.archive / 'archive.db'}: file is not a database; "
    )
    assert len(result.stderr.splitlines()) == 1
    assert snapshot(project.archive) == dict(before, **{LOCK_NAME: b""})


def test_archive_from_a_newer_crawler(project: Project) -> None:
    project.archive.mkdir()
    db_path = project.archive / "archive.db"
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = snapshot(project.archive)
    result = invoke(project, "crawl")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: archive database {db_path} has schema version {SCHEMA_VERSION + 5}, newer than this crawler's "
        f"{SCHEMA_VERSION}; upgrade the crawler\n"
    )
    assert snapshot(project.archive) == dict(before, **{LOCK_NAME: b""})


def test_scrapy_setting_that_breaks_the_crawl(page_server: LocalServer, project: Project) -> None:
    project.config.write_text(
        project.config.read_text() + "scrapy:\n  ROBOTSTXT_PARSER: no_such_module.Parser\n", encoding="utf-8"
    )
    project.seed("a", page_server.page("/a", article_page(EN_TITLE, EN_PARAGRAPHS)), "Text.")
    result = project.run("crawl")
    assert result.returncode == 2
    assert result.stderr == (
        "error: Scrapy could not start the crawl: ModuleNotFoundError: No module named 'no_such_module'; "
        "check the scrapy: section of the config\n"
    )
    assert page_server.requests == []
    run = project.rows("SELECT status, error FROM runs")[0]
    assert run["status"] == "failed" and "no_such_module" in run["error"]
    # The failure is the run's: no capture blames the seed, which stays due for the next run.
    assert project.rows("SELECT * FROM captures") == []
    assert project.rows("SELECT state, next_due_at <= ? AS due FROM seeds", "9999") == [{"state": None, "due": 1}]


def test_crawl_that_cannot_start_blames_no_seed(page_server: LocalServer, project: Project, tmp_path: Path) -> None:
    """A broken install (the extraction stack does not import) fails the run, never a seed."""
    url = page_server.page("/a", article_page(EN_TITLE, EN_PARAGRAPHS))
    project.seed("a", url, "Text.")
    assert project.run("crawl").returncode == 0
    seeds_before = project.rows("SELECT id, state, next_due_at, interval_seconds FROM seeds")
    feed = project.archive / "changes.atom"
    feed_before = feed.read_bytes()
    # The failure the issue met on pip 23.2: lxml 6 without lxml_html_clean. A package of that name
    # that raises on import stands in for the missing one, inside the spawned crawl process only.
    broken = tmp_path / "broken-install" / "lxml_html_clean"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean.\\n'
        'Install lxml[html-clean] or lxml_html_clean directly.")\n',
        encoding="utf-8",
    )
    page_server.requests.clear()
    for _ in range(2):
        result = project.run("crawl", env_extra={"PYTHONPATH": str(broken.parent)})
        assert result.returncode == 1
        assert result.stderr.startswith("error: cannot start the crawl: the extraction stack does not import")
        assert "lxml_html_clean" in result.stderr and len(result.stderr.splitlines()) == 1
    assert page_server.requests == []
    runs = project.rows("SELECT status, error FROM runs ORDER BY id")
    assert [r["status"] for r in runs] == ["completed", "failed", "failed"]
    assert "lxml_html_clean" in runs[-1]["error"] and "\n" not in runs[-1]["error"]
    assert project.rows("SELECT count(*) AS n FROM captures") == [{"n": 1}]
    assert project.rows("SELECT id, state, next_due_at, interval_seconds FROM seeds") == seeds_before
    assert project.rows("SELECT count(*) AS n FROM state_changes WHERE new_state = 'failing'") == [{"n": 0}]
    assert feed.read_bytes() == feed_before


@pytest.mark.parametrize(
    ("revisit", "shown"),
    [("99999999999w", "99999999999w"), ("1" + "0" * 400, "10000000000000000000...(401 characters)"), ("-5", "-5")],
)
def test_out_of_range_revisit_is_one_warning_and_the_seed_still_runs(
    page_server: LocalServer, project: Project, revisit: str, shown: str
) -> None:
    url = page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    path = project.seeds / "far.md"
    path.write_text(f"---\nurl: {url}\nrevisit: {revisit}\n---\n\nText.\n", encoding="utf-8")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    problem = (
        f"a duration cannot be negative: {shown}"
        if revisit.startswith("-")
        else f"'{shown}' is too long; a duration is at most 3650d (10 years)"
    )
    assert result.stderr.splitlines() == [
        f"warning: seed far: {path}: front matter 'revisit': {problem}; using schedule.interval (1d)"
    ]
    assert [c["outcome"] for c in project.rows("SELECT outcome FROM captures")] == ["new_version"]
    assert project.rows("SELECT interval_seconds FROM seeds")[0]["interval_seconds"] == 86400


def test_schedule_every_out_of_range_is_one_line(project: Project) -> None:
    result = invoke(project, "schedule", "--every", "99999999999w")
    assert result.exit_code == 2
    assert result.stderr == "error: --every: '99999999999w' is too long; a duration is at most 3650d (10 years)\n"


def test_a_broken_duplicate_id_does_not_replace_the_good_seed(page_server: LocalServer, project: Project) -> None:
    url = page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    project.seed("a", url, seed_body(EN_TITLE, EN_PARAGRAPHS))
    (project.seeds / "a.txt").write_bytes(b"---\nurl: [broken\n---\nText.\n")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: seed a skipped: {project.seeds / 'a.txt'}: seed file a.md has the same id 'a'; rename or remove one of them"
    ]
    rows = project.rows("SELECT id, status, url, path FROM seeds")
    assert rows == [{"id": "a", "status": "ok", "url": url, "path": str(project.seeds / "a.md")}]
    assert [c["outcome"] for c in project.rows("SELECT outcome FROM captures")] == ["new_version"]


def test_a_url_with_a_password_is_refused_in_one_line_and_never_shown(
    page_server: LocalServer, project: Project
) -> None:
    # Before: accepted, never fetched ("ValueError: invalid hostname: alice:s3cret@127.0.0.1" in
    # captures.error, password and all), and listed by `crawler seeds` with the password.
    url = page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    project.seed("good", url, seed_body(EN_TITLE, EN_PARAGRAPHS))
    project.seed("login", url.replace("http://", "http://alice:s3cret@"), "Text.")
    problem = (
        f"invalid URL in front matter url: URL '{url.replace('http://', 'http://alice:***@')}' has a user name or "
        "password in it; the crawler fetches public pages without logging in: remove the 'user:password@' part; "
        "fix it in the front matter or give a URL in config/crawler.yaml under seeds.urls.login"
    )
    listed = project.run("seeds", "--check")
    crawled = project.run("crawl")
    assert listed.returncode == 1 and f"broken: {project.seeds / 'login.md'}: {problem}" in listed.stderr.splitlines()
    assert crawled.returncode == 0
    assert crawled.stderr.splitlines() == [f"warning: seed login skipped: {project.seeds / 'login.md'}: {problem}"]
    assert crawled.stdout.startswith("run 1: 1 seeds, 1 fetched, 1 new versions")
    assert page_server.requests == ["/robots.txt", "/en"] or page_server.requests == ["/en"]
    for text in (listed.stdout, listed.stderr, crawled.stdout, crawled.stderr):
        assert "s3cret" not in text
    for path in project.archive.rglob("*"):
        assert not path.is_file() or b"s3cret" not in path.read_bytes(), path


def test_a_symlink_out_of_the_seeds_folder_is_refused_in_one_line(page_server: LocalServer, project: Project) -> None:
    # Before: followed; seeds/secret.md -> a file elsewhere became a searchable original (/etc/passwd in the issue).
    url = page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    project.seed("good", url, seed_body(EN_TITLE, EN_PARAGRAPHS))
    outside = project.root / "private.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (project.seeds / "secret.md").symlink_to(outside)
    (project.seeds / "alias.md").symlink_to("good.md")  # inside the folder: read like any seed
    crawled = project.run("crawl")
    assert crawled.returncode == 0, crawled.stderr
    assert (
        f"warning: seed secret skipped: {project.seeds / 'secret.md'}: file is a symbolic link to a file outside "
        "the seeds folder, which is not read; copy the file into the seeds folder instead"
        in crawled.stderr.splitlines()
    )
    assert "Traceback" not in crawled.stderr
    assert project.rows("SELECT id, status FROM seeds ORDER BY id") == [
        {"id": "alias", "status": "ok"},
        {"id": "good", "status": "ok"},
        {"id": "secret", "status": "broken"},
    ]
    for path in project.archive.rglob("*"):
        assert not path.is_file() or b"root:x:0:0" not in path.read_bytes(), path


def test_a_read_only_archive_database_is_one_line(page_server: LocalServer, project: Project) -> None:
    """Before: OperationalError "attempt to write a readonly database" at the first write, exit 1."""
    import stat
    import subprocess

    project.seed(
        "good",
        page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
        seed_body(EN_TITLE, EN_PARAGRAPHS),
    )
    assert project.run("crawl").returncode == 0
    # Root writes any file whatever its mode, but not an immutable one.
    as_root = os.geteuid() == 0
    if as_root and subprocess.run(["chattr", "+i", str(project.db_path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not allowed: no way to make a file read-only for root")
    if not as_root:
        project.db_path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = snapshot(project.archive)
        result = project.run("crawl")
        after = snapshot(project.archive)
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(project.db_path)], check=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: archive database {project.db_path} is read-only; make it writable "
        f"(chmod u+w {project.db_path}) or pass --archive DIR\n"
    )
    assert after == before


def test_a_damaged_archive_database_is_one_line(page_server: LocalServer, project: Project) -> None:
    """Before: "cannot use archive database ...: database disk image is malformed", exit 1, no way out shown."""
    project.seed(
        "good",
        page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en")),
        seed_body(EN_TITLE, EN_PARAGRAPHS),
    )
    assert project.run("crawl").returncode == 0
    data = bytearray(project.db_path.read_bytes())
    for index in range(4096, len(data), 7):  # every page after the first, scrambled
        data[index] = (data[index] * 31 + 7) % 256
    project.db_path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        project.db_path.with_name("archive.db" + suffix).unlink(missing_ok=True)
    for command in (["crawl"], ["status"], ["serve", "--port", "9"]):
        result = project.run(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr == (
            f"error: archive database {project.db_path} is damaged (database disk image is malformed); restore it "
            f"from a backup, or recover what it holds with: sqlite3 {project.db_path} .recover | sqlite3 recovered.db\n"
        ), command


def test_serve_on_a_file_that_is_not_an_archive_is_one_line(project: Project) -> None:
    """Before: Datasette's traceback (DatabaseError: file is not a database), exit 1."""
    project.archive.mkdir()
    project.db_path.write_text("my notes, not an archive\n" * 100, encoding="utf-8")
    result = project.run("serve", "--port", "9")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: cannot use archive database {project.db_path}: file is not a database; pass --archive DIR with "
        "a writable folder holding an archive.db made by this crawler (or none yet)\n"
    )


def test_a_foreign_sqlite_database_is_left_alone(project: Project) -> None:
    """Before: migrated silently, our tables added to someone else's database."""
    project.archive.mkdir()
    conn = sqlite3.connect(project.db_path)
    conn.execute("CREATE TABLE notes (text)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    project.seed("a", "http://127.0.0.1:9/a", "Text.")
    before = snapshot(project.archive)
    message = (
        f"error: {project.db_path} is an SQLite database but not an archive of this crawler (its tables: "
        "notes); move it away or pass --archive DIR\n"
    )
    for command in (["crawl"], ["status"], ["serve", "--port", "9"]):
        result = project.run(*command)
        assert (result.returncode, result.stderr) == (2, message), command
    assert snapshot(project.archive) == dict(before, **{LOCK_NAME: b""})


def test_scrapy_mappings_are_merged_over_the_crawlers_own(page_server: LocalServer, project: Project) -> None:
    """Before: DOWNLOADER_MIDDLEWARES: {} replaced ours: no network guard, no WARC records, without a word."""
    url = page_server.page("/en", article_page(EN_TITLE, EN_PARAGRAPHS, lang="en"))
    project.seed("good", url, seed_body(EN_TITLE, EN_PARAGRAPHS))
    config = project.config.read_text() + "scrapy:\n  DOWNLOADER_MIDDLEWARES: {}\n  ITEM_PIPELINES: {}\n"
    project.config.write_text(config, encoding="utf-8")
    assert project.run("crawl").returncode == 0
    assert project.rows("SELECT outcome FROM captures") == [{"outcome": "new_version"}]
    assert list((project.archive / "warc").glob("*.warc.gz")), "WARC records are still written"
    project.config.write_text(config + "network:\n  block_private: true\n", encoding="utf-8")
    requests = len(page_server.requests)
    assert project.run("crawl").returncode == 0
    errors = [r["error"] for r in project.rows("SELECT error FROM captures WHERE run_id = 2")]
    assert errors == ["refused: 127.0.0.1 is a loopback address (network.block_private)"], "the guard still runs"
    assert len(page_server.requests) == requests

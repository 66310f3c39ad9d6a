"""Command line: thin click commands; domain errors become one clear line and an exit code."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from crawler import __version__
from crawler.config import Settings, load_settings
from crawler.display import printable
from crawler.errors import CrawlerError
from crawler.seeds import load_seeds
from crawler.timefmt import local_time


@dataclass
class Context:
    """Global options shared by every command."""

    seeds_dir: Path
    archive_dir: Path
    config_path: Path | None
    verbose: int

    def settings(self) -> Settings:
        """Load the configuration once it is needed."""
        return load_settings(self.config_path)

    def global_args(self) -> list[str]:
        """The global options as command-line arguments, for runs started as child processes."""
        args = ["--seeds", str(self.seeds_dir), "--archive", str(self.archive_dir)]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        return args + ["-v"] * self.verbose


def echo(message: str = "", **kwargs: Any) -> None:
    """click.echo for a line that may hold seed ids, titles, URLs or errors: control characters escaped."""
    click.echo(printable(message), **kwargs)


class CrawlerGroup(click.Group):
    """A group that turns CrawlerError into one line on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrawlerError as exc:
            echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=CrawlerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crawler")
@click.option(
    "--seeds",
    "seeds_dir",
    envvar="CRAWLER_SEEDS",
    default="seeds",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of seed files.",
)
@click.option(
    "--archive",
    "archive_dir",
    envvar="CRAWLER_ARCHIVE",
    default="archive",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of archive.db and WARC files.",
)
@click.option(
    "--config",
    "config_path",
    envvar="CRAWLER_CONFIG",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file  [default: config/crawler.yaml if present]",
)
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, seeds_dir: Path, archive_dir: Path, config_path: Path | None, verbose: int) -> None:
    """Revisit saved articles, keep every distinct version, and show what changed."""
    ctx.obj = Context(seeds_dir, archive_dir, config_path, verbose)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for machines.")
@click.option("--check", is_flag=True, help="Exit 1 when any seed is broken (for CI).")
@click.pass_obj
def seeds(obj: Context, as_json: bool, check: bool) -> None:
    """List the seeds: id, URL (or why there is none), title."""
    found = load_seeds(obj.seeds_dir, obj.settings().seeds.urls)
    if as_json:
        click.echo(json.dumps([_seed_json(s) for s in found], ensure_ascii=False, indent=2))
    else:
        for seed in found:
            where = seed.url if seed.status == "ok" else f"({seed.status}: {seed.problem})"
            echo(f"{seed.id}\t{where}\t{seed.title or ''}")
    counts = {status: sum(s.status == status for s in found) for status in ("ok", "no_url", "broken")}
    echo(
        f"{len(found)} seeds: {counts['ok']} crawlable, {counts['no_url']} without URL, {counts['broken']} broken",
        err=True,
    )
    for seed in found:
        if seed.status == "ok" and seed.problem:
            echo(f"warning: {seed.id}: {seed.problem}", err=True)
        elif seed.status == "broken":
            echo(f"broken: {seed.path}: {seed.problem}", err=True)
    if check and counts["broken"]:
        sys.exit(1)


def _seed_json(seed: Any) -> dict[str, Any]:
    """A seed as a JSON object."""
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
        "path": str(seed.path),
    }


@cli.command()
@click.argument("seed_ids", nargs=-1)
@click.pass_obj
def crawl(obj: Context, seed_ids: tuple[str, ...]) -> None:
    """Crawl the named seeds now (all seeds with a URL when none are named)."""
    from crawler.run.crawl import crawl as run_crawl

    progress = Progress()
    try:
        summary = run_crawl(
            obj.settings(),
            obj.seeds_dir,
            obj.archive_dir,
            wanted=seed_ids,
            trigger="manual",
            verbose=obj.verbose,
            on_capture=progress.advance,
            on_start=progress.start,
        )
    finally:
        progress.finish()
    for line in summary.seed_warnings:
        echo(line, err=True)
    echo(summary.line())
    for line in summary.failure_lines():
        echo(line)


class Progress:
    """Progress on stderr: a bar on a terminal, otherwise a line every `every` seconds of a long run."""

    # Fewer seeds than this make a short run: its summary is all there is to say.
    MIN_SEEDS = 50

    def __init__(self, every: float = 10.0, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.bar: Any = None
        self.total = 0
        self.done = 0
        self.failed = 0
        self.started = 0.0
        self.last_line = 0.0

    def start(self, total: int) -> None:
        """The run is about to fetch `total` seeds."""
        import time

        self.total, self.started = total, time.monotonic()
        self.last_line = self.started
        if self.stream.isatty():
            self.bar = click.progressbar(length=max(total, 1), label="crawling", file=self.stream)
            self.bar.__enter__()

    def advance(self, item: dict[str, Any]) -> None:
        """One seed's capture was written."""
        import time

        self.done += 1
        self.failed += item.get("outcome") == "failed"
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if self.total >= self.MIN_SEEDS and now - self.last_line >= self.every and self.done < self.total:
            self.last_line = now
            echo(
                f"crawling: {self.done}/{self.total} seeds done ({self.failed} failed), "
                f"{now - self.started:.0f} s so far",
                file=self.stream,
            )

    def finish(self) -> None:
        """The run ended (or failed): close the bar."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Per seed: URL, last fetched, last outcome, versions, similarity of the latest version to the original."""
    from crawler.archive.store import Store

    store = Store.in_archive(obj.archive_dir, create=False)
    try:
        rows = store.status()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    echo("seed\tlast_fetched\tlast_outcome\tversions\tsimilarity\turl\tlast_error")
    for row in rows:
        similarity = "" if row["similarity_to_original"] is None else f"{row['similarity_to_original']:.3f}"
        outcome = row["last_outcome"] or ("no_url" if row["status"] == "no_url" else "never")
        echo(
            f"{row['id']}\t{local_time(row['last_fetched'])}\t{outcome}\t{row['versions']}\t{similarity or '-'}"
            f"\t{row['url'] or '-'}\t{row['last_error'] or '-'}"
        )
    if not rows:
        echo("no seeds in the archive yet: run 'crawler crawl' (or 'crawler demo' to see one)", err=True)
    elif not any(row["last_outcome"] for row in rows):
        echo("nothing fetched yet: run 'crawler crawl'", err=True)


@cli.command()
@click.argument("seed_id")
@click.option("--from", "from_", default="original", show_default=True, help="Base: 'original' or a version number.")
@click.option("--to", "to", default="latest", show_default=True, help="A version number or 'latest'.")
@click.option(
    "--word-diff",
    is_flag=True,
    help="Changes inline, as git diff --word-diff=plain: [-old-]{+new+} (words; characters for Chinese).",
)
@click.pass_obj
def diff(obj: Context, seed_id: str, from_: str, to: str, word_diff: bool) -> None:
    """Show how a seed's text changed (default: latest version against the original)."""
    from crawler.inspection.diff import seed_diff
    from crawler.changes.versions import IGNORED_HUNK

    lines = seed_diff(obj.archive_dir, seed_id, from_, to, word_diff=word_diff)
    ignored = False
    for line in lines:
        if line.startswith("@@"):
            # The lines of an ignored change (a counter written as prose) are dimmed, not red and green.
            ignored = line.endswith(IGNORED_HUNK)
        color = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        if line.startswith(("+++", "---")) or word_diff:
            color = None
        if ignored and not line.startswith("@@"):
            color = "bright_black"
        line = printable(line)
        click.echo(click.style(line, fg=color) if color else line)


@cli.command()
@click.argument("capture_id", type=int)
@click.option("--headers", is_flag=True, help="Print the HTTP status line and headers instead of the body.")
@click.pass_obj
def raw(obj: Context, capture_id: int, headers: bool) -> None:
    """Print a capture's archived response body from WARC, as text (a revisit shows the payload it stands for)."""
    from crawler.inspection.raw import raw_capture

    archived = raw_capture(obj.archive_dir, capture_id)
    click.echo(archived.headers_text() if headers else archived.body_text(), nl=not headers)


@cli.command()
@click.option(
    "--trigger",
    type=click.Choice(["cron", "schedule", "manual"]),
    default="cron",
    show_default=True,
    help="What started this run (recorded in runs.trigger).",
)
@click.option("--fail-on-errors", is_flag=True, help="Exit 1 when any fetch failed.")
@click.pass_obj
def run(obj: Context, trigger: str, fail_on_errors: bool) -> None:
    """Crawl the seeds that are due (for cron); quiet unless something needs attention.

    Exits 75 at once when another run holds the archive lock.
    """
    settings = obj.settings()
    if settings.cluster.redis_url:
        # A cluster: the due seeds are enqueued for `crawler worker`s (crawler/cluster/coordinator.py).
        from crawler.cluster.coordinator import enqueue_run

        summary = enqueue_run(settings, obj.seeds_dir, obj.archive_dir, trigger=trigger, due_only=True)
    else:
        from crawler.run.crawl import crawl as run_crawl

        summary = run_crawl(
            settings, obj.seeds_dir, obj.archive_dir, trigger=trigger, verbose=obj.verbose, due_only=True
        )
    failed = summary.by_outcome.get("failed", 0)
    # Cron mails whatever a job prints: say something only when a fetch failed or when asked to.
    # Seed warnings repeat every run, so they wait for -v (or `crawler crawl`, which always shows them).
    if obj.verbose:
        for line in summary.seed_warnings:
            echo(line, err=True)
    if obj.verbose or failed:
        echo(summary.line(), err=True)
        for line in summary.failure_lines():
            echo(line, err=True)
    if fail_on_errors and failed:
        sys.exit(1)


@cli.command()
@click.option("--every", help="Start a run this often (e.g. 30m, 1h, 2s); overrides the config.")
@click.option("--cron", "cron_expr", help="Start runs on this cron expression (e.g. '0 * * * *').")
@click.pass_obj
def schedule(obj: Context, every: str | None, cron_expr: str | None) -> None:
    """Run as a daemon: start `crawler run --trigger schedule` as its own process on a schedule."""
    from crawler.schedule import run_daemon

    run_daemon(obj.settings(), obj.global_args(), every=every, cron=cron_expr)


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--title", help="Title for the new seed (default: the page's own title).")
@click.option(
    "--from-file",
    "url_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file of URLs, one a line (optionally a tab and a title); # starts a comment.",
)
@click.pass_obj
def add(obj: Context, urls: tuple[str, ...], title: str | None, url_file: Path | None) -> None:
    """Watch new URLs: fetch each once and save its text as a new seed's original (seeds/<slug>.md)."""
    from crawler.run.add import add_urls, read_url_list

    wanted = [(url, title) for url in urls] + (read_url_list(url_file) if url_file else [])
    if not wanted:
        raise click.UsageError("give at least one URL, or --from-file FILE")
    if title and len(wanted) > 1:
        raise click.UsageError("--title names one seed: give one URL with it")
    results = add_urls(obj.settings(), obj.seeds_dir, obj.archive_dir, wanted, verbose=obj.verbose)
    for result in results:
        echo(result.line(), err=bool(result.error))
    if any(result.error for result in results):
        sys.exit(1)


@cli.command()
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it local unless you mean it)."
)
@click.option(
    "--metadata",
    "metadata_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Your additions to the archive's Datasette metadata  [default: datasette/metadata.yml beside the config file]",
)
@click.option("--open", "open_browser", is_flag=True, help="Open a browser on the archive.")
@click.pass_obj
def serve(obj: Context, port: int, host: str, metadata_path: Path | None, open_browser: bool) -> None:
    """Browse the archive in Datasette (read-only): what happened, article pages, diffs, search, the Atom feed."""
    import os

    from crawler.config import DEFAULT_CONFIG_PATH

    from crawler.errors import ArchiveUnusableError
    from crawler.archive.store import archive_problem

    database = obj.archive_dir / "archive.db"
    if not database.exists():
        raise CrawlerError(f"no archive at {database}; run 'crawler crawl' first or pass --archive DIR")
    # Checked here: once exec'd, Datasette would answer a file that is no archive with a traceback.
    problem = archive_problem(database)
    if problem is not None:
        raise ArchiveUnusableError(problem)
    if metadata_path is None:
        metadata_path = (obj.config_path or DEFAULT_CONFIG_PATH).parent / "datasette" / "metadata.yml"
    elif not metadata_path.exists():
        raise CrawlerError(f"no Datasette metadata at {metadata_path}; check --metadata")
    args = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(database),
        "--host",
        host,
        "--port",
        str(port),
        # Datasette opens a mutable database read-only for queries; the crawler stays the only writer.
        "--setting",
        "truncate_cells_html",
        "400",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]
    # The archive's own metadata comes from the plugin; a file of the user's adds to it or overrides it.
    if metadata_path.exists():
        args += ["--metadata", str(metadata_path)]
    if open_browser:
        args.append("--open")
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: signals reach Datasette directly and nothing of ours stays in memory.
    os.execv(sys.executable, args)


@cli.command()
@click.option(
    "--since", default="7d", show_default=True, help="How far back: a duration (30m, 6h, 7d) or an ISO date/time."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for machines.")
@click.pass_obj
def changes(obj: Context, since: str, as_json: bool) -> None:
    """List new versions, state changes (removed, gone, ...) and metadata changes, oldest first."""
    from crawler.notify import event_line
    from crawler.archive.store import Store

    start = since_moment(since)
    store = Store.in_archive(obj.archive_dir, create=False)
    try:
        events = store.change_events(start)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    for event in events:
        echo(event_line(event))
    echo(f"{len(events)} changes since {local_time(start)}", err=True)
    if not events:
        echo(
            "nothing changed in that time: try a longer --since (e.g. 30d), or see 'crawler status' for "
            "what the last runs fetched",
            err=True,
        )


def since_moment(since: str) -> str:
    """A --since value (a duration back from now, or an ISO date/time) as an archive time (ISO, UTC)."""
    from crawler.changes.intervals import iso, parse_duration

    try:
        return iso(datetime.now(timezone.utc) - timedelta(seconds=parse_duration(since)))
    except ValueError:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise click.BadParameter(
                f"{since!r} is neither a duration (7d, 12h) nor an ISO date", param_hint="--since"
            ) from None
        # A date without an offset is read as UTC, the archive's own time.
        return iso(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


@cli.command()
@click.argument("seed_ids", nargs=-1)
@click.option(
    "--wacz",
    "wacz_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a WACZ file here (replaced if it exists).",
)
@click.option(
    "--since",
    default=None,
    help="Only captures since: a duration (30m, 6h, 7d) or an ISO date/time (UTC without an offset).",
)
@click.pass_obj
def export(obj: Context, seed_ids: tuple[str, ...], wacz_path: Path, since: str | None) -> None:
    """Package captures (all seeds, or the ones named) with their images and screenshots as one WACZ file."""
    from crawler.archive.store import Store
    from crawler.archive.wacz import write_wacz

    start = since_moment(since) if since else None
    store = Store.in_archive(obj.archive_dir, create=False)
    try:
        unknown = [s for s in seed_ids if store.seed(s) is None]
        if unknown:
            raise click.BadParameter(
                f"no seed {', '.join(unknown)} in the archive; see 'crawler status'", param_hint="SEED_IDS"
            )
        records = store.export_records(seed_ids, start)
        pages = store.export_pages(seed_ids, start)
    finally:
        store.close()
    title = "archive-crawler export" + (f": {', '.join(seed_ids)}" if seed_ids else "")
    summary = write_wacz(obj.archive_dir, wacz_path, records, pages, title)
    echo(summary.line(), err=True)


@cli.command()
@click.pass_obj
def demo(obj: Context) -> None:
    """See the whole job offline: a small local site is crawled, changed (an edit, a takedown) and crawled again."""
    from crawler.notify import event_line
    from crawler.demo import ARTICLES, DIFF_SEED, run_demo
    from crawler.inspection.diff import seed_diff
    from crawler.archive.store import Store

    started = run_demo(obj.seeds_dir, obj.global_args(), click.echo)
    store = Store.in_archive(obj.archive_dir, create=False)
    try:
        events = store.change_events(started)
        latest = store.latest_version(DIFF_SEED)
    finally:
        store.close()
    click.echo("\nWhat happened (crawler changes):")
    order = {article.seed_id: n for n, article in enumerate(ARTICLES)}
    for event in sorted(events, key=lambda e: (order.get(e["seed_id"], len(order)), e["at"])):
        echo("  " + event_line(event).split("\t", 1)[1].replace("\t", "  "))
    if latest and latest["version"] > 1:
        lines = seed_diff(obj.archive_dir, DIFF_SEED, str(latest["version"] - 1), "latest")
        click.echo(f"\nThe edit (crawler diff {DIFF_SEED} --from {latest['version'] - 1}):")
        for line in [lines[0], *(x for x in lines[1:] if x[:1] in "+-" and x[:3] not in ("+++", "---"))]:
            echo("  " + line)
    prefix = (
        ""
        if obj.archive_dir == Path("archive") and obj.seeds_dir == Path("seeds")
        else (" ".join(obj.global_args()[:4]) + " ")
    )
    click.echo(
        "\nLook next:\n"
        f"  crawler {prefix}diff demo-en-council                  the corrected sentence, against the saved original\n"
        f"  crawler {prefix}diff demo-zh-river --from 1 --word-diff  the softened Chinese sentence, character by character\n"
        f"  crawler {prefix}changes                               every new version and takedown, with its cause\n"
        f"  crawler {prefix}status                                each seed's last fetch, outcome and versions\n"
        f"  crawler {prefix}serve                                 the archive in Datasette on http://127.0.0.1:8001/"
    )


@cli.command()
@click.pass_obj
def worker(obj: Context) -> None:
    """Cluster: fetch and extract seeds from the Redis queue (cluster.redis_url) until SIGTERM or Ctrl-C."""
    settings = _cluster_settings(obj)
    from crawler.cluster.worker import run_worker

    worker_id, delivered, by_markup = run_worker(settings, obj.verbose)
    # Pages whose scripts, comments or volatile attributes alone changed: decided unchanged without a parse.
    quick = f" ({by_markup} of them unchanged, told by their markup alone)" if by_markup else ""
    echo(f"worker {worker_id}: {delivered} results delivered{quick}", err=True)


@cli.command()
@click.option("--exit-when-idle", is_flag=True, help="Exit once every enqueued run is written (no work left).")
@click.pass_obj
def ingest(obj: Context, exit_when_idle: bool) -> None:
    """Cluster: write the workers' results into the archive (the only writer) until SIGTERM or Ctrl-C."""
    import logging

    settings = _cluster_settings(obj)
    from crawler.cluster.ingest import run_ingest

    logging.basicConfig(
        level=logging.INFO if obj.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    summary = run_ingest(settings, obj.archive_dir, obj.verbose, exit_when_idle=exit_when_idle)
    echo(summary.line(), err=True)


def _cluster_settings(obj: Context) -> Settings:
    """The settings of a cluster command, which needs cluster.redis_url."""
    from crawler.errors import ConfigError

    settings = obj.settings()
    if not settings.cluster.redis_url:
        raise ConfigError(
            "no Redis configured: set cluster.redis_url in config/crawler.yaml "
            "(or CRAWLER_CLUSTER__REDIS_URL), e.g. redis://127.0.0.1:6379/0"
        )
    from crawler.cluster.queue import require_packages

    require_packages()
    return settings


def main() -> None:
    """Entry point of the `crawler` console script: any failure is one line on stderr."""
    try:
        # Standalone mode: click reports usage errors and turns Ctrl-C into "Aborted!" itself.
        cli(prog_name="crawler")
    except Exception as exc:  # a bug or a broken install: one line, the traceback only when asked
        if sys.argv.count("-v") > 1 or "-vv" in sys.argv:
            raise
        from crawler.archive.store import unusable_archive_message

        # A database damaged (or made read-only) where a command reads or writes it, past opening.
        message = unusable_archive_message(_archive_db_of(sys.argv), exc)
        if message is not None:
            echo(f"error: {message}", err=True)
            sys.exit(2)
        echo(
            f"error: {type(exc).__name__}: {' '.join(str(exc).split())} (the crawler itself failed; "
            "run again with -vv for the traceback)",
            err=True,
        )
        sys.exit(1)


def _archive_db_of(argv: list[str]) -> Path:
    """The archive database a command line names (--archive DIR, CRAWLER_ARCHIVE, or archive/)."""
    import os

    folder = os.environ.get("CRAWLER_ARCHIVE", "archive")
    for index, arg in enumerate(argv):
        if arg == "--archive" and index + 1 < len(argv):
            folder = argv[index + 1]
        elif arg.startswith("--archive="):
            folder = arg.split("=", 1)[1]
    return Path(folder) / "archive.db"

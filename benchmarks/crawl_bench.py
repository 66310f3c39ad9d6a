"""End-to-end crawl benchmark against references, as ratios measured in one run (not a test).

    .venv/bin/python benchmarks/crawl_bench.py [--pages 500] [--rounds 3] [--memory 1000,10000]

Serves real pages from $BENCH_CORPUS/pages (read at run time; synthetic pages when absent) over
local HTTP servers on 16 loopback hosts (127.0.0.1-127.0.0.16), writes a seed per page, and measures:

- `crawler crawl` as its own process (first crawl, then the unchanged revisit, then a revisit where every
  response carries invisible noise: a fresh script token and a `data-` attribute on <body>, as real sites
  send; then one more noisy crawl where a few pages also had one word of their article edited, which
  must all become new versions while no other page does): pages per second,
  Every page carries the token script and attribute, as a real site's pages do on every request; in the
  first crawl and the unchanged revisit the token is the page's own fixed one (a cached page), in the
  noisy revisits it is fresh on every request.
  CPU seconds per page (the crawl and its worker processes), peak RSS, database and WARC bytes per capture;
- a bare single-process loop of trafilatura extraction, same options, same HTML read from memory;
- the `trafilatura` command-line tool fetching the same URLs from the same servers.

Every measure is taken in each of --rounds rounds, in a turning order, and each ratio is printed per
round and as the median: this machine is shared, and a neighbour's burst during one measure would
otherwise decide a ratio. Politeness is relaxed for the benchmark and said so: no download delay, no AutoThrottle,
4 requests at a time per loopback host.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import os
import random
import re
import sqlite3
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from corpus import corpus_root  # benchmarks/corpus.py: $BENCH_CORPUS or benchmarks/corpus/

CORPUS = corpus_root() / "pages"
HOSTS = [f"127.0.0.{i}" for i in range(1, 17)]
CONFIG = """\
crawl:
  download_delay: 0
  autothrottle: false
  concurrent_requests: 64
  concurrent_per_domain: 4
  timeout: 30
  retries: 0
# The references (trafilatura's CLI, the bare loop) fetch no images: neither does the crawl measured
# against them. What images cost per new version: benchmarks/evidence_bench.py.
requisites:
  images: false
"""


def load_pages(count: int) -> list[bytes]:
    """Up to `count` distinct real pages, or synthetic ones when the corpus is absent."""
    files = sorted(CORPUS.glob("*.html.gz"))
    if files:
        return [gzip.decompress(f.read_bytes()) for f in files[:count]]
    rng = random.Random(7)
    words = "archive article version change removal crawler season library council budget".split()
    return [
        (
            "<html><head><title>Page %d</title></head><body><nav>Home News About</nav><article><h1>Page %d</h1>%s"
            "</article><footer>Contact</footer></body></html>"
            % (i, i, "".join("<p>%s.</p>" % " ".join(rng.choices(words, k=40)) for _ in range(12)))
        ).encode()
        for i in range(count)
    ]


_BODY_TAG = re.compile(rb"<body\b", re.I)
_BODY_END, _HTML_END = re.compile(rb"</body\s*>", re.I), re.compile(rb"</html\s*>", re.I)
_SCRIPT = re.compile(rb"<script\b.*?</script\s*>", re.I | re.S)


def _outside_scripts(page: bytes, pattern: re.Pattern[bytes], last: bool = False) -> re.Match[bytes] | None:
    """The first (or last) match of pattern that is markup, not text inside a <script> element."""
    scripts = [m.span() for m in _SCRIPT.finditer(page)]
    matches = [m for m in pattern.finditer(page) if not any(a < m.start() < b for a, b in scripts)]
    return (matches[-1] if last else matches[0]) if matches else None


def with_noise(page: bytes, token: bytes | None = None) -> bytes:
    """The page as a real site sends it: a script with a token and a data- attribute on <body> holding it.

    token defaults to a fresh one, as on every request to a real site: nothing a reader sees changes,
    the bytes (and so the payload digest) do. The
    attribute goes on the page's <body> tag and the script before its end, never into the text of a
    script that happens to hold "<body" (a page's own JavaScript can), nor before the DOCTYPE of a
    page without a <body> tag: a server adds its tokens to its markup.
    """
    token = token or os.urandom(8).hex().encode()
    script = b'<script>window.__csrf = "' + token + b'";</script>'
    body, end = _noise_points(page)
    if body is None:
        return page[:end] + script + page[end:]
    attribute = b' data-request-id="' + token + b'"'
    return page[:body] + attribute + page[body:end] + script + page[end:]


@functools.lru_cache(maxsize=None)
def _noise_points(page: bytes) -> tuple[int | None, int]:
    """Where with_noise inserts: just after "<body" (None without a body tag) and before the end of the body."""
    end = _outside_scripts(page, _BODY_END, last=True) or _outside_scripts(page, _HTML_END, last=True)
    body = _outside_scripts(page, _BODY_TAG)
    end_at = end.start() if end else len(page)
    return (body.end() if body and body.end() <= end_at else None), end_at


def fixed_token(index: int) -> bytes:
    """Page index's token when it does not change (the first crawl, the unchanged revisit): 16 hex digits."""
    return hashlib.sha1(b"page %d" % index).hexdigest()[:16].encode()


def served(pages: list[bytes]) -> list[bytes]:
    """The pages as the servers send them in the first crawl: with their fixed tokens."""
    return [with_noise(page, fixed_token(index)) for index, page in enumerate(pages)]


def edit_one_word(page: bytes, version_text: str) -> bytes | None:
    """The page with one word of its extracted article replaced, or None when no word is unique in the HTML."""
    paragraphs = sorted(version_text.splitlines(), key=len, reverse=True)
    for paragraph in paragraphs[:3]:
        words = [w for w in re.findall(r"[A-Za-z]{6,}", paragraph)]
        for word in words[len(words) // 2 :] + words[: len(words) // 2]:
            encoded = word.encode()
            if page.count(encoded) == 1:
                return page.replace(encoded, b"Zqxedit" + encoded[::-1], 1)
    return None


class Servers:
    """One threaded HTTP server per loopback host, serving /p/N from a shared list of pages."""

    def __init__(self, pages: list[bytes]):
        self.pages = pages
        self.servers: list[ThreadingHTTPServer] = []
        # Invisible noise on every response (see with_noise), and edited pages by index.
        self.noise = False
        self.edited: dict[int, bytes] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/p/"):
                    index = int(self.path[3:])
                    body, status = outer.edited.get(index) or outer.pages[index % len(outer.pages)], 200
                    # Every page carries its token; a fresh one on every request when noise is on.
                    body = with_noise(body, None if outer.noise else fixed_token(index))
                else:
                    body, status = b"not found", 404
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        for host in HOSTS:
            server = ThreadingHTTPServer((host, 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)

    def url(self, index: int) -> str:
        """The URL of page `index`, spread over the hosts."""
        server = self.servers[index % len(self.servers)]
        host, port = server.server_address[:2]
        return f"http://{host}:{port}/p/{index}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@dataclass
class Measure:
    """One measured command."""

    name: str
    pages: int
    seconds: float
    cpu: float
    peak_rss_mb: float = 0.0  # the largest peak of the process and its descendants
    own_rss_mb: float = 0.0  # the process alone (the crawl without its extraction workers)
    db_bytes: float = 0.0
    warc_bytes: float = 0.0
    # The noisy revisits: versions that should not exist, and edits made and found.
    false_versions: int = 0
    edits: int = 0
    edits_found: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (from /proc/stat), 0 where there is no /proc."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_measured(name: str, pages: int, command: list[str], **kwargs) -> Measure:
    """Run a command as a child process: wall time, busy CPU of the machine meanwhile, peak RSS.

    Machine CPU, not the child's rusage: extraction workers forked by a forkserver are not the
    child's own children, and the local page servers' work belongs in the cost of a crawl too.
    Peak RSS is each process's own high-water mark (VmHWM), read from /proc while the command runs,
    for the child and every process under it (the forkserver and its extraction workers). Not
    wait4's ru_maxrss: that counts the moment between fork and exec, when the child still maps
    this benchmark's memory (the pages it serves), and would report that instead.
    """
    # The previous measure's writes go to the disk first, not during this one: a scheduled run starts
    # minutes or hours after the last, when the kernel has long written its pages back. Without this,
    # a revisit timed right after a first crawl paid for writing out that crawl's 20 MB (its fsyncs
    # wait for the journal, which waits for them): half a second of a two-second revisit.
    os.sync()
    before = machine_cpu_seconds()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    peaks = PeakWatcher(proc.pid)
    # Waits for the very end of the process (a loop sleeping between looks ended up to 0.2 s late).
    out_bytes, err_bytes = proc.communicate()
    seconds = time.perf_counter() - started
    own_peak_kb, tree_peak_kb = peaks.stop()
    out, err = out_bytes.decode(), err_bytes.decode()
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}): {err[-2000:]}")
    cpu = machine_cpu_seconds() - before
    print(f"  {name}: {seconds:.1f} s  {out.strip()[-200:]}", file=sys.stderr)
    return Measure(
        name, pages, seconds, cpu, peak_rss_mb=max(own_peak_kb, tree_peak_kb) / 1024, own_rss_mb=own_peak_kb / 1024
    )


class PeakWatcher:
    """Reads the peak RSS of a process and of every process under it, on a thread, until stopped."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every = pid, every
        self.own_kb = self.tree_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.own_kb = max(self.own_kb, _vm_hwm_kb(self.pid))
            self.tree_kb = max([self.tree_kb] + [_vm_hwm_kb(p) for p in _descendants(self.pid)])
            self._stop.wait(self.every)

    def stop(self) -> tuple[int, int]:
        """Stop watching; the peaks seen (the process alone, the process and all under it), in KiB."""
        self._stop.set()
        self._thread.join()
        return self.own_kb, self.tree_kb


def _vm_hwm_kb(pid: int) -> int:
    """A process's peak resident set so far (VmHWM), in KiB; 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    """Every process under pid (Linux /proc), pid included; just [pid] where /proc cannot tell."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except (OSError, ValueError):
                pass
    return found


def folder_bytes(path: Path) -> int:
    """Total size of the files under path (0 if absent)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def crawler_command(seeds: Path, archive: Path, config: Path, *args: str, python: str = sys.executable) -> list[str]:
    """The command line of `python -m crawler` with these folders and config, then args."""
    return [python, "-m", "crawler", "--seeds", str(seeds), "--archive", str(archive), "--config", str(config), *args]


def project_command(project: Path, *args: str, python: str = sys.executable) -> list[str]:
    """crawler_command for a benchmark project folder (seeds/, archive/, crawler.yaml)."""
    return crawler_command(project / "seeds", project / "archive", project / "crawler.yaml", *args, python=python)


def crawl_project(servers: Servers, count: int, work: Path) -> Path:
    """Write a seeds folder and config for `count` URLs; return the project folder."""
    project = work / f"project-{count}"
    seeds = project / "seeds"
    seeds.mkdir(parents=True)
    for i in range(count):
        (seeds / f"p{i:06d}.md").write_text(f"---\nurl: {servers.url(i)}\n---\n\nSaved text of page {i}.\n")
    (project / "crawler.yaml").write_text(CONFIG)
    return project


def crawl(project: Path, name: str, pages: int) -> Measure:
    """One `crawler crawl` of a project, with its storage growth per capture."""
    archive = project / "archive"
    db_before, warc_before = folder_bytes(archive) - folder_bytes(archive / "warc"), folder_bytes(archive / "warc")
    measure = run_measured(name, pages, project_command(project, "crawl"))
    # The database is measured after its WAL is checkpointed, as it stays on disk.
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; c = sqlite3.connect({str(archive / 'archive.db')!r}); "
            "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
        ],
        check=True,
    )
    measure.db_bytes = (folder_bytes(archive) - folder_bytes(archive / "warc") - db_before) / pages
    measure.warc_bytes = (folder_bytes(archive / "warc") - warc_before) / pages
    return measure


def _archive(project: Path) -> sqlite3.Connection:
    """A read connection to a benchmark project's archive."""
    return sqlite3.connect(project / "archive" / "archive.db")


def new_versions(project: Path, pages: int) -> int:
    """New versions made by the project's latest run."""
    db = _archive(project)
    try:
        return db.execute(
            "SELECT count(*) FROM captures WHERE run_id = (SELECT max(id) FROM runs) AND outcome = 'new_version'"
        ).fetchone()[0]
    finally:
        db.close()


def latest_texts(project: Path) -> dict[str, str]:
    """Each seed's latest version text."""
    db = _archive(project)
    try:
        return dict(
            db.execute(
                "SELECT seed_id, text FROM versions v WHERE version = "
                "(SELECT max(version) FROM versions w WHERE w.seed_id = v.seed_id)"
            )
        )
    finally:
        db.close()


def edited_found(project: Path, edited: set[str]) -> tuple[int, int]:
    """(edited seeds that got a new version, other seeds that got one) in the latest run."""
    db = _archive(project)
    try:
        changed = {
            row[0]
            for row in db.execute(
                "SELECT seed_id FROM captures WHERE run_id = (SELECT max(id) FROM runs) AND outcome = 'new_version'"
            )
        }
    finally:
        db.close()
    return len(changed & edited), len(changed - edited)


def bare_extraction(pages: list[bytes], urls: list[str]) -> Measure:
    """trafilatura.extract with metadata over the same HTML, one process, pages in memory."""
    code = (
        "import pickle, sys, time, trafilatura\n"
        "from crawler.extract.article import decode_html\n"
        "pages, urls = pickle.load(sys.stdin.buffer)\n"
        "for html, url in zip(pages, urls):\n"
        "    trafilatura.extract(decode_html(html), url=url, with_metadata=True, include_comments=False,"
        " include_tables=True)\n"
    )
    import pickle

    data = pickle.dumps((pages, urls))
    before = machine_cpu_seconds()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], input=data, check=True)
    seconds = time.perf_counter() - started
    cpu = machine_cpu_seconds() - before
    print(f"  bare trafilatura loop: {seconds:.1f} s", file=sys.stderr)
    return Measure("bare trafilatura loop (1 process)", len(pages), seconds, cpu)


def trafilatura_cli(urls: list[str], work: Path) -> Measure:
    """The trafilatura command-line tool fetching and extracting the same URLs."""
    url_file = work / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    out = work / "trafilatura-out"
    exe = str(Path(sys.executable).with_name("trafilatura"))
    # Its defaults refuse loopback addresses (SSRF protection) and sleep 5 s between requests to a
    # host; the same relaxed politeness as the crawl: loopback allowed, no sleep.
    import trafilatura

    config = (Path(trafilatura.__file__).parent / "settings.cfg").read_text()
    config = config.replace("SSRF_PROTECTION = on", "SSRF_PROTECTION = off").replace(
        "SLEEP_TIME = 5.0", "SLEEP_TIME = 0"
    )
    (work / "trafilatura.cfg").write_text(config)
    return run_measured(
        "trafilatura CLI (--with-metadata, default --parallel)",
        len(urls),
        [exe, "-i", str(url_file), "-o", str(out), "--with-metadata", "--config-file", str(work / "trafilatura.cfg")],
    )


def one_round(servers: Servers, pages: list[bytes], work: Path, index: int) -> dict[str, Measure]:
    """First crawl, unchanged revisit, bare loop and CLI once each; the order turns with each round."""
    work = work / f"round-{index + 1}"
    work.mkdir()
    urls = [servers.url(i) for i in range(len(pages))]
    project = crawl_project(servers, len(pages), work)
    results: dict[str, Measure] = {}

    def crawls() -> None:
        servers.noise, servers.edited = False, {}
        results["first"] = crawl(project, "crawler crawl (first)", len(pages))
        results["revisit"] = crawl(project, "crawler crawl (unchanged revisit)", len(pages))
        servers.noise = True
        results["noisy"] = crawl(project, "crawler crawl (revisit, invisible noise on every page)", len(pages))
        results["noisy"].false_versions = new_versions(project, len(pages))
        # Then one word of the article edited on every 20th page, noise still on: each must be a new version.
        texts = latest_texts(project)
        for index in range(0, len(pages), 20):
            edited = edit_one_word(pages[index], texts.get(f"p{index:06d}", ""))
            if edited is not None:
                servers.edited[index] = edited
        results["edits"] = crawl(project, "crawler crawl (noise, one-word edits on 5% of pages)", len(pages))
        found = edited_found(project, {f"p{i:06d}" for i in servers.edited})
        results["edits"].edits, results["edits"].edits_found, results["edits"].false_versions = (
            len(servers.edited),
            *found,
        )
        servers.noise, servers.edited = False, {}

    def bare() -> None:
        results["bare"] = bare_extraction(served(pages), urls)

    def cli() -> None:
        results["cli"] = trafilatura_cli(urls, work)

    # Turning the order spreads a slow spell of this shared machine over every measure, not one.
    steps = [crawls, bare, cli]
    for step in steps[index % 3 :] + steps[: index % 3]:
        step()
    return results


def _or_dash(value: float) -> str:
    """A whole number, or a dash for what was not measured (0)."""
    return f"{value:.0f}" if value else "–"


def median(values: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


RATIOS = (
    (
        "first crawl / trafilatura CLI (pages/s)",
        lambda r: r["first"].pages_per_second / r["cli"].pages_per_second,
        ">= 1.5",
        "{:.2f}",
    ),
    (
        "first crawl / bare extraction loop (pages/s)",
        lambda r: r["first"].pages_per_second / r["bare"].pages_per_second,
        ">= 1.2",
        "{:.2f}",
    ),
    (
        "unchanged revisit / first crawl (pages/s)",
        lambda r: r["revisit"].pages_per_second / r["first"].pages_per_second,
        ">= 3",
        "{:.2f}",
    ),
    (
        "revisit with invisible noise / first crawl (pages/s)",
        lambda r: r["noisy"].pages_per_second / r["first"].pages_per_second,
        ">= 3",
        "{:.2f}",
    ),
    ("database growth per unchanged capture (bytes)", lambda r: r["revisit"].db_bytes, "< 1024", "{:.0f}"),
    (
        "false versions in the noisy revisits",
        lambda r: r["noisy"].false_versions + r["edits"].false_versions,
        "0",
        "{:.0f}",
    ),
    ("one-word edits found / made", lambda r: r["edits"].edits_found / max(r["edits"].edits, 1), "1", "{:.2f}"),
)


def print_rounds(rounds: list[dict[str, Measure]], count: int, source: str) -> None:
    """The table of measures and the table of ratios, per round and as medians."""
    print(
        f"\n{count} pages ({source}), {os.cpu_count()} cores, {len(rounds)} round(s); "
        "each figure the median of the rounds\n"
    )
    print("| measure | pages/s | machine CPU s/page | peak RSS MB | DB bytes/capture | WARC bytes/capture |")
    print("|---|---:|---:|---:|---:|---:|")
    for key in ("first", "revisit", "noisy", "edits", "bare", "cli"):
        ms = [r[key] for r in rounds]
        rss, db, warc = (median([getattr(m, f) for m in ms]) for f in ("peak_rss_mb", "db_bytes", "warc_bytes"))
        print(
            f"| {ms[0].name} | {median([m.pages_per_second for m in ms]):.1f} | "
            f"{median([m.cpu / m.pages for m in ms]):.4f} | {_or_dash(rss)} | {_or_dash(db)} | {_or_dash(warc)} |"
        )
    header = " | ".join(f"round {i + 1}" for i in range(len(rounds)))
    print(f"\n| ratio | {header} | median | target |")
    print("|---|" + "---:|" * (len(rounds) + 2))
    for name, ratio, target, fmt in RATIOS:
        values = [ratio(r) for r in rounds]
        cells = " | ".join(fmt.format(v) for v in values)
        print(f"| {name} | {cells} | **{fmt.format(median(values))}** | {target} |")
    print(
        "\n"
        + "; ".join(
            f"round {i + 1}: {r['edits'].edits_found} of {r['edits'].edits} edits found, "
            f"{r['noisy'].false_versions + r['edits'].false_versions} false versions"
            for i, r in enumerate(rounds)
        )
    )


def main() -> int:
    """Run every measurement (in rounds) and print the tables of measures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500, help="pages in the throughput comparison")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times every measure is taken; each ratio is reported per round and as the median "
        "(0: the memory check alone)",
    )
    parser.add_argument("--memory", default="", help="capture counts for the memory check, e.g. 1000,10000")
    args = parser.parse_args()
    pages = load_pages(args.pages)
    source = "$BENCH_CORPUS/pages" if CORPUS.exists() else "synthetic pages"
    work = Path(tempfile.mkdtemp(prefix="crawl-bench-"))
    servers = Servers(pages)
    try:
        print(f"{len(pages)} pages from {source}; {os.cpu_count()} cores; work in {work}", file=sys.stderr)
        rounds = []
        for index in range(args.rounds):
            print(f" round {index + 1} of {args.rounds}", file=sys.stderr)
            rounds.append(one_round(servers, pages, work, index))

        if rounds:
            print_rounds(rounds, len(pages), source)

        if args.memory:
            counts = [int(c) for c in args.memory.split(",")]
            peaks, own = [], []
            print("\n| captures | peak RSS, largest process | crawl process alone | pages/s |")
            print("|---:|---:|---:|---:|")
            for count in counts:
                m = crawl(crawl_project(servers, count, work), f"crawler crawl ({count} captures)", count)
                peaks.append(m.peak_rss_mb)
                own.append(m.own_rss_mb)
                print(f"| {count:,} | {m.peak_rss_mb:.0f} MB | {m.own_rss_mb:.0f} MB | {m.pages_per_second:.1f} |")
            print(
                f"| {counts[-1]:,} / {counts[0]:,} (target <= 1.2) | {peaks[-1] / peaks[0]:.2f} | "
                f"{own[-1] / own[0]:.2f} | |"
            )
    finally:
        servers.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the tests share: the project layout, the environment of a crawler process, and one local HTTP server.

Imported by name (`from helpers import ...`); tests/conftest.py only turns these into fixtures.
(tests/fault_server.py is the other server: faults below HTTP, on raw sockets.)
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHIPPED_SEEDS = ROOT / "seeds"

# Fast, polite-enough settings for crawling a local server in tests.
TEST_CONFIG = """\
crawl:
  download_delay: 0
  autothrottle: false
  timeout: 5
  retries: 0
  concurrent_per_domain: 8
"""


def crawler_env(extra: Mapping[str, str] | None = None, **more: str) -> dict[str, str]:
    """This process's environment for a crawler subprocess: no CRAWLER_* settings leak in from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
    env.update(extra or {})
    env.update(more)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the local HTTP server -------------------------------------------------------------------------


@dataclass
class Route:
    """What the server answers for one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    etag: str | None = None  # sent, and a matching If-None-Match gets 304
    gzip: bool = False  # the body sent gzip-compressed, with Content-Encoding: gzip
    hold: bool = False  # answered only once the server's gate is open, then after its delay


@dataclass
class Sent:
    """One request as the server saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # the request's, names lower-case
    status: int
    body: bytes = field(repr=False, default=b"")  # the bytes written back


NOT_FOUND = Route(404, b"not found", {"Content-Type": "text/plain"})


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with behaviours by path, which tests change between crawls.

    Routes by exact path (`routes`, `page()`), or computed for every path under a prefix (`under()`).
    It records every request path (`requests`), what it sent (`sent`) and the JSON bodies POSTed to it
    (`posts`). A route with hold=True waits for `gate` (open unless a test closes it), sets `reached`,
    then waits `delay` seconds (a slow server, when that is what a test measures); `spans` keeps the
    (start, end) of each held answer.
    """

    def __init__(self, protocol: str = "HTTP/1.0") -> None:
        self.routes: dict[str, Route] = {}
        self.prefixes: dict[str, Callable[[str], Route]] = {}
        self.requests: list[str] = []
        self.sent: list[Sent] = []
        self.posts: list[Any] = []
        self.spans: list[tuple[float, float]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.reached = threading.Event()
        self.delay = 0.0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = protocol

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server._answer(self)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    posted: Any = json.loads(body)
                except ValueError:
                    posted = body
                with server.lock:
                    server.posts.append(posted)
                server._answer(self, default=Route(200, b"", {}))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, path: str) -> Route | None:
        """The route of a path: an exact one, else the first prefix that covers it."""
        if path in self.routes:
            return self.routes[path]
        for prefix, make in self.prefixes.items():
            if path.startswith(prefix):
                return make(path)
        return None

    def _answer(self, handler: BaseHTTPRequestHandler, default: Route = NOT_FOUND) -> None:
        """Answer one request from its route."""
        start = time.monotonic()  # when the request arrived (before its route is built)
        with self.lock:
            self.requests.append(handler.path)
        route = self.route(handler.path) or default
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if route.hold:
            self.reached.set()
            self.gate.wait(timeout=60)
            if self.delay:
                time.sleep(self.delay)  # the server is slow to answer (what the test measures)
        if route.etag and headers.get("if-none-match") == route.etag:
            handler.send_response(304)
            handler.send_header("ETag", route.etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            self._sent(Sent(handler.command, handler.path, headers, 304))
            return
        # mtime=0: the same page compresses to the same bytes on every visit.
        payload = gzip.compress(route.body, mtime=0) if route.gzip else route.body
        handler.send_response(route.status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        if route.etag:
            handler.send_header("ETag", route.etag)
        if route.gzip:
            handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        self._sent(Sent(handler.command, handler.path, headers, route.status, payload))
        if route.hold:
            with self.lock:
                self.spans.append((start, time.monotonic()))

    def _sent(self, sent: Sent) -> None:
        with self.lock:
            self.sent.append(sent)

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def page(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        *,
        location: str | None = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> str:
        """Serve body at path (with more headers; options: Route's etag, gzip, hold) and return its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        headers = {"Content-Type": content_type, **(headers or {})}
        if location:
            headers["Location"] = location
        self.routes[path] = Route(status, data, headers, **options)
        return self.url(path)

    def under(self, prefix: str, make: Callable[[str], Route]) -> None:
        """Answer every path under prefix with the route make(path) builds."""
        self.prefixes[prefix] = make

    def count(self, path: str | None = None) -> int:
        """Requests for path; with none, every request but robots.txt (the pages fetched)."""
        with self.lock:
            if path is None:
                return sum(1 for p in self.requests if p != "/robots.txt")
            return self.requests.count(path)

    def last_sent(self, path: str) -> Sent:
        """The latest request for path and what was sent back."""
        return [s for s in self.sent if s.path == path][-1]

    def start(self) -> "LocalServer":
        """Start serving in a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Open the gate (no held answer is left waiting), stop serving and release the port."""
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- crawler processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def crawler_serve(*args: str, cwd: Path) -> Iterator[str]:
    """`crawler ARGS serve` on a free port of 127.0.0.1, started in cwd; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "crawler", *args, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=crawler_env(),
        cwd=cwd,
    )
    assert server.stderr is not None
    try:
        # Uvicorn says when it listens; read its log rather than guessing with sleeps.
        log = []
        for line in server.stderr:
            log.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            pytest.fail("crawler serve exited before listening:\n" + "".join(log))
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Project:
    """A seeds folder, an archive folder and a config file in tmp_path."""

    root: Path

    @property
    def seeds(self) -> Path:
        return self.root / "seeds"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def config(self) -> Path:
        return self.root / "crawler.yaml"

    @property
    def db_path(self) -> Path:
        return self.archive / "archive.db"

    def seed(self, seed_id: str, url: str | None, body: str, title: str | None = None) -> Path:
        """Write a seed file with front matter naming url (none when url is None)."""
        front = ""
        if url is not None:
            front = f"---\nurl: {url}\n" + (f"title: {title}\n" if title else "") + "---\n\n"
        path = self.seeds / f"{seed_id}.md"
        path.write_text(front + body, encoding="utf-8")
        return path

    def run(
        self, *args: str, timeout: float = 120, env_extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run `python -m crawler` with this project's folders, as its own process."""
        env = crawler_env(env_extra, PYTHONUNBUFFERED="1")
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, env=env, cwd=self.root
        )

    def command(self, *args: str) -> list[str]:
        """The command line of `python -m crawler ARGS` with this project's folders."""
        folders = ["--seeds", str(self.seeds), "--archive", str(self.archive), "--config", str(self.config)]
        return [sys.executable, "-m", "crawler", *folders, *args]

    def db(self) -> sqlite3.Connection:
        """A read connection to the archive with rows as dicts."""
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, *params: object) -> list[dict]:
        """Query the archive."""
        conn = self.db()
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

"""Shared fixtures: a real HTTP server on 127.0.0.1 and crawls run as real subprocesses."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

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


@dataclass
class Route:
    """What the server answers for one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})


class PageServer:
    """A threaded HTTP server whose routes tests change between crawls."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                route = server.routes.get(self.path) or Route(404, b"not found", {"Content-Type": "text/plain"})
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def page(self, path: str, body: bytes | str, status: int = 200, content_type: str = "text/html; charset=utf-8") -> str:
        """Serve body at path and return its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(status, data, {"Content-Type": content_type})
        return self.url(path)


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    """A real HTTP server on a free port of 127.0.0.1."""
    server = PageServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@contextlib.contextmanager
def crawler_serve(*args: str, cwd: Path) -> Iterator[str]:
    """`crawler ARGS serve` on a free port of 127.0.0.1, started in cwd; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLER_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "crawler", *args, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    def run(self, *args: str, timeout: float = 120, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run `python -m crawler` with this project's folders, as its own process."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
        for name in list(env):
            if name.startswith("CRAWLER_"):
                del env[name]
        command = [
            sys.executable, "-m", "crawler",
            "--seeds", str(self.seeds), "--archive", str(self.archive), "--config", str(self.config),
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.root)

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


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project layout with the fast test configuration."""
    proj = Project(tmp_path)
    proj.seeds.mkdir()
    proj.config.write_text(TEST_CONFIG, encoding="utf-8")
    return proj

"""A local HTTP server for the WARC tests: honours If-None-Match, sends gzip, redirects, remembers what it sent."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    """What the server answers for one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    gzip: bool = False  # send the body gzip-compressed, with Content-Encoding: gzip
    location: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    """One request as the server saw it, and the body bytes it wrote back."""

    path: str
    headers: dict[str, str]
    status: int
    body: bytes = field(repr=False, default=b"")


class ArchiveServer:
    """A threaded HTTP server on 127.0.0.1 whose answers tests change between crawls."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.sent: list[Sent] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                answer = server.answers.get(self.path) or Answer(b"not found", 404, "text/plain")
                headers = {k.lower(): v for k, v in self.headers.items()}
                if answer.etag and headers.get("if-none-match") == answer.etag:
                    self.send_response(304)
                    self.send_header("ETag", answer.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    server.sent.append(Sent(self.path, headers, 304))
                    return
                # mtime=0: the same page compresses to the same bytes on every visit.
                payload = gzip.compress(answer.body, mtime=0) if answer.gzip else answer.body
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.etag:
                    self.send_header("ETag", answer.etag)
                if answer.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if answer.location:
                    self.send_header("Location", answer.location)
                for name, value in answer.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                server.sent.append(Sent(self.path, headers, answer.status, payload))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, **options: object) -> str:
        """Answer path with body (and the given Answer options); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.answers[path] = Answer(data, **options)
        return self.url(path)

    def last_sent(self, path: str) -> Sent:
        """The latest request for path and what was sent back."""
        return [s for s in self.sent if s.path == path][-1]

    def start(self) -> "ArchiveServer":
        """Start serving in a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()

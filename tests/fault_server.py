"""A TCP server on 127.0.0.1 that misbehaves on purpose, at the byte level: one fault per path.

Built on socketserver with raw sockets (not http.server) so a route can stop mid-body, reset the
connection, lie about Content-Length, drip bytes or never answer at all.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Callable

# A connection a fault keeps open gives up after this long, so a stuck client never pins a thread.
HOLD_SECONDS = 30.0

Fault = Callable[["Connection"], None]


@dataclass
class Connection:
    """One accepted connection: its socket, the request path and the server's stop event."""

    sock: socket.socket
    path: str
    stopping: threading.Event
    headers: dict[str, str] = field(default_factory=dict)
    # Called once, before the first byte of the answer goes out (the server's in-flight count).
    answering: Callable[[], None] | None = None

    def send(self, data: bytes) -> bool:
        """Send bytes; False once the client has gone away."""
        if self.answering is not None:
            self.answering()
            self.answering = None
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True


def head(status: int, headers: dict[str, str] | None = None, reason: str | None = None) -> bytes:
    """An HTTP/1.1 status line and headers, ending with the blank line."""
    phrase = reason if reason is not None else HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes | str = b"",
    content_type: str | None = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
    length: bool = True,
) -> Fault:
    """A well-formed response (Content-Length set unless length=False: then the close ends the body)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    all_headers = {"Connection": "close"}
    if content_type:
        all_headers["Content-Type"] = content_type
    all_headers.update(headers or {})
    if length:
        all_headers["Content-Length"] = str(len(data))

    def fault(conn: Connection) -> None:
        conn.send(head(status, all_headers) + data)

    return fault


def hang() -> Fault:
    """Accept the request and never answer (until the server stops)."""

    def fault(conn: Connection) -> None:
        conn.stopping.wait(HOLD_SECONDS)

    return fault


def short_body(declared: int, sent: bytes) -> Fault:
    """Declare Content-Length `declared`, send fewer bytes, then close cleanly (FIN)."""

    def fault(conn: Connection) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(declared), "Connection": "close"}
        conn.send(head(200, headers) + sent)
        conn.sock.shutdown(socket.SHUT_WR)

    return fault


def reset_mid_body(declared: int, sent: bytes) -> Fault:
    """Send part of the body, then reset the connection (RST, not FIN)."""

    def fault(conn: Connection) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(declared), "Connection": "close"}
        conn.send(head(200, headers) + sent)
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Closed here: socketserver would otherwise shut the socket down cleanly (FIN) first.
        conn.sock.close()

    return fault


def drip(interval: float = 0.2, chunk: bytes = b"<p>.</p>\n") -> Fault:
    """Send the headers, then a few bytes every interval, never finishing (until the client leaves)."""

    def fault(conn: Connection) -> None:
        # No Content-Length: the body would end with the connection, which never comes.
        headers = {"Content-Type": "text/html; charset=utf-8", "Connection": "close"}
        if not conn.send(head(200, headers) + b"<html><body>"):
            return
        # The stop event doubles as the clock: a bounded wait per chunk, and it ends with the server.
        while not conn.stopping.wait(interval):
            if not conn.send(chunk):
                return

    return fault


def endless_headers(continued: bool = False) -> Fault:
    """A status line, then header lines without end (until the client leaves); continued: one header
    folded over endless continuation lines instead of new headers."""

    def fault(conn: Connection) -> None:
        if not conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Start: 1\r\n"):
            return
        line = (b" " if continued else b"X-Filler: ") + b"x" * 1000 + b"\r\n"
        batch = line * 64
        while not conn.stopping.is_set():
            if not conn.send(batch):
                return

    return fault


def many_headers(count: int, body: bytes | str = b"<p>ok</p>") -> Fault:
    """A complete 200 with count extra header lines (a finite but absurd head)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    extra = "".join(f"X-Header-{n}: {n}\r\n" for n in range(count)).encode("latin-1")

    def fault(conn: Connection) -> None:
        start = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
        conn.send(start.encode("latin-1") + extra + b"\r\n" + data)

    return fault


def gated(gate: threading.Event, fault: Fault) -> Fault:
    """fault, once the test sets gate (or the server stops): the run stays in progress until then."""

    def gated_fault(conn: Connection) -> None:
        gate.wait(HOLD_SECONDS)
        if not conn.stopping.is_set():
            fault(conn)

    return gated_fault


def delayed(seconds: float, fault: Fault) -> Fault:
    """fault, after a pause (a bounded wait on the stop event, so stopping the server ends it)."""

    def delayed_fault(conn: Connection) -> None:
        if not conn.stopping.wait(seconds):
            fault(conn)

    return delayed_fault


def in_turn(*faults: Fault) -> Fault:
    """The first fault for the first request, the second for the next, ...; the last one repeats."""
    served: list[int] = [0]
    lock = threading.Lock()

    def fault(conn: Connection) -> None:
        with lock:
            index = min(served[0], len(faults) - 1)
            served[0] += 1
        faults[index](conn)

    return fault


def dynamic(make_body: Callable[[int], bytes | str], content_type: str = "text/html; charset=utf-8") -> Fault:
    """A 200 whose body is make_body(n) for the n-th request (0, 1, ...): a page that changes on every visit."""
    counter = iter(range(10**9))
    lock = threading.Lock()

    def fault(conn: Connection) -> None:
        with lock:
            n = next(counter)
        respond(200, make_body(n), content_type)(conn)

    return fault


def redirect(location: str, status: int = 302) -> Fault:
    """A redirect to location (absolute or relative)."""
    return respond(status, b"", content_type=None, headers={"Location": location})


class FaultServer:
    """A threaded TCP server speaking just enough HTTP to break it in chosen ways."""

    def __init__(self) -> None:
        self.routes: dict[str, Fault] = {}
        self.hits: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}  # path -> the request headers it was last sent
        self.stopping = threading.Event()
        self.in_flight = 0  # requests being answered now
        # The most requests waiting for an answer at once, from a request's head read to its answer's first
        # byte: a client that has its whole answer may send its next request before the thread that sent
        # it has counted it done, so counting to the last byte would see a second request that is none.
        self.peak_in_flight = 0
        counting = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(HOLD_SECONDS)
                try:
                    request = _read_head(sock)
                except OSError:
                    return
                if request is None:
                    return
                path, headers = request
                server.hits[path] += 1
                server.last_headers[path] = headers
                fault = server.routes.get(path) or respond(404, b"not found", "text/plain")
                with counting:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                waiting = [True]

                def answered() -> None:
                    with counting:
                        if waiting[0]:
                            waiting[0] = False
                            server.in_flight -= 1

                try:
                    fault(Connection(sock, path, server.stopping, headers, answering=answered))
                finally:
                    answered()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.tcp = Server(("127.0.0.1", 0), Handler)
        self.port = self.tcp.server_address[1]
        self.thread = threading.Thread(target=self.tcp.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, fault: Fault) -> str:
        """Answer path with fault; returns its URL."""
        self.routes[path] = fault
        return self.url(path)

    def start(self) -> "FaultServer":
        """Serve in a daemon thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Release every held connection, stop serving and free the port."""
        self.stopping.set()
        self.tcp.shutdown()
        self.tcp.server_close()


def _read_head(sock: socket.socket) -> tuple[str, dict[str, str]] | None:
    """Read a request's head; (path, lower-case headers), or None when the client sent nothing usable."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            return None
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[1], headers

"""Processes that analyse pages one at a time each, every page under a time limit enforced from outside.

concurrent.futures.ProcessPoolExecutor cannot do either job: it has no way to stop one task that
runs too long (a regular expression that backtracks holds its worker, and SIGTERM, for good), and
one worker that dies (the OOM killer, a crash in a C library) breaks the whole executor, failing
every page after it. Here each worker has its own pipe: the parent waits for its answer at most
`limit` seconds, then kills that worker and starts another; a worker that died is replaced the
same way. Blocking calls: run them from a thread, not the reactor's.

Its processes are called pool processes in names (PoolProcessDied), "workers" in prose here;
`crawler worker` (crawler/cluster/worker.py) is another thing: a machine's fetcher in a cluster.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import select
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Callable, Sequence


_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# Pages run_async hands each worker at a time: the one it analyses and the next, waiting on a thread.
PAGES_PER_WORKER = 2

# A worker gets this long to start (the forkserver's warm-up, on a busy machine) before it counts as dead.
START_SECONDS = 120.0


class PageTimeout(Exception):
    """A page's analysis ran past the limit; its pool process was killed."""


class PoolProcessDied(Exception):
    """The pool process analysing a page ended without answering (killed, out of memory, crashed)."""


def _serve(conn: Connection, initializer: Callable[..., None] | None, initargs: Sequence[Any]) -> None:
    """A worker's loop: (function, args) in, ("ok", result) or ("error", exception) out; None ends it."""
    # The crawl process handles Ctrl-C and shuts the pool down; a worker must not die of it mid-page.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if initializer is not None:
        initializer(*initargs)
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        function, args = message
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except Exception as exc:  # noqa: BLE001 (sent back and raised in the parent, which decides)
            answer = ("error", exc)
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001 (an answer that cannot be pickled)
            conn.send(("error", RuntimeError(f"the analysis result could not be sent back: {exc!r}")))


def exit_with(pid: int) -> None:
    """End this process when process pid ends, even by SIGKILL (Linux pidfd; elsewhere nothing).

    A killed crawl never shuts its pool down: its workers (and the forkserver, which they keep
    alive) would wait for work forever, a few processes leaked per crash.
    """
    if not hasattr(os, "pidfd_open"):
        return
    try:
        watched = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)

    def watch() -> None:
        # A pidfd becomes readable when the process exits: a blocking wait, no polling.
        select.select([watched], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-crawl", daemon=True).start()


def _die_with_parent() -> None:
    """SIGKILL this process when its parent ends (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing).

    The parent is the forkserver, which ends with the crawl. A thread watching the crawl cannot end
    a worker whose main thread is inside a regular expression: C code holding the GIL never lets
    the thread run; a signal from the kernel does not need it.
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request was in place
        os._exit(0)


class _PoolProcess:
    """One process and the parent's end of its pipe."""

    def __init__(self, context: Any, initializer: Callable[..., None] | None, initargs: Sequence[Any]):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, initializer, tuple(initargs)), daemon=True)
        self.process.start()
        child.close()
        # Wait for the initializer: its seconds must not count against the first page's limit.
        if not self.conn.poll(START_SECONDS):
            self.kill()
            raise PoolProcessDied(f"an extraction process did not start within {START_SECONDS:g} s")
        try:
            self.conn.recv()
        except (EOFError, OSError):
            raise PoolProcessDied(self.ended()) from None

    def call(self, function: Callable[..., Any], args: Sequence[Any], limit: float | None) -> Any:
        """function(*args) in this worker; PageTimeout past limit seconds, PoolProcessDied if it ends."""
        try:
            self.conn.send((function, tuple(args)))
            if not self.conn.poll(limit):
                raise PageTimeout(f"analysis ran longer than {limit:g} s")
            status, value = self.conn.recv()
        except (EOFError, OSError):
            raise PoolProcessDied(self.ended()) from None
        if status == "error":
            raise value
        return value

    def ended(self) -> str:
        """How the process ended, for the capture's error."""
        self.process.join(5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the extraction process was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        return f"the extraction process ended with exit code {code}"

    def kill(self) -> None:
        """End the process now (SIGKILL: a process stuck in C code ignores SIGTERM)."""
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        """Ask the process to end after its current page, then make sure it has."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class PagePool:
    """Up to `size` worker processes, started when first needed and replaced when killed or dead."""

    def __init__(
        self,
        size: int,
        context: Any,
        initializer: Callable[..., None] | None = None,
        initargs: Sequence[Any] = (),
        limit: float | None = None,
    ):
        self.size = max(1, size)
        self.limit = limit
        self._context = context
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._idle: list[_PoolProcess] = []
        self._lock = threading.Lock()
        # Counts workers that exist or are being started; a caller beyond size waits for one to free.
        self._slots = threading.BoundedSemaphore(self.size)
        self._closed = False
        self.replaced = 0  # workers killed for a limit or found dead, and so replaced
        # run_async's: made on first use, in the event loop that calls it.
        self._gate: asyncio.Semaphore | None = None
        self._threads: ThreadPoolExecutor | None = None

    async def run_async(self, function: Callable[..., Any], *args: Any) -> Any:
        """run() from an event loop, on a thread: starting a worker and waiting for its answer both block.

        PAGES_PER_WORKER pages per worker leave the loop at once, on threads of their own (not
        asyncio.to_thread's, which others share): a worker that finishes starts the next page at once.
        With one page per worker it idled until the loop, busy with everything else, sent the next
        (a noisy revisit's pool latency halved its throughput).
        """
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.size * PAGES_PER_WORKER)
            self._threads = ThreadPoolExecutor(self.size * PAGES_PER_WORKER, thread_name_prefix="pool-call")
        async with self._gate:
            return await asyncio.get_running_loop().run_in_executor(self._threads, self.run, function, *args)

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """function(*args) in a worker, under the limit (PageTimeout) and surviving its death (PoolProcessDied)."""
        with self._slots:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the page pool is shut down")
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = _PoolProcess(self._context, self._initializer, self._initargs)
            try:
                result = worker.call(function, args, self.limit)
            except PageTimeout:
                worker.kill()
                self.replaced += 1
                raise
            except PoolProcessDied:
                worker.kill()
                self.replaced += 1
                raise
            except BaseException:
                # The function raised in the worker: the worker itself is fine.
                self._release(worker)
                raise
            self._release(worker)
            return result

    def _release(self, worker: _PoolProcess) -> None:
        """Put a healthy worker back for the next page (or stop it if the pool closed meanwhile)."""
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()

    def shutdown(self) -> None:
        """Stop the idle workers; busy ones stop when their page is done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()
        if self._threads is not None:
            self._threads.shutdown(wait=False)

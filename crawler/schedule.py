"""The scheduler daemon: APScheduler starts each run as its own process (`python -m crawler run`)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from typing import Any, Sequence

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.config import Settings
from crawler.changes.intervals import parse_duration
from crawler.errors import ConfigError

log = logging.getLogger("crawler.schedule")

# How long a run may take to finish after the daemon is asked to stop, before it is terminated.
STOP_GRACE_SECONDS = 60
EXIT_LOCKED = 75


def make_trigger(every: str | None, cron: str | None) -> Any:
    """An APScheduler trigger from a duration or a cron expression (exactly one of them)."""
    if bool(every) == bool(cron):
        raise ConfigError(
            "the daemon needs exactly one of --every DURATION or --cron 'EXPR' "
            "(or schedule.every / schedule.cron in config/crawler.yaml)"
        )
    if every:
        try:
            seconds = parse_duration(every)
        except ValueError as exc:
            raise ConfigError(f"--every: {exc}") from None
        if seconds <= 0:
            raise ConfigError("--every must be longer than 0s")
        return IntervalTrigger(seconds=seconds)
    try:
        return CronTrigger.from_crontab(cron)
    except ValueError as exc:
        raise ConfigError(f"bad cron expression '{cron}': {exc}; write five fields, e.g. '0 * * * *'") from None


class SkippedStarts(logging.Filter):
    """Counts, and keeps out of the log, APScheduler's warning for each start skipped while a run goes on.

    APScheduler 3 logs "Execution of job ... skipped: maximum number of running instances reached"
    at every tick a run outlasts: a run of an hour under --every 1m wrote 60 warnings. The daemon
    says it once, when the run ends (RunLauncher.launch).
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """False (dropped) for the skipped-start warning, counted; True for everything else."""
        if "maximum number of running instances reached" not in record.getMessage():
            return True
        with self._lock:
            self.count += 1
        return False

    def take(self) -> int:
        """The starts skipped since the last call."""
        with self._lock:
            count, self.count = self.count, 0
        return count


class RunLauncher:
    """Starts one run process at a time and stops it cleanly when the daemon stops."""

    def __init__(self, global_args: Sequence[str], skipped: SkippedStarts | None = None):
        self.command = [sys.executable, "-m", "crawler", *global_args, "run", "--trigger", "schedule"]
        self.current: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.skipped = skipped or SkippedStarts()

    def launch(self) -> None:
        """Run one crawl process to its end and log how it went (the job APScheduler calls)."""
        with self.lock:
            if self.stopping.is_set():
                return
            log.info("starting run: %s", " ".join(self.command[1:]))
            self.current = subprocess.Popen(self.command)
        code = self.current.wait()
        with self.lock:
            self.current = None
        skipped = self.skipped.take()
        if skipped:
            log.info("%s scheduled start%s skipped while the run went on", skipped, "" if skipped == 1 else "s")
        if code == 0:
            log.info("run finished")
        elif code == EXIT_LOCKED:
            log.warning("run skipped: another run holds the archive lock")
        else:
            # A crashed run is logged; the daemon stays up for the next one.
            log.error("run exited with code %s", code)

    def stop(self) -> None:
        """Ask the current run to stop (Scrapy finishes in-flight requests on SIGTERM) and wait for it."""
        self.stopping.set()
        with self.lock:
            proc = self.current
        if proc is None:
            return
        log.info("stopping the current run (pid %s)", proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("the run did not stop within %s s; killing it (the next run carries on)", STOP_GRACE_SECONDS)
            proc.kill()
            proc.wait()


def run_daemon(
    settings: Settings, global_args: Sequence[str], every: str | None = None, cron: str | None = None
) -> None:
    """Start runs on the schedule until SIGTERM or SIGINT; each run is its own process."""
    if every is None and cron is None:
        every, cron = settings.schedule.every, settings.schedule.cron
    trigger = make_trigger(every, cron)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    skipped = SkippedStarts()
    logging.getLogger("apscheduler.scheduler").addFilter(skipped)
    launcher = RunLauncher(global_args, skipped)
    scheduler = BlockingScheduler(
        job_defaults={
            "max_instances": 1,  # never two runs at once from this daemon
            "coalesce": True,  # runs missed while one was going become one run
            "misfire_grace_time": int(parse_duration(settings.schedule.misfire_grace)),
        }
    )
    scheduler.add_job(launcher.launch, trigger, id="crawl", name="crawler run")

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        # The stop waits for the run process; do it off the signal handler so the scheduler can exit.
        threading.Thread(target=_shutdown, args=(scheduler, launcher), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("scheduler started: %s", trigger)
    scheduler.start()
    launcher.stop()
    log.info("scheduler stopped")


def _shutdown(scheduler: BlockingScheduler, launcher: RunLauncher) -> None:
    """Stop the current run, then the scheduler."""
    launcher.stop()
    scheduler.shutdown(wait=False)

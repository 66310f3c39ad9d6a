"""The cluster's Redis keys and the atomic steps on them.

A task (one seed of one run, JSON) goes through:

    tasks (list) --lease--> leases (sorted set, score = deadline) --deliver--> results (stream)
                  <--reap (deadline passed: worker killed or hung)--

Leasing moves a task into `leases` with a deadline that the holding worker renews while it works
on it. Delivering adds the result to the stream and drops the lease in one transaction. A lease
whose deadline passes goes back to the front of `tasks`; after `max_attempts` lost leases the task
becomes a `lost` entry on the stream, which the writer records as a failed capture. Deadlines use
Redis's own clock, so workers' clocks need not agree.

The stream is read by the writer through the consumer group `writers`; an entry is acknowledged
(and deleted) only after its capture is committed to the archive.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from crawler.errors import ConfigError, CrawlerError

GROUP = "writers"

_LEASE = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[2])
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local task = redis.call('LPOP', KEYS[1])
  if not task then break end
  redis.call('ZADD', KEYS[2], deadline, task)
  out[#out + 1] = task
end
return out
"""

_RENEW = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', deadline, ARGV[i])
end
return renewed
"""

_RELEASE = """
local released = 0
for i = 1, #ARGV do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[1], ARGV[i])
    released = released + 1
  end
end
return released
"""

_REAP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
local requeued, lost = 0, 0
for _, task in ipairs(expired) do
  redis.call('ZREM', KEYS[2], task)
  local attempts = redis.call('HINCRBY', KEYS[3], task, 1)
  if attempts >= tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[3], task)
    redis.call('XADD', KEYS[4], '*', 'lost', task, 'attempts', attempts)
    lost = lost + 1
  else
    redis.call('LPUSH', KEYS[1], task)
    requeued = requeued + 1
  end
end
return {requeued, lost}
"""


def require_packages() -> None:
    """The cluster's libraries are an extra: say how to install them rather than fail on an import."""
    try:
        import redis  # noqa: F401
        import scrapy_redis  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"cluster.redis_url is set but {exc.name} is not installed: pip install -e '.[cluster]'"
        ) from None


def connect(url: str) -> Any:
    """A Redis client for url, checked with a PING; an unreachable server is one clear error."""
    require_packages()
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30, health_check_interval=30)
        client.ping()
    except ValueError as exc:
        raise ConfigError(f"bad cluster.redis_url {url!r}: {exc}") from None
    except redis.RedisError as exc:
        raise CrawlerError(
            f"cannot reach Redis at {url} (cluster.redis_url): {exc}; start redis-server or fix the URL"
        ) from None
    return client


@dataclass(frozen=True)
class Keys:
    """Every Redis key of one archive's cluster, under a common prefix."""

    prefix: str

    @property
    def tasks(self) -> str:
        return f"{self.prefix}:tasks"

    @property
    def leases(self) -> str:
        return f"{self.prefix}:leases"

    @property
    def attempts(self) -> str:
        return f"{self.prefix}:attempts"

    @property
    def results(self) -> str:
        return f"{self.prefix}:results"

    @property
    def inflight(self) -> str:
        """seed id -> run id, for every seed enqueued and not yet committed."""
        return f"{self.prefix}:inflight"

    @property
    def runs(self) -> str:
        """Ids of the runs whose captures are not all committed yet."""
        return f"{self.prefix}:runs"

    def run(self, run_id: int) -> str:
        """The seed ids of a run still waiting for their capture."""
        return f"{self.prefix}:run:{run_id}"

    def worker(self, worker_id: str) -> str:
        """A worker's presence (expires when it stops renewing)."""
        return f"{self.prefix}:worker:{worker_id}"

    def polite(self, host: str) -> str:
        return f"{self.prefix}:polite:{host}"


class Queue:
    """The atomic steps on a cluster's keys, on one Redis client."""

    def __init__(self, client: Any, prefix: str, lease_seconds: float, max_attempts: int = 3):
        self.r = client
        self.keys = Keys(prefix)
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self._lease = client.register_script(_LEASE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._reap = client.register_script(_REAP)

    def ensure_group(self) -> None:
        """Create the writers' consumer group (from the stream's start) unless it exists."""
        import redis

        try:
            self.r.xgroup_create(self.keys.results, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- coordinator ---------------------------------------------------------------

    def in_flight(self, seed_ids: Sequence[str]) -> set[str]:
        """The seeds among seed_ids enqueued by an earlier run and not yet committed."""
        if not seed_ids:
            return set()
        values = self.r.hmget(self.keys.inflight, list(seed_ids))
        return {seed for seed, value in zip(seed_ids, values) if value is not None}

    def enqueue(self, run_id: int, tasks: Sequence[dict[str, Any]]) -> None:
        """Enqueue a run's tasks, marking their seeds in flight, in one transaction."""
        self.ensure_group()
        pipe = self.r.pipeline(transaction=True)
        for start in range(0, len(tasks), 1000):
            batch = tasks[start : start + 1000]
            pipe.hset(self.keys.inflight, mapping={t["seed"]: run_id for t in batch})
            pipe.sadd(self.keys.run(run_id), *[t["seed"] for t in batch])
            pipe.rpush(self.keys.tasks, *[json.dumps(t, ensure_ascii=False, sort_keys=True) for t in batch])
        if tasks:
            pipe.sadd(self.keys.runs, run_id)
        pipe.execute()

    # -- workers -------------------------------------------------------------------

    def lease(self, count: int) -> list[bytes]:
        """Take up to count tasks, each leased until now + lease_seconds."""
        if count <= 0:
            return []
        return self._lease(keys=[self.keys.tasks, self.keys.leases], args=[count, self.lease_seconds])

    def renew(self, tasks: Iterable[bytes]) -> int:
        """Push the deadline of leases still held (a lease already reaped is not brought back)."""
        tasks = list(tasks)
        if not tasks:
            return 0
        return self._renew(keys=[self.keys.leases], args=[self.lease_seconds, *tasks])

    def release(self, tasks: Iterable[bytes]) -> int:
        """Give leased tasks back to the front of the queue (a worker stopping cleanly)."""
        tasks = list(tasks)
        if not tasks:
            return 0
        return self._release(keys=[self.keys.tasks, self.keys.leases], args=tasks)

    def deliver(self, task: bytes, message: bytes) -> None:
        """Add a task's result to the stream and drop its lease, in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.xadd(self.keys.results, {"result": message})
        pipe.zrem(self.keys.leases, task)
        pipe.hdel(self.keys.attempts, task)
        pipe.execute()

    def reap(self) -> tuple[int, int]:
        """Hand out again the tasks whose lease ran out; returns (requeued, given up as lost)."""
        requeued, lost = self._reap(
            keys=[self.keys.tasks, self.keys.leases, self.keys.attempts, self.keys.results],
            args=[self.max_attempts],
        )
        return int(requeued), int(lost)

    def waiting(self) -> int:
        """Tasks queued or leased: work the cluster still has to do."""
        return int(self.r.llen(self.keys.tasks)) + int(self.r.zcard(self.keys.leases))

    # -- the writer ----------------------------------------------------------------

    def complete(self, entry_id: bytes, run_id: int, seed_id: str) -> int:
        """A result's capture is committed: acknowledge and delete its stream entry and mark the seed
        done, in one transaction (a writer killed between the two would leave its run open for
        ever); returns how many seeds of the run remain."""
        pipe = self.r.pipeline(transaction=True)
        pipe.xack(self.keys.results, GROUP, entry_id)
        pipe.xdel(self.keys.results, entry_id)
        pipe.hdel(self.keys.inflight, seed_id)
        pipe.srem(self.keys.run(run_id), seed_id)
        pipe.scard(self.keys.run(run_id))
        return int(pipe.execute()[-1])

    def open_runs(self) -> list[int]:
        return sorted(int(r) for r in self.r.smembers(self.keys.runs))

    def close_run(self, run_id: int) -> None:
        self.r.srem(self.keys.runs, run_id)
        self.r.delete(self.keys.run(run_id))

    def remaining(self, run_id: int) -> int:
        return int(self.r.scard(self.keys.run(run_id)))


# -- messages on the stream: JSON, bytes as base64, zlib-compressed -----------------------


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def encode_message(message: dict[str, Any]) -> bytes:
    """A result as bytes for the stream (not pickle: the writer must not run what a worker sends)."""
    return zlib.compress(json.dumps(_encode_value(message), ensure_ascii=False).encode("utf-8"), 1)


def decode_message(data: bytes) -> dict[str, Any]:
    return _decode_value(json.loads(zlib.decompress(data).decode("utf-8")))

"""Politeness for the cluster as a whole: per-domain concurrency and delay shared through Redis.

Each worker's own Scrapy slots would be polite per worker only: three workers with
`concurrent_per_domain: 1` would send three requests at once to one site. Here every request
first takes one of the host's `crawl.concurrent_per_domain` slots in Redis, and only when at least
`crawl.download_delay` has passed since the cluster last started a request to that host; it
gives the slot back when its response (or failure) comes. A slot held by a worker that died is
freed once the worker's presence key expires (cluster.lease), or at the latest after the download
timeout plus a margin. Times are Redis's clock.

AutoThrottle, when enabled, still adapts each worker's own delay on top of this.
"""

from __future__ import annotations

import uuid
from typing import Any

from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.task import deferLater

from crawler.cluster.queue import Keys

# KEYS: holders (sorted set, score = hold deadline), next start time;
# ARGV: token (worker id|random), slots, delay, hold, prefix of the workers' presence keys.
# Returns "0" when the slot is taken, else the seconds to wait before trying again (as text:
# Lua numbers become integers on the way out).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  -- A slot held by a worker that is gone (its presence key expired) is free at once.
  for _, holder in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local worker = string.match(holder, '^(.*)|')
    if worker and redis.call('EXISTS', ARGV[5] .. worker) == 0 then
      redis.call('ZREM', KEYS[1], holder)
    end
  end
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return '0.05'
  end
end
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < nxt then
  return tostring(nxt - now)
end
local hold = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(hold * 1000) + 1000)
local delay = tonumber(ARGV[3])
if delay > 0 then
  redis.call('SET', KEYS[2], tostring(now + delay), 'PX', math.ceil(delay * 1000) + 1000)
end
return '0'
"""

# Longest single wait between tries: a slot freed by another worker is noticed this fast.
MAX_WAIT = 0.25


class ClusterPolitenessMiddleware:
    """Take a cluster-wide slot of the request's host before it is downloaded."""

    def __init__(self, client: Any, keys: Keys, slots: int, delay: float, hold: float, worker_id: str = ""):
        self.client = client
        self.worker_id = worker_id
        self.keys = keys
        self.slots = slots
        self.delay = delay
        self.hold = hold
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_crawler(cls, crawler: Any) -> "ClusterPolitenessMiddleware":
        from scrapy_redis import connection

        settings = crawler.settings
        return cls(
            connection.from_settings(settings),
            Keys(settings["CLUSTER_KEY_PREFIX"]),
            settings.getint("CLUSTER_PER_DOMAIN"),
            settings.getfloat("CLUSTER_DOWNLOAD_DELAY"),
            settings.getfloat("DOWNLOAD_TIMEOUT") + 30,
            settings.get("CLUSTER_WORKER_ID") or "",
        )

    def _slot_keys(self, request: Any) -> list[str]:
        host = urlparse_cached(request).hostname or ""
        base = self.keys.polite(host)
        return [f"{base}:holders", f"{base}:next"]

    async def process_request(self, request: Any, spider: Any = None) -> None:
        from twisted.internet import reactor  # the one Scrapy installed

        keys = self._slot_keys(request)
        token = f"{self.worker_id}|{uuid.uuid4().hex}"
        presence = self.keys.worker("")
        while True:
            wait = float(self._acquire(keys=keys, args=[token, self.slots, self.delay, self.hold, presence]))
            if wait <= 0:
                break
            await maybe_deferred_to_future(deferLater(reactor, min(wait, MAX_WAIT), lambda: None))
        request.meta["_cluster_slot"] = (keys[0], token)
        return None

    def _release(self, request: Any) -> None:
        slot = request.meta.pop("_cluster_slot", None)
        if slot is not None:
            self.client.zrem(*slot)

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        self._release(request)
        return response

    def process_exception(self, request: Any, exception: BaseException, spider: Any = None) -> None:
        self._release(request)
        return None

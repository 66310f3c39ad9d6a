"""Crawling on several machines through Redis, with one process writing the archive.

- coordinator.py: `crawler run` (cron or `crawler schedule`) with `cluster.redis_url` set prepares the
  run as always (crawler/run/lifecycle.py), then enqueues one task per seed in Redis instead of
  crawling them (`crawler crawl` and `crawler add` still fetch at once, here);
- worker.py: `crawler worker` (any number, on any machine) leases tasks, fetches them with the
  same Scrapy stack as a local crawl (scrapy-redis's RedisSpider feeds it), extracts the text and
  pushes the result (raw exchanges for WARC, the response, the extraction) to a Redis stream;
- ingest.py: `crawler ingest`, the only process that writes archive.db and the WARC files (through
  the local crawl's pipeline, and finishing runs as a local run does). It
  reads the stream through a consumer group and acknowledges an entry only once its capture is
  committed, so nothing is lost; a result delivered twice finds its capture and is dropped.
- queue.py: the Redis keys and the atomic steps on them (lease, renew, deliver, reap);
- polite.py: per-domain concurrency and delay held for the whole cluster.
"""

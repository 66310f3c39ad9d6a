"""One crawl run: seeds in, Scrapy, the pipeline (extract -> changes -> archive), evidence."""

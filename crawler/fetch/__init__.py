"""Fetch stage (Scrapy): the revisit spider and its downloader middlewares; raw responses out, nothing more."""

"""Scrapy spiders: they fetch and yield raw responses, nothing more."""

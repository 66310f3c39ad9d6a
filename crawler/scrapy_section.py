"""The `scrapy:` section of the config: values checked against Scrapy's own defaults, mappings merged
over the crawler's, and the components the archive depends on kept.

Before, a value Scrapy could not convert stopped the run with a traceback or exit 1 (`ITEM_PIPELINES: x`,
`DOWNLOADER_MIDDLEWARES: [1]`), and `DOWNLOADER_MIDDLEWARES: {}` replaced the crawler's middlewares
wholesale: no network guard, no WARC records, silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

NETWORK_GUARD = "crawler.fetch.network_guard.NetworkGuardMiddleware"
WARC_WRITER = "crawler.fetch.warc_recorder.WarcArchiveMiddleware"
ARCHIVE_PIPELINE = "crawler.run.pipeline.ArchivePipeline"
# Components a `scrapy:` mapping may not switch off (None), and what turning them off would lose.
ESSENTIAL: dict[str, dict[str, str]] = {
    "DOWNLOADER_MIDDLEWARES": {
        NETWORK_GUARD: "the network guard (only http and https; network.block_private)",
        WARC_WRITER: "WARC writing (to stop it, set warc.enabled: false)",
    },
    "ITEM_PIPELINES": {ARCHIVE_PIPELINE: "the archive itself"},
}
_KINDS = {bool: "true or false", int: "a number", float: "a number", list: "a list", dict: "a mapping"}


def _as_dict(value: Any) -> dict | None:
    """A mapping setting as Scrapy reads it (a mapping, or a JSON object in a string); None when it is neither."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


def scrapy_value_problem(name: str, value: Any) -> str | None:
    """Why value cannot be the Scrapy setting name (one line), or None when Scrapy can use it."""
    from scrapy.settings import BaseSettings, default_settings

    default = getattr(default_settings, name, None) if name.isupper() else None
    shown = f"scrapy.{name}: {value!r}"
    if isinstance(default, dict):
        mapping = _as_dict(value)
        if mapping is None:
            return f"{shown} is not a mapping (Scrapy's default is {{}} or a mapping like it)"
        for component, description in ESSENTIAL.get(name, {}).items():
            if component in mapping and mapping[component] is None:
                return f"scrapy.{name} may not switch off {component}: it is {description}; remove that entry"
        return None
    # A whole-number default may still be read as a float (DOWNLOAD_DELAY is 0): either reading will do.
    getters = {bool: ("getbool",), int: ("getint", "getfloat"), float: ("getfloat",), list: ("getlist",)}
    if type(default) in getters:
        problem = f"{shown} is not {_KINDS[type(default)]} (Scrapy's default is {default!r})"
        if isinstance(value, Mapping) or (not isinstance(default, list) and isinstance(value, list)):
            return problem
        for getter in getters[type(default)]:
            try:
                getattr(BaseSettings({name: value}), getter)(name)
            except (TypeError, ValueError):
                continue
            return None
        return problem
    if isinstance(default, str) and isinstance(value, (list, Mapping)):
        return f"{shown} is not text (Scrapy's default is {default!r})"
    return None


def merged_scrapy_settings(ours: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """Our Scrapy settings with the user's on top: a mapping the crawler also sets is merged entry by entry."""
    merged = dict(ours)
    for name, value in user.items():
        mapping = _as_dict(value) if isinstance(merged.get(name), dict) else None
        merged[name] = {**merged[name], **mapping} if mapping is not None else value
    return merged

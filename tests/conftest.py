"""Fixtures: a real HTTP server on 127.0.0.1 and a project to crawl it into (the parts are in helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from helpers import TEST_CONFIG, LocalServer, Project


@pytest.fixture
def page_server() -> Iterator[LocalServer]:
    """A real HTTP server on a free port of 127.0.0.1."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project layout with the fast test configuration."""
    proj = Project(tmp_path)
    proj.seeds.mkdir()
    proj.config.write_text(TEST_CONFIG, encoding="utf-8")
    return proj

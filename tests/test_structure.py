"""The package keeps its shape: import contracts hold, the linter passes, and a worker loads no database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """A command of this venv, run in the project's root."""
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    """pyproject.toml's [tool.importlinter] contracts: stages in flow order, pure stages, fetch and workers apart."""
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_ruff_check_passes() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def loaded_after_import(module: str) -> list[str]:
    """Top-level packages loaded by importing module in a fresh interpreter."""
    code = f"import json, sys, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("module", ["crawler.cluster.worker", "crawler.fetch.warc_recorder", "crawler.changes.outcome"])
def test_no_database_where_none_is_written(module: str) -> None:
    """A worker, the fetch stage and the pure analysis load neither sqlite3 nor sqlite-utils."""
    loaded = loaded_after_import(module)
    assert "sqlite3" not in loaded and "sqlite_utils" not in loaded, module


def test_the_pure_analysis_loads_no_scrapy() -> None:
    loaded = loaded_after_import("crawler.changes.outcome")
    assert "scrapy" not in loaded and "twisted" not in loaded


POOL_PROBE = """
import json, sys
from crawler.extract.article import BUILTIN_PROFILES
from crawler.extract.pool import PagePool
from crawler.model import RawResponse
{imports}

pool = PagePool(1, {context}, initializer={initializer}, initargs={initargs})
page = RawResponse(seed_id="s", url="http://127.0.0.1/a", final_url="http://127.0.0.1/a", status=200,
                   headers={{"content-type": ["text/html"]}},
                   body=b"<html><body><article><p>" + b"A sentence of the page. " * 20 + b"</p></article></body></html>")
pool.run({task}, *{args})
# eval by reference: what the pool process has loaded after analysing a page.
print(json.dumps(pool.run(eval, "sorted({{m.split('.')[0] for m in __import__('sys').modules}})")))
pool.shutdown()
"""


@pytest.mark.parametrize(
    "where",
    [
        dict(
            # Taken from the modules that send them: a task defined there would take Scrapy along.
            imports="from crawler.run.pipeline import analyse_in_pool_process, extraction_context, init_pool_process",
            context="extraction_context(warm=False)",
            initializer="init_pool_process",
            initargs="(BUILTIN_PROFILES,)",
            task="analyse_in_pool_process",
            args="(page, 1, None, None, None)",
        ),
        dict(
            imports="from crawler.cluster.worker import _extraction_context, pre_extract_in_pool_process",
            context="_extraction_context()",
            initializer="None",
            initargs="()",
            task="pre_extract_in_pool_process",
            args="(page, list(BUILTIN_PROFILES), None, None, '')",
        ),
    ],
    ids=["local crawl", "cluster worker"],
)
def test_pool_processes_load_no_crawl_stack(where: dict[str, str]) -> None:
    """A pool process analyses pages without importing Scrapy, Twisted or the archive (0.4 s and 40 MB each)."""
    result = run(sys.executable, "-c", POOL_PROBE.format(**where))
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert "trafilatura" in loaded
    assert not {"scrapy", "twisted", "sqlite3", "sqlite_utils", "redis"} & set(loaded)

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

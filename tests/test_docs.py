"""The README is the front door: its commands exist, its output is real, CI runs its test command."""

from __future__ import annotations

import re

from click.testing import CliRunner

from conftest import ROOT, SHIPPED_SEEDS
from crawler.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_is_documented() -> None:
    for name in cli.commands:
        assert f"crawler {name}" in README, f"command {name} is not in the README"


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"Run the tests:\n\n```bash\n(.+)\n```", README).group(1)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_seeds_output_in_readme_is_real() -> None:
    result = CliRunner().invoke(
        cli, ["--seeds", str(SHIPPED_SEEDS), "--config", str(ROOT / "config" / "crawler.yaml"), "seeds"], env={}
    )
    shown = README.split("$ .venv/bin/crawler seeds\n", 1)[1].split("```", 1)[0]
    assert shown == result.stdout + result.stderr


def test_shipped_seeds_are_the_five_originals() -> None:
    assert sorted(p.name for p in SHIPPED_SEEDS.iterdir()) == [
        "000_4387e3e1fc3e043d.txt",
        "001_c906cd5f6364476e.txt",
        "002_506cf2e3bbd555df.txt",
        "003_65f32d716cf2f4db.txt",
        "004_55c08d260c197553.txt",
    ]

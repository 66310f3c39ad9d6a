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


def test_change_detection_doc_shows_real_word_diff_output(tmp_path) -> None:
    import hashlib

    from crawler.records import CaptureRecord, VersionRecord
    from crawler.store import Store
    from pages import ZH_PARAGRAPHS

    doc = (ROOT / "docs" / "change-detection.md").read_text(encoding="utf-8")
    for term in ("--word-diff", "compare_sha256", "ignored_changes", "text_sha256", "retained"):
        assert term in doc, f"docs/change-detection.md does not mention {term}"
    old = "\n".join(ZH_PARAGRAPHS)
    new = old.replace("其中有四十篇", "其中有××篇").replace("档案管理员", "档案管理人员")
    store = Store.in_archive(tmp_path)
    store.sync_seeds([{"id": "s1", "url": "https://example.org/a", "status": "ok", "original_text": old}])
    run = store.start_run("manual", 1)
    for text in (old, new):
        store.record_capture(CaptureRecord(run, "s1", "https://example.org/a", "new_version"),
                             new_version=VersionRecord(text, hashlib.sha256(text.encode()).hexdigest()))
    store.finish_run(run)
    store.close()
    result = CliRunner().invoke(cli, ["--archive", str(tmp_path), "diff", "s1", "--from", "1", "--to", "2", "--word-diff"],
                                env={})
    shown = doc.split("$ crawler diff s1 --from 1 --to 2 --word-diff\n", 1)[1].split("```", 1)[0]
    assert shown == result.stdout

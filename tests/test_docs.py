"""The README is the front door: its commands are what CI runs, its output is real, the reference is in docs/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from helpers import ROOT, SHIPPED_SEEDS, Project, crawler_env
from crawler.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
COMMANDS_DOC = (DOCS / "commands.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / ".ci"))
from readme_command import readme_commands  # noqa: E402  (.ci/readme_command.py, what CI runs)


def test_readme_is_short_and_first_command_installs_and_crawls() -> None:
    assert len(README.splitlines()) <= 160, "reference material belongs in docs/"
    install, tests = readme_commands(README)[:2]
    assert install == "python3 -m venv .venv && .venv/bin/pip install -e '.[test,cluster]' && .venv/bin/crawler crawl"
    assert tests == ".venv/bin/python -m pytest"


def test_ci_runs_the_readme_commands_as_written_without_upgrading_pip() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'eval "$(python3 .ci/readme_command.py 1)"' in ci
    tests = readme_commands(README)[1]
    assert f'"$(python3 .ci/readme_command.py 2)" != "{tests}"' in ci and f"\n{tests}\n" in ci
    assert ci.index('eval "$(python3 .ci/readme_command.py 1)"') < ci.index(f"\n{tests}\n")
    assert "install --upgrade pip" not in ci and "-U pip" not in ci, "CI must meet the pip a new user has"


def test_every_command_and_option_is_in_the_docs() -> None:
    for name, command in cli.commands.items():
        assert f"crawler {name}" in README or name in ("worker", "ingest"), f"command {name} is not in the README"
        assert f"`crawler {name}" in COMMANDS_DOC, f"command {name} is not in docs/commands.md"
        for param in command.params:
            if isinstance(param, click.Option):
                for option in param.opts:
                    if option.startswith("--") and option != "--help":
                        assert option in COMMANDS_DOC, f"crawler {name} {option} is not in docs/commands.md"
    for param in cli.params:
        for option in param.opts:
            assert option in COMMANDS_DOC, f"global option {option} is not in docs/commands.md"


# A corpus folder beside the project's root or under one machine's home for it.
OUTSIDE_CORPUS = re.compile(r"\.\./\w+/corpus|/work/\w+")


def test_readme_links_every_docs_file_and_nothing_outside_the_repository() -> None:
    for path in sorted(DOCS.glob("*.md")):
        assert f"(docs/{path.name})" in README, f"the README does not link docs/{path.name}"
    for path in [ROOT / "README.md", *DOCS.glob("*.md"), *(ROOT / "benchmarks").glob("*")]:
        if path.is_file():
            # The benchmark corpus is named by $BENCH_CORPUS, never by where one machine keeps it.
            assert not OUTSIDE_CORPUS.search(path.read_text(encoding="utf-8")), f"{path} points outside the repository"
    for link in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)\)", README):
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


def test_seeds_output_in_readme_is_real() -> None:
    result = CliRunner().invoke(
        cli, ["--seeds", str(SHIPPED_SEEDS), "--config", str(ROOT / "config" / "crawler.yaml"), "seeds"], env={}
    )
    shown = README.split("$ .venv/bin/crawler seeds\n", 1)[1].split("```", 1)[0]
    assert shown == result.stdout + result.stderr


def _normalise(text: str) -> str:
    """Demo output without what changes from run to run: the port and the clock."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "TIME", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(?: [A-Z][A-Za-z+\d-]*)?", "TIME", text)


def test_demo_output_in_readme_is_real(tmp_path: Path) -> None:
    """`crawler demo` in an empty folder, twice: the first run prints what the README shows."""
    env = crawler_env()
    first = subprocess.run(
        [sys.executable, "-m", "crawler", "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert first.returncode == 0, first.stderr
    shown = README.split("$ mkdir demo && cd demo && ../.venv/bin/crawler demo\n", 1)[1].split("```", 1)[0]
    assert _normalise(first.stdout) == _normalise(shown)
    # A second demo in the same folder works too, and the workspace answers every other command.
    second = subprocess.run(
        [sys.executable, "-m", "crawler", "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert second.returncode == 0, second.stderr
    assert "an earlier demo ran here" in second.stdout
    for args in (["status"], ["changes"], ["diff", "demo-en-council"], ["seeds", "--check"]):
        other = subprocess.run(
            [sys.executable, "-m", "crawler", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        assert other.returncode == 0, (args, other.stderr)
    assert (
        "此内容因违规无法查看"
        in subprocess.run(
            [sys.executable, "-m", "crawler", "changes"], capture_output=True, text=True, env=env, cwd=tmp_path
        ).stdout
    )


def test_demo_never_touches_a_users_seeds(project: Project) -> None:
    project.seed("mine", "https://example.org/a", "My article.")
    result = project.run("demo")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "not the demo's (mine.md)" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in project.seeds.iterdir()) == ["mine.md"]


def test_offline_crawl_summary_in_readme_has_the_real_shape(project: Project) -> None:
    """The README's offline summary line and failure lines are worded as a real failing crawl words them."""
    from helpers import free_port

    for name in ("a", "b"):
        project.seed(name, f"http://127.0.0.1:{free_port()}/{name}", "Text.")
    result = project.run("crawl")
    assert result.returncode == 0, result.stderr
    real = result.stdout.splitlines()
    shown = README.split("$ .venv/bin/crawler crawl\n", 1)[1].split("```", 1)[0].splitlines()
    assert re.sub(r"\d+", "N", shown[0]) == re.sub(r"\d+", "N", real[0])
    assert [line.split(": ", 1)[0] for line in shown[1:]] == [line.split(": ", 1)[0] for line in real[1:]]


def test_shipped_seeds_are_the_five_originals() -> None:
    assert sorted(p.name for p in SHIPPED_SEEDS.iterdir()) == [
        "000_4387e3e1fc3e043d.txt",
        "001_c906cd5f6364476e.txt",
        "002_506cf2e3bbd555df.txt",
        "003_65f32d716cf2f4db.txt",
        "004_55c08d260c197553.txt",
    ]


def test_pyproject_declares_what_old_pip_misses() -> None:
    """An SPDX licence (setuptools 77+), and jusText's HTML cleaner declared directly."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject
    assert '"lxml_html_clean' in pyproject, "pip before 23.3 never installs lxml's html-clean extra"


def test_change_detection_doc_shows_real_word_diff_output(tmp_path) -> None:
    import hashlib

    from crawler.model import CaptureRecord, VersionRecord
    from crawler.archive.store import Store
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
        store.record_capture(
            CaptureRecord(run, "s1", "https://example.org/a", "new_version"),
            new_version=VersionRecord(text, hashlib.sha256(text.encode()).hexdigest()),
        )
    store.finish_run(run)
    store.close()
    result = CliRunner().invoke(
        cli, ["--archive", str(tmp_path), "diff", "s1", "--from", "1", "--to", "2", "--word-diff"], env={}
    )
    shown = doc.split("$ crawler diff s1 --from 1 --to 2 --word-diff\n", 1)[1].split("```", 1)[0]
    assert shown == result.stdout

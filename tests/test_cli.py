"""Every command through click's CliRunner: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from helpers import SHIPPED_SEEDS
from crawler.cli import cli
from crawler.model import CaptureRecord, DiffRecord, VersionRecord
from crawler.archive.store import Store

CRAWLABLE = {
    "000_4387e3e1fc3e043d": "https://mp.weixin.qq.com/s?__biz=MzIzMzE4NDU1OQ==&mid=2652029510&idx=1"
    "&sn=bc8de536c9c45054c842432d95da9255&chksm=f36fee06c4186710bdf350d5fb4aa345824810256b4918098f3a30ccd202a44"
    "fe0bf41b25d9f&scene=58&subscene=0",
    "004_55c08d260c197553": "https://blog.csdn.net/bjweimengshu/article/details/130397327",
}


def invoke(*args: str, env: dict[str, str] | None = None):
    """Run the CLI in-process with no config file unless one is named."""
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_seeds_lists_shipped_seeds(tmp_path: Path) -> None:
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(write_config(tmp_path)), "seeds")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5
    ok = [line for line in lines if "\thttp" in line]
    assert {line.split("\t")[0] for line in ok} == set(CRAWLABLE)
    no_url = [line for line in lines if "(no_url:" in line]
    assert len(no_url) == 3 and all("crawler.yaml" in line for line in no_url)
    assert "2 crawlable, 3 without URL, 0 broken" in result.stderr


def test_seeds_json_has_fetch_urls(tmp_path: Path) -> None:
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(write_config(tmp_path)), "seeds", "--json")
    seeds = json.loads(result.stdout)
    assert {s["id"]: s["fetch_url"] for s in seeds if s["status"] == "ok"} == CRAWLABLE
    assert all({"id", "url", "title", "status"} <= set(s) for s in seeds)
    assert next(s for s in seeds if s["id"] == "003_65f32d716cf2f4db")["title"] == "为什么微信迟迟未接入大模型"


def test_config_url_for_seed_without_one(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "seeds:\n  urls:\n    003_65f32d716cf2f4db: https://imspm.com/chanpinjingli/751729.html\n"
    )
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(config), "seeds", "--json")
    seed = next(s for s in json.loads(result.stdout) if s["id"] == "003_65f32d716cf2f4db")
    assert (seed["status"], seed["url"], seed["url_from"]) == (
        "ok",
        "https://imspm.com/chanpinjingli/751729.html",
        "config",
    )


def test_seeds_check_fails_on_broken_seed(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.md").write_text("---\nurl: https://example.org/a\n---\nText.\n", encoding="utf-8")
    (seeds / "bad.md").write_text("---\nurl: [unclosed\n---\nText.\n", encoding="utf-8")
    result = invoke("--seeds", str(seeds), "--config", str(write_config(tmp_path)), "seeds", "--check")
    assert result.exit_code == 1
    assert "bad" in result.stderr and "line" in result.stderr
    assert invoke("--seeds", str(seeds), "--config", str(write_config(tmp_path)), "seeds").exit_code == 0


def test_unknown_config_key_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "crawl:\n  timout: 5\n")
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(config), "seeds")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: unknown key 'crawl.timout' in {config}; remove it or check its spelling"


def test_wrong_type_and_environment_override(tmp_path: Path) -> None:
    config = write_config(tmp_path, "crawl:\n  timeout: soon\n")
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(config), "seeds")
    assert result.exit_code == 2 and "crawl.timeout" in result.stderr
    env = {"CRAWLER_CRAWL__RETRIES": "many"}
    result = invoke("--seeds", str(SHIPPED_SEEDS), "--config", str(write_config(tmp_path)), "seeds", env=env)
    assert result.exit_code == 2 and "crawl.retries" in result.stderr and "CRAWLER_" in result.stderr


def test_seeds_folder_missing(tmp_path: Path) -> None:
    result = invoke("--seeds", str(tmp_path / "nowhere"), "--config", str(write_config(tmp_path)), "seeds")
    assert result.exit_code == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_status_and_diff_without_archive(tmp_path: Path) -> None:
    for args in (["status"], ["diff", "x"]):
        result = invoke("--archive", str(tmp_path / "none"), *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: no archive at") and len(result.stderr.strip().splitlines()) == 1


def test_status_and_diff_on_archive(tmp_path: Path) -> None:
    store = Store.in_archive(tmp_path)
    store.sync_seeds([{"id": "a", "url": "https://example.org/a", "status": "ok", "original_text": "第一句。第二句。"}])
    run = store.start_run("manual", 1)
    store.record_capture(
        CaptureRecord(run, "a", "https://example.org/a", "new_version"),
        new_version=VersionRecord("第一句。第二句改了。", "x"),
        diffs=[DiffRecord("original", 0.8, 4, 3, "", [])],
    )
    store.finish_run(run)
    store.close()

    status = invoke("--archive", str(tmp_path), "status", "--json")
    assert status.exit_code == 0
    row = json.loads(status.stdout)[0]
    assert (row["id"], row["last_outcome"], row["versions"], row["similarity_to_original"]) == (
        "a",
        "new_version",
        1,
        0.8,
    )

    diff = invoke("--archive", str(tmp_path), "diff", "a")
    assert diff.exit_code == 0
    assert "-第二句。" in diff.stdout and "+第二句改了。" in diff.stdout and "\n 第一句。" in diff.stdout
    missing = invoke("--archive", str(tmp_path), "diff", "a", "--to", "7")
    assert missing.exit_code == 1 and "no version 7" in missing.stderr


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    for command in ("seeds", "crawl", "status", "diff"):
        assert command in result.stdout


def write_config(tmp_path: Path, text: str = "") -> Path:
    """A config file in tmp_path."""
    path = tmp_path / "crawler.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_progress_lines_for_long_runs_off_a_terminal() -> None:
    """Off a terminal a long run prints a progress line now and then; a short run prints none."""
    import io

    from crawler.cli import Progress

    long_run, short_run = io.StringIO(), io.StringIO()
    for stream, total in ((long_run, 60), (short_run, 5)):
        progress = Progress(every=0, stream=stream)
        progress.start(total)
        for outcome in ("new_version", "failed", "unchanged"):
            progress.advance({"outcome": outcome})
        progress.finish()
    lines = long_run.getvalue().splitlines()
    assert lines[-1].startswith("crawling: 3/60 seeds done (1 failed), ") and lines[-1].endswith(" s so far")
    assert short_run.getvalue() == ""


def test_summary_names_seeds_a_completed_run_never_reached() -> None:
    from crawler.run.lifecycle import RunSummary

    summary = RunSummary(1, 5, {"new_version": 3, "failed": 1}, "completed", failure_reasons=[("HTTP 500", 1)])
    assert summary.failure_lines() == [
        "  1 failed: HTTP 500",
        "  1 not fetched: the crawl never answered for them (they stay due); please report this with -vv output",
    ]
    assert RunSummary(1, 4, {"new_version": 4}, "completed").failure_lines() == []


def test_control_characters_in_ids_titles_and_errors_are_printed_escaped(page_server, project) -> None:
    """Before: printed raw: an escape sequence in a seed's file name or title reached the terminal, a
    newline in a title split its row in two."""
    url = page_server.page(
        "/a",
        "<html><head><title>Fine</title></head><body><article><p>"
        + "Words of the article here. " * 30
        + "</p></article></body></html>",
    )
    seed_id = "evil\x1b[2Jid"
    (project.seeds / f"{seed_id}.md").write_text(
        f'---\nurl: {url}\ntitle: "Two\\nlines \\e[31mred\\u202e"\n---\n\nWords of the article here.\n',
        encoding="utf-8",
    )
    (project.seeds / "gone\x07\nx.md").write_text(
        f"---\nurl: {url.replace('/a', '/missing')}\n---\n\nText.\n", encoding="utf-8"
    )
    outputs = [project.run(*command) for command in (["seeds"], ["crawl"], ["status"], ["changes"])]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        for text in (result.stdout, result.stderr):
            assert not any(ch in text for ch in "\x1b\x07\u202e"), text
    listed = outputs[0].stdout.splitlines()
    assert listed == [
        f"evil\\x1b[2Jid\t{url}\tTwo lines \\x1b[31mred\\u202e",
        f"gone\\x07\\nx\t{url.replace('/a', '/missing')}\tText.",
    ]
    status = outputs[2].stdout.splitlines()
    assert len(status) == 3 and status[1].startswith("evil\\x1b[2Jid\t") and status[2].startswith("gone\\x07\\nx\t")

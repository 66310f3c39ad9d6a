"""`crawler export --wacz`: a WACZ that py-wacz validates and pywb replays, images included (issue #17)."""

from __future__ import annotations

import json
import hashlib
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from helpers import ROOT, Project, free_port
from evidence_site import BLUE, OTHER_PARAGRAPHS, RED, serve_site
from fault_server import FaultServer
from pages import EN_PARAGRAPHS, seed_body

PYWB_BIN = ROOT / ".venv-pywb" / "bin"
WACZ_BIN = Path(sys.executable).parent / "wacz"


@pytest.fixture
def site() -> Iterator[FaultServer]:
    """The evidence site on a free port of 127.0.0.1."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def crawled(site: FaultServer, project: Project) -> dict[str, str]:
    """Two articles crawled twice (the second crawl writes revisits), images and all."""
    urls = serve_site(site)
    project.seed("lazy", urls["lazy"], seed_body("Library budget", EN_PARAGRAPHS))
    project.seed("other", urls["other"], seed_body("Museum reopens", OTHER_PARAGRAPHS))
    for _ in range(2):
        result = project.run("crawl")
        assert result.returncode == 0, result.stderr
    return urls


def validate(path: Path) -> subprocess.CompletedProcess:
    """py-wacz's own validator on path."""
    return subprocess.run([str(WACZ_BIN), "validate", "-f", str(path)], capture_output=True, text=True, timeout=120)


def test_export_is_a_valid_wacz_with_pages_text_and_images(crawled: dict[str, str], project: Project) -> None:
    out = project.root / "evidence.wacz"
    result = project.run("export", "--wacz", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr.startswith(f"wrote {out}: 2 pages (versions)")

    checked = validate(out)
    assert checked.returncode == 0 and "Validation succeeded" in checked.stdout, checked.stdout + checked.stderr

    with zipfile.ZipFile(out) as wacz:
        names = set(wacz.namelist())
        assert {
            "datapackage.json",
            "datapackage-digest.json",
            "pages/pages.jsonl",
            "archive/data.warc.gz",
            "indexes/index.cdx.gz",
        } <= names
        package = json.loads(wacz.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1"
        for resource in package["resources"]:
            assert resource["hash"] == "sha256:" + hashlib.sha256(wacz.read(resource["path"])).hexdigest()
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").decode("utf-8").splitlines()]
        warc = wacz.read("archive/data.warc.gz")
    assert pages[0]["format"] == "json-pages-1.0"
    by_url = {page["url"]: page for page in pages[1:]}
    assert set(by_url) == {crawled["lazy"], crawled["other"]}
    assert by_url[crawled["lazy"]]["title"] == "Library budget"
    assert EN_PARAGRAPHS[1] in by_url[crawled["lazy"]]["text"]

    # One seed since now: nothing; one seed overall: only its records (and what its revisits stand for).
    result = project.run("export", "--wacz", str(project.root / "none.wacz"), "--since", "2999-01-01")
    assert result.returncode == 1 and "nothing to export" in result.stderr and len(result.stderr.splitlines()) == 1
    result = project.run("export", "--wacz", str(project.root / "lazy.wacz"), "lazy")
    assert result.returncode == 0, result.stderr
    assert validate(project.root / "lazy.wacz").returncode == 0
    with zipfile.ZipFile(project.root / "lazy.wacz") as wacz:
        lazy_pages = wacz.read("pages/pages.jsonl").decode("utf-8").splitlines()
    assert len(lazy_pages) == 2 and crawled["lazy"] in lazy_pages[1]
    result = project.run("export", "--wacz", str(project.root / "x.wacz"), "no-such-seed")
    assert result.returncode == 2 and "no seed no-such-seed" in result.stderr
    assert len(warc) > len(RED) + len(BLUE)


@pytest.mark.skipif(
    not (PYWB_BIN / "wayback").exists(),
    reason="pywb venv absent: python3 -m venv .venv-pywb && .venv-pywb/bin/pip install pywb",
)
def test_pywb_replays_the_exported_article_with_its_images(
    crawled: dict[str, str], project: Project, tmp_path: Path
) -> None:
    out = project.root / "evidence.wacz"
    assert project.run("export", "--wacz", str(out)).returncode == 0
    replay = tmp_path / "replay"
    replay.mkdir()
    for command in (["wb-manager", "init", "coll"], ["wb-manager", "add", "--unpack-wacz", "coll", str(out)]):
        done = subprocess.run(
            [str(PYWB_BIN / command[0]), *command[1:]], cwd=replay, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    port = free_port()
    server = subprocess.Popen(
        [str(PYWB_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port), "--debug"],
        cwd=replay,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(120, server.kill)  # never let a stuck pywb hang the suite
    watchdog.start()
    try:
        ready = f"starting server on {port}"
        seen = []
        for line in server.stdout:
            seen.append(line)
            if ready in line:
                break
        assert any(ready in line for line in seen), "".join(seen)
        base = f"http://127.0.0.1:{port}/coll"
        with urllib.request.urlopen(f"{base}/2100mp_/{crawled['lazy']}", timeout=30) as response:
            page = response.read().decode("utf-8")
        assert EN_PARAGRAPHS[1] in page
        site = crawled["lazy"].split("/news/")[0]
        # The page's images, as the replayed page asks for them (im_), are the archived bytes.
        assert f"/coll/2100im_/{site}/img/shared.png" in page or f"im_/{site}/img/shared.png" in page
        for path, payload in (("/img/lazy.png", RED), ("/img/shared.png", BLUE)):
            with urllib.request.urlopen(f"{base}/2100im_/{site}{path}", timeout=30) as response:
                assert response.status == 200 and response.read() == payload
    finally:
        watchdog.cancel()
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()

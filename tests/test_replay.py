"""A replay tool opens the archive: pywb indexes the WARC files as we do and serves the pages back.

pywb pins old dependencies, so it lives in a venv of its own (.venv-pywb, made by .ci/run); the
test is skipped only when that venv is absent.
"""

from __future__ import annotations

import gzip
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from helpers import ROOT, LocalServer, Project, free_port
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body

PYWB_BIN = ROOT / ".venv-pywb" / "bin"

pytestmark = pytest.mark.skipif(
    not (PYWB_BIN / "wayback").exists(),
    reason="pywb venv absent: python3 -m venv .venv-pywb && .venv-pywb/bin/pip install pywb",
)


@pytest.fixture
def archive_server() -> Iterator[LocalServer]:
    """The local server speaking HTTP/1.1, sending gzip-encoded pages."""
    with LocalServer(protocol="HTTP/1.1") as server:
        yield server


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, with no decoding of any kind."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def test_pywb_indexes_and_replays_the_archive(archive_server: LocalServer, project: Project, tmp_path: Path) -> None:
    plain_url = archive_server.page("/plain", article_page("Library budget", EN_PARAGRAPHS, lang="en"))
    gzip_url = archive_server.page("/gzip", article_page("档案", ZH_PARAGRAPHS), gzip=True)
    project.seed("plain", plain_url, seed_body("Library budget", EN_PARAGRAPHS))
    project.seed("gzipped", gzip_url, seed_body("档案", ZH_PARAGRAPHS))
    for _ in range(2):  # the second crawl writes revisits
        result = project.run("crawl")
        assert result.returncode == 0, result.stderr
    sent = {path: archive_server.last_sent(path).body for path in ("/plain", "/gzip")}
    files = sorted((project.archive / "warc").glob("*.warc.gz"))
    ours = (project.archive / "warc" / "index.cdxj").read_text(encoding="utf-8").splitlines()

    replay = tmp_path / "replay"
    replay.mkdir()
    for command in (["wb-manager", "init", "coll"], ["wb-manager", "add", "coll", *map(str, files)]):
        done = subprocess.run(
            [str(PYWB_BIN / command[0]), *command[1:]], cwd=replay, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    pywb_index = (replay / "collections" / "coll" / "indexes" / "index.cdxj").read_text(encoding="utf-8")
    assert sorted(pywb_index.splitlines()) == ours, "our CDXJ index must be the one pywb builds itself"
    assert sum('"mime": "warc/revisit"' in line for line in ours) == 2

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
        # pywb logs this (at debug level) once its socket listens.
        ready = f"starting server on {port}"
        seen = []
        for line in server.stdout:
            seen.append(line)
            if ready in line:
                break
        assert any(ready in line for line in seen), "".join(seen)

        first_plain = next(line for line in ours if '"url": "%s"' % plain_url in line).split(" ")[1]
        status, headers, body = get(f"http://127.0.0.1:{port}/coll/{first_plain}id_/{plain_url}")
        assert status == 200 and body == sent["/plain"], "id_ must return the archived bytes exactly"

        first_gzip = next(line for line in ours if '"url": "%s"' % gzip_url in line).split(" ")[1]
        status, headers, body = get(f"http://127.0.0.1:{port}/coll/{first_gzip}id_/{gzip_url}")
        assert status == 200
        # pywb undoes the Content-Encoding it archived (the WARC keeps the gzip bytes: see test_warc).
        assert headers.get("Content-Encoding") is None and body == gzip.decompress(sent["/gzip"])

        # The revisit (second crawl) replays the payload it stands for.
        revisit = [line for line in ours if '"url": "%s"' % plain_url in line][-1].split(" ")[1]
        status, _, body = get(f"http://127.0.0.1:{port}/coll/{revisit}id_/{plain_url}")
        assert status == 200 and body == sent["/plain"]

        status, _, page = get(f"http://127.0.0.1:{port}/coll/{first_plain}mp_/{plain_url}")
        text = page.decode("utf-8")
        assert status == 200 and EN_PARAGRAPHS[1] in text and "wombat" in text, "mp_ serves the rewritten page"
    finally:
        watchdog.cancel()
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()

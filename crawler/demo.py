"""`crawler demo`: the whole job offline, on a small site this module serves on 127.0.0.1.

Three articles (English, Chinese, a WeChat-style page) are written as seeds, crawled, then changed the
way real sites change them (a sentence corrected, counters ticking, a takedown notice) and crawled
twice more. Each crawl is an ordinary `crawler crawl` in its own process, so the folder left behind is
an ordinary workspace: `crawler diff`, `changes`, `status` and `serve` work on it as on any other.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from crawler.errors import CrawlerError

# Fast settings for crawling the demo's own local site (the user's config still applies otherwise).
CRAWL_ENV = {
    "CRAWLER_CRAWL__DOWNLOAD_DELAY": "0",
    "CRAWLER_CRAWL__AUTOTHROTTLE": "false",
    "CRAWLER_CRAWL__RETRIES": "0",
    "CRAWLER_CRAWL__TIMEOUT": "10",
}

EN_PARAGRAPHS = (
    "The city council approved the 2027 budget on Tuesday night after a four-hour session.",
    "The vote was seven to two, with both members from the harbour district voting against.",
    "The budget raises spending on public libraries by twelve per cent and freezes bus fares.",
    "Opponents said the plan relies on a property tax increase that residents were never asked about.",
    "The mayor said the budget keeps every promise made during last year's campaign.",
)
# The correction a newsroom makes after publication: one sentence, one number.
EN_CORRECTED = (1, "The vote was six to three, after one member changed her vote in the final minutes.")

ZH_PARAGRAPHS = (
    "本报讯 本市今年启动的河道治理工程已完成第一期，沿岸十二个村庄的排污口全部封堵。",
    "据环保局介绍，治理后河水的主要指标已达到三类水标准，鱼类数量明显回升。",
    "但部分村民反映，工程征地的补偿款至今没有发放到位，已多次向镇政府反映。",
    "镇政府工作人员表示，补偿方案正在审核，预计年底前发放完毕。",
)
# An edit of the kind a censor makes: the complaint softened, the office's name taken out.
ZH_EDITED = (2, "但部分村民反映，工程征地的补偿款发放进度较慢。")

WECHAT_PARAGRAPHS = (
    "近日，某市一家化工厂被曝长期向河道偷排废水，附近居民多次投诉无果。",
    "记者走访发现，工厂排污口就在居民取水点上游不到一公里处。",
    "环保部门回应称已介入调查，将依法依规处理。",
)
WECHAT_NOTICE = "此内容因违规无法查看"


@dataclass(frozen=True)
class DemoArticle:
    """One article of the demo site: its seed id, path and title."""

    seed_id: str
    path: str
    title: str
    date: str
    render: Callable[[int, int], str]  # (edition, visit) -> HTML


def _counter(visit: int, start: int) -> int:
    """A view counter that moves on every visit, as real ones do."""
    return start + 137 * visit


def _paragraphs(paragraphs: tuple[str, ...], edit: tuple[int, str] | None = None) -> str:
    """The paragraphs as <p> elements, one of them replaced when an edit is given."""
    edited = list(paragraphs)
    if edit is not None:
        edited[edit[0]] = edit[1]
    return "".join(f"<p>{escape(p)}</p>" for p in edited)


def english_page(edition: int, visit: int) -> str:
    """The English news article: edition 2 corrects the vote count; its view counter always moves."""
    body = _paragraphs(EN_PARAGRAPHS, EN_CORRECTED if edition >= 2 else None)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(ARTICLES[0].title)} | The Demo Gazette</title></head><body>"
        "<nav><a href='/'>The Demo Gazette</a> · <a href='/news/'>News</a></nav>"
        f"<article><h1>{escape(ARTICLES[0].title)}</h1>"
        f"<p class='byline'>By Ana Lopez</p><p class='stats'>{_counter(visit, 1234):,} views</p>{body}</article>"
        "<footer>© The Demo Gazette</footer></body></html>"
    )


def chinese_page(edition: int, visit: int) -> str:
    """The Chinese news article: edition 2 softens one sentence; its read counter always moves."""
    body = _paragraphs(ZH_PARAGRAPHS, ZH_EDITED if edition >= 2 else None)
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>{escape(ARTICLES[1].title)}_示例日报</title></head><body>"
        "<div class='nav'><a href='/'>示例日报</a></div>"
        f"<article><h1>{escape(ARTICLES[1].title)}</h1>"
        f"<p class='meta'>来源：示例日报 阅读 {_counter(visit, 5678)}</p>{body}</article>"
        "</body></html>"
    )


def wechat_page(edition: int, visit: int) -> str:
    """A WeChat-style article (js_content); from edition 2 WeChat's takedown notice (weui-msg) instead."""
    if edition >= 2:
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title></title></head><body>"
            "<div class='weui-msg'><div class='weui-msg__text-area'>"
            f"<h2 class='weui-msg__title'>{WECHAT_NOTICE}</h2></div></div></body></html>"
        )
    body = _paragraphs(WECHAT_PARAGRAPHS)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(ARTICLES[2].title)}</title></head><body>"
        f"<h1 class='rich_media_title' id='activity-name'>{escape(ARTICLES[2].title)}</h1>"
        "<span id='js_name'>示例观察</span>"
        f"<div class='rich_media_content' id='js_content'>{body}</div></body></html>"
    )


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        "demo-en-council",
        "/news/2026/11/council-budget.html",
        "City council approves the 2027 budget",
        "2026-11-24",
        english_page,
    ),
    DemoArticle("demo-zh-river", "/zh/2026/11/river.html", "河道治理一期工程完工", "2026-11-25", chinese_page),
    DemoArticle("demo-wechat-factory", "/s/factory-report", "化工厂偷排废水调查", "2026-11-26", wechat_page),
)
ORIGINALS = {
    "demo-en-council": EN_PARAGRAPHS,
    "demo-zh-river": ZH_PARAGRAPHS,
    "demo-wechat-factory": WECHAT_PARAGRAPHS,
}
# The seed whose diff the demo prints.
DIFF_SEED = "demo-en-council"
# Every seed file the demo writes carries this key, so it never mistakes a user's seed for its own.
MARKER = "demo: archive-crawler"

# The three crawls: (edition the site serves, what to tell the reader before the crawl).
STEPS = (
    (1, "crawl 1: the site as the articles were saved"),
    (
        2,
        "the site changes: a vote count corrected, a Chinese sentence softened, the WeChat article "
        "taken down; counters tick on every visit\ncrawl 2",
    ),
    (2, "crawl 3: later, nothing edited, only the counters moved (the takedown is confirmed)"),
)


class DemoSite:
    """The demo's web site on 127.0.0.1, serving one edition of its articles at a time."""

    def __init__(self, port: int = 0) -> None:
        self.edition = 1
        self.visits = 0
        self.lock = threading.Lock()
        site = self
        pages = {article.path: article for article in ARTICLES}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = urlsplit(self.path).path
                if path == "/robots.txt":
                    self._send(200, "text/plain", "User-agent: *\nAllow: /\n")
                elif path in pages:
                    with site.lock:
                        site.visits += 1
                        html = pages[path].render(site.edition, site.visits)
                    self._send(200, "text/html; charset=utf-8", html)
                else:
                    self._send(404, "text/html; charset=utf-8", "<h1>Not found</h1>")

            def _send(self, status: int, content_type: str, text: str) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="demo-site", daemon=True)

    def url(self, path: str) -> str:
        """The absolute URL of a path on this site."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "DemoSite":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def check_workspace(seeds_dir: Path) -> None:
    """Refuse a seeds folder holding seeds that are not the demo's: the demo never touches a user's seeds."""
    if not seeds_dir.exists():
        return
    ours = {f"{a.seed_id}.md" for a in ARTICLES}
    foreign = sorted(p.name for p in seeds_dir.iterdir() if not p.name.startswith(".") and p.name not in ours)
    if foreign:
        raise CrawlerError(
            f"{seeds_dir} holds seeds that are not the demo's ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); run 'crawler demo' in an empty folder "
            "(mkdir crawler-demo && cd crawler-demo && crawler demo)"
        )
    for name in ours:
        path = seeds_dir / name
        if path.exists() and MARKER not in path.read_text(encoding="utf-8", errors="replace"):
            raise CrawlerError(f"{path} was not written by the demo; run 'crawler demo' in an empty folder")


def previous_port(seeds_dir: Path) -> int:
    """The port an earlier demo in this folder used (so its URLs stay the same), or 0."""
    path = seeds_dir / f"{ARTICLES[0].seed_id}.md"
    if not path.exists():
        return 0
    found = re.search(r"^url: http://127\.0\.0\.1:(\d+)/", path.read_text(encoding="utf-8"), re.M)
    return int(found.group(1)) if found else 0


def open_site(seeds_dir: Path) -> DemoSite:
    """The demo site on the port of an earlier demo in this folder if it is free, else on any free port."""
    port = previous_port(seeds_dir)
    if port:
        try:
            return DemoSite(port)
        except OSError:
            pass  # taken since: the seeds get the new port's URLs
    return DemoSite(0)


def write_seeds(seeds_dir: Path, site: DemoSite) -> None:
    """Write the demo's seeds: front matter with the URL, and the article as it was saved."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    for article in ARTICLES:
        text = "\n\n".join(ORIGINALS[article.seed_id])
        (seeds_dir / f"{article.seed_id}.md").write_text(
            f"---\n{MARKER}\nurl: {site.url(article.path)}\ntitle: {article.title}\n"
            f"date: {article.date}\nfetch_date: {article.date}\n---\n\n# {article.title}\n\n{text}\n",
            encoding="utf-8",
        )


def crawl_once(global_args: list[str], seed_ids: list[str]) -> str:
    """Crawl the demo seeds as `crawler crawl` in its own process; returns its summary (stdout)."""
    env = dict(os.environ, **CRAWL_ENV)
    result = subprocess.run(
        [sys.executable, "-m", "crawler", *global_args, "crawl", *seed_ids],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise CrawlerError(f"the demo's crawl failed (exit {result.returncode}): {last}")
    return result.stdout.strip()


def run_demo(seeds_dir: Path, global_args: list[str], say: Callable[[str], None]) -> str:
    """Serve the site, write the seeds, crawl three times while the site changes; returns the start time."""
    check_workspace(seeds_dir)
    if previous_port(seeds_dir):
        say(
            "an earlier demo ran here: the site starts again from the articles as saved, so the first crawl "
            "finds the edits reverted and the WeChat article back"
        )
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seed_ids = [a.seed_id for a in ARTICLES]
    with open_site(seeds_dir) as site:
        write_seeds(seeds_dir, site)
        say(f"demo site: http://127.0.0.1:{site.port}/ ({len(ARTICLES)} articles, served while the demo runs)")
        say(f"seeds written: {', '.join(str(seeds_dir / (i + '.md')) for i in seed_ids)}")
        for edition, words in STEPS:
            site.edition = edition
            summary = crawl_once(global_args, seed_ids)
            say(f"{words}: {summary}")
    return started

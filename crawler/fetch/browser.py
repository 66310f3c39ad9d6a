"""Browser rendering and screenshots: Debian's chromium driven by Playwright (scrapy-playwright for fetching).

Off by default (render.* in config). Pages chosen by seed id, URL glob or site profile are fetched
by scrapy-playwright in chromium: the downloader middlewares (network guard, robots.txt, WARC) see
the request as usual; lazy images are scrolled into view; the rendered DOM is what extraction reads;
every response the browser received is written to WARC (the page as the server sent it first).
A screenshot of each new version is taken in the browser, of the live page when it was rendered,
else of the archived page and its archived images served from memory (no network at all).

Nothing is downloaded at run time: Playwright launches the system chromium (render.chromium).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import logging
import os
import socket
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from crawler.fetch.network_guard import address_problem
from crawler.warc import Exchange
from crawler.urls import host_in, host_of, is_http_scheme

log = logging.getLogger(__name__)

# Flags for chromium as a batch renderer on a machine with no display and (often) as root.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PHONE_USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40"
)
# Responses the browser receives for one page that are written to WARC, at most.
MAX_BROWSER_RESPONSES = 300
# Scroll the page a screen at a time (lazy loaders watch the viewport), then wait for images, bounded.
SETTLE_SCRIPT = """async ([maxHeight, waitMs]) => {
  const pause = ms => new Promise(r => setTimeout(r, ms));
  const step = Math.max(window.innerHeight, 400);
  const height = () => Math.min(document.documentElement.scrollHeight, maxHeight);
  for (let y = 0; y < height(); y += step) { window.scrollTo(0, y); await pause(60); }
  window.scrollTo(0, 0);
  const pending = Array.from(document.images).filter(i => !i.complete);
  await Promise.race([
    Promise.all(pending.map(i => new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }))),
    pause(waitMs),
  ]);
  return document.documentElement.scrollHeight;
}"""
# For a screenshot of an archived page: what a lazy loader would have done (its script is not archived).
UNLAZY_SCRIPT = """(attributes) => {
  for (const img of document.querySelectorAll('img')) {
    for (const name of attributes) {
      const value = img.getAttribute(name);
      if (value) { img.setAttribute('src', value); img.removeAttribute('srcset'); break; }
    }
    img.loading = 'eager';
  }
  for (const el of document.querySelectorAll('[style*="visibility"]')) el.style.visibility = 'visible';
}"""


# Wait (bounded) for the images of a page to finish loading or failing.
IMAGES_SCRIPT = """async (waitMs) => {
  const pending = Array.from(document.images).filter(i => !i.complete);
  await Promise.race([
    Promise.all(pending.map(i => new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }))),
    new Promise(r => setTimeout(r, waitMs)),
  ]);
}"""


def chromium_problem(path: str) -> str | None:
    """One line saying what to install when chromium or Playwright is missing; None when rendering can run."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return (
            f"chromium not found at {path}: rendering and screenshots are off for this run; "
            "install it (apt install chromium) or set render.chromium to its path"
        )
    try:
        import playwright  # noqa: F401
        import scrapy_playwright  # noqa: F401
    except ImportError:
        return (
            "Playwright is not installed: rendering and screenshots are off for this run; "
            "install them with: pip install -e '.[render]'"
        )
    return None


def wants_rendering(
    render: Mapping[str, Any], seed_id: str, url: str, profile_domains: Mapping[str, Sequence[str]]
) -> bool:
    """True when config asks for the seed to be rendered: by id, by URL glob, or by its site profile's domains."""
    if seed_id in (render.get("seeds") or ()):
        return True
    if any(fnmatch.fnmatchcase(url, glob) for glob in render.get("urls") or ()):
        return True
    host = host_of(url)
    for name in render.get("profiles") or ():
        if any(host_in(host, domain) for domain in profile_domains.get(name, ())):
            return True
    return False


def is_phone(url: str, phone_domains: Iterable[str]) -> bool:
    """True for pages made for phones (WeChat articles): they are rendered and shot at a phone's size."""
    host = host_of(url)
    return any(host_in(host, domain) for domain in phone_domains)


def launch_options(chromium: str) -> dict[str, Any]:
    """Playwright's launch options for the system chromium."""
    return {"executable_path": chromium, "headless": True, "args": list(CHROMIUM_ARGS)}


def context_options(render: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Browser contexts: a desktop window and a phone (for WeChat and other phone pages)."""
    width, height = render.get("viewport") or (1280, 900)
    phone_width, phone_height = render.get("phone_viewport") or (390, 844)
    return {
        "desktop": {"viewport": {"width": width, "height": height}, "java_script_enabled": True},
        "phone": {
            "viewport": {"width": phone_width, "height": phone_height},
            "is_mobile": True,
            "has_touch": True,
            "device_scale_factor": 1,
            "user_agent": PHONE_USER_AGENT,
        },
    }


def playwright_settings(render: Mapping[str, Any], user_agent: str) -> dict[str, Any]:
    """Scrapy settings that route rendered requests through scrapy-playwright (others use Scrapy's HTTP)."""
    contexts = context_options(render)
    contexts["desktop"]["user_agent"] = user_agent
    return {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "file": None,
            "ftp": None,
            "s3": None,
            "data": None,
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(render.get("chromium") or "/usr/bin/chromium"),
        "PLAYWRIGHT_CONTEXTS": contexts,
        "PLAYWRIGHT_MAX_CONTEXTS": 2,
        # A browser page costs tens of MB: two at a time per context, whatever CONCURRENT_REQUESTS says.
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": float(render.get("timeout") or 30) * 1000,
        "PLAYWRIGHT_ABORT_REQUEST": "crawler.fetch.browser.abort_request",
    }


# Set by RenderMiddleware.from_crawler: the browser's own requests obey network.block_private too.
_BLOCK_PRIVATE = False


async def abort_request(request: Any) -> bool:
    """Playwright request filter: only http(s) (and inline data), and no private address under block_private."""
    parts = urlsplit(request.url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    if not is_http_scheme(parts.scheme):
        return True
    if not _BLOCK_PRIVATE:
        return False
    host = parts.hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return True
        addresses = [info[4][0] for info in infos]
    return any(address_problem(address) for address in addresses)


DROP_ICONS_SCRIPT = """new MutationObserver(changes => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.nodeName === 'LINK' && /\\bicon\\b/i.test(node.getAttribute('rel') || '')) node.remove();
  }
}).observe(document, {childList: true, subtree: true});"""
# Resource types a revisit's render does without: the text is all it needs.
LEAN_BLOCKED = frozenset({"image", "media", "font"})


async def block_images(page: Any, request: Any = None) -> None:
    """Page init callback for a revisit: refuse images, media and fonts, pass everything else on."""

    async def lean(route: Any) -> None:
        if route.request.resource_type in LEAN_BLOCKED:
            await route.abort()
        else:
            await route.fallback()

    await page.route("**/*", lean)
    # The browser fetches the page's icons itself, past Playwright's routes; an icon link removed
    # before the page finishes loading is never fetched. The article's text does not change.
    await page.add_init_script(DROP_ICONS_SCRIPT)


class BrowserTraffic:
    """Responses one rendered page received, with their bodies, for the WARC middleware."""

    def __init__(self, max_bytes: int, lean: bool = False):
        self.max_bytes = max_bytes
        # A revisit keeps the page as sent and the data its scripts fetched (what its text is built
        # from); its scripts and styles are in the WARC files from earlier captures (replay finds
        # them by URL), and most revisits change nothing.
        self.lean = lean
        self.tasks: list[asyncio.Task] = []
        self.exchanges: list[Exchange] = []
        self.skipped = 0

    def on_response(self, response: Any) -> None:
        """Playwright 'response' event: read the body in a task (event handlers must not block)."""
        if len(self.tasks) >= MAX_BROWSER_RESPONSES or not response.url.startswith(("http://", "https://")):
            self.skipped += 1
            return
        if self.lean and response.request.resource_type not in ("document", "xhr", "fetch"):
            return
        self.tasks.append(asyncio.ensure_future(self._collect(response)))

    async def _collect(self, response: Any) -> None:
        try:
            headers = [(h["name"], h["value"]) for h in await response.headers_array()]
            request_headers = [(h["name"], h["value"]) for h in await response.request.headers_array()]
            body = b""
            if not 300 <= response.status < 400:
                declared = next((v for k, v in headers if k.lower() == "content-length"), None)
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    self.skipped += 1
                    return
                body = await response.body()
                if len(body) > self.max_bytes:
                    self.skipped += 1
                    return
        except Exception as exc:  # a page closed or a response evicted: that response is not archived
            log.debug("browser response %s not archived: %s", response.url, exc)
            self.skipped += 1
            return
        # Playwright hands over the body decoded: the recorded headers must not claim an encoding.
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-encoding", "content-length")]
        self.exchanges.append(
            Exchange(
                url=response.url,
                method=response.request.method,
                request_headers=request_headers,
                status=response.status,
                protocol="HTTP/1.1",
                response_headers=headers,
                body=body,
            )
        )

    async def settle(self, timeout: float) -> None:
        """Wait (bounded) for the bodies still being read."""
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)


async def screenshot(page: Any, max_height: int, image_type: str = "png") -> bytes:
    """A full-page screenshot, cut at max_height pixels."""
    height = await page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"] if page.viewport_size else 1280
    options: dict[str, Any] = {"full_page": True, "type": image_type, "animations": "disabled"}
    if image_type == "jpeg":
        options["quality"] = 80
    if height and height > max_height:
        options["clip"] = {"x": 0, "y": 0, "width": width, "height": max_height}
    return await page.screenshot(**options)


class RenderMiddleware:
    """Downloader middleware: send chosen seeds' requests through the browser and keep what it saw."""

    def __init__(self, render: Mapping[str, Any], max_bytes: int):
        self.render = dict(render)
        self.max_bytes = max_bytes

    @classmethod
    def from_crawler(cls, crawler: Any) -> "RenderMiddleware":
        """Read ARCHIVE_RENDER and the network guard setting."""
        global _BLOCK_PRIVATE
        _BLOCK_PRIVATE = crawler.settings.getbool("NETWORK_BLOCK_PRIVATE")
        return cls(crawler.settings.getdict("ARCHIVE_RENDER"), crawler.settings.getint("DOWNLOAD_MAXSIZE"))

    def process_request(self, request: Any, spider: Any = None) -> None:
        """Mark a seed request that should be rendered for scrapy-playwright."""
        if not request.meta.get("render") or request.meta.get("playwright"):
            return None
        from scrapy_playwright.page import PageMethod

        render = self.render
        phone = is_phone(request.url, render.get("phone_domains") or ())
        lean = bool(request.meta.get("render_lean"))
        traffic = BrowserTraffic(self.max_bytes, lean=lean)
        if lean:
            # A revisit: the text decides whether anything changed, so the browser loads no images (an
            # unchanged revisit fetches none); a new version's images are fetched as requisites after.
            request.meta["playwright_page_init_callback"] = block_images

        async def settle_and_shoot(page: Any) -> dict[str, Any]:
            height = await page.evaluate(SETTLE_SCRIPT, [int(render.get("max_screenshot_height") or 20000), 3000])
            await traffic.settle(float(render.get("timeout") or 30))
            shot = None
            if render.get("screenshots") and not lean:
                shot = await screenshot(
                    page, int(render.get("max_screenshot_height") or 20000), render.get("screenshot_format") or "png"
                )
            return {"height": height, "screenshot": shot}

        request.meta.update(
            playwright=True,
            playwright_context="phone" if phone else "desktop",
            playwright_page_methods=[PageMethod(settle_and_shoot)],
            playwright_page_event_handlers={"response": traffic.on_response},
            playwright_page_goto_kwargs={"wait_until": "load"},
            browser_traffic=traffic,
            viewport="phone" if phone else "desktop",
        )
        return None

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        """Hand the browser's traffic and screenshot on in meta (the WARC middleware writes the traffic)."""
        traffic = request.meta.get("browser_traffic")
        if traffic is None:
            return response
        methods = request.meta.get("playwright_page_methods") or ()
        result = getattr(methods[0], "result", None) if methods else None
        request.meta["rendered"] = True
        request.meta["render_exchanges"] = list(traffic.exchanges)
        if result and result.get("screenshot"):
            request.meta["screenshot"] = result["screenshot"]
        return response


# -- screenshots of archived pages (no network) ---------------------------------------


class ArchiveBrowser:
    """One chromium for the crawl, launched at the first screenshot, showing archived pages from memory."""

    def __init__(self, render: Mapping[str, Any], lazy_attributes: Sequence[str] = ()):
        self.render = dict(render)
        # The attributes lazy loaders read image URLs from (the extract stage's list, handed in).
        self.lazy_attributes = list(lazy_attributes)
        self._playwright = None
        self._browser = None
        self._lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(2)
        self._contexts: dict[tuple[bool, bool], Any] = {}

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._browser is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    **launch_options(self.render.get("chromium") or "/usr/bin/chromium")
                )
            return self._browser

    async def shoot(
        self,
        page_url: str,
        body: bytes,
        content_type: str | None,
        resources: Mapping[str, tuple[str | None, bytes]],
        scripts: bool = True,
    ) -> tuple[bytes, str]:
        """A screenshot of an archived page: its body and archived images served, every other request refused.

        scripts=False for a DOM the browser built already (a rendered page): its scripts must not build it twice.
        """
        phone = is_phone(page_url, self.render.get("phone_domains") or ())
        context = await self._context(phone, scripts)
        timeout_ms = float(self.render.get("timeout") or 30) * 1000
        async with self._gate:
            page = await context.new_page()
            try:
                page.set_default_timeout(timeout_ms)
                served = False

                async def route(route: Any) -> None:
                    nonlocal served
                    url = route.request.url.split("#", 1)[0]
                    if not served and route.request.is_navigation_request():
                        served = True
                        await route.fulfill(
                            status=200, body=body, headers={"content-type": content_type or "text/html"}
                        )
                    elif url in resources:
                        mime, data = resources[url]
                        await route.fulfill(status=200, body=data, headers={"content-type": mime or ""})
                    else:
                        await route.abort()

                await page.route("**/*", route)
                try:
                    await page.goto(page_url, wait_until="load", timeout=timeout_ms)
                except Exception as exc:  # a page whose scripts never let 'load' fire is shot as it stands
                    log.debug("archived page %s did not finish loading: %s", page_url, exc)
                if scripts:
                    # The archived images are all in memory: no scrolling, just lazy sources made eager.
                    await page.evaluate(UNLAZY_SCRIPT, self.lazy_attributes)
                    await page.evaluate(IMAGES_SCRIPT, 1000)
                shot = await screenshot(
                    page,
                    int(self.render.get("max_screenshot_height") or 20000),
                    self.render.get("screenshot_format") or "png",
                )
            finally:
                await page.close()
        return shot, "phone" if phone else "desktop"

    async def _context(self, phone: bool, scripts: bool) -> Any:
        """A browser context per kind of screenshot, made once (a new one costs half a second)."""
        browser = await self._ensure()
        key = (phone, scripts)
        async with self._lock:
            if key not in self._contexts:
                options = dict(
                    context_options(self.render)["phone" if phone else "desktop"], java_script_enabled=scripts
                )
                # Archived pages only: no cookies or storage carry from one page to the next that matter,
                # and every request is answered from memory or refused.
                self._contexts[key] = await browser.new_context(**options)
            return self._contexts[key]

    async def close(self) -> None:
        """Close the browser and Playwright."""
        for context in self._contexts.values():
            await context.close()
        self._contexts.clear()
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

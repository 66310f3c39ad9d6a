"""Scrapy downloader middleware: fetch only http and https, and optionally only public addresses.

With `network.block_private: true` (for people who publish their archive) a request whose host is,
or resolves to, a loopback, private, link-local or otherwise non-public address is refused before
it is sent: a seed (or a redirect, which passes through here again) cannot make the crawler read
an intranet page or a cloud metadata endpoint into a public archive.

The name is resolved through the reactor's resolver, the same caching resolver the downloader
connects with (Scrapy's CachingThreadedResolver, DNSCACHE_ENABLED), so the address checked is the
address used: a DNS answer that changes between the check and the connection is not consulted again.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future

from crawler.urls import is_http_scheme


class RefusedRequest(IgnoreRequest):
    """A request the crawler refuses to send; its message is the capture's error."""


def address_problem(address: str) -> str | None:
    """What makes an IP address non-public ("a loopback address", ...), or None for a public one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1.
        ip = ip.ipv4_mapped
    # Most specific first: a loopback address is also "private" to the ipaddress module.
    for kind, test in (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("an unspecified", ip.is_unspecified),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
        ("a non-public", not ip.is_global),
    ):
        if test:
            return f"{kind} address"
    return None


def scheme_problem(url: str) -> str | None:
    """Why url is not fetched (its scheme is not http or https), or None."""
    scheme = urlsplit(url).scheme.lower()
    if is_http_scheme(scheme):
        return None
    return f"refused: {url} is not an http or https URL (only http and https are fetched)"


def _ip_literal(host: str) -> str | None:
    """host itself when it is an IP address, else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class NetworkGuardMiddleware:
    """Refuse non-http(s) requests, and with NETWORK_BLOCK_PRIVATE, non-public destinations."""

    def __init__(self, block_private: bool):
        self.block_private = block_private

    @classmethod
    def from_crawler(cls, crawler: Any) -> "NetworkGuardMiddleware":
        """Read NETWORK_BLOCK_PRIVATE from the settings the run sets."""
        return cls(crawler.settings.getbool("NETWORK_BLOCK_PRIVATE"))

    async def process_request(self, request: Request, spider: Any = None) -> None:
        """Raise RefusedRequest for a request that must not be sent; None lets it through."""
        problem = scheme_problem(request.url)
        if problem:
            raise RefusedRequest(problem)
        if not self.block_private:
            return None
        host = urlsplit(request.url).hostname or ""
        literal = _ip_literal(host)
        if literal is not None:
            problem = address_problem(literal)
            if problem:
                raise RefusedRequest(f"refused: {literal} is {problem} (network.block_private)")
            return None
        from twisted.internet import reactor

        # A failed lookup raises DNSLookupError here, reported like any other DNS failure.
        address = await maybe_deferred_to_future(reactor.resolve(host))
        problem = address_problem(address)
        if problem:
            raise RefusedRequest(f"refused: {host} resolves to {address}, {problem} (network.block_private)")
        return None

"""URL rules every stage shares: the schemes that are fetched, a URL's host, a host under a domain.

Pure and dependency-free, so the fetch stage, the pure stages and the seeds reader all use the same rules.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Only http and https are ever fetched (seeds, redirects, requisites, the browser's own requests).
HTTP_SCHEMES = ("http", "https")


def is_http_scheme(scheme: str | None) -> bool:
    """True for http and https (any case)."""
    return (scheme or "").lower() in HTTP_SCHEMES


def host_of(url: str | None) -> str:
    """A URL's host, lower-case and without a trailing dot; '' when it has none or does not parse."""
    try:
        return (urlsplit(url or "").hostname or "").rstrip(".")
    except ValueError:
        # Malformed URLs (e.g. an unbalanced IPv6 bracket) just match no domain.
        return ""


def domain_key(domain: str) -> str:
    """A configured domain as matched: lower-case, without surrounding spaces or dots."""
    return str(domain).strip().strip(".").lower()


def host_in(host: str, domain: str) -> bool:
    """True when host is the domain or under it (www.example.org is in example.org; "*" is not a domain here)."""
    domain = domain_key(domain)
    return bool(host) and bool(domain) and (host == domain or host.endswith("." + domain))

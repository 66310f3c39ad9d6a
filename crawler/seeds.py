"""Seed files: read front matter, find the URL to fetch, and say plainly what is wrong with a file."""

from __future__ import annotations

import base64
import math
import os
import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple
from urllib.parse import urlsplit

import yaml

from crawler.errors import SeedError
from crawler.urls import is_http_scheme

SEED_SUFFIXES = (".txt", ".md", ".markdown", ".text")
MAX_SEED_BYTES = 20 * 1024 * 1024
TITLE_MAX_CHARS = 200

STATUS_OK = "ok"
STATUS_NO_URL = "no_url"
STATUS_BROKEN = "broken"

# Keys that become Seed fields; every other front-matter key is kept in Seed.extra.
_FIELD_KEYS = frozenset({"url", "arturl_encode", "title", "date", "fetch_date", "source"})
# Front matter is a little metadata; anything bigger is an alias bomb or a mistake, and
# copying it into extra (which gets stored as JSON) must not hang or exhaust memory.
_MAX_EXTRA_NODES = 10_000
_MAX_EXTRA_DEPTH = 50
_NO_OVERRIDES: Mapping[str, str] = MappingProxyType({})

_FRONT_MATTER_OPEN = "---"
_FRONT_MATTER_CLOSE = ("---", "...")
_HEADING_RE = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(?:```|~~~)")
# YAML writes "2024-10-16 20:02:20 +08:00"; datetime.fromisoformat wants no gap before the offset.
_OFFSET_GAP_RE = re.compile(r"[ \t]+(?=(?:Z|[+-]\d{2}(?::?\d{2})?)$)")


@dataclass(frozen=True)
class Seed:
    """One seed file: its URL (if any), metadata, body, and what is wrong with it."""

    id: str
    path: Path
    status: str
    url: str | None
    fetch_url: str | None
    title: str | None
    date: str | None
    fetch_date: str | None
    source: str | None
    extra: dict
    body: str
    problem: str | None
    url_from: str | None


class _Broken(Exception):
    """Internal signal: the file cannot be used; the message is the one-line problem."""


class _UrlChoice(NamedTuple):
    status: str
    url: str | None
    url_from: str | None
    problem: str | None


class _Metadata(NamedTuple):
    title: str | None
    date: str | None
    fetch_date: str | None
    source: str | None
    extra: dict


def decode_arturl(value: str) -> str:
    """Decode an arturl_encode value (hex of a UTF-8 URL, in chunks joined by ':') into the URL."""
    bad = re.search(r"[^0-9a-fA-F:\s]", value)
    if bad:
        raise ValueError(f"arturl_encode has a non-hex character {bad.group()!r} at position {bad.start()}")
    digits = re.sub(r"[:\s]", "", value)
    if not digits:
        raise ValueError("arturl_encode is empty")
    if len(digits) % 2:
        raise ValueError(f"arturl_encode has an odd number of hex digits ({len(digits)}); one is missing or extra")
    try:
        return bytes.fromhex(digits).decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ValueError("arturl_encode does not decode to UTF-8 text") from exc


def validate_url(url: str) -> str | None:
    """Return why url cannot be fetched (malformed, not http/https, no host, credentials), or None if it can."""
    shown = _shorten(without_password(url))
    if not url.strip():
        return "URL is empty"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return f"URL {shown!r} contains spaces or control characters"
    try:
        parts = urlsplit(url)
        # .port is parsed lazily and raises for a non-numeric or out-of-range port.
        _ = parts.port
    except ValueError as exc:
        return f"URL {shown!r} is malformed ({exc})"
    if not parts.scheme:
        return f"URL {shown!r} has no scheme; write it as https://..."
    if not is_http_scheme(parts.scheme):
        return f"URL {shown!r} has unsupported scheme '{parts.scheme}:' (only http and https can be fetched)"
    if not parts.hostname:
        return f"URL {shown!r} has no host"
    if "@" in parts.netloc:
        # Scrapy never logs in with them (it failed with "invalid hostname: user:password@host", the
        # password landing in captures.error); an archive of public pages has no use for them.
        return (
            f"URL {shown!r} has a user name or password in it; the crawler "
            "fetches public pages without logging in: remove the 'user:password@' part"
        )
    return None


def without_password(url: str) -> str:
    """url with any password in its user part replaced by ***, for showing and storing."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}").geturl()


def parse_seed(path: Path, raw: bytes, url_overrides: Mapping[str, str] = _NO_OVERRIDES) -> Seed:
    """Parse one seed file's bytes; bad content gives status "broken" with a problem, never an exception."""
    path = Path(path)
    seed_id = path.stem
    try:
        text = _decode(raw)
        front_text, body = _split_front_matter(text)
        front = _load_front_matter(front_text) if front_text is not None else None
        meta = _metadata(front or {})
    except _Broken as exc:
        return _broken_seed(seed_id, path, str(exc))

    choice = _choose_url(seed_id, front, url_overrides)
    ok = choice.status == STATUS_OK
    return Seed(
        id=seed_id,
        path=path,
        status=choice.status,
        url=choice.url,
        # The fragment never reaches the server; dropping it keeps duplicate detection honest.
        fetch_url=choice.url.split("#", 1)[0] if ok and choice.url else None,
        title=meta.title or _title_from_body(body),
        date=meta.date,
        fetch_date=meta.fetch_date,
        source=meta.source,
        extra=meta.extra,
        body="" if choice.status == STATUS_BROKEN else body,
        problem=_one_line(choice.problem) if choice.problem else None,
        url_from=choice.url_from,
    )


def load_seed(path: Path, url_overrides: Mapping[str, str] = _NO_OVERRIDES) -> Seed:
    """Read one seed file and parse it; an unreadable file gives a "broken" Seed."""
    path = Path(path)
    shown = printable_name(path.name)
    if shown != path.name:
        # The id keys the archive and is printed everywhere: a name Python can only hold as
        # surrogates ("bad\udcff.md") cannot be stored in SQLite or written to a UTF-8 stream.
        return _broken_seed(
            Path(shown).stem,
            path.with_name(shown),
            "file name is not valid UTF-8 (the \\x.. are its undecodable bytes); rename the file",
        )
    try:
        with path.open("rb") as handle:
            # One byte past the limit is enough for parse_seed to reject a huge file without reading it all.
            raw = handle.read(MAX_SEED_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _broken_seed(path.stem, path, f"cannot read the file: {reason}; check that it exists and is readable")
    return parse_seed(path, raw, url_overrides)


def printable_name(name: str) -> str:
    """A file name as UTF-8 text, bytes that are not UTF-8 shown as \\xNN (the name itself when it is UTF-8)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def load_seeds(folder: Path, url_overrides: Mapping[str, str] = _NO_OVERRIDES) -> list[Seed]:
    """Load every seed file in folder sorted by id; seeds sharing a fetch URL get a warning."""
    folder = Path(folder)
    if not folder.exists():
        raise SeedError(f"seed folder {folder} does not exist; pass --seeds FOLDER or create it")
    if not folder.is_dir():
        raise SeedError(f"seed folder {folder} is not a folder; pass --seeds FOLDER with a folder of seed files")
    try:
        paths = [entry for entry in folder.iterdir() if _is_seed_file(entry)]
    except OSError as exc:
        raise SeedError(f"cannot list seed folder {folder}: {exc.strerror}; check its permissions") from exc
    root = folder.resolve()
    seeds = sorted(
        (_outside_link(entry, root) or load_seed(entry, url_overrides) for entry in paths),
        key=lambda s: (s.id, s.path.name),
    )
    return _warn_duplicate_urls(_reject_duplicate_ids(seeds))


def _outside_link(entry: Path, root: Path) -> Seed | None:
    """A broken Seed when entry is a symbolic link to a file outside the seeds folder (root, resolved), else None."""
    # Followed, seeds/passwd.md -> /etc/passwd became a searchable "original" in the archive.
    if not entry.is_symlink() or entry.resolve().is_relative_to(root):
        return None
    shown = printable_name(entry.name)
    return _broken_seed(
        Path(shown).stem,
        entry.with_name(shown),
        "file is a symbolic link to a file outside the seeds folder, which is not read; "
        "copy the file into the seeds folder instead",
    )


def _is_seed_file(entry: Path) -> bool:
    """A visible regular file with one of SEED_SUFFIXES (any case)."""
    return not entry.name.startswith(".") and entry.suffix.lower() in SEED_SUFFIXES and entry.is_file()


def _reject_duplicate_ids(seeds: list[Seed]) -> list[Seed]:
    """Mark all but the first of seeds with the same id (a.txt and a.md) broken: ids key the archive."""
    first_by_id: dict[str, Seed] = {}
    result = []
    for seed in seeds:
        first = first_by_id.setdefault(seed.id, seed)
        if first is not seed:
            seed = _broken_seed(
                seed.id,
                seed.path,
                f"seed file {first.path.name} has the same id '{seed.id}'; rename or remove one of them",
            )
        result.append(seed)
    return result


def _warn_duplicate_urls(seeds: list[Seed]) -> list[Seed]:
    """Keep seeds that share a fetch URL, but warn on each which other seeds fetch the same page."""
    ids_by_url: dict[tuple[str, ...], list[str]] = {}
    for seed in seeds:
        if seed.status == STATUS_OK and seed.fetch_url:
            ids_by_url.setdefault(_url_key(seed.fetch_url), []).append(seed.id)
    result = []
    for seed in seeds:
        if seed.status == STATUS_OK and seed.fetch_url:
            others = [other for other in ids_by_url[_url_key(seed.fetch_url)] if other != seed.id]
            if others:
                warning = f"same URL as seed {', '.join(others)}"
                seed = replace(seed, problem=f"{seed.problem}; {warning}" if seed.problem else warning)
        result.append(seed)
    return result


def _url_key(url: str) -> tuple[str, ...]:
    """Comparison key for a URL: scheme and host are case-insensitive, the rest is not."""
    parts = urlsplit(url)
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query)


def _decode(raw: bytes) -> str:
    """Bytes to text: UTF-8 (BOM optional), else GB18030; refuse empty, huge and binary files."""
    if len(raw) > MAX_SEED_BYTES:
        raise _Broken(
            f"file is larger than the {MAX_SEED_BYTES // (1024 * 1024)} MB limit for seed files; "
            "shorten it or remove it from the seed folder"
        )
    if b"\x00" in raw:
        raise _Broken("file is binary (contains NUL bytes; UTF-16 text does too); save it as UTF-8 text or remove it")
    # UTF-8 first: GB18030 accepts many UTF-8 byte sequences too, but decodes them as mojibake.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _Broken("file is not UTF-8 or GB18030 text; save it as UTF-8 or remove it")
    # A GB18030 file may carry its own BOM, which decodes to U+FEFF.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _Broken("file is empty; add the article text (and front matter with a url) or remove it")
    # One line-ending convention, so '---' detection and YAML line numbers work for CRLF files too.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """Split text into (front matter YAML or None, body)."""
    lines = text.split("\n")
    if lines[0].rstrip(" \t") != _FRONT_MATTER_OPEN:
        return None, text
    for index in range(1, len(lines)):
        if lines[index].rstrip(" \t") in _FRONT_MATTER_CLOSE:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise _Broken("front matter opened by '---' on line 1 is never closed; add a '---' line after it")


# libyaml's parser when PyYAML was built with it: seven times faster than the pure-Python one (a fifth
# of a millisecond a seed, at the start of every run). Its error messages are worded differently, so
# front matter it rejects is parsed again by the pure-Python parser, whose verdict and words count.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse_yaml(text: str) -> Any:
    """yaml.safe_load(text), by libyaml when it is there and accepts the text."""
    if _FAST_LOADER is not None:
        try:
            return yaml.load(text, Loader=_FAST_LOADER)  # a safe loader, in C
        except (yaml.YAMLError, ValueError, RecursionError):
            pass
    return yaml.safe_load(text)


def _load_front_matter(front_text: str) -> dict:
    """Parse front matter YAML into a mapping (empty front matter is an empty mapping)."""
    try:
        data = _parse_yaml(front_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # Marks count from 0 inside the front matter, which starts on line 2 of the file.
        where = f" at line {mark.line + 2}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise _Broken(f"bad YAML front matter{where}: {what}; fix the front matter") from exc
    except yaml.YAMLError as exc:
        raise _Broken(f"bad YAML front matter: {exc}; fix the front matter") from exc
    except ValueError as exc:
        # PyYAML builds date objects itself, so "date: 2024-13-45" fails with a plain ValueError.
        raise _Broken(f"bad value in YAML front matter: {exc}; fix the front matter") from exc
    except RecursionError as exc:
        raise _Broken("YAML front matter is nested too deeply; simplify the front matter") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Broken(f"front matter is a YAML {_kind(data)}, not a mapping of keys; write it as 'key: value' lines")
    return data


def _metadata(front: Mapping[Any, Any]) -> _Metadata:
    """The title/date/fetch_date/source fields and the JSON-safe rest of the front matter."""
    extra = {}
    for key, value in front.items():
        if key in _FIELD_KEYS:
            continue
        name = _json_key(key)
        try:
            extra[name] = _json_safe(value)
        except _TooComplex as exc:
            raise _Broken(
                f"front matter key '{_shorten(name)}' is too large or nested too deeply "
                "(YAML anchors/aliases?); simplify it"
            ) from exc
    return _Metadata(
        title=_clip_title(_text_field(front, "title")),
        date=_date_field(front, "date"),
        fetch_date=_date_field(front, "fetch_date"),
        source=_text_field(front, "source"),
        extra=extra,
    )


def _text_field(front: Mapping[Any, Any], key: str) -> str | None:
    """A scalar front-matter value as trimmed text, None if absent or blank."""
    value = front.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list, set, bytes)):
        raise _Broken(f"front matter key '{key}' must be a single value, not a {_kind(value)}; fix the front matter")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip() or None


def _date_field(front: Mapping[Any, Any], key: str) -> str | None:
    """A date or datetime front-matter value as an ISO 8601 string (unparseable text kept as written)."""
    text = _text_field(front, key)
    if text is None or isinstance(front.get(key), date):
        return text
    return _iso_from_text(text)


def _iso_from_text(text: str) -> str:
    """Normalise a date written as text (e.g. a quoted YAML date) to ISO 8601, or return it unchanged."""
    candidate = _OFFSET_GAP_RE.sub("", text)
    # date first: datetime.fromisoformat would turn a bare date into midnight.
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(candidate).isoformat()
        except ValueError:
            continue
    return text


def _choose_url(seed_id: str, front: Mapping[Any, Any] | None, url_overrides: Mapping[str, str]) -> _UrlChoice:
    """Pick the seed's URL: config override first (the user asked for that), then url, then arturl_encode."""
    config_hint = f"config/crawler.yaml under seeds.urls.{seed_id}"
    override = url_overrides.get(seed_id)
    if override is not None:
        return _checked(
            str(override).strip(), "config", f"in config seeds.urls.{seed_id}", "fix it in config/crawler.yaml"
        )
    if front is None:
        return _UrlChoice(STATUS_NO_URL, None, None, f"no front matter and no URL; give one in {config_hint}")

    fix = f"fix it in the front matter or give a URL in {config_hint}"
    url = front.get("url")
    if url is not None and not (isinstance(url, str) and not url.strip()):
        if not isinstance(url, str):
            return _UrlChoice(STATUS_BROKEN, None, None, f"front matter url is a {_kind(url)}, not text; {fix}")
        return _checked(url.strip(), "front_matter", "in front matter url", fix)

    encoded = front.get("arturl_encode")
    if encoded is not None and not (isinstance(encoded, str) and not encoded.strip()):
        if not isinstance(encoded, str):
            return _UrlChoice(
                STATUS_BROKEN, None, None, f"front matter arturl_encode is a {_kind(encoded)}; put the hex in quotes"
            )
        try:
            decoded = decode_arturl(encoded)
        except ValueError as exc:
            return _UrlChoice(STATUS_BROKEN, None, None, f"bad arturl_encode in front matter: {exc}; {fix}")
        return _checked(decoded, "arturl_encode", "decoded from front matter arturl_encode", fix)

    return _UrlChoice(
        STATUS_NO_URL,
        None,
        None,
        f"front matter has no url or arturl_encode; add url: there or give one in {config_hint}",
    )


def _checked(url: str, url_from: str, where: str, fix: str) -> _UrlChoice:
    """An ok choice for url, or a broken one naming where the invalid URL came from and how to fix it."""
    problem = validate_url(url)
    if problem is not None:
        # Kept to show what the file says, but never a password.
        return _UrlChoice(STATUS_BROKEN, without_password(url), url_from, f"invalid URL {where}: {problem}; {fix}")
    return _UrlChoice(STATUS_OK, url, url_from, None)


def _title_from_body(body: str) -> str | None:
    """The first '# ' heading outside code fences, else the first non-empty line."""
    in_fence = False
    first_line = None
    for line in body.split("\n"):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _HEADING_RE.match(line)
        if heading:
            return _clip_title(heading.group(1))
        if first_line is None and line.strip():
            first_line = line
    return _clip_title(first_line)


def _clip_title(text: str | None) -> str | None:
    """Whitespace collapsed to single spaces and cut to TITLE_MAX_CHARS; None if nothing is left."""
    if text is None:
        return None
    return " ".join(text.split())[:TITLE_MAX_CHARS].rstrip() or None


class _TooComplex(Exception):
    """A front-matter value is too big or too deep to copy into Seed.extra."""


def _json_safe(value: Any) -> Any:
    """Copy a YAML value into JSON types: dates become ISO strings, binary base64, sets sorted lists."""
    budget = _MAX_EXTRA_NODES

    def convert(item: Any, depth: int) -> Any:
        nonlocal budget
        budget -= 1
        # A depth limit also stops recursive YAML structures (&a [*a]).
        if budget < 0 or depth > _MAX_EXTRA_DEPTH:
            raise _TooComplex
        if item is None or isinstance(item, (bool, int, str)):
            return item
        if isinstance(item, float):
            # Strict JSON has no NaN or Infinity.
            return item if math.isfinite(item) else str(item)
        if isinstance(item, date):
            return item.isoformat()
        if isinstance(item, bytes):
            return base64.b64encode(item).decode("ascii")
        if isinstance(item, dict):
            return {_json_key(key): convert(val, depth + 1) for key, val in item.items()}
        if isinstance(item, (set, frozenset)):
            return [convert(member, depth + 1) for member in sorted(item, key=str)]
        if isinstance(item, (list, tuple)):
            return [convert(member, depth + 1) for member in item]
        return str(item)

    return convert(value, 0)


def _json_key(key: Any) -> str:
    """A mapping key as JSON object key text."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, date):
        return key.isoformat()
    return str(key)


def _broken_seed(seed_id: str, path: Path, problem: str) -> Seed:
    """A Seed that cannot be used, with the reason."""
    return Seed(
        id=seed_id,
        path=path,
        status=STATUS_BROKEN,
        url=None,
        fetch_url=None,
        title=None,
        date=None,
        fetch_date=None,
        source=None,
        extra={},
        body="",
        problem=_one_line(problem),
        url_from=None,
    )


def _kind(value: Any) -> str:
    """A user-facing name for a YAML value's type."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, (set, frozenset)):
        return "set"
    if isinstance(value, bytes):
        return "binary value"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, date):
        return "date"
    return "text" if isinstance(value, str) else type(value).__name__


def _shorten(text: str, limit: int = 120) -> str:
    """text cut to limit characters with an ellipsis, for quoting user input in messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    """Collapse all whitespace runs (including newlines) so problems print on one line."""
    return " ".join(text.split())

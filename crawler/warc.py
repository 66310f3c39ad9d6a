"""WARC files (ISO 28500): request/response/revisit records written whole, a CDXJ index, records read back.

No Scrapy and no SQLite here: the downloader middleware hands in what went over the wire, the
store keeps where each record landed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import http.client
import json
import os
import re
import secrets
import socket
import zlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import surt
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, DecompressingBufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import __version__
from crawler.errors import CrawlerError

WARC_VERSION = "WARC/1.1"
IDENTICAL_PAYLOAD = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
SERVER_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
FILE_PREFIX = "archive-crawler"
INDEX_NAME = "index.cdxj"
WARC_DIR_NAME = "warc"  # under the archive folder
DEFAULT_ROTATE_BYTES = 1024**3
# Scrapy hands over the body with chunked framing already removed; keeping the header would make
# readers de-chunk a body that is not chunked, so it is dropped from the recorded headers.
DROPPED_RESPONSE_HEADERS = frozenset({"transfer-encoding"})


# Compression is the crawl process's largest CPU cost per new page. Measured on 400 corpus pages
# (146 KB each): level 4 takes 1.4 ms a page for 29.7 KB, zlib's default 6 takes 2.9 ms for 28.3 KB
# (5% smaller), warcio's 9 more still; levels 1-3 save only 0.2 ms more but are 7-18% larger.
GZIP_LEVEL = 4


class GzipWARCWriter(WARCWriter):
    """warcio's WARCWriter, each record its own gzip member, compressed at GZIP_LEVEL."""

    def __init__(self, filebuf: BinaryIO, **kwargs: Any) -> None:
        super().__init__(filebuf, gzip=False, **kwargs)

    def _write_warc_record(self, out: BinaryIO, record: Any) -> None:
        plain = BytesIO()
        super()._write_warc_record(plain, record)
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        out.write(compressor.compress(plain.getvalue()) + compressor.flush())
        out.flush()


class WarcError(CrawlerError):
    """A WARC file cannot be written or read."""

    exit_code = 1


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and the response to it, as they went over the wire."""

    url: str
    method: str
    request_headers: Sequence[tuple[str, str]]
    status: int
    protocol: str
    response_headers: Sequence[tuple[str, str]]
    body: bytes
    ip_address: str | None = None


@dataclass(frozen=True)
class StoredPayload:
    """The response record that holds a URL's last stored payload: what a revisit refers to."""

    uri: str
    date: str
    record_id: str
    digest: str


@dataclass(frozen=True)
class WrittenRecord:
    """Where a response or revisit record landed, and what it says."""

    record_id: str
    record_type: str
    profile: str | None
    target_uri: str
    date: str
    status: int
    mime: str | None
    payload_digest: str | None
    refers_to: str | None
    filename: str
    offset: int
    length: int

    def as_dict(self) -> dict[str, Any]:
        """A plain dict, to travel in Scrapy meta and items."""
        return asdict(self)


def payload_on_disk(warc_dir: Path, record: Mapping[str, Any]) -> bool:
    """True when the WARC file of a stored record (filename, offset, length) is there and long enough to hold it."""
    try:
        size = (Path(warc_dir) / record["filename"]).stat().st_size
    except OSError:  # deleted, moved away or unreadable: the payload is lost either way
        return False
    return size >= (record["offset"] or 0) + (record["length"] or 0)


def payload_digest(body: bytes) -> str:
    """The WARC payload digest of a body: 'sha1:' and the base32 SHA-1, as warcio and pywb write it."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def new_filename(now: datetime | None = None) -> str:
    """A WARC file name no concurrent writer can repeat: UTC time to the microsecond, pid, random."""
    now = now or datetime.now(timezone.utc)
    return f"{FILE_PREFIX}-{now:%Y%m%d%H%M%S%f}-{os.getpid()}-{secrets.token_hex(4)}.warc.gz"


def _warc_date(now: datetime | None = None) -> str:
    """A WARC-Date with microseconds (WARC/1.1)."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _request_line(exchange: Exchange) -> str:
    """The HTTP request line of an exchange (path and query, as sent)."""
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{exchange.method} {target} HTTP/1.1"


def _request_headers(exchange: Exchange) -> list[tuple[str, str]]:
    """Request headers as sent; Host is added by the HTTP client below Scrapy, so it is restored here."""
    headers = list(exchange.request_headers)
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", urlsplit(exchange.url).netloc))
    return headers


def _status_line(exchange: Exchange) -> str:
    """'200 OK': Scrapy keeps no reason phrase, so the standard one is used."""
    return f"{exchange.status} {http.client.responses.get(exchange.status, '')}".strip()


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of a header, by case-insensitive name."""
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def fsync_handle(handle: tuple[int, str]) -> None:
    """fsync and close a descriptor from WarcWriterFiles.sync_handle (run on a thread: it waits for the disk)."""
    fd, path = handle
    try:
        os.fsync(fd)
    except OSError as exc:
        raise WarcError(
            f"cannot write WARC file {path}: {exc.strerror}; check free space in the archive folder"
        ) from exc
    finally:
        os.close(fd)


@dataclass(frozen=True)
class PreparedExchange:
    """An exchange's request and response (or revisit) records, gzipped, not yet in a file."""

    data: bytes
    request_length: int  # the request record comes first; the response or revisit after it
    record: WrittenRecord  # filename and offset still empty


def prepare_exchange(exchange: Exchange, previous: StoredPayload | None = None) -> PreparedExchange:
    """The records of one exchange, gzipped member by member: a request record, then a response record,
    or a revisit record when the payload equals previous (the URL's last stored payload) or the server
    answered 304. No file here: CPU only (most of it in zlib and SHA-1, which release the GIL)."""
    response_headers = [(k, v) for k, v in exchange.response_headers if k.lower() not in DROPPED_RESPONSE_HEADERS]
    http_headers = StatusAndHeaders(_status_line(exchange), response_headers, protocol=exchange.protocol)
    date = _warc_date()
    warc_headers = {"WARC-Date": date}
    if exchange.ip_address:
        warc_headers["WARC-IP-Address"] = exchange.ip_address

    buffer = BytesIO()
    writer = GzipWARCWriter(buffer, warc_version=WARC_VERSION)
    digest = payload_digest(exchange.body)
    profile = refers_to = None
    if exchange.status == 304:
        profile = SERVER_NOT_MODIFIED
        digest = previous.digest if previous else None
        record = writer.create_warc_record(
            exchange.url,
            "revisit",
            http_headers=http_headers,
            warc_headers_dict=dict(warc_headers, **{"WARC-Profile": profile}, **_refers_to(previous)),
        )
    elif previous is not None and previous.digest == digest:
        profile = IDENTICAL_PAYLOAD
        record = writer.create_revisit_record(
            exchange.url,
            digest,
            previous.uri,
            previous.date,
            http_headers=http_headers,
            warc_headers_dict=dict(warc_headers, **{"WARC-Refers-To": previous.record_id}),
        )
    else:
        record = writer.create_warc_record(
            exchange.url,
            "response",
            payload=BytesIO(exchange.body),
            length=len(exchange.body),
            http_headers=http_headers,
            # The payload's digest is known (digest, above): warcio would hash the body once more for it.
            warc_headers_dict=dict(warc_headers, **{"WARC-Payload-Digest": digest}),
        )
    if profile:
        refers_to = previous.record_id if previous else None
    record_id = record.rec_headers.get_header("WARC-Record-ID")

    request = writer.create_warc_record(
        exchange.url,
        "request",
        http_headers=StatusAndHeaders(
            _request_line(exchange), _request_headers(exchange), protocol="", is_http_request=True
        ),
        warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": record_id},
    )
    writer.write_record(request)
    request_length = buffer.tell()
    writer.write_record(record)
    data = buffer.getvalue()
    content_type = _header(response_headers, "content-type")
    written = WrittenRecord(
        record_id=record_id,
        record_type=record.rec_type,
        profile=profile,
        target_uri=exchange.url,
        date=date,
        status=exchange.status,
        # As pywb's indexer reads it: the media type, up to the first ';' or space.
        mime=re.split("[; ]", content_type, maxsplit=1)[0] if content_type else None,
        payload_digest=digest,
        refers_to=refers_to,
        filename="",
        offset=0,
        length=len(data) - request_length,
    )
    return PreparedExchange(data, request_length, written)


class WarcWriterFiles:
    """Writes exchanges into gzipped WARC files under one folder, rotating by size.

    Each exchange (request record + response or revisit record) is gzipped member by member into
    memory, then written with one write, flushed and fsynced: a process killed at any moment
    leaves every file readable up to its last complete record.
    """

    def __init__(
        self,
        directory: Path,
        *,
        operator: str = "",
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        info: Mapping[str, str] | None = None,
        fsync_each: bool = True,
    ):
        self.directory = Path(directory)
        # False: the caller makes writes durable itself, many records to one fsync (sync_handle).
        self.fsync_each = fsync_each
        self.operator = operator
        self.rotate_bytes = rotate_bytes
        self.info = dict(info or {})
        self.file: BinaryIO | None = None
        self.filename: str | None = None
        self.files_written: list[str] = []

    def _open(self) -> None:
        """Start a new file with its warcinfo record."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.filename = new_filename()
            # "x": never append to or replace a file another writer made.
            self.file = open(self.directory / self.filename, "xb")
        except OSError as exc:
            raise WarcError(
                f"cannot create a WARC file in {self.directory}: {exc.strerror}; "
                "check that the archive folder is writable"
            ) from exc
        self.files_written.append(self.filename)
        self._sync_directory()
        info = {
            "software": f"archive-crawler/{__version__} (warcio, Scrapy)",
            "format": "WARC File Format 1.1",
            "conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "operator": self.operator,
            "hostname": socket.gethostname(),
            **self.info,
        }
        buffer = BytesIO()
        writer = GzipWARCWriter(buffer, warc_version=WARC_VERSION)
        writer.write_record(writer.create_warcinfo_record(self.filename, info))
        self._append(buffer.getvalue())

    def _ensure_file(self) -> None:
        """Open a new file when there is none, the current one is full, or it was deleted or moved away."""
        if self.file is None or self.file.tell() >= self.rotate_bytes or self._file_gone():
            self.close()
            self._open()

    def _file_gone(self) -> bool:
        """True when the open file was deleted or moved away: records written to it would be lost with it."""
        # A long-running writer (the cluster's ingest) keeps one file open across runs.
        try:
            return os.stat(self.directory / self.filename).st_ino != os.fstat(self.file.fileno()).st_ino
        except OSError:
            return True

    def _sync_directory(self) -> None:
        """fsync the folder so the new file's name survives a crash too."""
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _append(self, data: bytes) -> int:
        """Write data at the end of the current file in one go, flushed and fsynced; returns its offset."""
        assert self.file is not None
        try:
            offset = self.file.seek(0, os.SEEK_END)
            self.file.write(data)
            self.file.flush()
            if self.fsync_each:
                os.fsync(self.file.fileno())
        except OSError as exc:
            raise WarcError(
                f"cannot write WARC file {self.directory / self.filename}: {exc.strerror}; "
                "check free space in the archive folder"
            ) from exc
        return offset

    def write(self, exchange: Exchange, previous: StoredPayload | None = None) -> WrittenRecord:
        """Archive one exchange: a request record, then a response record, or a revisit record when
        the payload equals the URL's last stored payload (or the server answered 304)."""
        return self.append(prepare_exchange(exchange, previous))

    def append(self, prepared: PreparedExchange) -> WrittenRecord:
        """Write the records of a prepared exchange at the end of the current file; where they landed."""
        self._ensure_file()
        offset = self._append(prepared.data) + prepared.request_length
        return replace(prepared.record, filename=self.filename, offset=offset)

    def write_resource(self, uri: str, mime: str, body: bytes, concurrent_to: str | None = None) -> WrittenRecord:
        """Archive a resource record (a screenshot, target urn:view:<page URL>): no HTTP, just the bytes."""
        self._ensure_file()
        date = _warc_date()
        headers = {"WARC-Date": date}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        buffer = BytesIO()
        writer = GzipWARCWriter(buffer, warc_version=WARC_VERSION)
        record = writer.create_warc_record(
            uri, "resource", payload=BytesIO(body), length=len(body), warc_content_type=mime, warc_headers_dict=headers
        )
        writer.write_record(record)
        data = buffer.getvalue()
        offset = self._append(data)
        return WrittenRecord(
            record_id=record.rec_headers.get_header("WARC-Record-ID"),
            record_type="resource",
            profile=None,
            target_uri=uri,
            date=date,
            status=200,
            mime=mime,
            payload_digest=payload_digest(body),
            refers_to=None,
            filename=self.filename,
            offset=offset,
            length=len(data),
        )

    def sync_handle(self) -> tuple[int, str] | None:
        """A duplicate descriptor of the current file and its path, for an fsync on another thread.

        The duplicate stays valid if the file is rotated and closed meanwhile; the caller closes it.
        """
        if self.file is None:
            return None
        return os.dup(self.file.fileno()), str(self.directory / (self.filename or ""))

    def close(self) -> None:
        """Close the current file, its writes on disk; the next write starts a new one."""
        if self.file is not None:
            if not self.fsync_each:
                try:
                    self.file.flush()
                    os.fsync(self.file.fileno())
                except OSError as exc:
                    raise WarcError(
                        f"cannot write WARC file {self.directory / self.filename}: {exc.strerror}; "
                        "check free space in the archive folder"
                    ) from exc
            self.file.close()
            self.file = None


def _refers_to(previous: StoredPayload | None) -> dict[str, str]:
    """WARC-Refers-To headers pointing at the record that holds the payload, when it is known."""
    if previous is None:
        return {}
    return {
        "WARC-Refers-To": previous.record_id,
        "WARC-Refers-To-Target-URI": previous.uri,
        "WARC-Refers-To-Date": previous.date,
    }


# -- the CDXJ index ----------------------------------------------------------------


def cdx_timestamp(warc_date: str) -> str:
    """The 14-digit timestamp of a WARC-Date (what Wayback URLs use)."""
    return "".join(c for c in warc_date if c.isdigit())[:14]


def cdxj_line(record: Mapping[str, Any]) -> str:
    """One CDXJ line (SURT key, timestamp, JSON) for a response or revisit record, as pywb writes it."""
    response = record["record_type"] == "response"
    resource = record["record_type"] == "resource"  # a screenshot: no HTTP, so no status
    fields = {
        "url": record["target_uri"],
        "mime": (record["mime"] or "unk") if response or resource else "warc/revisit",
    }
    # By pywb's convention only response records show a status; a digest is shown when the record
    # carries one (a server-not-modified revisit does not).
    if response:
        fields["status"] = str(record["status"])
    if record["payload_digest"] and (response or resource or record["profile"] == IDENTICAL_PAYLOAD):
        fields["digest"] = record["payload_digest"].split(":", 1)[-1]
    fields.update(length=str(record["length"]), offset=str(record["offset"]), filename=record["filename"])
    key = surt.surt(record["target_uri"])
    return f"{key} {cdx_timestamp(record['date'])} {json.dumps(fields, ensure_ascii=False)}"


def write_index(
    path: Path,
    records: Iterable[Mapping[str, Any]],
    marks: Mapping[str, int] | None = None,
    merge: bool = False,
) -> int:
    """Write a sorted CDXJ index of the records, replacing the old one atomically; returns the line count.

    With merge, records are the ones written since the index was last written: their lines are merged
    into its sorted lines, and no older record is read or keyed again. marks (the last record id of each
    table the records come from) are kept beside the index for the next merge (index_marks).
    """
    lines = sorted(cdxj_line(r) for r in records)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.open(encoding="utf-8") if merge else contextlib.nullcontext(())
        with old as existing, temporary.open("w", encoding="utf-8") as out:
            for line in heapq.merge((line.rstrip("\n") for line in existing), lines):
                out.write(line + "\n")
                count += 1
        os.replace(temporary, path)
        _write_marks(path, marks)
    except OSError as exc:
        raise WarcError(f"cannot write the CDXJ index {path}: {exc.strerror}; check the archive folder") from exc
    return count


def index_marks(path: Path) -> dict[str, int] | None:
    """The last record id of each table the CDXJ index at path covers; None when it must be written whole.

    None when there is no index or no note of what it covers, or when the index is not the file that
    note was written with (its size or modification time differ: edited, replaced, half-copied).
    """
    try:
        state = json.loads(_marks_path(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("index") != [stat.st_size, stat.st_mtime_ns]:
        return None
    marks = state.get("marks")
    if not isinstance(marks, dict) or not all(isinstance(v, int) for v in marks.values()):
        return None
    return marks


def _marks_path(path: Path) -> Path:
    """Where the note of what the index at path covers is kept (beside it, hidden)."""
    return path.with_name(f".{path.name}.covers.json")


def _write_marks(path: Path, marks: Mapping[str, int] | None) -> None:
    """Note what the index just written covers (or drop the note: the next update then writes it whole)."""
    note = _marks_path(path)
    if marks is None:
        note.unlink(missing_ok=True)
        return
    stat = path.stat()
    temporary = note.with_name(f"{note.name}.{os.getpid()}.tmp")
    temporary.write_text(
        json.dumps({"index": [stat.st_size, stat.st_mtime_ns], "marks": dict(marks)}), encoding="utf-8"
    )
    os.replace(temporary, note)


# -- reading records back ------------------------------------------------------------


@dataclass
class ArchivedResponse:
    """A response or revisit record read back: its WARC headers, HTTP headers and decoded body."""

    warc_headers: StatusAndHeaders
    http_headers: StatusAndHeaders | None
    raw_payload: bytes
    body: bytes

    @property
    def record_type(self) -> str:
        """response or revisit."""
        return self.warc_headers.get_header("WARC-Type")


def read_record(path: Path, offset: int) -> ArchivedResponse:
    """Read the record at offset of a WARC file; body has Content-Encoding and chunking undone."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            for record in ArchiveIterator(fh):
                raw = record.raw_stream.read()
                http_headers = record.http_headers
                encoding = http_headers.get_header("Content-Encoding") if http_headers else None
                return ArchivedResponse(record.rec_headers, http_headers, raw, _decoded(raw, encoding))
    except OSError as exc:
        raise WarcError(f"cannot read WARC file {path}: {exc.strerror}; is the archive folder complete?") from exc
    except ArchiveLoadFailed as exc:
        raise WarcError(f"no readable WARC record at offset {offset} of {path}: {exc}") from exc
    raise WarcError(f"no WARC record at offset {offset} of {path}; the file is shorter than the database says")


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Encoding as a browser would (gzip, deflate, br when brotli is installed)."""
    kind = (encoding or "").strip().lower()
    if not raw or kind not in BufferedReader.get_supported_decompressors():
        return raw
    return DecompressingBufferedReader(BytesIO(raw), decomp_type=kind).read()

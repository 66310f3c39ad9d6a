"""The archived response of a capture, read back from WARC (revisits followed to their payload)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crawler.errors import CrawlerError
from crawler.extract.article import decode_html
from crawler.archive.store import Store
from crawler.warc import WARC_DIR_NAME, ArchivedResponse, read_record


@dataclass
class RawCapture:
    """What a capture's WARC record holds: the response as received, and the record with its payload."""

    record: ArchivedResponse
    payload: ArchivedResponse

    def headers_text(self) -> str:
        """The HTTP status line and headers of this capture's response, as archived."""
        headers = self.record.http_headers
        return headers.to_str().rstrip("\r\n").replace("\r\n", "\n") + "\n" if headers else ""

    def body_text(self) -> str:
        """The payload with its Content-Encoding undone, decoded to text like the extractor does."""
        headers = self.payload.http_headers
        content_type = headers.get_header("Content-Type") if headers else None
        return decode_html(self.payload.body, content_type)


def raw_capture(archive_dir: Path, capture_id: int) -> RawCapture:
    """Read the WARC record of a capture; a revisit is followed to the record holding the payload."""
    store = Store.in_archive(archive_dir, create=False)
    try:
        capture = store.capture(capture_id)
        if capture is None:
            raise CrawlerError(f"no capture {capture_id} in {store.path}; see the captures table for ids")
        if not capture["warc_filename"]:
            why = f"outcome {capture['outcome']}" + (f": {capture['error']}" if capture["error"] else "")
            raise CrawlerError(f"capture {capture_id} has no archived response ({why})")
        warc_dir = Path(archive_dir) / WARC_DIR_NAME
        record = read_record(warc_dir / capture["warc_filename"], capture["warc_offset"])
        payload = record
        if record.record_type == "revisit":
            headers = record.warc_headers
            original = store.warc_record(
                headers.get_header("WARC-Refers-To"),
                headers.get_header("WARC-Refers-To-Target-URI"),
                headers.get_header("WARC-Refers-To-Date"),
            )
            if original is None:
                raise CrawlerError(
                    f"capture {capture_id} is a revisit of a record this archive does not list "
                    f"({headers.get_header('WARC-Refers-To') or 'no WARC-Refers-To'}); try --headers"
                )
            payload = read_record(warc_dir / original["filename"], original["offset"])
    finally:
        store.close()
    return RawCapture(record, payload)

"""`crawler export --wacz`: the chosen captures as one WACZ 1.1.1 file that ReplayWeb.page and pywb open.

The records are copied byte for byte from the archive's WARC files (each record is its own gzip
member, so a copy is a read at the offset the database keeps): the pages' responses, their images,
their screenshots, and the records their revisits stand for. py-wacz (Webrecorder's own tool) then
packages them: the CDXJ index, datapackage.json with SHA-256 hashes, and our pages.jsonl, one line
per version with its title and extracted text.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from warcio.warcwriter import WARCWriter

from crawler import __version__
from crawler.errors import CrawlerError
from crawler.warc import WARC_DIR_NAME, WARC_VERSION

PAGES_FORMAT = "json-pages-1.0"


class ExportError(CrawlerError):
    """The export cannot be made (nothing chosen, py-wacz missing, a WARC file missing)."""

    exit_code = 1


@dataclass
class ExportSummary:
    """What went into the WACZ."""

    path: Path
    records: int
    pages: int
    bytes: int

    def line(self) -> str:
        """The one line printed after an export."""
        return f"wrote {self.path}: {self.pages} pages (versions), {self.records} WARC records, {self.bytes} bytes"


def page_lines(pages: Iterable[Mapping[str, Any]], title: str) -> list[str]:
    """pages.jsonl: a header, then one line per version (URL, WARC timestamp, title, extracted text)."""
    lines = [json.dumps({"format": PAGES_FORMAT, "id": "pages", "title": title, "hasText": True})]
    for page in pages:
        lines.append(
            json.dumps(
                {
                    "id": uuid.uuid5(uuid.NAMESPACE_URL, f"archive-crawler:version:{page['version_id']}").hex,
                    "url": page["url"],
                    "ts": _iso_z(page.get("warc_date") or page["fetched_at"]),
                    "title": page.get("title") or page["seed_id"],
                    "text": page["text"],
                    "seed": page["seed_id"],
                    "version": page["version"],
                },
                ensure_ascii=False,
            )
        )
    return lines


def _iso_z(moment: str) -> str:
    """An ISO 8601 UTC time as WACZ pages want it: ...T..Z."""
    if moment.endswith("Z"):
        return moment
    parsed = datetime.fromisoformat(moment).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def copy_records(warc_dir: Path, records: Sequence[Mapping[str, Any]], out: io.BufferedWriter) -> int:
    """Copy each record's gzip member from the archive's WARC files to out, after a warcinfo record."""
    writer = WARCWriter(out, gzip=True, warc_version=WARC_VERSION)
    writer.write_record(
        writer.create_warcinfo_record(
            "data.warc.gz",
            {
                "software": f"archive-crawler/{__version__} (crawler export --wacz)",
                "format": "WARC File Format 1.1",
                "description": "records copied unchanged from the archive's WARC files",
            },
        )
    )
    handles: dict[str, Any] = {}
    try:
        for record in records:
            name = record["filename"]
            if name not in handles:
                try:
                    handles[name] = open(warc_dir / name, "rb")
                except OSError as exc:
                    raise ExportError(
                        f"cannot read WARC file {warc_dir / name}: {exc.strerror}; is the archive folder complete?"
                    ) from exc
            source = handles[name]
            source.seek(record["offset"])
            data = source.read(record["length"])
            if len(data) != record["length"]:
                raise ExportError(
                    f"WARC file {warc_dir / name} is shorter than the archive says "
                    f"(record {record['record_id']} at offset {record['offset']})"
                )
            out.write(data)
    finally:
        for handle in handles.values():
            handle.close()
    return len(records)


def write_wacz(
    archive_dir: Path,
    output: Path,
    records: Sequence[Mapping[str, Any]],
    pages: Sequence[Mapping[str, Any]],
    title: str,
) -> ExportSummary:
    """Package the records and pages as a WACZ at output (replaced if it exists)."""
    try:
        from wacz.main import main as wacz_main
    except ImportError:
        raise ExportError("crawler export --wacz needs py-wacz: pip install -e '.[wacz]'") from None
    if not records:
        raise ExportError("nothing to export: no captures with WARC records match; check the seed ids and --since")
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="wacz-") as work:
        warc = Path(work) / "data.warc.gz"
        with open(warc, "wb") as out:
            count = copy_records(Path(archive_dir) / WARC_DIR_NAME, records, out)
        pages_file = Path(work) / "pages.jsonl"
        pages_file.write_text("\n".join(page_lines(pages, title)) + "\n", encoding="utf-8")
        partial = output.with_name(f".{output.name}.partial")
        arguments = [
            "create",
            "-o",
            str(partial),
            str(warc),
            "-p",
            str(pages_file),
            "--copy-pages",
            "--hash-type",
            "sha256",
            "--title",
            title,
        ]
        # py-wacz talks on stdout; ours is for data.
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter):
                status = wacz_main(arguments)
        except Exception as exc:  # py-wacz's own failure, reported as one line with its cause
            partial.unlink(missing_ok=True)
            raise ExportError(f"py-wacz could not write {output}: {type(exc).__name__}: {exc}") from exc
        if status:
            partial.unlink(missing_ok=True)
            last = (chatter.getvalue().strip().splitlines() or ["no reason given"])[-1]
            raise ExportError(f"py-wacz could not write {output}: {last}")
        partial.replace(output)
    return ExportSummary(output, count, len(pages), output.stat().st_size)

"""Diffs between any two texts of a seed (original or versions), for `crawler diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from crawler.errors import CrawlerError
from crawler.archive.store import Store
from crawler.timefmt import local_time
from crawler.changes.versions import DIFF_CONTEXT, IGNORED_HUNK, classify_against_original, diff_texts


def _text(store: Store, seed_id: str, which: str, original: str | None) -> tuple[str, str]:
    """The (label, text) named by 'original', 'latest' or a version number."""
    if which == "original":
        if original is None:
            raise CrawlerError(f"seed {seed_id} has no original text to compare with")
        return "original", original
    row = store.latest_version(seed_id) if which == "latest" else None
    if which != "latest":
        try:
            number = int(which)
        except ValueError:
            raise CrawlerError(f"'{which}' is not a version: use 'original', 'latest' or a number") from None
        row = store.version(seed_id, number)
    if row is None:
        if which == "latest":
            raise CrawlerError(f"seed {seed_id} has no version yet: {_last_attempt(store, seed_id)}")
        raise CrawlerError(f"seed {seed_id} has no version {which}; see 'crawler status' for how many it has")
    return f"version {row['version']}", row["text"]


def _last_attempt(store: Store, seed_id: str) -> str:
    """What the seed's last fetch attempt did, and what to do next, for a seed with no version."""
    capture = store.last_capture(seed_id)
    if capture is None:
        return f"it was never fetched; run 'crawler crawl {seed_id}'"
    when = local_time(capture["fetched_at"])
    reason = f": {capture['error']}" if capture.get("error") else ""
    return (
        f"its last attempt ({when}) was {capture['outcome']}{reason}; "
        f"run 'crawler crawl {seed_id}' once the page can be reached"
    )


def seed_diff(
    archive_dir: Path, seed_id: str, base: str = "original", target: str = "latest", word_diff: bool = False
) -> list[str]:
    """Diff lines of a seed's target text against its base text: unified, or inline words with word_diff."""
    store = Store.in_archive(archive_dir, create=False)
    try:
        seed = store.seed(seed_id)
        if seed is None:
            raise CrawlerError(f"no seed {seed_id} in the archive; see 'crawler status'")
        old_label, old = _text(store, seed_id, base, seed["original_text"])
        new_label, new = _text(store, seed_id, target, seed["original_text"])
    finally:
        store.close()
    result = diff_texts(old, new, old_label=old_label, new_label=new_label)
    header = f"{seed_id}: {new_label} against {old_label}, similarity {result.similarity:.3f}"
    if old_label == "original":
        # Against a saved copy, what is kept leads (chrome, wraps and Markdown move the similarity).
        header += f", retained {result.retained:.3f}, change {classify_against_original(result.retained, result.novel)}"
    if not result.diff:
        return [header, "(no differences)"]
    if word_diff:
        return [header, f"--- {old_label}", f"+++ {new_label}", *word_diff_lines(result.ops)]
    return [header, *result.diff.splitlines()]


def _joined(sentences: Sequence[str]) -> str:
    """Sentences as running text: a space after Latin text, none between CJK sentences."""
    out = ""
    for sentence in sentences:
        if out and (out[-1].isascii() or sentence[:1].isascii()):
            out += " "
        out += sentence
    return out


def _inline(op: Mapping[str, Any]) -> str:
    """One changed block as git diff --word-diff=plain writes it: [-old-]{+new+} inside unchanged text."""
    if op.get("words"):
        return "".join(
            f"[-{text}-]" if tag == "delete" else f"{{+{text}+}}" if tag == "insert" else text
            for tag, text in op["words"]
        )
    old, new = _joined(op.get("old") or []), _joined(op.get("new") or [])
    return (f"[-{old}-]" if old else "") + (f"{{+{new}+}}" if new else "")


def word_diff_lines(ops: Sequence[Mapping[str, Any]], context: int = DIFF_CONTEXT) -> list[str]:
    """Stored diff operations as `git diff --word-diff=plain` lines: a hunk header, then text.

    Context sentences around each change are shown as they are; a change that was ignored (a
    counter or time written as prose) gets a hunk of its own marked in its header.
    """
    lines: list[str] = []
    old_at = new_at = 0
    for index, op in enumerate(ops):
        old, new = op.get("old") or [], op.get("new") or []
        if op.get("op") != "equal":
            before = ops[index - 1] if index and ops[index - 1].get("op") == "equal" else None
            after = ops[index + 1] if index + 1 < len(ops) and ops[index + 1].get("op") == "equal" else None
            lead = list((before or {}).get("new") or [])[-context:] if context else []
            trail = list((after or {}).get("new") or [])[:context] if context else []
            suffix = f" {IGNORED_HUNK}" if op.get("ignored") else ""
            lines.append(
                f"@@ -{old_at + 1 - len(lead)},{len(old) + len(lead) + len(trail)} "
                f"+{new_at + 1 - len(lead)},{len(new) + len(lead) + len(trail)} @@{suffix}"
            )
            lines += lead
            lines.append(_inline(op))
            lines += trail
        old_at += len(old)
        new_at += len(new)
    return lines

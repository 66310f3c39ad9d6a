"""Metadata drift: a title, author or publication date that changed between captures (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# The fields archivists watch: silent retitling and re-dating. Keys as in the versions table.
FIELDS = ("title", "author", "published")


@dataclass(frozen=True)
class MetadataChange:
    """One field whose value changed."""

    field: str
    old_value: str | None
    new_value: str | None


def metadata_changes(known: Mapping[str, Any] | None, extracted: Mapping[str, Any]) -> list[MetadataChange]:
    """The fields whose extracted value differs from the known one (none before the first version).

    A value that disappears is not a change: extraction misses a byline or date now and then, so
    only a new, different value is evidence. Whitespace differences are not changes.
    """
    if not known:
        return []
    changes = []
    for name in FIELDS:
        old, new = _norm(known.get(name)), _norm(extracted.get(name))
        if new is not None and new != old:
            changes.append(MetadataChange(name, old, new))
    return changes


def _norm(value: Any) -> str | None:
    """A metadata value with whitespace collapsed; None when empty."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None

"""Version bookkeeping: is a text a new version, and how does it differ from another.

Diffs work on sentences, not characters: each text is split with ``split_sentences`` and
the sentence lists are aligned on each sentence's ``comparison_form``, so width-, spacing-
and case-only differences count as equal, and aligning two long texts costs about as much as
comparing their sentence lists (no character-level quadratic blow-up).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from crawler.textnorm import clean_text, comparison_form, split_sentences, text_sha256

# Sentences of context around each change in the unified diff.
DIFF_CONTEXT = 1


@dataclass(frozen=True)
class DiffResult:
    """How a new text differs from an old one, sentence by sentence."""

    similarity: float  # 2 * matched / (old + new), in characters of comparison form; 1.0 if both empty
    diff: str  # unified diff whose lines are the sentences of the clean texts; "" if equal
    chars_added: int  # characters (of clean text) in inserted sentences, replacements included
    chars_removed: int  # characters (of clean text) in deleted sentences, replacements included
    ops: list  # [{"op": "equal"|"insert"|"delete"|"replace", "old": [...], "new": [...]}]


def is_new_version(new_text: str, latest_sha256: str | None) -> bool:
    """True when there is no latest version or new_text differs from it in comparison form."""
    return latest_sha256 is None or text_sha256(new_text) != latest_sha256


def _sentences(text: str) -> tuple[list[str], list[str]]:
    """The clean sentences of text and their comparison forms, dropping those that fold to nothing."""
    shown: list[str] = []
    keys: list[str] = []
    for sentence in split_sentences(clean_text(text)):
        key = comparison_form(sentence)
        if key:
            shown.append(sentence)
            keys.append(key)
    return shown, keys


def _unified_range(start: int, stop: int) -> str:
    """A hunk range as difflib.unified_diff writes it."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    if length == 0:
        return f"{start},0"  # an empty range names the line before it
    return f"{start + 1},{length}"


def _unified_diff(
    matcher: difflib.SequenceMatcher, old: list[str], new: list[str], old_label: str, new_label: str
) -> str:
    # difflib.unified_diff would re-align the sentences as raw strings, so a width-only
    # change would show up as an edit; this writes the same format from our own alignment.
    lines: list[str] = []
    for group in matcher.get_grouped_opcodes(DIFF_CONTEXT):
        if not lines:
            lines += [f"--- {old_label}", f"+++ {new_label}"]
        first, last = group[0], group[-1]
        lines.append(
            f"@@ -{_unified_range(first[1], last[2])} +{_unified_range(first[3], last[4])} @@"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + s for s in old[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                lines += ["-" + s for s in old[i1:i2]]
            if tag in ("replace", "insert"):
                lines += ["+" + s for s in new[j1:j2]]
    return "\n".join(lines)


def diff_texts(old: str, new: str, old_label: str = "original", new_label: str = "new") -> DiffResult:
    """Compare two texts sentence by sentence, ignoring width, spacing and case differences."""
    old_shown, old_keys = _sentences(old)
    new_shown, new_keys = _sentences(new)
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    opcodes = matcher.get_opcodes()

    matched = added = removed = 0
    ops = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            matched += sum(len(key) for key in old_keys[i1:i2])
        else:
            removed += sum(len(s) for s in old_shown[i1:i2])
            added += sum(len(s) for s in new_shown[j1:j2])
        ops.append({"op": tag, "old": old_shown[i1:i2], "new": new_shown[j1:j2]})

    total = sum(map(len, old_keys)) + sum(map(len, new_keys))
    return DiffResult(
        similarity=2 * matched / total if total else 1.0,
        diff=_unified_diff(matcher, old_shown, new_shown, old_label, new_label),
        chars_added=added,
        chars_removed=removed,
        ops=ops,
    )


def similarity(a: str, b: str) -> float:
    """Sentence-level similarity of two texts in [0, 1] (1.0 when both are empty)."""
    return diff_texts(a, b).similarity

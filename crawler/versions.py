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


def _aligned_opcodes(old_keys: list[str], new_keys: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Sentence alignment where blocks that differ only in where sentences break count as equal."""
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    codes: list[tuple[str, int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        # A saved copy and a fresh extraction often break the same words into lines differently
        # (a heading joined to its paragraph, a wrapped line): same characters, not an edit.
        if tag == "replace" and "".join(old_keys[i1:i2]) == "".join(new_keys[j1:j2]):
            tag = "equal"
        if codes and tag == "equal" and codes[-1][0] == "equal":
            _, a1, _, b1, _ = codes.pop()
            i1, j1 = a1, b1
        codes.append((tag, i1, i2, j1, j2))
    return codes


def _grouped(codes: list[tuple[str, int, int, int, int]], n: int) -> list[list[tuple[str, int, int, int, int]]]:
    """Hunks of changes with n sentences of context (difflib's grouping, for blocks of unequal length)."""
    codes = list(codes)
    if not any(tag != "equal" for tag, *_ in codes):
        return []
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    groups, group = [], []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and max(i2 - i1, j2 - j1) > 2 * n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return groups


def _unified_diff(
    codes: list[tuple[str, int, int, int, int]], old: list[str], new: list[str], old_label: str, new_label: str
) -> str:
    # difflib.unified_diff would re-align the sentences as raw strings, so a width-only
    # change would show up as an edit; this writes the same format from our own alignment.
    lines: list[str] = []
    for group in _grouped(codes, DIFF_CONTEXT):
        if not lines:
            lines += [f"--- {old_label}", f"+++ {new_label}"]
        first, last = group[0], group[-1]
        lines.append(
            f"@@ -{_unified_range(first[1], last[2])} +{_unified_range(first[3], last[4])} @@"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + s for s in new[j1:j2]]
                continue
            if tag in ("replace", "delete"):
                lines += ["-" + s for s in old[i1:i2]]
            if tag in ("replace", "insert"):
                lines += ["+" + s for s in new[j1:j2]]
    return "\n".join(lines)


# Above this many characters a replaced block gets no character-level credit (keeps diffs linear-ish).
PARTIAL_CREDIT_LIMIT = 4000


def _partial_match(old: str, new: str) -> int:
    """Characters two replaced blocks still share, so a one-word edit is not a whole-sentence loss."""
    if len(old) + len(new) > PARTIAL_CREDIT_LIMIT:
        return 0
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def diff_texts(old: str, new: str, old_label: str = "original", new_label: str = "new") -> DiffResult:
    """Compare two texts sentence by sentence, ignoring width, spacing, case and line-break differences."""
    old_shown, old_keys = _sentences(old)
    new_shown, new_keys = _sentences(new)
    codes = _aligned_opcodes(old_keys, new_keys)

    matched = added = removed = 0
    ops = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal":
            matched += sum(len(key) for key in new_keys[j1:j2])
        else:
            removed += sum(len(s) for s in old_shown[i1:i2])
            added += sum(len(s) for s in new_shown[j1:j2])
            if tag == "replace":
                matched += _partial_match("".join(old_keys[i1:i2]), "".join(new_keys[j1:j2]))
        ops.append({"op": tag, "old": old_shown[i1:i2], "new": new_shown[j1:j2]})

    total = sum(map(len, old_keys)) + sum(map(len, new_keys))
    return DiffResult(
        similarity=min(1.0, 2 * matched / total) if total else 1.0,
        diff=_unified_diff(codes, old_shown, new_shown, old_label, new_label),
        chars_added=added,
        chars_removed=removed,
        ops=ops,
    )


def similarity(a: str, b: str) -> float:
    """Sentence-level similarity of two texts in [0, 1] (1.0 when both are empty)."""
    return diff_texts(a, b).similarity

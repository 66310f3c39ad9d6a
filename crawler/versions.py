"""Version bookkeeping: is a text a new version, and how does it differ from another.

Diffs work on sentences, not characters: each text is split with ``split_sentences`` and
the sentence lists are aligned on each sentence's comparison key (its ``comparison_form`` with
page noise removed, see ``crawler.noise``), so width-, spacing-, case- and counter-only
differences count as equal, and aligning two long texts costs about as much as comparing their
sentence lists (no character-level quadratic blow-up). Within a replaced sentence of Latin
script, words are aligned too, for display.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from crawler.noise import BUILTIN_NOISE, Noise
from crawler.textnorm import clean_text, fold_clean, split_sentences

# Sentences of context around each change in the unified diff.
DIFF_CONTEXT = 1

# Change classes of a diff, from its similarity and how many sentences it touched (one place:
# docs/change-detection.md explains them). Against a long article one rewritten sentence scores
# about 0.99, a corrected paragraph 0.9, a third of the text cut or replaced about 0.8, and text
# sharing less than half its characters with the old one is no longer the same article.
MINOR_SIMILARITY = 0.98  # minor: at least this similar...
MINOR_MAX_SENTENCES = 1  # ...and at most this many sentences touched (a typo, a word, one sentence)
EDIT_SIMILARITY = 0.85  # edit: at least this similar (a few sentences or a paragraph)
MAJOR_SIMILARITY = 0.5  # major: at least this similar (sections added, cut or rewritten); below: rewrite
CHANGE_CLASSES = ("minor", "edit", "major", "rewrite")


@dataclass(frozen=True)
class DiffResult:
    """How a new text differs from an old one, sentence by sentence."""

    similarity: float  # 2 * matched / (old + new), in characters of comparison form; 1.0 if both empty
    diff: str  # unified diff whose lines are the sentences of the clean texts; "" if equal
    chars_added: int  # characters (of clean text) in inserted sentences, replacements included
    chars_removed: int  # characters (of clean text) in deleted sentences, replacements included
    # [{"op": "equal"|"insert"|"delete"|"replace", "old": [...], "new": [...]}]; a replace of
    # Latin-script sentences may add "words": [["equal"|"delete"|"insert", text], ...].
    ops: list
    retained: float = 1.0  # share of the old text's sentences (by comparison key) still in the new one
    sentences_changed: int = 0  # per changed block, the larger of its old and new sentence counts
    change: str = "minor"  # minor | edit | major | rewrite (classify_change)


@dataclass(frozen=True)
class Sentences:
    """A text split for comparison: its clean sentences and their comparison keys (noise removed).

    Sentences that are only noise (a read count, a timestamp line) are left out of both lists.
    """

    shown: list[str]
    keys: list[str]
    sha256: str  # of the keys, a line per line of text: equals textnorm.text_sha256 when there is no noise


def sentences(text: str, noise: Noise | None = BUILTIN_NOISE) -> Sentences:
    """Split text for comparison, dropping noise from each sentence's key (noise=None keeps it all)."""
    shown: list[str] = []
    keys: list[str] = []
    lines: list[str] = []
    strip = noise.strip if noise is not None else None
    for line in clean_text(text).splitlines():
        start = len(keys)
        for sentence in split_sentences(line):
            kept = strip(sentence) if strip is not None else sentence
            key = fold_clean(kept) if kept else ""  # sentences of clean text are clean
            if key:
                shown.append(sentence)
                keys.append(key)
        if len(keys) > start:
            # Sentence keys of a line joined are the line's comparison form (boundaries are punctuation),
            # so a text without noise hashes as it always did and older archives keep matching.
            lines.append("".join(keys[start:]))
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return Sentences(shown, keys, digest)


def version_sha256(text: str, noise: Noise | None = BUILTIN_NOISE) -> str:
    """Hex SHA-256 identifying a text as a version: comparison form without noise."""
    return sentences(text, noise).sha256


def is_new_version(new_text: str, latest_sha256: str | None, noise: Noise | None = BUILTIN_NOISE) -> bool:
    """True when there is no latest version or new_text differs from it once folded and denoised."""
    return latest_sha256 is None or version_sha256(new_text, noise) != latest_sha256


def classify_change(similarity: float, sentences_changed: int) -> str:
    """The change class of a diff: minor, edit, major or rewrite (see the thresholds above)."""
    if similarity >= MINOR_SIMILARITY and sentences_changed <= MINOR_MAX_SENTENCES:
        return "minor"
    if similarity >= EDIT_SIMILARITY:
        return "edit"
    if similarity >= MAJOR_SIMILARITY:
        return "major"
    return "rewrite"


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


# Word-level operations: only for replaced blocks of Latin script, at most this many tokens a side
# (a bound on the quadratic worst case), and only when the two sides still share most of their
# words; a sentence rewritten from scratch reads better as a whole deletion and insertion.
WORD_DIFF_MAX_TOKENS = 400
WORD_DIFF_MIN_RATIO = 0.5
# Words, runs of spaces, and each other character on its own: a word-level edit never splits a word.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_CJK_TEXT = re.compile(r"[\u2e80-\u9fff\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003ffff]")


def _is_latin(text: str) -> bool:
    """True when text is (almost) free of CJK characters: Chinese and Japanese are diffed by sentence."""
    return len(_CJK_TEXT.findall(text)) * 10 <= len(text)


def word_ops(old: str, new: str) -> list[list[str]] | None:
    """[[tag, text], ...] turning old into new word by word (tags equal, delete, insert), or None.

    None when the texts are too long or share too few words for a word diff to help. Joining
    the equal and delete texts gives old; joining the equal and insert texts gives new.
    """
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    if len(a) > WORD_DIFF_MAX_TOKENS or len(b) > WORD_DIFF_MAX_TOKENS:
        return None
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < WORD_DIFF_MIN_RATIO:
        return None
    out: list[list[str]] = []

    def add(tag: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == tag:
            out[-1][1] += text
        else:
            out.append([tag, text])

    codes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        old_part, new_part = "".join(a[i1:i2]), "".join(b[j1:j2])
        between_changes = 0 < index < len(codes) - 1
        if tag == "equal" and between_changes and not old_part.strip():
            # A lone space between two changed words belongs to the change: "old red" -> "new blue"
            # reads as one replacement, not two with a space kept between them.
            tag = "replace"
        if tag == "equal":
            add("equal", old_part)
            continue
        # Deletions before insertions within a changed stretch, merged across its parts.
        if out and out[-1][0] == "insert" and old_part:
            inserted = out.pop()
            add("delete", old_part)
            add("insert", inserted[1] + new_part)
        else:
            add("delete", old_part)
            add("insert", new_part)
    return out


def _join_sentences(items: list[str]) -> str:
    """Sentences of one block as running text."""
    return " ".join(items)


def _retained(codes: list[tuple[str, int, int, int, int]], old_keys: list[str], new_keys: list[str]) -> float:
    """Share of old sentences whose key is still in the new text (moved sentences count as kept)."""
    if not old_keys:
        return 1.0
    kept = 0
    old_left: list[str] = []
    new_left: Counter[str] = Counter()
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal":
            kept += i2 - i1
        else:
            old_left.extend(old_keys[i1:i2])
            new_left.update(new_keys[j1:j2])
    for key in old_left:
        if new_left[key] > 0:
            new_left[key] -= 1
            kept += 1
    return kept / len(old_keys)


def diff_texts(
    old: str | Sentences,
    new: str | Sentences,
    old_label: str = "original",
    new_label: str = "new",
    noise: Noise | None = BUILTIN_NOISE,
) -> DiffResult:
    """Compare two texts sentence by sentence, ignoring width, spacing, case, line breaks and noise.

    Texts already split with ``sentences`` are used as they are (noise is then not applied again).
    """
    old_s = old if isinstance(old, Sentences) else sentences(old, noise)
    new_s = new if isinstance(new, Sentences) else sentences(new, noise)
    old_shown, old_keys, new_shown, new_keys = old_s.shown, old_s.keys, new_s.shown, new_s.keys
    codes = _aligned_opcodes(old_keys, new_keys)

    matched = added = removed = changed = 0
    ops = []
    for tag, i1, i2, j1, j2 in codes:
        op = {"op": tag, "old": old_shown[i1:i2], "new": new_shown[j1:j2]}
        if tag == "equal":
            matched += sum(len(key) for key in new_keys[j1:j2])
        else:
            removed += sum(len(s) for s in old_shown[i1:i2])
            added += sum(len(s) for s in new_shown[j1:j2])
            changed += max(i2 - i1, j2 - j1)
            if tag == "replace":
                matched += _partial_match("".join(old_keys[i1:i2]), "".join(new_keys[j1:j2]))
                old_text, new_text = _join_sentences(op["old"]), _join_sentences(op["new"])
                if _is_latin(old_text) and _is_latin(new_text):
                    words = word_ops(old_text, new_text)
                    if words is not None:
                        op["words"] = words
        ops.append(op)

    total = sum(map(len, old_keys)) + sum(map(len, new_keys))
    score = min(1.0, 2 * matched / total) if total else 1.0
    return DiffResult(
        similarity=score,
        diff=_unified_diff(codes, old_shown, new_shown, old_label, new_label),
        chars_added=added,
        chars_removed=removed,
        ops=ops,
        retained=_retained(codes, old_keys, new_keys),
        sentences_changed=changed,
        change=classify_change(score, changed),
    )


def similarity(a: str, b: str) -> float:
    """Sentence-level similarity of two texts in [0, 1] (1.0 when both are empty)."""
    return diff_texts(a, b).similarity

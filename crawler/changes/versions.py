"""Version bookkeeping: is a text a new version, and how does it differ from another.

Diffs work on sentences, not characters: each text is split with ``split_sentences`` and
the sentence lists are aligned on each sentence's comparison key (its ``comparison_form`` with
page noise removed, see ``crawler.changes.noise``), so width-, spacing-, case- and counter-only
differences count as equal, and aligning two long texts costs about as much as comparing their
sentence lists (no character-level quadratic blow-up). Within replaced sentences, words (Latin
script) and characters (Chinese, Japanese, Korean) are aligned too, for display. A sentence whose
only change is a counter or a time written as prose (``crawler.changes.volatile``) is an *ignored* change:
shown, but not counted.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import zlib
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate, compress

from crawler.changes.noise import BUILTIN_NOISE, Noise
from crawler.changes.normalise import CJK_CLASS, clean_text, fold_clean, split_sentences
from crawler.changes.volatile import volatile_change

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

# An alignment step: (tag, old start, old stop, new start, new stop), as difflib writes opcodes.
Code = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class DiffResult:
    """How a new text differs from an old one, sentence by sentence."""

    similarity: float  # 2 * matched / (old + new), in characters of comparison form; 1.0 if both empty
    diff: str  # unified diff whose lines are the sentences of the clean texts; "" if equal
    chars_added: int  # characters (of clean text) in inserted sentences, replacements included
    chars_removed: int  # characters (of clean text) in deleted sentences, replacements included
    # [{"op": "equal"|"insert"|"delete"|"replace", "old": [...], "new": [...]}]; a replace may add
    # "words": [["equal"|"delete"|"insert", text], ...] (words, or characters for CJK) and
    # "ignored": "volatile" when its only change is a counter or time written as prose.
    ops: list
    # Share of the old text's sentences (by comparison key) still in the new one: aligned, moved, or
    # found inside it (a hard-wrapped line); page chrome not found is not counted.
    retained: float = 1.0
    novel: float = 0.0  # share of the new text's characters (chrome aside) found nowhere in the old one
    sentences_changed: int = 0  # per changed block, the larger of its old and new sentence counts
    change: str = "minor"  # minor | edit | major | rewrite (classify_change)


@dataclass(frozen=True)
class Sentences:
    """A text split for comparison: its clean sentences and their comparison keys (noise removed).

    Sentences that are only noise (a read count, a timestamp line) are left out of both lists.
    """

    shown: list[str]
    keys: list[str]
    sha256: str  # of the keys, a line per line of text: equals normalise.text_sha256 when there is no noise


def sentences(text: str, noise: Noise | None = BUILTIN_NOISE) -> Sentences:
    """Split text for comparison, dropping noise from each sentence's key (noise=None keeps it all)."""
    shown: list[str] = []
    keys: list[str] = []
    lines: list[str] = []
    strip = noise.strip if noise is not None else None
    for line in clean_text(text).splitlines():
        line_keys: list[str] = []
        for sentence in split_sentences(line):
            kept = strip(sentence) if strip is not None else sentence
            key = fold_clean(kept) if kept else ""  # sentences of clean text are clean
            if not key:
                continue
            line_keys.append(key)
            if len(sentence) <= LONG_SENTENCE:
                shown.append(sentence)
                keys.append(key)
                continue
            # Aligned as one, a one-word edit in a 9 MB paragraph without a full stop was a total
            # rewrite (similarity 0, the whole text twice in the diff): aligned in pieces, it is one piece.
            for piece in long_sentence_pieces(sentence):
                kept = strip(piece) if strip is not None else piece
                piece_key = fold_clean(kept) if kept else ""
                if piece_key:
                    shown.append(piece)
                    keys.append(piece_key)
        if line_keys:
            # Sentence keys of a line joined are the line's comparison form (boundaries are punctuation),
            # so a text without noise hashes as it always did and older archives keep matching; the
            # pieces of long sentences only serve the alignment.
            lines.append("".join(line_keys))
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


def classify_against_original(retained: float, novel: float) -> str:
    """The change class of a version against the seed's original: what is kept leads, what is new follows.

    A saved copy differs from a fresh extraction in chrome, hard wraps and Markdown, which move the
    similarity but not what a reader cares about here: is the text they saved still there.
    """
    if retained >= MINOR_SIMILARITY and novel <= 1 - MINOR_SIMILARITY:
        return "minor"
    if retained >= EDIT_SIMILARITY and novel <= 1 - EDIT_SIMILARITY:
        return "edit"
    if retained >= MAJOR_SIMILARITY:
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


# The hunk header suffix of an ignored change in the unified diff (git allows text after "@@").
IGNORED_HUNK = "ignored: a counter or time written in the text"


def _unified_diff(
    codes: list[Code],
    old: list[str],
    new: list[str],
    old_label: str,
    new_label: str,
    ignored: frozenset[int] = frozenset(),
) -> str:
    # difflib.unified_diff would re-align the sentences as raw strings, so a width-only
    # change would show up as an edit; this writes the same format from our own alignment.
    # Ignored changes (indexes into codes) get hunks of their own, marked in the header, so a
    # reader sees them without taking them for edits.
    counted = [("equal", *code[1:]) if index in ignored else code for index, code in enumerate(codes)]
    hunks: list[tuple[int, list[str]]] = []
    for group in _grouped(counted, DIFF_CONTEXT):
        first, last = group[0], group[-1]
        lines = [f"@@ -{_unified_range(first[1], last[2])} +{_unified_range(first[3], last[4])} @@"]
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [" " + s for s in new[j1:j2]]
                continue
            if tag in ("replace", "delete"):
                lines += ["-" + s for s in old[i1:i2]]
            if tag in ("replace", "insert"):
                lines += ["+" + s for s in new[j1:j2]]
        hunks.append((first[1], lines))
    for index in sorted(ignored):
        _, i1, i2, j1, j2 = codes[index]
        header = f"@@ -{_unified_range(i1, i2)} +{_unified_range(j1, j2)} @@ {IGNORED_HUNK}"
        hunks.append((i1, [header, *("-" + s for s in old[i1:i2]), *("+" + s for s in new[j1:j2])]))
    if not hunks:
        return ""
    hunks.sort(key=lambda hunk: hunk[0])
    return "\n".join([f"--- {old_label}", f"+++ {new_label}", *(line for _, lines in hunks for line in lines)])


def _split_volatile(codes: list[Code], old: list[str], new: list[str]) -> tuple[list[Code], frozenset[int]]:
    """Codes with each counter or time change written as prose as a replace of its own, and their indexes.

    A replaced block of as many new sentences as old ones is compared pair by pair: pairs whose only
    change is volatile (crawler.changes.volatile) become ignored replaces; runs of other pairs stay together.
    """
    out: list[Code] = []
    ignored: set[int] = set()
    for code in codes:
        tag, i1, i2, j1, j2 = code
        if tag != "replace" or i2 - i1 != j2 - j1:
            out.append(code)
            continue
        flags = [volatile_change(old[i1 + k], new[j1 + k]) for k in range(i2 - i1)]
        if not any(flags):
            out.append(code)
            continue
        k = 0
        while k < len(flags):
            end = k + 1
            while end < len(flags) and not flags[k] and not flags[end]:
                end += 1
            if flags[k]:
                ignored.add(len(out))
            out.append(("replace", i1 + k, i1 + end, j1 + k, j1 + end))
            k = end
    return out, frozenset(ignored)


def ignorable_changes(old: Sentences, new: Sentences) -> list[dict[str, str]] | None:
    """The changed sentence pairs when every change from old to new is an ignored one, else None.

    None as soon as one change is a real edit, and when nothing was ignored (texts that differ only in
    where sentences or lines break stay what they were: a new version).
    """
    codes, ignored = _split_volatile(_aligned_opcodes(old.keys, new.keys), old.shown, new.shown)
    pairs: list[dict[str, str]] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag == "equal":
            continue
        if index not in ignored:
            return None
        pairs += [{"old": a, "new": b} for a, b in zip(old.shown[i1:i2], new.shown[j1:j2])]
    return pairs or None


# Above this many characters a replaced block gets no character-level credit (keeps diffs linear-ish).
PARTIAL_CREDIT_LIMIT = 4000


def _partial_match(old: str, new: str) -> int:
    """Characters two replaced blocks still share, so a one-word edit is not a whole-sentence loss."""
    if len(old) + len(new) > PARTIAL_CREDIT_LIMIT:
        return 0
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


# Word-level operations inside replaced blocks: at most this many tokens a side (a bound on the
# quadratic worst case), and only when the two sides still share most of their tokens; a sentence
# rewritten from scratch reads better as a whole deletion and insertion.
WORD_DIFF_MAX_TOKENS = 400
WORD_DIFF_MIN_RATIO = 0.5
# Tokens: each CJK character on its own (Chinese and Japanese have no spaces between words, and a
# censor's edit is often one or two characters), Latin words, runs of spaces, and each other
# character on its own: a word-level edit never splits a Latin word, nor a number ("12,345", "3.4").
_TOKEN = re.compile(f"\\d+(?:[.,]\\d+)*|[{CJK_CLASS}]|[^\\W{CJK_CLASS}]+|\\s+|[^\\w\\s]")


# A sentence longer than this many characters is aligned in pieces of PIECE_MIN_CHARS to
# PIECE_MAX_CHARS, cut after tokens (a word and its spaces, a CJK character) whose CRC-32 is 0 mod
# PIECE_CUT_EVERY: where the text itself says, so an edit moves no cut but in its own piece, and the
# pieces stay short enough for word-level credit (PARTIAL_CREDIT_LIMIT).
LONG_SENTENCE = 2000
PIECE_MIN_CHARS = 200
PIECE_MAX_CHARS = 1500
PIECE_CUT_EVERY = 64
_PIECE_TOKEN = re.compile(f"[{CJK_CLASS}]|[^\\s{CJK_CLASS}]+\\s*|\\s+")


def long_sentence_pieces(sentence: str) -> list[str]:
    """A sentence over LONG_SENTENCE characters in content-defined pieces (itself when shorter)."""
    if len(sentence) <= LONG_SENTENCE:
        return [sentence]
    tokens = _PIECE_TOKEN.findall(sentence)
    # Per distinct token, not per token: a 9 MB paragraph has 1.5 million tokens but a few thousand words.
    cutters = {t for t in set(tokens) if zlib.crc32(t.encode("utf-8")) % PIECE_CUT_EVERY == 0}
    ends = list(accumulate(map(len, tokens)))  # where each token ends
    out: list[str] = []
    start = 0
    for index in compress(range(len(tokens)), map(cutters.__contains__, tokens)):
        end = ends[index]
        while end - start > PIECE_MAX_CHARS:  # no cut for that long: one at the last token end that fits
            start = _forced_cut(sentence, ends, start, out)
        if end - start >= PIECE_MIN_CHARS:
            out.append(sentence[start:end])
            start = end
    while len(sentence) - start > PIECE_MAX_CHARS:
        start = _forced_cut(sentence, ends, start, out)
    out.append(sentence[start:])
    return [piece.strip() for piece in out if piece.strip()]


def _forced_cut(sentence: str, ends: list[int], start: int, out: list[str]) -> int:
    """Cut a piece of at most PIECE_MAX_CHARS at the last token end that fits (mid-token when none does)."""
    index = bisect_right(ends, start + PIECE_MAX_CHARS) - 1
    cut = ends[index] if index >= 0 and ends[index] > start else start + PIECE_MAX_CHARS
    out.append(sentence[start:cut])
    return cut


def word_ops(old: str, new: str) -> list[list[str]] | None:
    """[[tag, text], ...] turning old into new word by word (CJK: character by character), or None.

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
    """Sentences of one block as running text: a space after Latin text, none after CJK."""
    out = ""
    for item in items:
        if out and (out[-1].isascii() or item[:1].isascii()):
            out += " "
        out += item
    return out


# Against the original, a sentence whose key is at least this long counts as found when it occurs
# anywhere inside the other text: a line the saved copy hard-wrapped, or split differently, is kept.
FOUND_INSIDE_MIN = 4
# Characters of the other text those searches may read in all (a search reads it whole): about a second.
FOUND_INSIDE_BUDGET = 500_000_000
# Page chrome a saved copy (or a capture) carried: a line not found in the other text, without
# sentence-final punctuation and at most this long ("Share this article", "首页 > 新闻", "Advertisement");
# in the runs before the first and after the last kept sentence, up to the longer limit.
CHROME_MAX_CHARS = 40
EDGE_CHROME_MAX_CHARS = 120
_SENTENCE_END = tuple("。！？.!?…\"'”’」』）)")


def _chrome(key: str, at_edge: bool) -> bool:
    """True when an unmatched sentence looks like page chrome rather than article text."""
    limit = EDGE_CHROME_MAX_CHARS if at_edge else CHROME_MAX_CHARS
    return len(key) <= limit and not key.endswith(_SENTENCE_END)


def _kept(
    codes: list[Code], keys: list[str], other_keys: list[str], side: int, ignored: frozenset[int]
) -> tuple[int, int, int, int]:
    """(sentences kept, sentences counted, characters kept, characters counted) of one side.

    side 1 measures the old text (codes' i1:i2), side 3 the new one (j1:j2). A sentence is kept when
    aligned as equal (or an ignored change), moved, or found inside the other text; page chrome not
    found in the other text is not counted at all.
    """
    if not keys:
        return 0, 0, 0, 0
    kept = [False] * len(keys)
    other_left: Counter[str] = Counter()
    for index, code in enumerate(codes):
        start, stop = code[side], code[side + 1]
        if code[0] == "equal" or index in ignored:
            kept[start:stop] = [True] * (stop - start)
        else:
            o_start, o_stop = code[4 - side], code[5 - side]
            other_left.update(other_keys[o_start:o_stop])
    other_text = "".join(other_keys)
    # Each search reads the other text: bounded, or a rewritten 9 MB page (14,000 pieces, each searched
    # in 9 MB) took minutes. Past the budget an unaligned sentence counts as not found.
    searches_left = FOUND_INSIDE_BUDGET // max(len(other_text), 1)
    for i, key in enumerate(keys):
        if kept[i]:
            continue
        if other_left[key] > 0:
            other_left[key] -= 1
            kept[i] = True
        elif len(key) >= FOUND_INSIDE_MIN and searches_left > 0:
            searches_left -= 1
            kept[i] = key in other_text
    first = kept.index(True) if True in kept else len(keys)
    last = len(keys) - 1 - kept[::-1].index(True) if True in kept else -1
    n_kept = n_counted = chars_kept = chars_counted = 0
    for i, key in enumerate(keys):
        if not kept[i] and _chrome(key, i < first or i > last):
            continue
        n_counted += 1
        chars_counted += len(key)
        if kept[i]:
            n_kept += 1
            chars_kept += len(key)
    return n_kept, n_counted, chars_kept, chars_counted


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
    codes, ignored = _split_volatile(_aligned_opcodes(old_keys, new_keys), old_shown, new_shown)

    matched = added = removed = changed = 0
    ops = []
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        op = {"op": tag, "old": old_shown[i1:i2], "new": new_shown[j1:j2]}
        if tag == "equal":
            matched += sum(len(key) for key in new_keys[j1:j2])
        elif index in ignored:
            # A counter that moved is not an edit: counted as kept, shown as ignored.
            op["ignored"] = "volatile"
            matched += sum(len(key) for key in new_keys[j1:j2])
        else:
            removed += sum(len(s) for s in old_shown[i1:i2])
            added += sum(len(s) for s in new_shown[j1:j2])
            changed += max(i2 - i1, j2 - j1)
        if tag == "replace":
            if index not in ignored:
                matched += _partial_match("".join(old_keys[i1:i2]), "".join(new_keys[j1:j2]))
            words = word_ops(_join_sentences(op["old"]), _join_sentences(op["new"]))
            if words is not None:
                op["words"] = words
        ops.append(op)

    total = sum(map(len, old_keys)) + sum(map(len, new_keys))
    score = min(1.0, 2 * matched / total) if total else 1.0
    n_kept, n_counted, _, _ = _kept(codes, old_keys, new_keys, 1, ignored)
    _, _, chars_found, chars_counted = _kept(codes, new_keys, old_keys, 3, ignored)
    return DiffResult(
        similarity=score,
        diff=_unified_diff(codes, old_shown, new_shown, old_label, new_label, ignored),
        chars_added=added,
        chars_removed=removed,
        ops=ops,
        retained=n_kept / n_counted if n_counted else 1.0,
        novel=1 - chars_found / chars_counted if chars_counted else 0.0,
        sentences_changed=changed,
        change=classify_change(score, changed),
    )


# The diff stored for a version (its unified text, and its operations) is cut at about this many
# characters: a rewritten 9 MB page would otherwise store it twice over. `crawler diff` recomputes
# the whole diff from the texts.
MAX_STORED_DIFF_CHARS = 1_000_000


def bounded_diff_text(diff: str, limit: int = MAX_STORED_DIFF_CHARS) -> str:
    """A unified diff cut at a line end within limit characters, with a last line saying how much is left out."""
    if len(diff) <= limit:
        return diff
    cut = diff.rfind("\n", 0, limit)
    cut = cut if cut > 0 else limit
    # "\" lines are notes in the unified format ("\ No newline at end of file"): patch tools skip them.
    return diff[:cut] + (
        f"\n\\ diff cut after {cut} characters: {len(diff) - cut} more not stored; 'crawler diff' shows all of it"
    )


def bounded_ops(ops: list, limit: int = MAX_STORED_DIFF_CHARS) -> list:
    """Diff operations within about limit characters: unchanged runs kept as their first and last sentence
    and a count ("skipped"), changed sentences past the budget left out with a count ("cut")."""
    if _ops_chars(ops) <= limit:
        return ops
    out = []
    budget = limit
    for op in ops:
        if op["op"] == "equal":
            new = op["new"]
            if budget <= 0:
                op = {"op": "equal", "old": [], "new": [], "skipped": len(new)}
            elif len(new) > 2:
                op = {
                    "op": "equal",
                    "old": op["old"][:1] + op["old"][-1:],
                    "new": new[:1] + new[-1:],
                    "skipped": len(new) - 2,
                }
            budget -= _ops_chars([op])
            out.append(op)
            continue
        op = dict(op)
        if op.get("words") and _ops_chars([{"words": op["words"]}]) > budget:
            del op["words"]
        cut = 0
        for side in ("old", "new"):
            kept = []
            for sentence in op[side]:
                if len(sentence) > budget:
                    break
                budget -= len(sentence)
                kept.append(sentence)
            cut += len(op[side]) - len(kept)
            op[side] = kept
        if cut:
            op["cut"] = cut
        budget -= _ops_chars([{"words": op.get("words") or []}])
        out.append(op)
    return out


def _ops_chars(ops: list) -> int:
    """Characters of text held by diff operations."""
    return sum(
        sum(map(len, op.get("old") or ()))
        + sum(map(len, op.get("new") or ()))
        + sum(len(text) for _, text in op.get("words") or ())
        for op in ops
    )


def similarity(a: str, b: str) -> float:
    """Sentence-level similarity of two texts in [0, 1] (1.0 when both are empty)."""
    return diff_texts(a, b).similarity

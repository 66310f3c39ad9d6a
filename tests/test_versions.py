"""Tests of crawler.changes.versions: new-version detection and sentence-level diffs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crawler.changes import versions
from crawler.changes.normalise import comparison_form, markdown_to_text, text_sha256
from crawler.changes.versions import DiffResult, diff_texts, is_new_version, similarity

SEEDS = Path(__file__).parent.parent / "seeds"

PARAGRAPH = (
    "微信是一个与亿万中国用户日常无法割舍的社交应用。"
    "它的影响力已远远渗透到了我们生活的方方面面。"
    "在这个人工智能日益主导的世界里，大模型的新技术正在改造着互联网生态。"
    "这是一个力量巨大，可能性无穷的变革。"
    "但在所有的挑战和机遇面前，微信似乎仍旧守在自己的领地上。"
    "一个问题随之而来：为什么微信迟迟没有接入大模型的能力？"
    "带着这个好奇，我们逐步展开。"
)
EDITED_OLD = "这是一个力量巨大，可能性无穷的变革。"
EDITED_NEW = "这是一个力量巨大，影响深远的变革。"


def seed_text(name: str) -> str:
    """A seed's body as plain text, front matter stripped."""
    text = (SEEDS / name).read_text(encoding="utf-8")
    match = re.match(r"---\n.*?\n---\n", text, re.DOTALL)
    return markdown_to_text(text[match.end() :] if match else text)


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    """The removed and added lines of a unified diff, without their markers."""
    lines = [line for line in diff.split("\n") if not line.startswith(("---", "+++"))]
    return [x[1:] for x in lines if x.startswith("-")], [x[1:] for x in lines if x.startswith("+")]


# --- is_new_version ----------------------------------------------------------------


def test_first_version_is_always_new():
    assert is_new_version("任何文本", None)


def test_same_text_is_not_new():
    assert not is_new_version(PARAGRAPH, text_sha256(PARAGRAPH))


def test_edited_text_is_new():
    assert is_new_version(PARAGRAPH.replace(EDITED_OLD, EDITED_NEW), text_sha256(PARAGRAPH))


def test_width_and_spacing_only_change_is_not_new():
    half_width = PARAGRAPH.replace("，", ",").replace("：", ":").replace("？", "?").replace("大模型", "大 模型")
    assert not is_new_version(half_width, text_sha256(PARAGRAPH))


# --- diff_texts --------------------------------------------------------------------


def test_identical_texts():
    result = diff_texts(PARAGRAPH, PARAGRAPH)
    assert isinstance(result, DiffResult)
    assert result.similarity == 1.0
    assert result.diff == ""
    assert result.chars_added == result.chars_removed == 0
    assert [op["op"] for op in result.ops] == ["equal"]


def test_both_empty_and_one_empty():
    assert diff_texts("", "").similarity == 1.0
    assert diff_texts("", "").diff == ""
    one_sided = diff_texts("", "新的一句。")
    assert one_sided.similarity == 0.0
    assert one_sided.chars_added == len("新的一句。")
    assert one_sided.ops == [{"op": "insert", "old": [], "new": ["新的一句。"]}]


def test_one_sentence_edit_in_a_paragraph():
    result = diff_texts(PARAGRAPH, PARAGRAPH.replace(EDITED_OLD, EDITED_NEW), "original", "v2")
    removed, added = changed_lines(result.diff)
    assert removed == [EDITED_OLD]
    assert added == [EDITED_NEW]
    assert result.diff.startswith("--- original\n+++ v2\n@@ ")
    assert 0.8 < result.similarity < 1.0
    assert result.chars_removed == len(EDITED_OLD)
    assert result.chars_added == len(EDITED_NEW)
    replaced = [op for op in result.ops if op["op"] != "equal"]
    assert replaced == [
        {
            "op": "replace",
            "old": [EDITED_OLD],
            "new": [EDITED_NEW],
            "words": [
                ["equal", "这是一个力量巨大，"],
                ["delete", "可能性无穷"],
                ["insert", "影响深远"],
                ["equal", "的变革。"],
            ],
        }
    ]


def test_unified_diff_shows_limited_context():
    result = diff_texts(PARAGRAPH, PARAGRAPH.replace(EDITED_OLD, EDITED_NEW))
    context = [line[1:] for line in result.diff.split("\n") if line.startswith(" ")]
    assert context == [
        "在这个人工智能日益主导的世界里，大模型的新技术正在改造着互联网生态。",
        "但在所有的挑战和机遇面前，微信似乎仍旧守在自己的领地上。",
    ]
    assert "@@ -3,3 +3,3 @@" in result.diff


def test_width_only_differences_are_equal():
    half_width = PARAGRAPH.replace("，", ",").replace("：", ":").replace("？", "?")
    result = diff_texts(PARAGRAPH, half_width)
    assert result.similarity == 1.0
    assert result.diff == ""
    assert result.chars_added == result.chars_removed == 0
    assert not is_new_version(half_width, text_sha256(PARAGRAPH))


def test_completely_different_texts():
    original = seed_text("003_65f32d716cf2f4db.txt")
    other = seed_text("004_55c08d260c197553.txt")
    result = diff_texts(original, other)
    assert result.similarity < 0.2
    assert similarity(original, other) == result.similarity


def test_chars_added_and_removed_small_example():
    old = "第一句。第二句。第三句。"
    new = "第一句。第二句改了。第三句。新增的一句话！"
    result = diff_texts(old, new)
    # "第二句。" (4) was replaced by "第二句改了。" (6); "新增的一句话！" (7) was appended.
    assert result.chars_removed == 4
    assert result.chars_added == 6 + 7
    assert [op["op"] for op in result.ops] == ["equal", "replace", "equal", "insert"]
    removed, added = changed_lines(result.diff)
    assert removed == ["第二句。"]
    assert added == ["第二句改了。", "新增的一句话！"]
    # 2 * matched / total on comparison forms: "第一句。" + "第三句。" matched on both sides,
    # plus the characters the replaced sentence kept ("第二句" and "。": 4 of "第二句改了。").
    assert result.similarity == pytest.approx(2 * (8 + 4) / (12 + 21))


def test_line_breaks_that_only_move_sentence_boundaries_are_not_changes():
    saved = (
        "美国确诊病例超278万例 死亡129227例（原标题：确诊病例超过278万例）根据最新数据统计，病例继续增长。\n第二段。"
    )
    fresh = "美国确诊病例超278万例 死亡129227例\n（原标题：确诊病例超过278万例）\n根据最新数据统计，病例继续增长。\n第二段。"
    result = diff_texts(saved, fresh)
    assert result.similarity == 1.0
    assert result.diff == ""
    assert result.chars_added == result.chars_removed == 0


def test_diff_shows_original_text_not_folded_form():
    old = "Hello World。第二句。"
    new = "Hello World。第二句改了。"
    result = diff_texts(old, new)
    assert " Hello World。" in result.diff.split("\n")


def test_deleted_paragraph():
    old = "第一段。\n第二段，要删掉。\n第三段。"
    result = diff_texts(old, "第一段。\n第三段。")
    assert result.ops[1] == {"op": "delete", "old": ["第二段，要删掉。"], "new": []}
    assert result.chars_removed == len("第二段，要删掉。")
    assert result.chars_added == 0


def test_ops_are_json_serialisable():
    result = diff_texts(PARAGRAPH, PARAGRAPH.replace(EDITED_OLD, EDITED_NEW) + "\n新的一段。")
    assert json.loads(json.dumps(result.ops, ensure_ascii=False)) == result.ops
    for op in result.ops:
        assert set(op) <= {"op", "old", "new", "words"}
        assert op["op"] in {"equal", "insert", "delete", "replace"}


def test_long_seed_against_light_edit():
    original = seed_text("001_c906cd5f6364476e.txt")
    edited = original.replace("在技术方面，AI 技术不断沉淀", "在技术方面，AI 技术持续沉淀", 1)
    result = diff_texts(original, edited)
    removed, added = changed_lines(result.diff)
    assert len(removed) == len(added) == 1
    assert "不断沉淀" in removed[0] and "持续沉淀" in added[0]
    assert result.similarity > 0.99


def test_alignment_is_over_sentences_not_characters(monkeypatch):
    # The matcher must see one item per sentence; a character-level diff would be quadratic.
    seen = []
    real = versions.difflib.SequenceMatcher

    def spy(isjunk, a, b, autojunk):
        seen.append((a, b, autojunk))
        return real(isjunk, a, b, autojunk=autojunk)

    monkeypatch.setattr(versions.difflib, "SequenceMatcher", spy)
    diff_texts(PARAGRAPH, PARAGRAPH.replace(EDITED_OLD, EDITED_NEW))
    # One alignment over sentences; characters are compared only inside the one replaced sentence
    # (once for similarity credit, once for the character operations shown).
    assert len(seen) == 3
    assert (seen[1][0], seen[1][1]) == (comparison_form(EDITED_OLD), comparison_form(EDITED_NEW))
    a, b, autojunk = seen[0]
    assert autojunk is False
    assert len(a) == len(b) == 7
    assert all(isinstance(item, str) and len(item) > 1 for item in a + b)


def _huge_paragraph(words: int = 200_000) -> str:
    """One paragraph of words without a full stop (about 1.3 MB): one sentence to the splitter."""
    import random

    rng = random.Random(5)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(3000)
    ]
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def test_a_one_word_edit_in_a_huge_paragraph_is_a_small_change():
    # Before: the paragraph was one sentence, so the edit replaced all of it: similarity 0, "rewrite",
    # and the whole text twice in the diff (28 MB for the 9 MB page).
    old = _huge_paragraph()
    middle = old.index(" ", len(old) // 2)
    new = old[:middle] + " inserted" + old[middle:]
    result = diff_texts(old, new)
    assert result.similarity > 0.999 and result.change in ("minor", "edit")
    assert "inserted" in result.diff and len(result.diff) < 10_000
    stored = versions.bounded_ops(result.ops)
    assert len(json.dumps(stored)) < 20_000
    # The comparison hash is the paragraph's, as before: the pieces only serve the alignment.
    assert versions.version_sha256(old) == text_sha256(old)


def test_pieces_of_a_long_sentence_are_cut_where_its_words_say():
    text = _huge_paragraph(20_000)
    pieces = versions.long_sentence_pieces(text)
    assert " ".join(pieces) == text
    assert all(len(p) <= versions.PIECE_MAX_CHARS for p in pieces) and len(pieces) > 10
    # An edit at the start moves no cut after its own piece.
    edited = versions.long_sentence_pieces("inserted " + text)
    assert edited[1:] == pieces[1:] or edited[2:] == pieces[2:]
    assert versions.long_sentence_pieces("short sentence") == ["short sentence"]
    assert "".join(versions.long_sentence_pieces("中" * 5000)) == "中" * 5000


def test_a_rewrite_of_a_huge_page_stores_a_bounded_diff():
    from crawler.web.render import diff_html

    old = _huge_paragraph()
    new = " ".join(reversed(old.split(" ")))
    result = diff_texts(old, new)
    assert result.change == "rewrite" and len(result.diff) > 2 * versions.MAX_STORED_DIFF_CHARS
    text = versions.bounded_diff_text(result.diff)
    assert len(text) < versions.MAX_STORED_DIFF_CHARS + 200
    assert re.fullmatch(
        r"\\ diff cut after \d+ characters: \d+ more not stored; 'crawler diff' shows all of it", text.splitlines()[-1]
    )
    ops = versions.bounded_ops(result.ops)
    assert versions._ops_chars(ops) <= versions.MAX_STORED_DIFF_CHARS
    assert "more changed sentences not stored" in diff_html(ops)


def test_bounded_ops_keep_what_the_page_shows():
    from crawler.web.render import diff_html

    ops = [
        {"op": "equal", "old": [f"s{n}." for n in range(10)], "new": [f"s{n}." for n in range(10)]},
        {"op": "insert", "old": [], "new": ["added."]},
        {"op": "equal", "old": [f"t{n}." for n in range(10)], "new": [f"t{n}." for n in range(10)]},
    ]
    assert versions.bounded_ops(ops) is ops  # small: stored whole
    bounded = versions.bounded_ops(ops, limit=20)
    assert bounded != ops and versions._ops_chars(bounded) < versions._ops_chars(ops)
    # The page shows the same: the context sentences, the change, and how many unchanged ones are left out.
    shown = re.sub(r"</summary>.*?</details>", "", str(diff_html(ops)), flags=re.S)  # folded: not shown
    for html in (shown, str(diff_html(bounded))):
        text = re.sub(r"<[^>]+>", " ", html)
        assert text.count("9 unchanged sentences") == 2 and "s9." in text and "added." in text and "t0." in text
        assert "s8." not in text and "t1." not in text

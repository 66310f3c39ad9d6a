"""Tests of crawler.changes.normalise: Markdown to text, cleaning, comparison form, sentences."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crawler.changes.normalise import (
    clean_text,
    comparison_form,
    is_cjk,
    markdown_to_text,
    split_sentences,
    text_sha256,
)

SEEDS = Path(__file__).parent.parent / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))


def seed_body(name: str) -> str:
    """The seed's text without its YAML front matter."""
    text = (SEEDS / name).read_text(encoding="utf-8")
    match = re.match(r"---\n.*?\n---\n", text, re.DOTALL)
    return text[match.end() :] if match else text


def paragraph_containing(text: str, needle: str) -> str | None:
    """The paragraph whose comparison form contains needle's comparison form."""
    wanted = comparison_form(needle)
    return next((p for p in text.split("\n") if wanted in comparison_form(p)), None)


# --- markdown_to_text on the shipped seeds -----------------------------------


def test_seeds_are_shipped():
    assert len(SEED_FILES) >= 5


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_seed_markup_is_gone(path):
    text = markdown_to_text(seed_body(path.name))
    assert text
    assert "![" not in text
    assert "](http" not in text
    assert "**" not in text
    for line in text.split("\n"):
        # No heading marker; seed 002's CSS residue may still start a line with "#404040;".
        assert not re.match(r"#{1,6}(\s|$)", line), line
        assert line == line.strip() and line


def test_seed_001_hard_wrapped_lines_are_joined():
    text = markdown_to_text(seed_body("001_c906cd5f6364476e.txt"))
    assert "在技术方面，AI 技术不断沉淀" in text
    paragraph = paragraph_containing(text, "在技术方面，AI 技术不断沉淀")
    # The whole wrapped paragraph is one line, up to its final sentence.
    assert paragraph.startswith("ChatGPT 的爆发并不是偶然")
    assert paragraph.endswith("不断深入发展。")
    # Latin words broken across lines get their space back.
    assert "NLP（Natural Language Processing" in text


def test_seed_001_headings_stay_separate():
    lines = markdown_to_text(seed_body("001_c906cd5f6364476e.txt")).split("\n")
    assert "1.1 ChatGPT 爆发背景：技术与需求的驱动" in lines
    assert "1.1.1 AI 技术在内容生成领域迅速发展" in lines
    assert "1. 实验阶段：20 世纪 90 年代—2010 年" in lines


def test_seed_004_soft_broken_inline_elements_flow_back():
    text = markdown_to_text(seed_body("004_55c08d260c197553.txt"))
    paragraph = paragraph_containing(text, "包括现在炙手可热的ChatGPT，也包括谷歌的BERT")
    assert paragraph is not None
    assert comparison_form("百度的文心一言，阿里的通义千问，商汤的商量等等。") in comparison_form(paragraph)
    assert "AIGC的全称是AI Generated Content，也就是利用人工智能技术自动生成各种类型的内容。" in text.split("\n")


def test_seed_004_bold_heading_blocks_stay_separate():
    lines = markdown_to_text(seed_body("004_55c08d260c197553.txt")).split("\n")
    assert lines[0] == "AIGC消息天天不断，到底什么是AIGC？"
    assert "第一，文本生成" in lines
    assert "第二，图像生成" in lines


def test_seed_003_lines_are_paragraphs_and_bullets_are_dropped():
    lines = markdown_to_text(seed_body("003_65f32d716cf2f4db.txt")).split("\n")
    assert lines[0] == "为什么微信迟迟未接入大模型"
    assert "一、微信的统治地位和影响力" in lines
    assert "保障用户隐私与数据安全" in lines


def test_seed_002_wrapped_latin_words_are_rejoined():
    text = markdown_to_text(seed_body("002_506cf2e3bbd555df.txt"))
    assert "杨立昆（Yann LeCun）在X平台上写道" in text
    assert "Twitter Spaces活动上" in text


def test_seed_000_links_keep_text_and_images_vanish():
    text = markdown_to_text(seed_body("000_4387e3e1fc3e043d.txt"))
    lines = text.split("\n")
    assert "【安全圈】男子为补贴家用竟然开4家黄色网站被抓" in lines
    assert "支持「安全圈」就点个三连吧！" in lines
    assert "mmbiz.qpic.cn" not in text
    # Short headline-like lines are not glued to the paragraph after them.
    assert "微软或推出ChatGPT AI版本" in lines


# --- markdown_to_text on small inputs ------------------------------------------


def test_markdown_inline_markup():
    body = (
        "# Title #\n\n"
        "> A *quoted* line with **bold**, __strong__, ~~gone~~ and `code`.\n\n"
        "- item one\n"
        "* item two\n"
        "1. 第一项\n\n"
        "See [the docs](https://example.com/a_(b)) and <https://example.com/x>.<br>"
        "![logo](https://example.com/logo.png) snake_case_name stays.\n\n"
        "Ref ![img][1] and [link][1].\n\n"
        "[1]: https://example.com/ref\n\n"
        "---\n\n"
        "Escaped \\*star\\* and &amp; entity.\n"
    )
    assert markdown_to_text(body).split("\n") == [
        "Title",
        "A quoted line with bold, strong, gone and code.",
        "item one",
        "item two",
        "1. 第一项",
        "See the docs and https://example.com/x.",
        "snake_case_name stays.",
        "Ref and link.",
        "Escaped *star* and & entity.",
    ]


def test_markdown_joining_spaces_depend_on_script():
    body = "中文的\n**加粗**\n，继续。\n\nSome English\n**bold**\n, more."
    assert markdown_to_text(body).split("\n") == ["中文的加粗，继续。", "Some English bold, more."]


def test_markdown_code_fence_is_kept_verbatim():
    body = "Intro:\n\n```\nx = a * b * c\n# not a heading\n```\n"
    assert markdown_to_text(body).split("\n") == ["Intro:", "x = a * b * c", "# not a heading"]


def test_markdown_plain_headline_is_not_glued_to_next_paragraph():
    body = "科技巨头的狂欢\n\n在此前的百度世界大会上，创始人表示。"
    assert markdown_to_text(body).split("\n") == ["科技巨头的狂欢", "在此前的百度世界大会上，创始人表示。"]


# --- clean_text -----------------------------------------------------------------


def test_clean_text_normalises_spaces_and_invisibles():
    raw = "  A\u200bB\u00a0 \u3000C\t\tD  \n\n\ufeff\n e\u0301 \r\n"
    assert clean_text(raw) == "AB C D\n\u00e9"


def test_clean_text_is_idempotent():
    raw = "微信\u200d，这个\u3000\u3000应用。\n\n\nSecond  line\t"
    once = clean_text(raw)
    assert clean_text(once) == once


# --- comparison_form / text_sha256 ----------------------------------------------


def test_comparison_form_folds_width():
    assert comparison_form("微信,这个") == comparison_form("微信，这个")
    assert comparison_form("问题?答案!结束;（注）") == comparison_form("问题？答案！结束；(注)")
    assert comparison_form("“引号”【括号】") == comparison_form('"引号"[括号]')
    assert comparison_form("ＡＢＣ１２３") == "abc123"


def test_comparison_form_folds_spacing_next_to_cjk():
    assert comparison_form("20 世纪 90 年代") == comparison_form("20世纪90年代")
    assert comparison_form("AI 技术") == comparison_form("AI技术")
    assert comparison_form("Natural Language") == "natural language"


def test_comparison_form_keeps_real_differences():
    assert comparison_form("微信，这个") != comparison_form("微信。这个")
    assert comparison_form("new york") != comparison_form("newyork")
    assert comparison_form("第一段\n第二段") != comparison_form("第一段第二段")


@pytest.mark.parametrize(
    "text",
    ["20 世纪 90 年代", "微信，这个 App ！", "a\u00a8 ¨\u0301 “x” ﬁ ½", "  Mixed\u3000WIDTH，ＡＢ\n\n下一段 "],
)
def test_comparison_form_is_idempotent(text):
    once = comparison_form(text)
    assert comparison_form(once) == once


def test_text_sha256_ignores_width_and_spacing():
    assert text_sha256("微信，这个 20 世纪") == text_sha256("微信,这个20世纪")
    assert text_sha256("微信，这个") != text_sha256("微信，那个")
    assert re.fullmatch(r"[0-9a-f]{64}", text_sha256(""))


def test_is_cjk():
    assert is_cjk("中") and is_cjk("，") and is_cjk("。") and is_cjk("か")
    assert not is_cjk("a") and not is_cjk("1") and not is_cjk(",")


# --- split_sentences --------------------------------------------------------------


def test_split_sentences_chinese():
    text = "他说：“你好。”然后走了。真的吗？！是的；好\n新的一段"
    assert split_sentences(text) == ["他说：“你好。”", "然后走了。", "真的吗？！", "是的；", "好", "新的一段"]


def test_split_sentences_english():
    text = 'It works. Does it? Yes! He said "Stop." and left; fine.\nVersion 3.5 is out...'
    assert split_sentences(text) == [
        "It works.",
        "Does it?",
        "Yes!",
        'He said "Stop."',
        "and left;",
        "fine.",
        "Version 3.5 is out...",
    ]


def test_split_sentences_keeps_enumerators_urls_and_ascii_punctuation_in_chinese():
    assert split_sentences("1. 实验阶段：20 世纪 90 年代") == ["1. 实验阶段：20 世纪 90 年代"]
    assert split_sentences("见 https://a.cn/?x=1 页面。") == ["见 https://a.cn/?x=1 页面。"]
    assert split_sentences("能力?又或者说,如何!") == ["能力?", "又或者说,如何!"]


def test_split_sentences_boundaries_do_not_depend_on_width():
    half = split_sentences("问题?答案!结束;下一句")
    full = split_sentences("问题？答案！结束；下一句")
    assert [comparison_form(s) for s in half] == [comparison_form(s) for s in full]
    assert len(half) == 4


def test_split_sentences_has_no_empty_sentences():
    assert split_sentences("") == []
    assert split_sentences("。。\n\n  \n！") == ["。。", "！"]

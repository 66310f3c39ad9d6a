"""Tests of crawler.extract.article on fixture pages written for this project (no network, no shared corpus)."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest

from crawler.extract.article import BUILTIN_PROFILES, SiteProfile, choose_profile, decode_html, extract

PAGES = Path(__file__).parent / "fixtures" / "pages"
WECHAT_URL = "https://mp.weixin.qq.com/s?__biz=MzAwMDAwMDAwMQ==&mid=2650000001&idx=1&sn=0f1e2d3c"
LOCAL_COPY_URL = "http://127.0.0.1:8000/copy.html"
CSDN_URL = "https://blog.csdn.net/qingshan_coder/article/details/130000001"
NEWS_URL = "http://news.example.cn/local/2022/0630/1.html"
BLOG_URL = "https://fieldnotes.example.org/2021/09/dry-stone-wall"

GBK_SENTENCE = "江边古镇老街修缮工程近日正式启动"


def page(name: str) -> str:
    """A fixture page decoded as the crawler would decode it."""
    return decode_html((PAGES / name).read_bytes(), "text/html")


# --- WeChat -------------------------------------------------------------------------------


def test_wechat_fixture_mimics_the_hidden_template():
    html = page("wechat_article.html")
    assert 'id="js_content" style="visibility: hidden;"' in html


@pytest.mark.parametrize("url", [WECHAT_URL, LOCAL_COPY_URL], ids=["by-domain", "by-signature"])
def test_wechat_profile_chosen(url):
    assert choose_profile(page("wechat_article.html"), url).name == "wechat"


@pytest.mark.parametrize("url", [WECHAT_URL, LOCAL_COPY_URL], ids=["by-domain", "by-signature"])
def test_wechat_article_text_and_metadata(url):
    result = extract(page("wechat_article.html"), url)

    assert result is not None
    assert result.profile == "wechat"
    assert result.title == "屋顶上的小菜园：一栋老楼的三年实验"
    assert result.author == "青禾生活笔记"
    assert result.date == "2023-05-14"
    assert result.canonical_url.startswith("http://mp.weixin.qq.com/s?__biz=MzAwMDAwMDAwMQ==")
    # first and last paragraphs, the one in an overflow:hidden box, the one written as <section><span>
    for sentence in (
        "三年前，这栋建于上世纪八十年代的六层老楼",
        "到了第二年夏天，屋顶已经排满了四十多个种植箱",
        "第三年，社区把这栋楼的做法写进了老旧小区改造的参考方案",
        "再和邻居们一起定下浇水和收获的规矩。",
    ):
        assert sentence in result.text
    chrome = (
        "功能介绍",
        "记录城市里的植物",
        "qinghe_notes",
        "微信扫一扫",
        "关注该公众号",
        "阅读原文",
        "3217",
        "文／林小满",
    )
    for boilerplate in chrome:
        assert boilerplate not in result.text


def test_wechat_text_is_one_stripped_paragraph_per_line():
    lines = extract(page("wechat_article.html"), WECHAT_URL).text.split("\n")

    assert len(lines) == 7
    assert all(line and line == line.strip() for line in lines)


@pytest.mark.parametrize(
    "html",
    [
        page("english_article.html"),
        page("wechat_article.html").replace('id="js_content"', 'id="js_other"'),
        page("wechat_article.html").replace(
            '<div class="rich_media_content " id="js_content" style="visibility: hidden;">',
            '<div class="rich_media_content " id="js_content" style="visibility: hidden;"> </div><div>',
        ),
    ],
    ids=["no-js_content", "renamed-js_content", "empty-js_content"],
)
def test_profile_without_content_falls_back_to_whole_page(html):
    assert choose_profile(html, WECHAT_URL).name == "wechat"

    result = extract(html, WECHAT_URL)

    assert result is not None
    assert result.profile is None
    assert result.text


def test_fallback_uses_whole_page_text_and_metadata():
    result = extract(page("english_article.html"), WECHAT_URL)

    assert "The wall at the bottom of our field had been slumping for years." in result.text
    assert result.title == "Mending a Dry-Stone Wall in One Weekend"


# --- GBK news -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=gb2312", None])
def test_gbk_page_decodes(content_type):
    html = decode_html((PAGES / "gbk_news.html").read_bytes(), content_type)

    assert GBK_SENTENCE in html
    assert "晨江网　版权所有" in html
    assert "\ufffd" not in html


def test_gbk_page_without_any_declaration_is_detected():
    body = (PAGES / "gbk_news.html").read_bytes()
    undeclared = body.replace(b'<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />', b"")
    assert undeclared != body

    assert GBK_SENTENCE in decode_html(undeclared, "text/html")


def test_utf8_body_with_stale_gb2312_declaration_decodes_as_utf8():
    text = (PAGES / "gbk_news.html").read_bytes().decode("gbk")

    assert GBK_SENTENCE in decode_html(text.encode("utf-8"), "text/html")
    assert GBK_SENTENCE in decode_html(text.encode("utf-8"), "text/html; charset=gb2312")


def test_gbk_article_extracted_without_footer():
    result = extract(page("gbk_news.html"), NEWS_URL)

    assert result is not None
    assert result.profile is None
    assert result.title == "江边古镇启动老街修缮工程 百年石板路将原样保留"
    assert result.date == "2022-06-30"
    assert GBK_SENTENCE in result.text
    assert "让更多年轻人了解古镇的历史。" in result.text
    assert "版权所有" not in result.text
    assert "关于我们" not in result.text
    # the page declares no canonical URL: the fetch URL is not echoed back
    assert result.canonical_url is None


# --- CSDN ---------------------------------------------------------------------------------


def test_csdn_article():
    html = page("csdn_article.html")
    assert choose_profile(html, CSDN_URL).name == "csdn"
    assert choose_profile(html, LOCAL_COPY_URL).name == "csdn"

    result = extract(html, CSDN_URL)

    assert result.profile == "csdn"
    assert result.title == "用 Python 标准库实现一个简单的 LRU 缓存"
    assert result.author == "青衫码农"
    assert result.canonical_url == CSDN_URL
    assert result.language == "zh-CN"
    assert "LRU（最近最少使用）策略会在缓存装满时" in result.text
    assert "为什么需要 LRU 缓存" in result.text.split("\n")
    # code keeps its indentation
    assert "    def get(self, key):" in result.text.split("\n")
    chrome = (
        "热门文章",
        "码龄",
        "推荐文章",
        "手写 LRU 缓存的三种思路对比",
        "写得很清楚",
        "评论",
        "相关推荐",
        "创新乐知",
    )
    for boilerplate in chrome:
        assert boilerplate not in result.text


# --- English blog -------------------------------------------------------------------------


def test_english_article():
    result = extract(page("english_article.html"), BLOG_URL)

    assert result.profile is None
    assert result.title == "Mending a Dry-Stone Wall in One Weekend"
    assert result.author == "Harriet Ashdown"
    assert result.date == "2021-09-18"
    assert result.sitename == "Field Notes"
    assert result.canonical_url == BLOG_URL
    assert result.language == "en-GB"
    assert result.text.split("\n")[-1].startswith("By Sunday afternoon the gap was closed.")
    assert "No mortar is involved; the weight and the careful placing do all the work." in result.text
    chrome = ("Subscribe to the newsletter", "Popular posts", "hedge laying", "All rights reserved", "Privacy policy")
    for boilerplate in chrome:
        assert boilerplate not in result.text


def test_custom_profile_takes_title_and_body_from_its_selectors():
    blog = SiteProfile(
        name="fieldnotes", domains=["FieldNotes.example.org"], content=".post-body", title="h1.post-title"
    )
    assert blog.domains == ("fieldnotes.example.org",)

    result = extract(page("english_article.html"), BLOG_URL, profiles=(*BUILTIN_PROFILES, blog))

    assert result.profile == "fieldnotes"
    assert result.title == "Mending a Dry-Stone Wall in One Weekend"
    assert result.author == "Harriet Ashdown"  # no author selector: trafilatura's metadata
    assert result.text.startswith("The wall at the bottom of our field")
    assert "By Harriet Ashdown" not in result.text


# --- no main content ----------------------------------------------------------------------


def test_navigation_only_page_has_no_content():
    assert extract(page("no_content.html"), "https://example.org/sitemap") is None


def _fake_pdf() -> bytes:
    """Bytes shaped like a PDF: a header, then a compressed (binary) stream."""
    rng = random.Random(7)
    stream = zlib.compress(bytes(rng.randrange(256) for _ in range(4000)))
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 4000 /Filter /FlateDecode >>\nstream\n"
    return header + stream + b"\nendstream\nendobj\n"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n ",
        "\x00\x00\x00",
        "<html></html>",
        "<html><head><title>Empty</title></head><body></body></html>",
        decode_html(_fake_pdf(), "application/pdf"),
        decode_html(bytes(random.Random(3).randrange(256) for _ in range(5000))),
    ],
    ids=["empty", "blank", "nul", "empty-html", "empty-body", "pdf", "random-bytes"],
)
def test_no_content_returns_none(html):
    assert extract(html, "https://example.org/x") is None


@pytest.mark.parametrize("ref", ["&#7;", "&#27;", "&#x1b;", "&#12;", "&#xFFFE;", "&#8"])
def test_a_reference_to_a_control_character_does_not_empty_the_article(ref):
    # Before: lxml refused the U+0007 trafilatura copied, trafilatura swallowed the ValueError and
    # the page was no_content; the character is dropped (as libxml2 drops raw control bytes).
    html = page("english_article.html")
    first = extract(html, BLOG_URL).text.splitlines()[1]
    words = first.split(" ")
    spoiled = html.replace(first, " ".join([*words[:3], ref + words[3], *words[4:]]), 1)
    assert spoiled != html
    extracted = extract(spoiled, BLOG_URL)
    assert extracted is not None and first in extracted.text.splitlines()


# --- profile selection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://blog.csdn.net/u/article/details/1", "csdn"),
        ("https://BLOG.CSDN.NET:443/u/article/details/1", "csdn"),
        ("https://mp.weixin.qq.com/s/abc", "wechat"),
        ("https://notblog.csdn.net.example.com/x", None),
        ("https://weixin.qq.com/x", None),
        ("http://[::1/broken", None),
        ("", None),
    ],
)
def test_choose_profile_by_domain(url, expected):
    profile = choose_profile(page("english_article.html"), url)

    assert (profile.name if profile else None) == expected


def test_parent_domain_matches_subdomains():
    csdn = SiteProfile(name="csdn-any", domains=("csdn.net",), content="#content_views")

    assert choose_profile("<html><body><p>x</p></body></html>", "https://blog.csdn.net/a", [csdn]) is csdn
    assert choose_profile("<html><body><p>x</p></body></html>", "https://evilcsdn.net/a", [csdn]) is None


def test_invalid_selector_is_rejected_when_profile_is_built():
    with pytest.raises(ValueError, match="invalid CSS selector"):
        SiteProfile(name="broken", content="div[")


# --- lxml's C-level element classes (crawler.extract.article.FAST_ELEMENT_CLASSES) ---------------------

FORM_PAGE = (
    "<html><head><title>Library opening hours</title></head><body><article><h1>Library opening hours</h1>"
    "<p>The reading room opens at nine on weekdays and at ten on Saturdays, the council said today.</p>"
    "<form action='/search'><label for='q'>Search the catalogue</label><input id='q' name='q' value='maps'>"
    "<select name='s'><option>Books</option></select><textarea name='t'>Notes</textarea></form>"
    "<p>Evening hours on Thursdays continue until the end of the year, when the budget is reviewed.</p>"
    "</article></body></html>"
)


@pytest.mark.parametrize(
    "name, url",
    [
        ("wechat_article.html", WECHAT_URL),
        ("csdn_article.html", CSDN_URL),
        ("gbk_news.html", NEWS_URL),
        ("english_article.html", BLOG_URL),
        ("no_content.html", BLOG_URL),
        (None, BLOG_URL),
    ],
)
def test_fast_element_classes_extract_exactly_what_lxml_html_classes_do(name, url):
    import lxml.html
    import trafilatura.utils

    from crawler.extract.article import use_fast_element_classes

    html = page(name) if name else FORM_PAGE
    parser = trafilatura.utils.HTML_PARSER
    # Installed at import: a form control parsed by trafilatura is a plain HtmlElement.
    assert type(trafilatura.utils.load_html(FORM_PAGE).find(".//input")) is lxml.html.HtmlElement
    fast = extract(html, url)
    try:
        parser.set_element_class_lookup(lxml.html.HtmlElementClassLookup())
        assert type(trafilatura.utils.load_html(FORM_PAGE).find(".//input")) is lxml.html.InputElement
        slow = extract(html, url)
    finally:
        use_fast_element_classes()
    assert type(trafilatura.utils.load_html(FORM_PAGE).find(".//input")) is lxml.html.HtmlElement
    assert fast == slow
    if name is None:
        assert "Evening hours on Thursdays" in fast.text

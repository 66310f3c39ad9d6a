"""Finding an article's images and judging fetched ones: pure functions, no crawl (crawler/extract/requisites.py)."""

from __future__ import annotations

import pytest

from crawler.extract.requisites import find_requisites, inspect_image, referer_for
from evidence_site import SVG_WITH_SCRIPT, bomb_png, png
from pages import wechat_page

PAGE = """<html><head><base href="https://news.example/2024/"><link rel="stylesheet" href="/site.css"></head>
<body><header><img src="/logo.png"></header>
<div class="wrap"><article>
<p>The first paragraph of the article says what happened.</p>
<img data-src="photo-1.jpg" src="data:image/gif;base64,R0lGOD">
<img data-original="https://cdn.example/p2.jpg" src="/img/blank.gif">
<picture><source srcset="p3-480.webp 480w, p3-1080.webp 1080w"><img src="p3.jpg"></picture>
<img src="photo-1.jpg">
<video><source src="clip.mp4"></video>
<p>The last paragraph of the article closes the story.</p>
</article><aside><img src="/ad.png"></aside></div>
<footer><img src="/footer.png"></footer></body></html>"""
TEXT = "The first paragraph of the article says what happened.\nThe last paragraph of the article closes the story."


def test_images_come_from_the_article_region_lazy_attributes_first() -> None:
    found = find_requisites(PAGE, "https://news.example/2024/story.html", TEXT)
    assert [r.url for r in found.requisites] == [
        "https://news.example/2024/photo-1.jpg",
        "https://cdn.example/p2.jpg",
        "https://news.example/2024/p3-1080.webp",
        "https://news.example/2024/p3.jpg",
    ]
    assert found.images_found == 4 and found.note is None


def test_count_limit_and_stylesheets() -> None:
    found = find_requisites(PAGE, "https://news.example/2024/story.html", TEXT, max_images=2, stylesheets=True)
    assert [r.kind for r in found.requisites] == ["image", "image", "stylesheet"]
    assert found.requisites[-1].url == "https://news.example/site.css"
    assert found.note == "4 images in the article, the first 2 fetched (requisites.max_images)"


def test_site_profile_region_and_wechat_lazy_images() -> None:
    page = wechat_page("标题", ["第一段文字内容在这里。", "第二段。"]).replace(
        "<span>第二段。</span>",
        '<img data-src="https://mmbiz.qpic.cn/mmbiz_jpg/abc/640?wx_fmt=jpeg" '
        'src="data:image/svg+xml,%3Csvg%3E"><span>第二段。</span>',
    )
    found = find_requisites(
        page, "https://mp.weixin.qq.com/s/x", "第一段文字内容在这里。\n第二段。", content_css="div#js_content"
    )
    assert [r.url for r in found.requisites] == ["https://mmbiz.qpic.cn/mmbiz_jpg/abc/640?wx_fmt=jpeg"]


def test_no_region_no_images() -> None:
    found = find_requisites(
        "<html><body><div><img src='/a.png'></div></body></html>", "http://x/", "Nothing matches here at all."
    )
    assert found.requisites == [] and "region was not found" in found.note


@pytest.mark.parametrize(
    ("page", "target", "policy", "expected"),
    [
        ("https://mp.weixin.qq.com/s?a=1", "https://mmbiz.qpic.cn/x.jpg", None, "https://mp.weixin.qq.com/"),
        ("https://a.example/p?q=1#top", "https://a.example/i.png", None, "https://a.example/p?q=1"),
        ("https://a.example/p", "http://b.example/i.png", None, None),
        ("https://a.example/p", "https://b.example/i.png", "no-referrer", None),
        ("https://a.example/p", "https://b.example/i.png", "unsafe-url", "https://a.example/p"),
        ("https://a.example/p", "https://b.example/i.png", "same-origin", None),
    ],
)
def test_referer_follows_the_page_policy(page: str, target: str, policy: str | None, expected: str | None) -> None:
    assert referer_for(page, target, policy) == expected


def test_meta_referrer_is_read() -> None:
    page = '<html><head><meta name="referrer" content="no-referrer"></head><body><article><p>Text of it all.</p></article></body></html>'
    assert find_requisites(page, "http://x/", "Text of it all.").referrer_policy == "no-referrer"


def test_inspect_image_reads_sizes_and_flags_bombs_and_scripted_svg() -> None:
    assert (
        inspect_image(png(31, 17), "image/png", 10_000).width,
        inspect_image(png(31, 17), "image/png", 10_000).height,
    ) == (31, 17)
    bomb = inspect_image(bomb_png(), "image/png", 40_000_000)
    assert (bomb.width, bomb.height) == (50_000, 50_000) and "decompression bomb" in bomb.problem
    assert "SVG carries script" in inspect_image(SVG_WITH_SCRIPT, "image/svg+xml", 1).problem
    assert inspect_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 1).problem is None
    gif = b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little") + b"\x00" * 10
    assert (inspect_image(gif, None, 10**6).width, inspect_image(gif, None, 10**6).height) == (300, 200)
    jpeg = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03"
    )
    assert (inspect_image(jpeg, "image/jpeg", 10**7).width, inspect_image(jpeg, "image/jpeg", 10**7).height) == (
        640,
        480,
    )
    assert inspect_image(b"not an image", "image/png", 1).width is None


def test_which_pages_are_rendered() -> None:
    from crawler.fetch.browser import is_phone, wants_rendering

    plan = {"seeds": ["s1"], "urls": ["https://app.example/*"], "profiles": ["wechat"]}
    domains = {"wechat": ["mp.weixin.qq.com"]}
    assert wants_rendering(plan, "s1", "https://news.example/a", domains)
    assert wants_rendering(plan, "s2", "https://app.example/story/1", domains)
    assert wants_rendering(plan, "s3", "https://mp.weixin.qq.com/s/abc", domains)
    assert not wants_rendering(plan, "s4", "https://news.example/a", domains)
    assert is_phone("https://mp.weixin.qq.com/s/abc", ["mp.weixin.qq.com"])
    assert not is_phone("https://news.example/a", ["mp.weixin.qq.com"])

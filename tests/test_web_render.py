"""The plugin's pure parts: people's units, the language pick, diffs as HTML, the timeline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from crawler.changes.versions import diff_texts, sentences
from crawler.web.i18n import Labels, accepted, pick_language
from crawler.web.people import ago, duration, percent, short_url, time_html, url_html
from crawler.web.render import diff_html, paragraph_starts, side_by_side_html, text_html, timeline_svg
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("share", "shown"),
    [(1.0, "100%"), (0.99961, "99.9%+"), (0.9124, "91.2%"), (0.0, "0%"), (0.0004, "<0.1%"), (None, "")],
)
def test_percentages_never_round_a_change_up_to_100(share: float | None, shown: str) -> None:
    assert percent(share) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (45, "45 s"),
        (90, "1 min"),
        (21600, "6 h"),
        (3 * 3600 + 36 * 60, "3 h 36 min"),
        (30 * 3600, "1 d 6 h"),
        (3 * 86400, "3 d"),
        (21 * 86400, "3 wk"),
        (90 * 86400, "3 mo"),
    ],
)
def test_intervals_in_one_or_two_units(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_times_are_local_with_ago_and_utc_on_hover() -> None:
    assert ago(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert ago(NOW + timedelta(days=2), NOW) == "in 2 d"
    assert ago(NOW - timedelta(hours=3), NOW, Labels("zh")) == "3 小时前"
    html = lxml.html.fromstring(str(time_html("2026-12-02T09:00:00+00:00", NOW, ZoneInfo("Asia/Shanghai"))))
    (when,) = html.xpath("//time")
    assert when.text == "2026-12-02 17:00" and when.get("title") == "2026-12-02 09:00:00 UTC"
    assert "3 h ago" in html.text_content()


def test_languages_by_choice_cookie_setting_then_browser() -> None:
    assert accepted("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert accepted("en-US,zh;q=0.5") == "en"
    assert accepted("fr-FR, de;q=0.5") is None
    assert accepted("fr;q=1, zh-TW;q=0.4, en;q=0.3") == "zh"
    assert pick_language({}, {}, None, "fr") == "en"
    assert pick_language({}, {}, "zh", "en") == "zh"
    assert pick_language({}, {"crawler_lang": "en"}, "zh", "zh") == "en"
    assert pick_language({"_lang": "zh"}, {"crawler_lang": "en"}, None, "en") == "zh"
    assert (
        Labels("zh")("Articles") == "文章"
        and Labels("zh")("a label with no translation") == "a label with no translation"
    )


def test_long_urls_shortened_with_the_whole_on_hover_and_only_http_linked() -> None:
    url = "https://news.example.org/" + "long-slug-" * 12 + "index.html"
    (link,) = lxml.html.fromstring(str(url_html(url))).xpath("//a")
    assert link.get("href") == url and link.get("title") == url and len(link.text) <= 48 and "…" in link.text
    assert "<a" not in str(url_html("javascript:alert(1)")) and "javascript:alert(1)" in str(
        url_html("javascript:alert(1)")
    )
    assert short_url("https://a.org/x") == "a.org/x"


@pytest.mark.parametrize(
    "text",
    [
        "\n\n".join(ZH_PARAGRAPHS),
        "\n\n".join(EN_PARAGRAPHS),
        "标题\n\n阅读 5952\n\n" + ZH_PARAGRAPHS[0] + "\n点赞 12 在看 3",
    ],
)
def test_paragraph_starts_match_the_sentences_compared(text: str) -> None:
    starts = paragraph_starts(text)
    assert len(starts) == len(sentences(text).shown) and starts[0]


def test_a_diff_keeps_paragraphs_folds_what_did_not_change_and_escapes() -> None:
    old = "\n\n".join(EN_PARAGRAPHS + ["Readers wrote <script>alert(1)</script> in the comments."])
    new_paragraphs = [EN_PARAGRAPHS[0], EN_PARAGRAPHS[1].replace("modest", "large"), *EN_PARAGRAPHS[2:]]
    new = "\n\n".join(new_paragraphs + ["Readers wrote <script>alert(1)</script> in the comments."])
    result = diff_texts(old, new)
    html = str(diff_html(result.ops, old_starts=paragraph_starts(old), new_starts=paragraph_starts(new)))
    dom = lxml.html.fromstring(html)
    assert [el.text_content() for el in dom.iter("ins")] == ["large"] and [
        el.text_content() for el in dom.iter("del")
    ] == ["modest"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    folds = dom.xpath("//details[@class='crawler-fold']")
    assert folds and "unchanged sentence" in folds[0].find("summary").text_content()
    assert len(dom.xpath("//p")) >= len(new_paragraphs), "a paragraph stays a paragraph"
    side = lxml.html.fromstring(
        str(
            side_by_side_html(
                result.ops, "before", "after", old_starts=paragraph_starts(old), new_starts=paragraph_starts(new)
            )
        )
    )
    (changed,) = side.find_class("crawler-side-replace")
    assert changed.find_class("crawler-side-old")[0].xpath(".//del")[0].text == "modest"
    assert changed.find_class("crawler-side-new")[0].xpath(".//ins")[0].text == "large"


def test_a_chinese_diff_marks_characters() -> None:
    old = "\n\n".join(ZH_PARAGRAPHS)
    new = old.replace("四十篇", "五十篇")
    dom = lxml.html.fromstring(str(diff_html(diff_texts(old, new).ops)))
    assert [el.text_content() for el in dom.iter("ins")] == ["五"] and [
        el.text_content() for el in dom.iter("del")
    ] == ["四"]


def test_texts_are_paragraphs() -> None:
    dom = lxml.html.fromstring(str(text_html("\n\n".join(ZH_PARAGRAPHS))))
    assert [p.text_content() for p in dom.iter("p")] == ZH_PARAGRAPHS


def _captures(count: int, days: float) -> list[dict]:
    start = NOW - timedelta(days=days)
    step = timedelta(days=days) / count
    return [
        {
            "id": n,
            "fetched_at": (start + n * step).isoformat(),
            "version": 1 + n // 100,
            "version_id": 1 + n // 100,
            "outcome": "new_version" if n % 100 == 0 else "failed" if n % 37 == 5 else "unchanged",
            "similarity": 0.9,
        }
        for n in range(count)
    ]


def test_a_dense_timeline_becomes_a_bar_per_day_each_a_link() -> None:
    svg = str(
        timeline_svg(
            _captures(500, 75),
            zone=timezone.utc,
            period_href=lambda a, b: f"/c?from={a.isoformat()}",
            version_href=lambda c: f"/v/{c['version_id']}",
        )
    )
    dom = lxml.html.fromstring(svg)
    bars = dom.xpath("//g[@class='crawler-bar']")
    assert 75 <= len(bars) <= 77, "a bar per day"
    assert all(bar.getparent().tag == "a" for bar in bars)
    assert sum(int(b.find("title").text.split(": ")[1].split(" ")[0]) for b in bars) == 500, (
        "every capture counted once"
    )
    assert len(dom.xpath("//g[@class='crawler-flag']")) == 5
    assert len([t for t in dom.xpath("//text()") if len(t) == 5 and t[2] == "-"]) >= 5, "a dated axis (MM-DD)"
    narrow = lxml.html.fromstring(str(timeline_svg(_captures(500, 180), zone=timezone.utc, width=360)))
    assert 20 <= len(narrow.xpath("//g[@class='crawler-bar']")) <= 34, "a bar per week on a phone"


def test_a_sparse_timeline_is_a_dot_per_capture() -> None:
    dom = lxml.html.fromstring(str(timeline_svg(_captures(12, 30), capture_href=lambda c: f"/c/{c['id']}")))
    dots = dom.xpath("//circle[contains(@class, 'crawler-capture')]")
    assert len(dots) == 12 and all(d.getparent().get("href", "").startswith("/c/") for d in dots)

"""Counters and times written as prose (crawler/changes/volatile.py): ignored, shown as ignored; corrections still count."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.changes.outcome import analyse
from crawler.cli import cli
from crawler.inspection.diff import word_diff_lines
from crawler.model import CaptureRecord, RawResponse, VersionRecord
from crawler.archive.schema import MIGRATIONS, SCHEMA_VERSION, statements
from crawler.archive.store import Store
from crawler.changes.normalise import markdown_to_text
from crawler.changes.versions import IGNORED_HUNK, diff_texts, ignorable_changes, sentences
from crawler.changes.volatile import volatile_change
from crawler.web.render import diff_html
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page

# (old, new): the same sentence on two visits, only its counter or time moved on.
PROSE_COUNTERS = [
    ("This story has been viewed 12,345 times.", "This story has been viewed 13,002 times."),
    ("Read 3.4k times · 12 comments", "Read 5.1k times · 15 comments"),
    ("Read 999 times · 1 comment", "Read 1.2k times · 2 comments"),
    ("Last updated 14 minutes ago by the newsroom.", "Last updated 2 hours ago by the newsroom."),
    ("Last updated a minute ago by the newsroom.", "Last updated 5 minutes ago by the newsroom."),
    ("So far 1,234 readers have liked this article.", "So far 1,301 readers have liked this article."),
    (
        "You are one of 1,234 visitors who viewed this page today.",
        "You are one of 1,300 visitors who viewed this page today.",
    ),
    (
        "12 readers commented on this story, and it was liked 345 times.",
        "14 readers commented on this story, and it was liked 351 times.",
    ),
    ("Posted 3 days ago, with 12 replies so far.", "Posted 4 days ago, with 15 replies so far."),
    ("Joined 2 years ago.", "Joined 3 years ago."),
    ("More than 75,942 people have read this piece.", "More than 66,564 people have read this piece."),
    ("This post was liked by 300 readers.", "This post was liked by 320 readers."),
    ("Watched 1.2 million times.", "Watched 1.5 million times."),
    ("It has 1,204 views and 33 likes.", "It has 1,410 views and 35 likes."),
    ("Last updated: March 3, 2024 12:30", "Last updated: March 5, 2024 14:10"),
    ("本文已被浏览2345次。", "本文已被浏览2401次。"),
    ("共有128位读者点赞。", "共有131位读者点赞。"),
    ("更新于2小时前。", "更新于15分钟前。"),
    ("这篇文章已有1234人阅读，12人留言。", "这篇文章已有1300人阅读，15人留言。"),
    ("截至目前，本文累计阅读1,234次。", "截至目前，本文累计阅读1,400次。"),
    ("已有23位网友发表了评论。", "已有25位网友发表了评论。"),
    ("本文发布于5分钟前，已被转发12次。", "本文发布于9分钟前，已被转发15次。"),
    ("12人觉得这篇文章有用并点了赞。", "15人觉得这篇文章有用并点了赞。"),
    ("该文章共被收藏12次，分享3次。", "该文章共被收藏14次，分享5次。"),
    ("最后编辑于12分钟前。", "最后编辑于1小时前。"),
    ("更新时间：2024-03-01 12:30", "更新时间：2024-03-02 08:30"),
    # A quotation closed before the counter (German „…“ and »…«, English “…”) does not cover it.
    (
        "„Wir haben bereits die Zusage“ 123 readers commented on this story, and it was liked 70,077 times.",
        "„Wir haben bereits die Zusage“ 12 readers commented on this story, and it was liked 20,512 times.",
    ),
    (
        "Zur Geschichte des »Oberortlhofs« This story has been viewed 67,343 times.",
        "Zur Geschichte des »Oberortlhofs« This story has been viewed 60,222 times.",
    ),
    ("“Fine,” she said. It has 1,204 views and 33 likes.", "“Fine,” she said. It has 1,410 views and 35 likes."),
    ("| “ | 55,306 views · updated 49 minutes ago", "| “ | 24,633 views · updated 53 minutes ago"),
    ("阅读量已突破10万+，在看345。", "阅读量已突破12万+，在看351。"),
]

# (old, new): a number in the article corrected, or another word changed: real changes.
CORRECTIONS = [
    ("The company sold 500 shares.", "The company sold 600 shares."),
    ("目前已有45人死亡。", "目前已有47人死亡。"),
    ("The report was published in 2019 and cited 45 cases.", "The report was published in 2019 and cited 47 cases."),
    ("The meeting starts at 14:00.", "The meeting starts at 15:00."),
    ("欢迎 iOS 用户更新微信 iOS 6.7版本使用。", "欢迎 iOS 用户更新微信 iOS 7.7版本使用。"),
    ("This story has been viewed 12,345 times.", "This tale has been viewed 13,002 times."),
    ("本文已被浏览2345次。", "本文已被删除2401次。"),
    ("The budget grew by 12 percent last year.", "The budget grew by 14 percent last year."),
    ("Das Stadion fasst 45.000 Zuschauer.", "Das Stadion fasst 48.000 Zuschauer."),
    ("This story has been viewed 12,345 times.", "This story has been viewed 12,345 times."),
    # Found by the change benchmark: "like" and "last" in prose are no counter or time labels.
    ("\"It's like 60% black they're saying,\" King said.", "\"It's like 61% black they're saying,\" King said."),
    (
        "Her last day is April 1, and Warners has not named a replacement.",
        "Her last day is April 3, and Warners has not named a replacement.",
    ),
    # History, not a clock: a relative time in the hundreds of years is not one that ticks.
    ("It began as a Shah's game around 2,500 years ago.", "It began as a Shah's game around 9,500 years ago."),
    ("这座寺庙建于约800年前。", "这座寺庙建于约900年前。"),
    # Quoted speech and scores: the words near the number do not make it a counter.
    (
        "“Welcome weekend was well over 15 days ago now,” he says.",
        "“Welcome weekend was well over 10 days ago now,” he says.",
    ),
    ('He said: "It was viewed 300 times."', 'He said: "It was viewed 500 times."'),
    ("他说：「这篇文章被浏览了300次」。", "他说：「这篇文章被浏览了500次」。"),
    (
        "The Sixers played host to the fellow 5-1 Boston Celtics.",
        "The Sixers played host to the fellow 5-5 Boston Celtics.",
    ),
    # A verb of reading or sharing counts times or people, not works.
    (
        "Through these platforms, over 1.1 billion works have been shared and counting!",
        "Through these platforms, over 4.1 billion works have been shared and counting!",
    ),
    # A number glued to letters is part of a name.
    ("Q3.获取关注和取消关注都变得更容易了？", "Q4.获取关注和取消关注都变得更容易了？"),
    (
        "You have the option of a 3D or 2D top down viewing angle.",
        "You have the option of a 3D or 8D top down viewing angle.",
    ),
    (
        "Add overlays to view the 12-day and 26-day moving averages.",
        "Add overlays to view the 12-day and 28-day moving averages.",
    ),
]


@pytest.mark.parametrize(("old", "new"), PROSE_COUNTERS)
def test_counters_and_times_written_as_prose_are_volatile(old: str, new: str) -> None:
    assert volatile_change(old, new)


@pytest.mark.parametrize(("old", "new"), CORRECTIONS)
def test_corrected_numbers_and_other_words_are_not(old: str, new: str) -> None:
    assert not volatile_change(old, new)


def test_a_counter_change_is_ignored_but_shown_marked() -> None:
    old = "\n".join([EN_PARAGRAPHS[0] + " This story has been viewed 12,345 times.", *EN_PARAGRAPHS[1:]])
    new = old.replace("12,345", "13,002")
    assert ignorable_changes(sentences(old), sentences(new)) == [
        {"old": "This story has been viewed 12,345 times.", "new": "This story has been viewed 13,002 times."}
    ]
    result = diff_texts(old, new)
    assert (result.similarity, result.sentences_changed, result.chars_added, result.change) == (1.0, 0, 0, "minor")
    [op] = [op for op in result.ops if op["op"] != "equal"]
    assert op["ignored"] == "volatile"
    assert ["delete", "12,345"] in op["words"] and ["insert", "13,002"] in op["words"]
    headers = [line for line in result.diff.splitlines() if line.startswith("@@")]
    assert headers == [f"@@ -3 +3 @@ {IGNORED_HUNK}"]
    # Datasette shows it faded and labelled, not as an edit.
    html = str(diff_html(result.ops))
    assert 'class="crawler-ignored"' in html and "13,002" in html


def test_an_edit_beside_a_counter_is_counted_and_the_counter_still_ignored() -> None:
    old = "\n".join(["本文已被浏览2345次。" + ZH_PARAGRAPHS[0], *ZH_PARAGRAPHS[1:]])
    first = ZH_PARAGRAPHS[0].split("。")[0] + "。"
    new = old.replace("2345", "2401").replace(first, first.replace(first[2:4], "××"))
    assert ignorable_changes(sentences(old), sentences(new)) is None
    result = diff_texts(old, new)
    changed = [op for op in result.ops if op["op"] != "equal"]
    assert [op.get("ignored") for op in changed] == ["volatile", None]
    assert result.sentences_changed == 1
    assert ["delete", first[2:4]] in changed[1]["words"] and ["insert", "××"] in changed[1]["words"]


def raw_item(html: str) -> RawResponse:
    """A spider item for analyse(): a 200 response with this HTML."""
    return RawResponse(
        seed_id="s",
        url="http://127.0.0.1:9/a",
        status=200,
        headers={"content-type": ["text/html; charset=utf-8"]},
        body=html.encode("utf-8"),
    )


WITH_NUMBER = [EN_PARAGRAPHS[0], "The budget grew by 12 percent this year.", *EN_PARAGRAPHS[1:]]


def test_analyse_keeps_the_version_and_records_what_it_ignored() -> None:
    def page(views: str, paragraphs: list[str] = WITH_NUMBER) -> str:
        return article_page(
            "T", [paragraphs[0] + f" This story has been viewed {views} times.", *paragraphs[1:]], lang="en"
        )

    first = analyse(raw_item(page("12,345")), 1, None, None, ())
    version = first.new_version
    assert version.text_sha256 == hashlib.sha256(version.text.encode("utf-8")).hexdigest()
    assert version.compare_sha256 == sentences(version.text).sha256
    latest = {
        "id": 1,
        "version": 1,
        "text": version.text,
        "text_sha256": version.text_sha256,
        "compare_sha256": version.compare_sha256,
        "title": "T",
    }
    again = analyse(raw_item(page("13,002")), 2, None, latest, ())
    assert again.capture.outcome == "unchanged" and again.current_version_id == 1
    assert again.capture.ignored_changes == [
        {"old": "This story has been viewed 12,345 times.", "new": "This story has been viewed 13,002 times."}
    ]
    corrected = [p.replace("12 percent", "14 percent") for p in WITH_NUMBER]
    changed = analyse(raw_item(page("13,002", corrected)), 3, None, latest, ())
    assert changed.capture.outcome == "new_version" and changed.capture.ignored_changes is None


def test_word_diff_shows_two_replaced_characters_exactly(tmp_path: Path) -> None:
    old = "\n".join(ZH_PARAGRAPHS)
    sentence = ZH_PARAGRAPHS[1].split("。")[0]
    new = old.replace(sentence, sentence[:3] + "□□" + sentence[5:])
    store = Store.in_archive(tmp_path)
    store.sync_seeds([{"id": "a", "url": "https://example.org/a", "status": "ok", "original_text": old}])
    run = store.start_run("manual", 1)
    for text in (old, new):
        store.record_capture(
            CaptureRecord(run, "a", "https://example.org/a", "new_version"),
            new_version=VersionRecord(text, hashlib.sha256(text.encode()).hexdigest()),
        )
    store.finish_run(run)
    store.close()
    result = CliRunner().invoke(
        cli,
        ["--archive", str(tmp_path), "diff", "a", "--from", "1", "--to", "2", "--word-diff"],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    changed = [line for line in result.stdout.splitlines() if "[-" in line or "{+" in line]
    assert changed == [sentence[:3] + f"[-{sentence[3:5]}-]{{+□□+}}" + sentence[5:] + "。"]
    assert result.stdout.splitlines()[1:3] == ["--- version 1", "+++ version 2"]


def test_word_diff_lines_for_inserts_deletes_and_ignored_changes() -> None:
    ops = [
        {"op": "equal", "old": ["A.", "B."], "new": ["A.", "B."]},
        {
            "op": "replace",
            "old": ["Viewed 5 times."],
            "new": ["Viewed 6 times."],
            "ignored": "volatile",
            "words": [["equal", "Viewed "], ["delete", "5"], ["insert", "6"], ["equal", " times."]],
        },
        {"op": "insert", "old": [], "new": ["New one."]},
        {"op": "equal", "old": ["C."], "new": ["C."]},
        {"op": "delete", "old": ["Gone."], "new": []},
    ]
    assert word_diff_lines(ops) == [
        f"@@ -2,2 +2,2 @@ {IGNORED_HUNK}",
        "B.",
        "Viewed [-5-]{+6+} times.",
        "@@ -4,1 +4,2 @@",
        "{+New one.+}",
        "C.",
        "@@ -4,2 +5,1 @@",
        "C.",
        "[-Gone.-]",
    ]


def test_first_capture_against_a_saved_copy_with_chrome_and_hard_wraps_is_not_major() -> None:
    article = [
        "The city council voted on Tuesday to close the old library on Main Street after a long debate.",
        "Supporters of the library argued that it served hundreds of children every week and should stay open.",
        "The mayor said the building needed repairs the city could not afford this year or the next.",
        "A new library will open in the former post office, about a mile away, by the end of next year.",
        "Residents can still borrow books from the mobile library that visits each neighbourhood twice a month.",
        "The council will hold a public meeting next month to discuss what to do with the old building.",
    ]
    saved = (
        "[Home](/) | [News](/news) | [Sport](/sport)\n\nShare this article\n\n# Council votes to close library\n\n"
        "The city council voted on Tuesday to close the old library on Main Street\nafter a long debate.\n"
        + " ".join(article[1:3])
        + "\n\n**A new library** will open in the former post office, about a mile away, "
        "by the end of next year. " + article[4] + "\n\n" + article[5] + "\n\nSubscribe to our newsletter\n"
        "Advertisement\n"
    )
    capture = "Council votes to close library\n" + " ".join(article[:3]) + "\n" + " ".join(article[3:])
    from crawler.changes.outcome import diff_record

    record = diff_record("original", markdown_to_text(saved), capture, "original", "version 1", None)
    assert record.retained == 1.0
    assert record.change == "minor"
    assert record.similarity < 0.98  # the similarity alone would have called it an edit or worse
    # A real cut still shows: half the article gone is major.
    cut = diff_record(
        "original",
        markdown_to_text(saved),
        "Council votes to close library\n" + " ".join(article[:3]),
        "original",
        "version 1",
        None,
    )
    assert cut.retained < 0.7 and cut.change == "major"


def test_migration_rehashes_versions_and_keeps_the_comparison_hash(tmp_path: Path) -> None:
    # An archive from before this migration: text_sha256 held the comparison hash.
    step = next(i for i, sql in enumerate(MIGRATIONS) if "compare_sha256" in sql)
    path = tmp_path / "archive.db"
    conn = sqlite3.connect(path)
    for sql in MIGRATIONS[:step]:
        for statement in statements(sql):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {step}")
    text = "第一句。第二句，阅读 1234。"
    comparison = sentences(text).sha256
    conn.execute("INSERT INTO seeds (id, status, first_seen_at, updated_at) VALUES ('a', 'ok', 't', 't')")
    conn.execute(
        "INSERT INTO versions (seed_id, version, text, text_sha256, chars, created_at) VALUES ('a', 1, ?, ?, ?, 't')",
        [text, comparison, len(text)],
    )
    conn.commit()
    conn.close()
    store = Store(path)
    try:
        row = next(store.query("SELECT text_sha256, compare_sha256 FROM versions"))
        version = store.db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        store.close()
    assert row == {"text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "compare_sha256": comparison}
    assert version == SCHEMA_VERSION


def test_ignored_changes_are_stored_with_the_capture(tmp_path: Path) -> None:
    store = Store.in_archive(tmp_path)
    try:
        store.sync_seeds([{"id": "a", "url": "https://example.org/a", "status": "ok"}])
        run = store.start_run("manual", 1)
        pairs = [{"old": "本文已被浏览2345次。", "new": "本文已被浏览2401次。"}]
        store.record_capture(CaptureRecord(run, "a", "https://example.org/a", "unchanged", ignored_changes=pairs))
        stored = next(store.query("SELECT ignored_changes FROM captures"))["ignored_changes"]
    finally:
        store.close()
    assert json.loads(stored) == pairs


def test_announcements_quote_edits_not_ignored_counters() -> None:
    from crawler.notify import _changed_lines

    old = "\n".join([EN_PARAGRAPHS[0] + " This story has been viewed 12,345 times.", *EN_PARAGRAPHS[1:]])
    new = old.replace("12,345", "13,002").replace("Tuesday", "Wednesday")
    quoted = _changed_lines(diff_texts(old, new).diff)
    assert quoted == [
        "-The city council met on Tuesday evening to discuss the new library budget.",
        "+The city council met on Wednesday evening to discuss the new library budget.",
    ]


def test_quoted_speech_keeps_its_relative_times() -> None:
    """A clock never prints inside quotation marks: "vor 5 Minuten" in someone's words is text."""
    from crawler.changes.noise import compiled

    noise = compiled(True, ())
    quoted = 'Sie sagen "ich bin vor 5 Minuten schon ausgeraubt worden".'
    assert "vor 5 Minuten" in noise.strip(quoted)
    assert "15 days ago" in noise.strip("“Welcome weekend was well over 15 days ago now,” he says.")
    assert "ago" not in noise.strip("Welcome weekend news, updated 15 minutes ago.")
    assert "vor 5 Minuten" not in noise.strip("„Zusage“ Aktualisiert vor 5 Minuten.")
    # A pull quote's lone mark opens nothing.
    assert "ago" not in noise.strip("| “ | 55,306 views · updated 49 minutes ago")

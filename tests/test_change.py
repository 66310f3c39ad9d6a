"""Change intelligence: page noise stays out of versions, diffs are measured and classed, Latin diffs by word."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import LocalServer, Project
from crawler.changes.outcome import analyse
from crawler.model import RawResponse
from crawler.config import load_settings
from crawler.errors import ConfigError
from crawler.changes.noise import BUILTIN_NOISE, NO_NOISE, NoiseRules
from crawler.changes.normalise import markdown_to_text, text_sha256
from crawler.changes.versions import (
    EDIT_SIMILARITY,
    MAJOR_SIMILARITY,
    MINOR_SIMILARITY,
    WORD_DIFF_MAX_TOKENS,
    classify_change,
    diff_texts,
    is_new_version,
    sentences,
    version_sha256,
    word_ops,
)
from pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, article_page, seed_body, wechat_page

SEEDS = Path(__file__).parent.parent / "seeds"

ZH_ARTICLE = "\n".join(ZH_PARAGRAPHS)
EN_ARTICLE = "\n".join(EN_PARAGRAPHS)


# --- noise stripping ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence, kept",
    [
        ("阅读 1234", ""),
        ("阅读 10万+ 在看 12", ""),
        ("1234人阅读", ""),
        ("阅读量：5678 · 3小时前", ""),
        ("发布于 5分钟前", ""),
        ("更新时间：2024年3月1日 12:00", ""),
        ("评论（12）", ""),
        ("原创 张三 档案观察 2024-03-01 阅读 1234", "原创 张三 档案观察 2024-03-01"),
        ("1,234 views", ""),
        ("12 comments | 34 likes", ""),
        ("By Jane Doe · 1,234 views · updated 5 minutes ago", "By Jane Doe"),
        ("by Jane Doe 1,234 views · updated 5 minutes ago", "by Jane Doe"),
        ("Updated 5 minutes ago", ""),
        ("Posted 2 years ago", ""),
        ("Last updated: 2024-03-01 12:30", ""),
        ("Stand: 05.03.2024, 14:32 Uhr", ""),
        ("Page views: 3,456", "Page"),
        ("March 5, 2024", ""),
        ("© 2024 Example News", "Example News"),
    ],
)
def test_builtin_noise_is_stripped(sentence: str, kept: str) -> None:
    assert BUILTIN_NOISE.strip(sentence) == kept


@pytest.mark.parametrize(
    "sentence",
    [
        "每天阅读2小时。",
        "每天阅读 2 小时。",
        "他刚刚离开。",
        "The company sold 500 shares.",
        "He got 1,234 views on his first video.",
        "On March 5, 2024, the council met.",
        "Two years ago the town was empty.",
        "The storm killed 12 people.",
    ],
)
def test_prose_with_numbers_and_dates_is_kept(sentence: str) -> None:
    assert BUILTIN_NOISE.strip(sentence) == sentence


# Text anyone who can write on a watched page controls. Each took exponential or high-polynomial time
# in the regex engine (issue 15: "likes (1) " * 21 + "q" ran 15 s, doubling per repetition; an 866-byte
# page held the crawl for 11 minutes); at these lengths they would never finish.
HOSTILE_SENTENCES = [
    ("likes (1) " * 21 + "q", None),  # the reproduction
    ("likes (1) " * 400 + "q", None),
    ("1 likes " * 400 + "q", None),
    ("views 1,1 likes 1,1 " * 400 + "q", None),
    ("| " + "views 1 " * 12 + "q", "q"),
    ("likes (1) · " * 400 + "q", "q"),
    ("阅读 1 " * 400 + "q", "q"),
    ("2024-03-01" + " " * 20_000 + "x", None),
    ("updated" + " " * 20_000 + "x", None),
]


def test_builtin_noise_is_linear_on_hostile_text() -> None:
    # In a child process with a deadline: a pattern that backtracks would hang this test, not fail it.
    script = (
        "import json, sys\n"
        "from crawler.changes.noise import BUILTIN_NOISE\n"
        "print(json.dumps([BUILTIN_NOISE.strip(s) for s in json.load(sys.stdin)]))\n"
    )
    sentences = [s for s, _ in HOSTILE_SENTENCES]
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(sentences), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    stripped = json.loads(done.stdout)
    for (sentence, kept), result in zip(HOSTILE_SENTENCES, stripped):
        # None: counters that run into a word of prose ("... q") are not a meta line; kept as they are.
        assert result == (sentence if kept is None else kept), sentence[:40]


def with_noise(article: str, views: int, minutes: int, cjk: bool) -> str:
    """An extracted text with a counter line above and a timestamp line below the article."""
    meta = f"阅读 {views} · {minutes}分钟前" if cjk else f"{views:,} views · updated {minutes} minutes ago"
    stamp = (
        f"更新时间：2024-03-{minutes % 28 + 1:02d} 10:{minutes:02d}"
        if cjk
        else f"Last updated: 2024-03-{minutes % 28 + 1:02d} 10:{minutes:02d}"
    )
    return f"{meta}\n{article}\n{stamp}"


@pytest.mark.parametrize("article, cjk", [(ZH_ARTICLE, True), (EN_ARTICLE, False)])
def test_counter_and_timestamp_changes_are_not_a_new_version(article: str, cjk: bool) -> None:
    first, later = with_noise(article, 1234, 5, cjk), with_noise(article, 98765, 47, cjk)
    assert first != later
    assert not is_new_version(later, version_sha256(first))
    result = diff_texts(first, later)
    assert (result.similarity, result.diff, result.chars_added) == (1.0, "", 0)
    # Without the built-in patterns the same revisit would be a version: the noise is real.
    assert is_new_version(later, version_sha256(first, NO_NOISE), NO_NOISE)


def test_edit_next_to_a_counter_is_detected() -> None:
    old = "阅读 1234 这篇文章说明了问题。\n" + ZH_ARTICLE
    new = "阅读 1301 这篇文章说明了新问题。\n" + ZH_ARTICLE
    assert is_new_version(new, version_sha256(old))
    result = diff_texts(old, new)
    assert [op for op in result.ops if op["op"] != "equal"] == [
        {
            "op": "replace",
            "old": ["阅读 1234 这篇文章说明了问题。"],
            "new": ["阅读 1301 这篇文章说明了新问题。"],
            "words": [
                ["equal", "阅读 "],
                ["delete", "1234"],
                ["insert", "1301"],
                ["equal", " 这篇文章说明了"],
                ["insert", "新"],
                ["equal", "问题。"],
            ],
        }
    ]
    # The diff shows the sentence as it was written, counter included: only comparison drops it.
    assert "+阅读 1301 这篇文章说明了新问题。" in result.diff.splitlines()


def test_noise_only_sentences_leave_comparison_not_shown_text() -> None:
    split = sentences("1,234 views\nThe council met. 56 comments | 7 likes\nThe end.")
    assert split.shown == ["The council met.", "The end."]
    assert split.keys == ["the council met.", "the end."]


def test_hash_without_noise_is_the_text_hash_of_older_archives() -> None:
    texts = [ZH_ARTICLE, EN_ARTICLE] + [
        markdown_to_text(p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*.txt"))
    ]
    for text in texts:
        assert sentences(text, NO_NOISE).sha256 == text_sha256(text)


def test_per_domain_patterns_apply_to_their_domain_and_subdomains() -> None:
    rules = NoiseRules.from_config(
        {"example.org": [r"Reading time: \d+ min"], "*": [r"(?i)advertisement"]}, builtin=True
    )
    site = rules.for_url("https://news.example.org/a/1")
    other = rules.for_url("https://example.net/a/1")
    assert site.strip("Reading time: 7 min") == ""
    assert other.strip("Reading time: 7 min") == "Reading time: 7 min"
    assert site.strip("ADVERTISEMENT") == other.strip("ADVERTISEMENT") == ""
    assert rules.for_url("https://notexample.org/") is other, "a suffix that is not a parent domain does not match"
    old, new = "Reading time: 3 min\n" + EN_ARTICLE, "Reading time: 4 min\n" + EN_ARTICLE
    assert not is_new_version(new, version_sha256(old, site), site)
    assert is_new_version(new, version_sha256(old, other), other)


def test_builtin_noise_can_be_switched_off() -> None:
    rules = NoiseRules.from_config({}, builtin=False)
    assert rules.for_url("https://example.org/").strip("阅读 1234") == "阅读 1234"


def test_rules_pickle_small_and_compile_once_per_site() -> None:
    rules = NoiseRules.from_config({"example.org": [r"Reading time: \d+ min"]})
    copy = pickle.loads(pickle.dumps(rules))
    assert copy == rules
    assert len(pickle.dumps(rules)) < 500, "plain strings cross to the workers, not compiled objects"
    assert copy.for_url("https://a.example.org/1") is rules.for_url("https://b.example.org/2")


@pytest.mark.parametrize(
    "ignore, message",
    [
        ({"example.org": ["(unclosed"]}, "'(unclosed' is not a regular expression"),
        ({"example.org": ["ok", "views?"]}, None),
        ({"*": ["x*"]}, "'x*' matches the empty string"),
        ({"https://example.org/": ["views"]}, "is not a domain"),
    ],
)
def test_change_config_is_validated_at_load(tmp_path: Path, ignore: dict, message: str | None) -> None:
    config = tmp_path / "crawler.yaml"
    config.write_text(json.dumps({"change": {"ignore": ignore, "builtin_noise": True}}), encoding="utf-8")
    if message is None:
        assert load_settings(config, environ={}).change.rules().ignore == (("example.org", ("ok", "views?")),)
        return
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    text = str(error.value)
    assert message in text and "change.ignore" in text and str(config) in text
    assert "\n" not in text


def test_shipped_config_has_the_change_section() -> None:
    settings = load_settings(Path(__file__).parent.parent / "config" / "crawler.yaml", environ={})
    assert settings.change.builtin_noise is True and settings.change.ignore == {}


def raw_item(url: str, html: str) -> RawResponse:
    """A spider item for analyse(): a 200 response with this HTML."""
    return RawResponse(
        seed_id="s",
        url=url,
        status=200,
        headers={"content-type": ["text/html; charset=utf-8"]},
        body=html.encode("utf-8"),
    )


def test_version_hashed_before_noise_rules_is_still_unchanged() -> None:
    # An archive made before noise was ignored stored the plain text hash of a text with a counter.
    url = "http://127.0.0.1:9/en"
    first = analyse(raw_item(url, article_page("T", ["1,234 views"] + EN_PARAGRAPHS, lang="en")), 1, None, None, ())
    text = first.new_version.text
    assert "1,234 views" in text, "the counter reaches the stored text"
    assert first.new_version.text_sha256 != text_sha256(text)
    latest = {"id": 1, "version": 1, "text": text, "text_sha256": text_sha256(text), "title": "T"}
    again = analyse(raw_item(url, article_page("T", ["1,301 views"] + EN_PARAGRAPHS, lang="en")), 2, None, latest, ())
    assert again.capture.outcome == "unchanged" and again.new_version is None
    edited = [EN_PARAGRAPHS[0].replace("Tuesday", "Wednesday")] + EN_PARAGRAPHS[1:]
    changed = analyse(raw_item(url, article_page("T", ["1,301 views"] + edited, lang="en")), 3, None, latest, ())
    assert changed.capture.outcome == "new_version"


def test_config_patterns_reach_analyse() -> None:
    url = "http://news.example.org/a"
    rules = NoiseRules.from_config({"example.org": [r"Reading time: \d+ min"]})
    first = analyse(
        raw_item(url, article_page("T", EN_PARAGRAPHS + ["Reading time: 3 min"], lang="en")),
        1,
        None,
        None,
        (),
        noise=rules,
    )
    latest = {"id": 1, "version": 1, "text": first.new_version.text, "compare_sha256": first.new_version.compare_sha256}
    page = raw_item(url, article_page("T", EN_PARAGRAPHS + ["Reading time: 4 min"], lang="en"))
    assert analyse(page, 2, None, latest, (), noise=rules).capture.outcome == "unchanged"
    assert analyse(page, 2, None, latest, ()).capture.outcome == "new_version"


def test_code_after_a_self_closed_script_tag_is_not_text() -> None:
    # Browsers ignore the slash of <script/> and run what follows; libxml2 closed the tag and kept the code as text.
    url = "http://127.0.0.1:9/js"

    def page(token: str) -> str:
        code = f'<script type="text/javascript"/>window.pageview = "{token}"; track(window.pageview);</script>'
        return article_page("T", EN_PARAGRAPHS, lang="en").replace("<article>", "<article>" + code)

    first = analyse(raw_item(url, page("a1b2")), 1, None, None, ())
    assert "pageview" not in first.new_version.text
    assert "Sundays from next spring" in first.new_version.text
    latest = {"id": 1, "version": 1, "text": first.new_version.text, "compare_sha256": first.new_version.compare_sha256}
    assert analyse(raw_item(url, page("c3d4")), 2, None, latest, ()).capture.outcome == "unchanged"


# --- retained and change class ------------------------------------------------------------------

LONG_EN = " ".join(
    f"Sentence number {i} of the report describes one more finding of the survey in plain words." for i in range(40)
)


@pytest.mark.parametrize(
    "similarity, touched, expected",
    [
        (1.0, 0, "minor"),
        (0.995, 1, "minor"),
        (MINOR_SIMILARITY, 1, "minor"),
        (0.995, 2, "edit"),
        (0.97, 1, "edit"),
        (EDIT_SIMILARITY, 5, "edit"),
        (0.84, 1, "major"),
        (MAJOR_SIMILARITY, 30, "major"),
        (0.49, 30, "rewrite"),
        (0.0, 1, "rewrite"),
    ],
)
def test_change_class_thresholds(similarity: float, touched: int, expected: str) -> None:
    assert classify_change(similarity, touched) == expected


def test_change_classes_of_real_edits() -> None:
    one_word = LONG_EN.replace("Sentence number 7 of the report", "Sentence number 7 of the paper")
    result = diff_texts(LONG_EN, one_word)
    assert (result.change, result.sentences_changed) == ("minor", 1)
    assert result.retained == pytest.approx(39 / 40)

    sentences_of = LONG_EN.split(". ")
    paragraph = ". ".join(
        s if not 10 <= i < 14 else f"A corrected statement {i} replaces what was said"
        for i, s in enumerate(sentences_of)
    )
    result = diff_texts(LONG_EN, paragraph)
    assert result.change == "edit" and result.sentences_changed == 4

    half = ". ".join(sentences_of[:20]) + "."
    result = diff_texts(LONG_EN, half)
    assert result.change == "major"
    assert result.retained == pytest.approx(20 / 40)

    assert diff_texts(LONG_EN, ZH_ARTICLE).change == "rewrite"
    assert diff_texts(LONG_EN, ZH_ARTICLE).retained == 0.0


def test_moved_sentences_count_as_retained() -> None:
    old = "First point. Second point. Third point. Fourth point."
    new = "Fourth point. First point. Second point. Third point."
    result = diff_texts(old, new)
    assert result.retained == 1.0
    assert result.similarity < 1.0


# --- word-level ops ---------------------------------------------------------------------------------


def test_word_ops_of_a_replaced_latin_sentence() -> None:
    old = "The council met on Tuesday. The old library will close."
    new = "The council met on Tuesday. The new library will close."
    replaced = [op for op in diff_texts(old, new).ops if op["op"] == "replace"]
    assert replaced == [
        {
            "op": "replace",
            "old": ["The old library will close."],
            "new": ["The new library will close."],
            "words": [["equal", "The "], ["delete", "old"], ["insert", "new"], ["equal", " library will close."]],
        }
    ]


@pytest.mark.parametrize(
    "old, new",
    [
        ("The old red cat sat.", "The new blue cat sat."),
        (
            "Critics said the money should have gone to road repairs instead.",
            "Critics said the money should have gone to school repairs, not roads.",
        ),
        ("Der Rat tagte am Dienstag.", "Der Stadtrat tagte am Mittwoch in Basel."),
    ],
)
def test_word_ops_rebuild_both_sentences(old: str, new: str) -> None:
    words = word_ops(old, new)
    assert words is not None
    assert "".join(text for tag, text in words if tag != "insert") == old
    assert "".join(text for tag, text in words if tag != "delete") == new
    assert {tag for tag, _ in words} <= {"equal", "delete", "insert"}
    # Adjacent changes merge: never two deletes or two inserts in a row, nor a space kept between changes.
    tags = [tag for tag, _ in words]
    assert all(a != b for a, b in zip(tags, tags[1:]))


def test_chinese_is_diffed_character_by_character() -> None:
    zh = diff_texts("第一句。这是原来的句子。", "第一句。这是修改后的句子。")
    assert [op["words"] for op in zh.ops if "words" in op] == [
        [["equal", "这是"], ["delete", "原来"], ["insert", "修改后"], ["equal", "的句子。"]]
    ]
    # A censor's edit: two characters replaced inside a long sentence show as exactly those two.
    old = "他在会上说，张三的问题必须彻底查清，任何人都不能例外。"
    assert word_ops(old, old.replace("张三", "××")) == [
        ["equal", "他在会上说，"],
        ["delete", "张三"],
        ["insert", "××"],
        ["equal", "的问题必须彻底查清，任何人都不能例外。"],
    ]
    assert word_ops("日本語の文章です。", "日本語の記事です。") == [
        ["equal", "日本語の"],
        ["delete", "文章"],
        ["insert", "記事"],
        ["equal", "です。"],
    ]


def test_no_word_ops_for_rewritten_or_overlong_sentences() -> None:
    rewritten = diff_texts("Keep this. A completely different sentence here.", "Keep this. Nothing in common, truly!")
    assert all("words" not in op for op in rewritten.ops)
    long_old = " ".join(["word"] * WORD_DIFF_MAX_TOKENS)
    assert word_ops(long_old, long_old + " more") is None


# --- end to end ------------------------------------------------------------------------------------

EN_LONG_PARAGRAPHS = EN_PARAGRAPHS + [
    "The new opening hours will be reviewed after six months. Library staff welcomed the decision.",
    "A survey last autumn showed that most visitors wanted weekend hours. Students were the keenest group.",
    "The council also discussed parking near the library. No decision was taken on that point.",
    "Residents can comment on the plans until the end of the month. The final budget vote is in March.",
]
EDIT_OLD, EDIT_NEW = "Students were the keenest group.", "Pensioners were the keenest group."


def en_page(views: int, minutes: int, script: str, reading: int, paragraphs: list[str]) -> str:
    """The English article with a counter, a reading-time line and a script that change per visit."""
    page = article_page(
        "Council approves library budget",
        [f"{views:,} views · updated {minutes} minutes ago", *paragraphs, f"Reading time: {reading} min"],
        lang="en",
    )
    return page.replace("</head>", f"<script>var pv = {script!r};</script></head>").replace(
        "<main>", f'<main data-build="{script}" class="css-{script}">'
    )


def zh_page(views: int, hours: int, paragraphs: list[str]) -> str:
    """A WeChat-style article whose read count and relative time change per visit."""
    return wechat_page("档案员如何发现被修改的文章", [f"阅读 {views} · {hours}小时前", *paragraphs])


def test_noise_only_revisit_is_unchanged_and_an_edit_is_classed(page_server: LocalServer, project: Project) -> None:
    # Through the extraction pool: the site's pattern must reach the worker processes.
    project.config.write_text(
        project.config.read_text()
        + "  extract_workers: 2\nchange:\n  ignore:\n    127.0.0.1: ['Reading time: \\d+ min']\n",
        encoding="utf-8",
    )
    en_url = page_server.page("/en", en_page(1234, 5, "a1", 3, EN_LONG_PARAGRAPHS))
    zh_url = page_server.page("/zh", zh_page(1234, 2, ZH_PARAGRAPHS))
    project.seed("en", en_url, seed_body("Council approves library budget", EN_LONG_PARAGRAPHS))
    project.seed("zh", zh_url, seed_body("档案员如何发现被修改的文章", ZH_PARAGRAPHS))

    first = project.run("crawl")
    assert first.returncode == 0, first.stderr
    assert "2 new versions" in first.stdout
    texts = {r["seed_id"]: r["text"] for r in project.rows("SELECT seed_id, text FROM versions")}
    # The noise reached the extracted text, and stays in the stored version: only comparison drops it.
    assert "1,234 views" in texts["en"] and "Reading time: 3 min" in texts["en"]
    assert "阅读 1234" in texts["zh"]

    page_server.page("/en", en_page(98765, 42, "b2", 4, EN_LONG_PARAGRAPHS))
    page_server.page("/zh", zh_page(1301, 5, ZH_PARAGRAPHS))
    again = project.run("crawl")
    assert again.returncode == 0, again.stderr
    assert "0 new versions, 2 unchanged" in again.stdout
    outcomes = project.rows("SELECT seed_id, outcome, payload_digest FROM captures WHERE run_id = 2 ORDER BY seed_id")
    assert [o["outcome"] for o in outcomes] == ["unchanged", "unchanged"]

    edited = [p.replace(EDIT_OLD, EDIT_NEW) for p in EN_LONG_PARAGRAPHS]
    page_server.page("/en", en_page(99001, 7, "c3", 4, edited))
    third = project.run("crawl", "en")
    assert third.returncode == 0, third.stderr
    assert "1 new versions" in third.stdout
    v2 = project.rows("SELECT id FROM versions WHERE seed_id = 'en' AND version = 2")[0]["id"]
    diffs = {d["base"]: d for d in project.rows("SELECT * FROM diffs WHERE version_id = ?", v2)}
    previous, original = diffs["previous"], diffs["original"]
    assert previous["change"] == "minor" and previous["similarity"] >= MINOR_SIMILARITY
    assert previous["retained"] is None
    changed = [line for line in previous["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [f"-{EDIT_OLD}", f"+{EDIT_NEW}"], (
        "counter and reading time changed too, but are not shown as edits"
    )
    replaced = [op for op in json.loads(previous["ops"]) if op["op"] != "equal"]
    assert replaced == [
        {
            "op": "replace",
            "old": [EDIT_OLD],
            "new": [EDIT_NEW],
            "words": [["delete", "Students"], ["insert", "Pensioners"], ["equal", " were the keenest group."]],
        }
    ]
    # Against the saved original (its title and n sentences): all but the edited sentence are kept.
    n = sum(len(re.findall(r"[.!?](?:\s|$)", p)) for p in EN_LONG_PARAGRAPHS)
    assert original["retained"] == round(n / (n + 1), 4)
    assert original["change"] in ("minor", "edit")

    rewritten = EN_LONG_PARAGRAPHS[:3] + [
        p.replace("library", "swimming pool").replace("The ", "Our ") for p in EN_LONG_PARAGRAPHS[3:]
    ]
    rewritten[4] = "Nobody was asked about the new pool. The mayor said the survey was enough."
    rewritten[5] = "Parking will be free on Sundays. Cyclists get a new shelter."
    rewritten[6] = "Comments are open for two weeks only. The vote follows in April."
    page_server.page("/en", en_page(99002, 8, "d4", 5, rewritten))
    fourth = project.run("crawl", "en")
    assert "1 new versions" in fourth.stdout, fourth.stdout + fourth.stderr
    latest = project.rows(
        "SELECT d.change, d.similarity FROM diffs d JOIN versions v ON v.id = d.version_id "
        "WHERE v.seed_id = 'en' AND v.version = 3 AND d.base = 'previous'"
    )[0]
    assert latest["change"] == "major", latest

"""Tests for crawler.seeds: the shipped seeds, every broken case, encodings, overrides and duplicates."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from crawler.errors import SeedError
from crawler.seeds import (
    MAX_SEED_BYTES,
    SEED_SUFFIXES,
    Seed,
    decode_arturl,
    load_seed,
    load_seeds,
    parse_seed,
    validate_url,
)

SHIPPED = Path(__file__).parent.parent / "seeds"
ID_000 = "000_4387e3e1fc3e043d"
ID_001 = "001_c906cd5f6364476e"
ID_002 = "002_506cf2e3bbd555df"
ID_003 = "003_65f32d716cf2f4db"
ID_004 = "004_55c08d260c197553"
WEIXIN_URL = (
    "https://mp.weixin.qq.com/s?__biz=MzIzMzE4NDU1OQ==&mid=2652029510&idx=1"
    "&sn=bc8de536c9c45054c842432d95da9255&chksm=f36fee06c4186710bdf350d5fb4aa345824810256b4918098f3a30ccd202a44fe0bf41b25d9f"
    "&scene=58&subscene=0"
)
CSDN_URL = "https://blog.csdn.net/bjweimengshu/article/details/130397327"


def write(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a seed file (text in the given encoding, or raw bytes) and return its path."""
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def seed_from(folder: Path, content: str | bytes, name: str = "s.txt", **kwargs) -> Seed:
    """Write content to a seed file and load it."""
    return load_seed(write(folder, name, content), **kwargs)


@pytest.fixture(scope="module")
def shipped() -> dict[str, Seed]:
    return {seed.id: seed for seed in load_seeds(SHIPPED)}


# --- the shipped seeds -------------------------------------------------------------------------


def test_shipped_seeds_two_ok(shipped):
    assert sorted(shipped) == [ID_000, ID_001, ID_002, ID_003, ID_004]
    assert sorted(i for i, s in shipped.items() if s.status == "ok") == [ID_000, ID_004]


def test_shipped_000_url_from_front_matter(shipped):
    seed = shipped[ID_000]
    assert seed.url == WEIXIN_URL + "#rd"
    assert seed.fetch_url == WEIXIN_URL
    assert seed.url_from == "front_matter"
    assert seed.title == "【安全圈】微软挑战谷歌推出ChatGPT AI新版本，微美全息AI协同创新聚焦主流领域"
    assert seed.date == "2023-01-08"
    assert seed.fetch_date == "2025-10-04T03:19:41.902108"
    assert seed.source == "安全圈"
    assert seed.extra == {}
    assert seed.problem is None
    assert seed.body.lstrip().startswith("# 【安全圈】")
    assert "fetch_date:" not in seed.body


def test_shipped_004_url_from_arturl_encode(shipped):
    seed = shipped[ID_004]
    assert seed.status == "ok"
    assert seed.url == seed.fetch_url == CSDN_URL
    assert seed.url_from == "arturl_encode"
    assert seed.title == "AIGC消息天天不断,到底什么是AIGC"
    assert seed.date == "2024-10-16T20:02:20+08:00"
    assert seed.extra["tags"] == ["人工智能", "Aigc"]
    assert seed.extra["image"]["alt"] == "AIGC消息天天不断,到底什么是AIGC"
    assert seed.extra["render_with_liquid"] is False
    assert not {"url", "arturl_encode", "title", "date", "fetch_date", "source"} & set(seed.extra)
    assert json.loads(json.dumps(seed.extra, allow_nan=False)) == seed.extra


@pytest.mark.parametrize("seed_id", [ID_001, ID_002, ID_003])
def test_shipped_without_front_matter_have_no_url(shipped, seed_id):
    seed = shipped[seed_id]
    assert seed.status == "no_url"
    assert seed.url is None and seed.fetch_url is None and seed.url_from is None
    assert seed.problem == f"no front matter and no URL; give one in config/crawler.yaml under seeds.urls.{seed_id}"
    assert seed.body


def test_shipped_titles_from_body(shipped):
    assert shipped[ID_002].title == "马斯克的AI公司融资10亿美元 对抗ChatGPT"
    assert shipped[ID_003].title == "为什么微信迟迟未接入大模型"
    # No heading: the first non-empty line, trimmed.
    assert shipped[ID_001].title == "ChatGPT 是一个由 OpenAI 开发的聊天机器人模型，其通过 NLP（Natural"


# --- URL overrides from config --------------------------------------------------------------------


def test_override_gives_url_to_seed_without_one():
    seeds = {s.id: s for s in load_seeds(SHIPPED, {ID_003: "https://example.com/wechat-llm#top"})}
    seed = seeds[ID_003]
    assert seed.status == "ok"
    assert seed.url == "https://example.com/wechat-llm#top"
    assert seed.fetch_url == "https://example.com/wechat-llm"
    assert seed.url_from == "config"
    assert seed.problem is None
    assert seed.title == "为什么微信迟迟未接入大模型"
    assert seeds[ID_002].status == "no_url"


def test_override_wins_over_front_matter():
    seed = load_seed(SHIPPED / f"{ID_000}.txt", {ID_000: "https://example.org/a"})
    assert (seed.status, seed.fetch_url, seed.url_from) == ("ok", "https://example.org/a", "config")
    assert seed.title.startswith("【安全圈】")


def test_override_rescues_bad_front_matter_url(tmp_path):
    seed = seed_from(tmp_path, "---\nurl: ftp://x/y\n---\nbody\n", url_overrides={"s": "http://ok.example/"})
    assert seed.status == "ok" and seed.url_from == "config"


def test_invalid_override_is_broken_and_names_config(tmp_path):
    seed = seed_from(tmp_path, "text\n", url_overrides={"s": "example.com/page"})
    assert seed.status == "broken"
    assert "seeds.urls.s" in seed.problem and "no scheme" in seed.problem
    assert seed.url == "example.com/page" and seed.fetch_url is None


# --- front matter ---------------------------------------------------------------------------------


def test_front_matter_without_url_is_no_url(tmp_path):
    seed = seed_from(tmp_path, "---\ntitle: T\n---\n# Heading\n")
    assert seed.status == "no_url"
    assert seed.problem.startswith("front matter has no url or arturl_encode;")
    assert "seeds.urls.s" in seed.problem
    assert seed.title == "T"


def test_empty_front_matter_is_no_url(tmp_path):
    seed = seed_from(tmp_path, "---\n---\n# Heading #\ntext\n")
    assert seed.status == "no_url"
    assert seed.title == "Heading"
    assert seed.body == "# Heading #\ntext\n"


def test_front_matter_closed_by_dots_and_opener_with_trailing_spaces(tmp_path):
    seed = seed_from(tmp_path, "---  \nurl: https://a.example/x\n...\nbody\n")
    assert seed.status == "ok" and seed.fetch_url == "https://a.example/x"
    assert seed.body == "body\n"


def test_crlf_and_bom(tmp_path):
    content = "\ufeff---\r\nurl: https://a.example/x\r\ntitle: T\r\n---\r\nbody\r\n"
    seed = seed_from(tmp_path, content)
    assert (seed.status, seed.title, seed.body) == ("ok", "T", "body\n")


def test_dashes_later_in_file_are_not_front_matter(tmp_path):
    seed = seed_from(tmp_path, "intro\n---\nurl: https://a.example/\n---\n")
    assert seed.status == "no_url"
    assert seed.problem.startswith("no front matter")


def test_quoted_dates_are_normalised(tmp_path):
    seed = seed_from(
        tmp_path,
        '---\nurl: https://a.example/\ndate: "2024-10-16 20:02:20 +08:00"\nfetch_date: "2023-01-08"\n---\n',
    )
    assert seed.date == "2024-10-16T20:02:20+08:00"
    assert seed.fetch_date == "2023-01-08"


def test_unparseable_date_text_is_kept(tmp_path):
    seed = seed_from(tmp_path, "---\nurl: https://a.example/\ndate: 2024年10月16日\n---\n")
    assert (seed.status, seed.date) == ("ok", "2024年10月16日")


def test_extra_is_json_safe(tmp_path):
    content = (
        "---\nurl: https://a.example/\n"
        "published: 2023-01-08\nnested: {when: 2024-10-16 20:02:20 +08:00, n: .nan}\n"
        "blob: !!binary aGVsbG8=\nset: !!set {b, a}\n1: one\n---\n"
    )
    seed = seed_from(tmp_path, content)
    assert seed.extra == {
        "published": "2023-01-08",
        "nested": {"when": "2024-10-16T20:02:20+08:00", "n": "nan"},
        "blob": "aGVsbG8=",
        "set": ["a", "b"],
        "1": "one",
    }
    json.dumps(seed.extra, allow_nan=False)


# --- titles ---------------------------------------------------------------------------------------


def test_title_skips_code_fences_and_prefers_heading(tmp_path):
    seed = seed_from(tmp_path, "\n\nfirst line\n```\n# not a heading\n```\n# Real  title\n")
    assert seed.title == "Real title"


def test_title_from_long_first_line_is_trimmed(tmp_path):
    seed = seed_from(tmp_path, "x" * 500 + "\nmore\n")
    assert seed.title == "x" * 200


def test_css_hash_is_not_a_heading(tmp_path):
    seed = seed_from(tmp_path, "plain first\n#404040;--weui: #fff\n")
    assert seed.title == "plain first"


# --- broken files ---------------------------------------------------------------------------------

BROKEN_CASES = [
    ("bad_yaml", b"---\ntitle: a\nurl: http://x: y\n---\nbody\n", ["line 3", "mapping values are not allowed here"]),
    ("unclosed_flow_list", b"---\na: 1\nb: 2\nc: 3\nd: [1, 2\n---\n", ["line 5", "bad YAML"]),
    ("unclosed", b"---\nurl: https://a.example/\nbody\n", ["never closed", "'---'"]),
    ("list_front_matter", b"---\n- a\n- b\n---\nbody\n", ["not a mapping", "list"]),
    ("scalar_front_matter", b"---\njust text\n---\nbody\n", ["not a mapping", "text"]),
    ("ftp", b"---\nurl: ftp://files.example/a\n---\n", ["unsupported scheme 'ftp:'", "front matter url"]),
    ("file", b"---\nurl: file:///etc/passwd\n---\n", ["unsupported scheme 'file:'"]),
    ("javascript", b"---\nurl: 'javascript:alert(1)'\n---\n", ["unsupported scheme 'javascript:'"]),
    ("no_host", b"---\nurl: https:///path\n---\n", ["no host"]),
    ("bad_port", b"---\nurl: https://a.example:99999/\n---\n", ["malformed"]),
    ("url_not_text", b"---\nurl: [a, b]\n---\n", ["url is a list"]),
    ("bad_hex", b'---\narturl_encode: "6874:7g70"\n---\n', ["arturl_encode", "'g'"]),
    ("odd_hex", b'---\narturl_encode: "687"\n---\n', ["arturl_encode", "odd number"]),
    ("arturl_to_bad_url", b'---\narturl_encode: "6674703a2f2f78"\n---\n', ["arturl_encode", "'ftp:'"]),
    ("empty", b"", ["empty"]),
    ("whitespace_only", b"  \n\r\n\t\n", ["empty"]),
    ("binary_nul", b"PK\x03\x04\x00\x00\x14\x00", ["binary", "NUL"]),
    ("utf16", "---\nurl: x\n---\n".encode("utf-16"), ["binary"]),
    ("not_text", b"\xff\xfe\xfa bad \x80\x80", ["not UTF-8 or GB18030"]),
    ("bad_date", b"---\nurl: https://a.example/\ndate: 2024-13-45\n---\n", ["bad value", "month"]),
    ("title_mapping", b"---\nurl: https://a.example/\ntitle: {a: 1}\n---\n", ["'title'", "mapping"]),
    (
        "alias_bomb",
        b"---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\n",
        ["too large"],
    ),
    ("recursive", b"---\nloop: &l [*l]\n---\n", ["too large or nested too deeply"]),
]


@pytest.mark.parametrize(("name", "content", "facts"), BROKEN_CASES, ids=[case[0] for case in BROKEN_CASES])
def test_broken_cases(tmp_path, name, content, facts):
    seed = seed_from(tmp_path, content, name=f"{name}.md")
    assert seed.status == "broken"
    assert seed.id == name
    assert seed.fetch_url is None
    assert seed.body == ""
    assert seed.problem and "\n" not in seed.problem
    for fact in facts:
        assert fact in seed.problem


def test_bad_yaml_message_format(tmp_path):
    seed = seed_from(tmp_path, "---\ntitle: a\nurl: http://x: y\n---\nbody\n")
    assert seed.problem == "bad YAML front matter at line 3: mapping values are not allowed here; fix the front matter"


def test_too_large_file_is_broken(tmp_path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_SEED_BYTES + 10)
    # A sparse file of zeros would be "binary"; the size check must come first and name the limit.
    seed = load_seed(path)
    assert seed.status == "broken"
    assert "20 MB" in seed.problem
    assert parse_seed(path, b"a" * (MAX_SEED_BYTES + 1)).status == "broken"


def test_unreadable_path_is_broken(tmp_path):
    (tmp_path / "dir.txt").mkdir()
    seed = load_seed(tmp_path / "dir.txt")
    assert seed.status == "broken" and "cannot read" in seed.problem


def test_parse_seed_never_raises_on_random_bytes(tmp_path):
    rng = random.Random(1234)
    prefixes = [b"", b"---\n", b"---\nurl: ", b"---\narturl_encode: "]
    for round_ in range(300):
        raw = rng.choice(prefixes) + bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
        if round_ % 3 == 0:
            raw += b"\n---\n"
        seed = parse_seed(tmp_path / "fuzz.txt", raw)
        assert seed.status in {"ok", "no_url", "broken"}
        assert seed.status == "ok" or seed.problem
        assert seed.problem is None or "\n" not in seed.problem
        json.dumps(seed.extra)


# --- encodings ------------------------------------------------------------------------------------


def test_gbk_seed_is_read(tmp_path):
    content = "---\nurl: https://a.example/文章\ntitle: 为什么微信迟迟未接入大模型\n---\n# 标题\n正文\n"
    seed = seed_from(tmp_path, content.encode("gbk"))
    assert seed.status == "ok"
    assert seed.title == "为什么微信迟迟未接入大模型"
    assert seed.url == "https://a.example/文章"
    assert seed.body == "# 标题\n正文\n"


def test_gbk_seed_without_front_matter(tmp_path):
    seed = seed_from(tmp_path, "为什么微信迟迟未接入大模型\n正文\n".encode("gbk"))
    assert (seed.status, seed.title) == ("no_url", "为什么微信迟迟未接入大模型")


# --- helpers --------------------------------------------------------------------------------------


def test_decode_arturl():
    assert decode_arturl("68747470733a2f2f626c:6f672e6373646e2e6e6574") == "https://blog.csdn.net"
    assert decode_arturl("68 74:74 70") == "http"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("zz", "non-hex character 'z' at position 0"),
        ("abc", "odd number"),
        ("", "empty"),
        (":", "empty"),
        ("ff", "UTF-8"),
    ],
)
def test_decode_arturl_errors(value, message):
    with pytest.raises(ValueError, match=message):
        decode_arturl(value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://a.example/x?y=1#f", None),
        ("HTTP://a.example", None),
        ("http://[::1]:8080/", None),
        ("", "empty"),
        ("https://a.example/a b", "spaces"),
        ("a.example/x", "no scheme"),
        ("ftp://a.example/", "unsupported scheme 'ftp:'"),
        ("mailto:x@a.example", "unsupported scheme"),
        ("http://", "no host"),
        ("http://[::1/", "malformed"),
    ],
)
def test_validate_url(url, problem):
    result = validate_url(url)
    if problem is None:
        assert result is None
    else:
        assert problem in result


# --- folders --------------------------------------------------------------------------------------


def test_load_seeds_picks_seed_files_sorted_by_id(tmp_path):
    for name in ["b.MD", "a.txt", "c.markdown", "d.Text", ".hidden.txt", "e.html", "f.txt~", "README"]:
        write(tmp_path, name, "text\n")
    (tmp_path / "sub.txt").mkdir()
    assert [s.id for s in load_seeds(tmp_path)] == ["a", "b", "c", "d"]
    assert set(SEED_SUFFIXES) == {".txt", ".md", ".markdown", ".text"}


def test_duplicate_urls_both_ok_both_warned(tmp_path):
    write(tmp_path, "a.txt", "---\nurl: https://A.example/p#one\n---\n")
    write(tmp_path, "b.md", "---\nurl: https://a.example/p#two\n---\n")
    write(tmp_path, "c.txt", "---\nurl: https://a.example/other\n---\n")
    write(tmp_path, "d.txt", "no front matter\n")
    seeds = {s.id: s for s in load_seeds(tmp_path, {"d": "https://a.example/p"})}
    assert all(s.status == "ok" for s in seeds.values())
    assert seeds["a"].problem == "same URL as seed b, d"
    assert seeds["b"].problem == "same URL as seed a, d"
    assert seeds["d"].problem == "same URL as seed a, b"
    assert seeds["c"].problem is None


def test_duplicate_ids_second_is_broken(tmp_path):
    write(tmp_path, "x.md", "---\nurl: https://a.example/1\n---\n")
    write(tmp_path, "x.txt", "---\nurl: https://a.example/2\n---\n")
    first, second = load_seeds(tmp_path)
    assert (first.path.name, first.status) == ("x.md", "ok")
    assert (second.path.name, second.status) == ("x.txt", "broken")
    assert "x.md" in second.problem and "rename" in second.problem


def test_missing_folder_raises_seed_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SeedError) as info:
        load_seeds(missing)
    assert str(missing) in str(info.value)
    assert "--seeds" in str(info.value) and "create it" in str(info.value)


def test_folder_that_is_a_file_raises_seed_error(tmp_path):
    with pytest.raises(SeedError, match="not a folder"):
        load_seeds(write(tmp_path, "file.txt", "x"))


def test_empty_folder_gives_no_seeds(tmp_path):
    assert load_seeds(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unlistable_folder_raises_seed_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0)
    try:
        with pytest.raises(SeedError, match="cannot list"):
            load_seeds(folder)
    finally:
        folder.chmod(0o755)


FRONT_MATTERS = [
    "url: https://mp.weixin.qq.com/s/abc\ntitle: 标题：改写与删除\ndate: 2024-03-01\n",
    "title: 'quoted: colon'\ntags: [a, b, 中文]\nnested: {x: 1, y: [2, 3.5, null, true]}\n",
    "fetch_date: 2024-03-01T08:00:00+08:00\nsource: |\n  two\n  lines\nempty:\n",
    "a: &a [1, 2]\nb: *a\nn: 0x1F\no: 0o17\nyes_word: yes\nstamp: 2001-12-14 21:59:43.10 -5\n",
    "- a list\n- not a mapping\n",
    "just a scalar",
    "",
]


@pytest.mark.parametrize("text", FRONT_MATTERS)
def test_front_matter_parsed_as_the_pure_python_parser_does(text):
    import yaml

    from crawler.seeds import _FAST_LOADER, _parse_yaml

    # PyYAML's wheels carry libyaml: without it every run's start reads seeds seven times slower.
    assert _FAST_LOADER is not None
    assert _parse_yaml(text) == yaml.safe_load(text)

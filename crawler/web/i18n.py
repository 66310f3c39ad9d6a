"""The plugin's labels in English and Chinese, picked by ?_lang=, a cookie, plugins.crawler.language or Accept-Language.

Labels are keyed by their English wording: a label missing from ZH shows in English, never blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

LANGUAGES = ("en", "zh")
COOKIE = "crawler_lang"

ZH: dict[str, str] = {
    # navigation and headings
    "What happened": "最近发生了什么",
    "Articles": "文章",
    "Article archive": "文章存档",
    "All tables": "全部数据表",
    "Search": "搜索",
    "Atom feed": "Atom 订阅",
    "Timeline": "时间线",
    "Versions": "版本",
    "Latest captures": "最近的抓取",
    "latest": "最近一次",
    "All captures": "全部抓取",
    "Metadata changes": "元数据变化",
    "Screenshot": "截图",
    "screenshot": "截图",
    "Compare": "比较",
    "Show": "显示",
    "inline": "行内",
    "side by side": "并排",
    "from": "从",
    "to": "到",
    "original": "原文",
    "the original": "原文",
    "version {}": "第 {} 版",
    "Version {}": "第 {} 版",
    "Original text": "原文",
    "text": "正文",
    "raw response": "原始响应",
    "page as archived": "存档页面",
    "diff": "差异",
    "vs previous": "与上一版比较",
    "vs original": "与原文比较",
    "latest vs original": "最新版与原文比较",
    "Latest version vs original": "最新版与原文比较",
    "captures": "抓取",
    "capture": "抓取",
    "No events yet: the archive has no new versions, removals or failures.": "暂无事件：存档中还没有新版本、删除或失败。",
    "Older events": "更早的事件",
    "all {}": "全部 {} 篇",
    "all new versions": "全部新版本",
    "all removals": "全部删除记录",
    "all metadata changes": "全部元数据变化",
    "Filter": "筛选",
    "State": "状态",
    "Site": "网站",
    "Changed within": "变化时间",
    "Sort by": "排序",
    "any": "全部",
    "last change": "最近变化",
    "last fetched": "最近抓取",
    "title": "标题",
    "most versions": "版本最多",
    "Article": "文章",
    "Last change": "最近变化",
    "Last fetched": "最近抓取",
    "Similarity to original": "与原文相似度",
    "Last outcome": "最近结果",
    "Captured": "抓取时间",
    "Change": "变化",
    "Characters": "字数",
    "Fetched": "抓取时间",
    "Outcome": "结果",
    "Version": "版本",
    "Evidence": "证据",
    "When": "时间",
    "What": "事件",
    "Field": "字段",
    "Was": "原为",
    "Now": "现为",
    "day": "天",
    "week": "周",
    "month": "个月",
    "{} articles": "{} 篇文章",
    "{} events": "{} 个事件",
    "Times in {} (UTC on hover).": "时间为 {}（悬停显示 UTC）。",
    # states and outcomes
    "online": "在线",
    "removed": "已删除",
    "gone": "已不存在",
    "failing": "抓取失败",
    "not captured yet": "尚未抓取",
    "new version": "新版本",
    "unchanged": "未变化",
    "unchanged (304)": "未变化 (304)",
    "no article text": "无正文",
    "gone (404/410)": "已不存在 (404/410)",
    "failed": "失败",
    # events
    "new version {}": "新版本 {}",
    "removed: {}": "已删除：{}",
    "gone: {}": "已不存在：{}",
    "fetching fails: {}": "抓取失败：{}",
    "online again": "重新上线",
    "retitled": "标题变更",
    "re-dated": "日期变更",
    "author changed": "作者变更",
    "see the diff": "查看差异",
    "see the article": "查看文章",
    "see the banner and last good text": "查看删除通知与最后的正文",
    # article page
    "This article was removed": "此文章已被删除",
    "This article is gone": "此文章已不存在",
    "Fetching this article keeps failing": "此文章持续抓取失败",
    "Cause": "原因",
    "Notice shown": "页面显示的通知",
    "Last seen alive": "最后一次看到在线",
    "First seen removed": "第一次看到被删除",
    "First seen gone": "第一次看到已不存在",
    "never": "从未",
    "The last good text (version {}, captured {})": "最后一次正常抓取的正文（第 {} 版，抓取于 {}）",
    "The last good text is {} similar to the original.": "最后一次正常的正文与原文的相似度为 {}。",
    "The latest version is {} similar to the original.": "最新版本与原文的相似度为 {}。",
    "{} version": "{} 个版本",
    "{} versions": "{} 个版本",
    "{} capture": "{} 次抓取",
    "{} captures": "{} 次抓取",
    "{} article": "{} 篇文章",
    "next visit due {}": "下次访问 {}",
    "revisited every {}": "每 {} 访问一次",
    "No version captured yet.": "尚未抓取到版本。",
    "the first version found": "抓取到的第一个版本",
    "Dots and bars: captures, coloured by outcome. Flags: new versions. Blue line: similarity to the original. Click a bar for its captures.": "圆点与柱：抓取，按结果着色。旗标：新版本。蓝线：与原文的相似度。点击柱查看该时段的抓取。",
    "{} captures, a bar per {}": "{} 次抓取，每{}一柱",
    "{} captures from {} to {}": "{} 次抓取，从 {} 到 {}",
    # diff page
    "{} against {}": "{}与{}比较",
    "similarity": "相似度",
    "characters": "字符",
    "characters added": "新增字符",
    "characters removed": "删除字符",
    "of the original's sentences retained": "原文句子保留",
    "change": "变化类别",
    "Against the original the class follows the share of its sentences retained (docs/change-detection.md).": "与原文比较时，变化类别取决于原文句子的保留比例（见 docs/change-detection.md）。",
    "no differences": "没有差异",
    "{} unchanged sentences": "{} 句未变化",
    "1 unchanged sentence": "1 句未变化",
    "Before": "之前",
    "After": "之后",
    "ignored: a counter or time written in the text": "已忽略：正文中的计数或时间",
    "just now": "刚刚",
    "{} ago": "{}前",
    "in {}": "{}后",
    "minor": "小改",
    "edit": "编辑",
    "major": "大改",
    "rewrite": "重写",
    "No text": "没有正文",
    "Language": "语言",
    # removal causes (crawler/changes/removal.py CAUSES)
    "censored": "因违规",
    "author_deleted": "作者删除",
    "account_closed": "账号已注销",
    "account_blocked": "账号被封禁",
    "account_migrated": "账号已迁移",
    "complaint": "被投诉删除",
    "expired": "链接已过期",
    "soft_404": "软 404",
    "taken_down": "已删除（未说明原因）",
    "blocked_by_site": "网站拦截",
}

UNITS = {
    "en": {"s": "s", "min": "min", "h": "h", "d": "d", "wk": "wk", "mo": "mo", "y": "y"},
    "zh": {"s": "秒", "min": "分钟", "h": "小时", "d": "天", "wk": "周", "mo": "个月", "y": "年"},
}


@dataclass(frozen=True)
class Labels:
    """The labels of one language: call with the English wording to get it in that language."""

    language: str = "en"

    def __call__(self, english: str) -> str:
        if self.language == "zh":
            return ZH.get(english, english)
        return english

    @property
    def units(self) -> Mapping[str, str]:
        """Time units ("h", "小时")."""
        return UNITS.get(self.language, UNITS["en"])


def accepted(header: str | None) -> str | None:
    """The first language of an Accept-Language header that the plugin speaks (by q-value), else None."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, index, primary))
    return min(choices)[2] if choices else None


def pick_language(query: Mapping[str, Any], cookies: Mapping[str, str], setting: Any, header: str | None) -> str:
    """The page's language: ?_lang=, then the cookie a ?_lang= set, then the setting, then the browser's."""
    for candidate in (query.get("_lang"), cookies.get(COOKIE), setting):
        if candidate in LANGUAGES:
            return candidate
    return accepted(header) or "en"

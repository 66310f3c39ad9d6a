"""Article pages the tests write themselves: plain, WeChat-style and GBK-encoded."""

from __future__ import annotations

from html import escape

ZH_PARAGRAPHS = [
    "人工智能正在改变新闻编辑室的工作方式。许多编辑开始使用自动摘要工具整理每天的稿件。记者们则担心这些工具会在不知不觉中改写原文的意思。",
    "档案管理员认为，保存文章的每一个版本非常重要。一篇报道在发布之后可能被悄悄修改，也可能被整篇删除。只有定期回访，才能发现这些变化。",
    "研究人员在过去一年里跟踪了三百篇网络文章。其中有四十篇的正文发生了实质性修改，另有十二篇已经无法访问。修改最多的是标题和导语部分。",
    "这项研究的负责人表示，公众有权知道一篇文章是否被改动过。他呼吁新闻网站在修改文章时附上更正说明，并保留修改记录供读者查阅。",
]

EN_PARAGRAPHS = [
    "The city council met on Tuesday evening to discuss the new library budget. Several residents spoke in favour of longer opening hours.",
    "After two hours of debate the council approved a modest increase. The library will open on Sundays from next spring.",
    "Critics said the money should have gone to road repairs instead. The mayor replied that both could be funded within the year.",
]

CHROME = """
<header><nav><a href="/">首页</a> <a href="/news">新闻</a> <a href="/about">关于我们</a></nav></header>
"""
FOOTER = "<footer><p>版权所有 示例新闻网 联系我们 广告服务</p></footer>"


def article_page(title: str, paragraphs: list[str], lang: str = "zh", charset: str = "utf-8") -> str:
    """A news-site article page with navigation and footer around the article."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="{charset}"><title>{escape(title)}</title></head>
<body>{CHROME}
<main><article><h1>{escape(title)}</h1>
<div class="byline">作者：李明 2024-03-01</div>
{body}
</article></main>
{FOOTER}</body></html>"""


def wechat_page(title: str, paragraphs: list[str], account: str = "档案观察") -> str:
    """A page in WeChat's article template: the text lives in div#js_content, hidden until scripts run."""
    body = "\n".join(f'<p style="margin:0 8px;"><span>{escape(p)}</span></p>' for p in paragraphs)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta property="og:title" content="{escape(title)}">
<title></title><script>var msg_title = "{escape(title)}";</script></head>
<body id="activity-detail" class="zh_CN">
<div class="rich_media_inner"><div id="page-content" class="rich_media_area_primary">
<h1 class="rich_media_title" id="activity-name">{escape(title)}</h1>
<div id="meta_content" class="rich_media_meta_list">
<span class="rich_media_meta rich_media_meta_nickname" id="profileBt"><a id="js_name">{escape(account)}</a></span>
<em id="publish_time" class="rich_media_meta rich_media_meta_text">2024-03-01</em></div>
<div class="rich_media_content" id="js_content" style="visibility: hidden;">
{body}
</div>
<div class="profile_card">关注公众号{escape(account)}，获取更多档案资讯。微信扫一扫关注该公众号</div>
</div></div>
<script>document.getElementById("js_content").style.visibility = "visible";</script>
</body></html>"""


def seed_body(title: str, paragraphs: list[str]) -> str:
    """A seed file body in the Markdown form people save articles in."""
    return f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"

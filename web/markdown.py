"""SpiffArena's ``instructionsForEndUser``: markdown written by designers, shown as HTML.

markdown-it-py in CommonMark mode with raw HTML off (``<script>`` comes out as text) and
its link check (no ``javascript:``/``vbscript:``/``file:`` URLs); the HTML it makes is then
cleaned by nh3 (Ammonia) to a short allow-list, so a flaw in either one alone lets
nothing through. The text has already been rendered over the instance's data by the
engine's Jinja sandbox (engine.policy.render), so data a citizen typed is in it too.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
}


def render(text: str | None) -> Markup:
    if not text:
        return Markup("")
    html = _PARSER.render(text)
    # Headings start at h2: the page's h1 is the task's title.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(cleaned)  # noqa: S704 - cleaned by nh3 just above

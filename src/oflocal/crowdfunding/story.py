"""A campaign's story: Markdown rendered to safe HTML.

markdown-it-py (CommonMark, raw HTML off: ``<script>`` typed in a story is shown as text)
renders it, and nh3 (the Rust ``ammonia`` sanitiser) keeps only the tags and attributes
below, links to http, https and mailto only. Nothing a committee member (or someone who
took over their login) types can run in a supporter's browser.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MD.enable(["table", "strikethrough"])

TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
        "blockquote", "ul", "ol", "li", "a", "img", "code", "pre", "table", "thead", "tbody",
        "tr", "th", "td"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
MAX_CHARS = 50_000


def render_story(markdown: str) -> Markup:
    """The story as HTML that can be put into a page as it is."""
    html = _MD.render((markdown or "")[:MAX_CHARS])
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES,
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # sanitised just above

"""A campaign's story: Markdown written by the committee, shown to the public as safe HTML.

Rendered by markdown-it-py (CommonMark, raw HTML off: ``<script>`` in the Markdown stays
text) and then cleaned by nh3 (ammonia, an allow-list sanitiser) all the same, so a bug
or a later option in the renderer cannot let markup through: only the tags and
attributes below survive, links keep http(s)/mailto and get ``rel="noopener noreferrer
nofollow"``, ``javascript:`` URLs are dropped. The page's CSP (``img-src 'self' data:``)
also keeps images from other sites off the page.
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
        "code", "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead",
        "tbody", "tr", "th", "td"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
              "ol": {"start"}, "th": {"align"}, "td": {"align"}}
SCHEMES = {"http", "https", "mailto"}


@cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"])


def render_story(markdown: str) -> Markup:
    """The story as HTML that is safe to put on a page as it is."""
    html = _renderer().render(markdown or "")
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES,
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return Markup(clean)  # cleaned by nh3 just above

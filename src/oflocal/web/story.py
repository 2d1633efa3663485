"""A campaign's story: Markdown written by the committee, shown to the public as safe HTML.

Rendered by markdown-it-py (CommonMark, raw HTML off: ``<script>`` in the Markdown stays
text) and then cleaned by nh3 (ammonia, an allow-list sanitiser) all the same, so a bug
or a later option in the renderer cannot let markup through: only the tags and
attributes below survive, links keep http(s)/mailto and get ``rel="noopener noreferrer
nofollow"``, ``javascript:`` URLs are dropped.

Pictures: the story places the campaign's own uploaded pictures by number,
``![alt](image:2)`` (an empty alt takes the picture's own description). Any other
picture (another site's, a ``data:`` URL, a number the campaign does not have) is not
drawn: its alt text stays as plain text. The sanitiser checks again that every ``src``
left is one of the campaign's own picture URLs, and the page's CSP
(``img-src 'self' data:``) would keep other sites' pictures off the page even so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
        "code", "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead",
        "tbody", "tr", "th", "td"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "ol": {"start"}, "th": {"align"}, "td": {"align"}}
SCHEMES = {"http", "https", "mailto"}
REFERENCE = re.compile(r"image:(\d{1,4})")


@dataclass(frozen=True)
class StoryImage:
    """One of the campaign's pictures, as the story may place it."""

    url: str  # served by this site (a path)
    alt: str
    width: int
    height: int


@cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"])


def _place_images(tokens: list[Token], images: Mapping[int, StoryImage]) -> None:
    """``image:N`` becomes the picture's URL; every other picture becomes its alt text."""
    for block in tokens:
        children = block.children or []
        for n, token in enumerate(children):
            if token.type != "image":
                continue
            found = REFERENCE.fullmatch(str(token.attrGet("src") or ""))
            image = images.get(int(found.group(1))) if found else None
            alt = token.content or (image.alt if image else "")
            if image is None:
                children[n] = Token("text", "", 0, content=alt)
                continue
            token.attrSet("src", image.url)
            token.attrSet("width", str(image.width))
            token.attrSet("height", str(image.height))
            token.children = [Token("text", "", 0, content=alt)]
            token.content = alt


def placed_numbers(markdown: str) -> set[int]:
    """The numbers of the pictures the story places (``image:N``)."""
    found = set()
    for block in _renderer().parse(markdown or ""):
        for token in block.children or []:
            if token.type == "image" and (
                    ref := REFERENCE.fullmatch(str(token.attrGet("src") or ""))):
                found.add(int(ref.group(1)))
    return found


def render_story(markdown: str, images: Mapping[int, StoryImage] | None = None) -> Markup:
    """The story as HTML that is safe to put on a page as it is. ``images``: the
    campaign's pictures by number, with the URLs this page may show them at."""
    placed = images or {}
    renderer = _renderer()
    tokens = renderer.parse(markdown or "")
    _place_images(tokens, placed)
    html = renderer.renderer.render(tokens, renderer.options, {})
    allowed = {i.url for i in placed.values()}

    def only_our_pictures(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and value not in allowed:
            return None
        return value

    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES,
                      attribute_filter=only_our_pictures,
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return Markup(clean)  # cleaned by nh3 just above

"""A campaign's story: Markdown in, safe HTML out, whatever the committee (or someone who
took over its account) writes."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from oflocal.web.story import TAGS, StoryImage, placed_numbers, render_story


class Elements(HTMLParser):
    """Every element and attribute of the HTML, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "<iframe src=https://evil.example></iframe>",
    "<a href=\"https://e.jp\" onclick=\"steal()\">x</a>",
    "<svg onload=alert(1)>",
    "<style>body{display:none}</style>",
    "<!-- <script>x</script> -->",
    "<form action=https://evil.example><input name=card></form>",
    "[x](vbscript:msgbox(1))",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_markup_or_script_passes(text: str) -> None:
    html = str(render_story(f"# 題\n\n{text}\n\n本文"))
    parsed = Elements()
    parsed.feed(html)
    assert not parsed.comments, html
    for tag, attrs in parsed.found:
        assert tag in TAGS, html
        for name, value in attrs:
            assert not name.startswith("on") and name != "style", html
            if name in ("href", "src"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), html
    assert "<h1>題</h1>" in html


def test_markdown_still_renders() -> None:
    html = str(render_story("## 見出し\n\n**太字** と [リンク](https://example.jp)\n\n"
                            "- 一\n- 二\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"))
    assert "<h2>見出し</h2>" in html and "<strong>太字</strong>" in html
    assert '<a href="https://example.jp" rel="noopener noreferrer nofollow">' in html
    assert "<li>一</li>" in html and "<td>1</td>" in html


def test_only_the_campaigns_own_pictures_are_drawn() -> None:
    own = {2: StoryImage("/c/e/c/images/2?v=abc", "窯", 800, 600)}
    story = ("![](image:2) ![外](https://evil.example/a.png) ![無](image:3) "
             "![埋](data:image/png;base64,AA==) ![管](/admin/campaigns/1/images/1)")
    parsed = Elements()
    parsed.feed(str(render_story(story, own)))
    drawn = [dict(attrs) for tag, attrs in parsed.found if tag == "img"]
    assert drawn == [{"src": "/c/e/c/images/2?v=abc", "alt": "窯", "width": "800",
                      "height": "600"}]
    assert placed_numbers(story) == {2, 3}

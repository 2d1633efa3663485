"""Where a campaign's pictures are served, and how a page lays them out (the campaign
page, the public API and the staff preview alike): the first picture of the gallery is
the hero image at the top; the story places pictures by number (``web/story.py``); the
pictures neither the hero nor the story shows follow the story. The routes that serve
them are in ``web/pages/cf_images.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from oflocal.crowdfunding.models import CampaignImage
from oflocal.web.story import StoryImage, placed_numbers, render_story


def version(image: CampaignImage) -> str:
    return image.sha256[:12]


def public_url(event_slug: str, campaign_slug: str, image: CampaignImage) -> str:
    return f"/c/{event_slug}/{campaign_slug}/images/{image.number}?v={version(image)}"


def staff_url(image: CampaignImage) -> str:
    return f"/admin/campaigns/{image.campaign_id}/images/{image.number}?v={version(image)}"


@dataclass(frozen=True)
class Pictures:
    """What a campaign page shows: the hero, the story with its pictures, the rest."""

    hero: StoryImage | None
    story: Markup
    gallery: list[StoryImage]


def story_images(images: Sequence[CampaignImage],
                 url_of: Callable[[CampaignImage], str]) -> dict[int, StoryImage]:
    """What ``![alt](image:N)`` may name: the campaign's pictures (stories, updates)."""
    return {i.number: StoryImage(url_of(i), i.alt, i.width, i.height) for i in images}


def lay_out(markdown: str, images: Sequence[CampaignImage],
            url_of: Callable[[CampaignImage], str]) -> Pictures:
    shown = story_images(images, url_of)
    in_story = placed_numbers(markdown)
    hero = shown[images[0].number] if images else None
    gallery = [shown[i.number] for i in images[1:] if i.number not in in_story]
    return Pictures(hero, render_story(markdown, shown), gallery)

"""Workshop photos as PDF image objects, each prepared once per document.

A baseline JPEG of sensible size goes in unchanged (DCTDecode); anything else is decoded
with Pillow, scaled down so that it is still sharp at its printed size (a workshop
photo is at most ~25 mm wide, so 600 px is >600 dpi), and stored Flate-compressed,
with its transparency as a soft mask.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 600


class ImageError(ValueError):
    pass


@dataclass(frozen=True)
class PreparedImage:
    width: int
    height: int
    colour_space: str  # DeviceRGB or DeviceGray
    filter: str  # DCTDecode or FlateDecode
    data: bytes
    alpha: bytes | None  # Flate-compressed 8-bit soft mask


def prepare_image(raw: bytes, label: str) -> PreparedImage:
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            image_format = opened.format
            if image_format not in ("PNG", "JPEG"):
                raise ImageError(f"{label}: image must be PNG or JPEG, not {image_format}")
            orientation = opened.getexif().get(0x0112, 1)
            if (
                image_format == "JPEG"
                and opened.mode in ("RGB", "L")
                and max(opened.size) <= MAX_PIXELS
                and orientation == 1
                and not opened.info.get("progressive")
            ):
                space = "DeviceRGB" if opened.mode == "RGB" else "DeviceGray"
                return PreparedImage(*opened.size, space, "DCTDecode", raw, None)
            image = ImageOps.exif_transpose(opened)
            image.load()
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: the image is not a readable PNG or JPEG") from exc
    except OSError as exc:  # truncated or corrupt data
        raise ImageError(f"{label}: the image cannot be read ({exc})") from exc

    has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha else "RGB")
    image.thumbnail((MAX_PIXELS, MAX_PIXELS), Image.Resampling.LANCZOS)
    alpha = None
    if has_alpha:
        mask = image.getchannel("A")
        if mask.getextrema() != (255, 255):
            alpha = zlib.compress(mask.tobytes(), 6)
        image = image.convert("RGB")
    return PreparedImage(
        image.width,
        image.height,
        "DeviceRGB",
        "FlateDecode",
        zlib.compress(image.tobytes(), 6),
        alpha,
    )

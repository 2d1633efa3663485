"""The print engine: voucher booklets to a print-ready PDF, and proofs to PNG.

Pure Python, no database: the caller passes faces (faces.py) and a PrintLayout.
See docs/printing.md.

Names are imported lazily: page-composer worker processes import this package too,
and should not pay for pydantic and reportlab, which only the main process needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faces import BookletFace, ProgrammeFace, TicketFace, WorkshopFace
    from .fonts import FONT_ENV, FontError
    from .images import ImageError
    from .layout import DEFAULT_RULES, PrintLayout
    from .proof import render_first_sheet_png
    from .writer import RenderStats, render_booklets

_WHERE = {
    "BookletFace": "faces",
    "ProgrammeFace": "faces",
    "TicketFace": "faces",
    "WorkshopFace": "faces",
    "FONT_ENV": "fonts",
    "FontError": "fonts",
    "ImageError": "images",
    "DEFAULT_RULES": "layout",
    "PrintLayout": "layout",
    "render_first_sheet_png": "proof",
    "RenderStats": "writer",
    "render_booklets": "writer",
}

__all__ = [
    "DEFAULT_RULES",
    "FONT_ENV",
    "BookletFace",
    "FontError",
    "ImageError",
    "PrintLayout",
    "ProgrammeFace",
    "RenderStats",
    "TicketFace",
    "WorkshopFace",
    "render_booklets",
    "render_first_sheet_png",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""Print engine fixtures (helpers live in print_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pypdfium2 as pdfium
import pytest


@pytest.fixture
def open_pdf() -> Iterator[Callable[[bytes], pdfium.PdfDocument]]:
    opened: list[pdfium.PdfDocument] = []

    def _open(data: bytes) -> pdfium.PdfDocument:
        doc = pdfium.PdfDocument(data)
        opened.append(doc)
        return doc

    yield _open
    for doc in opened:
        doc.close()

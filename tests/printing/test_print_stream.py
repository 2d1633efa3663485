"""Streaming output, progress, failure handling, parallel workers and the proof PNG."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from print_helpers import WORKSHOPS, booklets, decode_page, programme, render

from oflocal.printing import BookletFace, PrintLayout, render_booklets, render_first_sheet_png
from oflocal.printing.writer import CHUNK_BOOKLETS

OpenPdf = Callable[[bytes], pdfium.PdfDocument]


def test_a_path_is_written_as_part_then_renamed(tmp_path: Path, open_pdf: OpenPdf) -> None:
    target = tmp_path / "batch-1.pdf"
    part = tmp_path / "batch-1.pdf.part"
    sizes: list[int] = []
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        assert part.exists() and not target.exists()
        sizes.append(part.stat().st_size)
        calls.append((done, total))

    count = 3 * CHUNK_BOOKLETS + 5
    stats = render_booklets(programme(), booklets(count, 2), target, PrintLayout(),
                            progress=progress)
    assert target.exists() and not part.exists()
    assert stats.booklets == count and stats.tickets == 2 * count
    assert stats.pages == 2 * count and stats.bytes == target.stat().st_size
    # progress rises monotonically to the total (known from len())
    assert [total for _, total in calls] == [count] * len(calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == count and len(done) == 4
    # pages reached the file while the run was going: it was streamed, not held back
    assert sizes[0] > 0 and sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert len(open_pdf(target.read_bytes())) == stats.pages


def test_a_generator_without_a_total_reports_zero_as_total() -> None:
    calls: list[tuple[int, int]] = []
    render_booklets(programme(), iter(booklets(3, 1)), io.BytesIO(), PrintLayout(),
                    progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 0)]


def test_a_failed_run_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"

    def broken() -> Iterator[BookletFace]:
        yield from booklets(CHUNK_BOOKLETS + 1, 1)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        render_booklets(programme(), broken(), target, PrintLayout())
    assert list(tmp_path.iterdir()) == []


def test_a_short_run_does_not_pass_for_a_complete_one(tmp_path: Path) -> None:
    target = tmp_path / "out.pdf"
    with pytest.raises(ValueError, match="expected 5 booklets but got 4"):
        render_booklets(programme(), iter(booklets(4, 1)), target, PrintLayout(), total=5)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_refused_with_the_booklet_named() -> None:
    from dataclasses import replace

    (good,) = booklets(1, 2)
    with pytest.raises(ValueError, match="there are no booklets"):
        render([])
    with pytest.raises(ValueError, match=r"booklet No\. 1 has no tickets"):
        render([replace(good, tickets=())])
    with pytest.raises(ValueError, match=r"booklet No\. 1: 't01k' is not a printable code"):
        render([replace(good, code="t01k")])


def test_a_broken_workshop_photo_names_the_workshop(tmp_path: Path) -> None:
    from dataclasses import replace

    from oflocal.printing import ImageError

    (good,) = booklets(1, 1)
    shop = replace(WORKSHOPS[0], image=b"\x89PNG but not really")
    broken = replace(good, tickets=(replace(good.tickets[0], workshop=shop),))
    with pytest.raises(ImageError, match="workshop '山田刃物製作所'"):
        render_booklets(programme(), [broken], tmp_path / "out.pdf", PrintLayout())
    assert list(tmp_path.iterdir()) == []


def test_output_may_be_a_plain_non_seekable_stream(open_pdf: OpenPdf) -> None:
    class Pipe:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.chunks.append(bytes(data))
            return len(data)

        def flush(self) -> None:
            pass

    pipe = Pipe()
    render_booklets(programme(), booklets(2, 3), pipe, PrintLayout())  # type: ignore[arg-type]
    assert len(open_pdf(b"".join(pipe.chunks))) == 4


def test_output_is_deterministic() -> None:
    items = booklets(3, 4)
    assert render(items) == render(items)


def test_two_workers_write_the_same_bytes_as_one(open_pdf: OpenPdf) -> None:
    items = booklets(2 * CHUNK_BOOKLETS + 3, 3)  # several chunks in flight at once
    layout = PrintLayout(duplex=True)
    calls: list[int] = []
    one = render(items, layout, workers=1)
    two = render(items, layout, workers=2, progress=lambda d, t: calls.append(d))
    assert two == one
    assert calls == sorted(calls) and calls[-1] == len(items)
    pdf = open_pdf(two)
    last = items[-1]
    assert [d.text for d in decode_page(pdf[len(pdf) - 2])] != []
    assert sorted(d.text for d in decode_page(pdf[len(pdf) - 2])) == sorted(
        t.code for t in last.tickets
    )


def test_spawned_workers_write_the_same_bytes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """From a threaded server the workers are spawned, not forked: same output."""
    import multiprocessing

    from oflocal.printing import writer

    monkeypatch.setattr(writer, "_start_method", lambda: multiprocessing.get_context("spawn"))
    items = booklets(CHUNK_BOOKLETS + 2, 2)
    assert render(items, workers=2) == render(items, workers=1)


def test_proof_png_shows_cover_and_first_sheet() -> None:
    items = booklets(2, 12)
    png = render_first_sheet_png(programme(sample=True), items, PrintLayout(), dpi=100)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    # two A4 pages side by side at 100 dpi, plus gaps
    assert image.size == (2 * 827 + 3 * 16, 1170 + 2 * 16)
    found = {r.text for r in zxingcpp.read_barcodes(image.convert("L"))}
    assert items[0].code in found
    assert {t.code for t in items[0].tickets} <= found
    assert items[1].code not in found  # only the first booklet


def test_proof_png_with_duplex_includes_the_back() -> None:
    png = render_first_sheet_png(programme(), booklets(1, 3), PrintLayout(duplex=True), dpi=50)
    assert Image.open(io.BytesIO(png)).width > 3 * 400

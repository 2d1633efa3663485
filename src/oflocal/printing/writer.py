"""render_booklets: booklets in, a print-ready PDF out, streamed and optionally parallel.

The main process reads booklets in chunks, names the forms each chunk needs, and hands
the chunk to a page composer; results are written strictly in chunk order.  With
``workers > 1`` the composers are separate processes and at most ``2 × workers`` chunks
are in flight, so memory stays flat however long the run.  Chunks have a fixed size, so
the bytes written do not depend on the number of workers.

Worker processes are forked when the caller is single-threaded (a CLI run: ~30 ms to
start) and spawned otherwise (a web server's background thread: forking a threaded
process can copy a lock in a held state and hang the child; spawning costs ~1 s).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import BinaryIO

from .document import ChunkPlan, Document
from .faces import BookletFace, ProgrammeFace
from .fonts import DocumentFont, open_font
from .layout import PrintLayout
from .pages import compose_booklet, compose_chunk, init_worker

CHUNK_BOOKLETS = 16
IN_FLIGHT_PER_WORKER = 2

Progress = Callable[[int, int], None]
Output = BinaryIO | str | os.PathLike[str]


@dataclass(frozen=True)
class RenderStats:
    booklets: int
    tickets: int
    pages: int
    bytes: int
    seconds: float
    workers: int
    font: str  # the font's PDF name, e.g. IPAexGothic or HeiseiKakuGo-W5
    font_embedded: bool
    missing_glyphs: str  # characters the font could not show, if any


def render_booklets(
    programme: ProgrammeFace,
    booklets: Iterable[BookletFace],
    out: Output,
    layout: PrintLayout,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    total: int | None = None,
    font: str | os.PathLike[str] | None = None,
) -> RenderStats:
    """Write the booklets as one PDF to ``out`` (a binary stream, or a path).

    A path is written as ``<path>.part`` and renamed when complete, so a reader never
    sees half a file.  ``progress(done, total)`` is called after each chunk of booklets
    is written (``total`` is 0 when unknown).  If ``total`` is given and the iterable
    yields a different number of booklets, the run fails (and a path is not created):
    a short print run must not pass for a complete one.  ``font``: see fonts.py.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if total is None and isinstance(booklets, Sized):
        total = len(booklets)
    stream = iter(booklets)
    first = next(stream, None)
    if first is None:
        raise ValueError("there are no booklets to print")
    all_booklets = itertools.chain([first], stream)
    doc_font = open_font(font)
    if isinstance(out, str | os.PathLike):
        path = Path(out)
        part = path.with_name(path.name + ".part")
        try:
            with part.open("wb") as fp:
                stats = _render(programme, all_booklets, fp, layout, doc_font,
                                workers, progress, total)
                fp.flush()
                os.fsync(fp.fileno())
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return stats
    return _render(programme, all_booklets, out, layout, doc_font, workers, progress, total)


def _start_method() -> BaseContext:
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _chunks(booklets: Iterator[BookletFace]) -> Iterator[list[BookletFace]]:
    while chunk := list(itertools.islice(booklets, CHUNK_BOOKLETS)):
        yield chunk


def _render(
    programme: ProgrammeFace,
    booklets: Iterator[BookletFace],
    out: BinaryIO,
    layout: PrintLayout,
    font: DocumentFont,
    workers: int,
    progress: Progress | None,
    total: int | None,
) -> RenderStats:
    started = time.perf_counter()
    doc = Document(out, programme, layout, font)
    done = tickets = 0

    def written(plan: ChunkPlan, pages: list[list[bytes]]) -> None:
        nonlocal done, tickets
        doc.write(plan, pages)
        done += len(plan.jobs)
        tickets += plan.tickets
        if progress is not None:
            progress(done, total or 0)

    plans = (doc.plan(chunk) for chunk in _chunks(booklets))
    if workers == 1:
        for plan in plans:
            written(plan, [compose_booklet(doc.kit, job) for job in plan.jobs])
    else:
        with ProcessPoolExecutor(
            workers, mp_context=_start_method(), initializer=init_worker, initargs=(doc.kit,)
        ) as pool:
            in_flight: deque[tuple[ChunkPlan, Future[list[list[bytes]]]]] = deque()
            for plan in plans:
                in_flight.append((plan, pool.submit(compose_chunk, plan.jobs)))
                if len(in_flight) >= workers * IN_FLIGHT_PER_WORKER:
                    head, future = in_flight.popleft()
                    written(head, future.result())
            while in_flight:
                head, future = in_flight.popleft()
                written(head, future.result())
    if total is not None and done != total:
        raise ValueError(f"expected {total} booklets but got {done}")
    doc.close()
    return RenderStats(
        booklets=done,
        tickets=tickets,
        pages=doc.pages,
        bytes=doc.pdf.bytes_written,
        seconds=time.perf_counter() - started,
        workers=workers,
        font=font.base_font,
        font_embedded=font.embedded,
        missing_glyphs="".join(sorted(font.missing)),
    )

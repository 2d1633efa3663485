"""Print engine benchmark: booklets per second, memory, and whether the codes still scan.

    .venv/bin/python bench/print_bench.py                      # 100, 1000, 5000 x 1 and 2 workers
    .venv/bin/python bench/print_bench.py --counts 100,1000    # quicker
    .venv/bin/python bench/print_bench.py --counts 20000 --workers 2

Every measurement runs in a fresh process, so peak memory is that run's alone.  Peak RSS
is sampled from /proc every 20 ms and summed over the process and its worker processes
(real resident memory, not tracemalloc).  After each run a sample of pages is rasterised
at 200 dpi and every QR on them decoded with zxing-cpp.  The naive baseline (segno with
its automatic mask, one PNG per QR placed with reportlab's drawImage, one reportlab
canvas for the whole document) runs in the same invocation on a small count and is
extrapolated to 1,000 booklets.

Data: 12 tickets of ¥500 per booklet; 40 workshops with names, introductions and a
photo on two in three of them; codes are made before timing (a database holds them).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from oflocal.printing import (  # noqa: E402
    BookletFace,
    PrintLayout,
    ProgrammeFace,
    TicketFace,
    WorkshopFace,
    render_booklets,
)
from oflocal.vouchers.codes import CodeSigner  # noqa: E402

TICKETS = 12
PROGRAMME_ID = 42
CRAFTS = ("鍛冶・包丁", "木工・家具", "漆器", "金属加工", "陶芸", "和紙", "染織", "鋳物")


# --- data ---


def _photo(i: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 360), (40 + i * 37 % 200, 60 + i * 53 % 180, 90))
    draw = ImageDraw.Draw(image)
    for k in range(12):
        draw.ellipse((k * 37 % 400, k * 29 % 300, k * 37 % 400 + 80, k * 29 % 300 + 60),
                     fill=(200, 180 - k * 9, 120 + k * 10))
    out = io.BytesIO()
    image.save(out, "JPEG" if i % 2 else "PNG", quality=85)
    return out.getvalue()


def workshops() -> tuple[WorkshopFace, ...]:
    return tuple(
        WorkshopFace(
            name=f"{['山田', '佐藤', '鈴木', '高橋', '田中'][i % 5]}製作所 第{i}工場",
            name_kana=f"せいさくしょ だい{i}こうじょう",
            craft=CRAFTS[i % len(CRAFTS)],
            introduction=(
                "創業八十年、三代にわたり鍛造の技を受け継ぐ町工場です。見学では火花散る"
                "鍛造の様子と、職人が一本ずつ仕上げる研ぎの工程をご覧いただけます。"
            ),
            image=_photo(i) if i % 3 else None,
        )
        for i in range(1, 41)
    )


def programme() -> ProgrammeFace:
    return ProgrammeFace(
        event_name="燕三条 工場の祭典 2026",
        committee_name="工場の祭典実行委員会",
        programme_name="工房めぐりプレミアム券",
        price=2500,
        face_value=3000,
        issue_date=date(2026, 10, 1),
        valid_from=date(2026, 10, 1),
        valid_until=date(2026, 11, 30),
        workshops=workshops(),
    )


def make_codes(count: int) -> tuple[list[str], list[str]]:
    signer = CodeSigner(b"bench-secret-0123456789abcdef!!")
    booklet_codes = [signer.make("B", PROGRAMME_ID, b) for b in range(1, count + 1)]
    ticket_codes = [signer.make("T", PROGRAMME_ID, t) for t in range(1, count * TICKETS + 1)]
    return booklet_codes, ticket_codes


def booklets(
    prog: ProgrammeFace, booklet_codes: list[str], ticket_codes: list[str]
) -> Iterator[BookletFace]:
    """Built lazily, one by one, as a database cursor would hand them over."""
    shops = prog.workshops
    for b, code in enumerate(booklet_codes):
        first = b * TICKETS
        tickets = tuple(
            TicketFace(first + i + 1, ticket_codes[first + i], 500,
                       shops[(first + i) % len(shops)])
            for i in range(TICKETS)
        )
        yield BookletFace(b + 1, code, tickets)


# --- measuring ---


class RssSampler:
    """Peak memory of a process and all its descendants, sampled from /proc.

    ``peak_kb`` sums RSS (pages shared between the forked workers and their parent
    are counted once per process: an upper bound); ``peak_pss_kb`` sums PSS, which
    splits shared pages between the processes sharing them (the memory really used).
    Runs in the benchmark's parent process, so the measured process stays
    single-threaded (which is what lets the print engine fork its workers).
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.peak_pss_kb = 0

    @staticmethod
    def _field_kb(path: str, field: str) -> int:
        try:
            with open(path) as status:
                for line in status:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        found: list[int] = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
        return found

    def sample(self) -> None:
        rss = pss = 0
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            rss += self._field_kb(f"/proc/{pid}/status", "VmRSS:")
            pss += self._field_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
            todo.extend(self._children(pid))
        self.peak_kb = max(self.peak_kb, rss)
        self.peak_pss_kb = max(self.peak_pss_kb, pss)


def decode_sample(path: Path, booklet_codes: list[str], ticket_codes: list[str],
                  pages_wanted: int) -> tuple[int, int]:
    """Decode every QR on evenly spread pages; (codes read correctly, codes expected).

    Pages come in pairs per booklet (cover, then its sheet of 12 tickets), and the
    sample takes both pages of each chosen booklet.
    """
    import pypdfium2 as pdfium
    import zxingcpp

    formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    pdf = pdfium.PdfDocument(str(path))
    try:
        count = len(pdf) // 2
        spread = max(1, pages_wanted // 2)
        chosen = sorted({0, count - 1} | {i * count // spread for i in range(spread)})
        ok = expected_total = 0
        for booklet in chosen:
            first = booklet * TICKETS
            for index, expected in (
                (2 * booklet, {booklet_codes[booklet]}),
                (2 * booklet + 1, set(ticket_codes[first : first + TICKETS])),
            ):
                page = pdf[index]
                image = page.render(scale=200 / 72, grayscale=True).to_pil()
                found = {r.text for r in zxingcpp.read_barcodes(image, formats=formats)}
                ok += len(found & expected)
                expected_total += len(expected)
                page.close()
        return ok, expected_total
    finally:
        pdf.close()


def child(count: int, workers: int, out: Path) -> dict[str, float | int | str]:
    prog = programme()
    booklet_codes, ticket_codes = make_codes(count)
    before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    started = time.perf_counter()
    stats = render_booklets(
        prog, booklets(prog, booklet_codes, ticket_codes), out, PrintLayout(),
        workers=workers, total=count,
    )
    wall = time.perf_counter() - started
    after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime
              for a, b in zip(after, before, strict=True))
    return {
        "count": count,
        "workers": workers,
        "wall": wall,
        "cpu": cpu,
        "maxrss_main_mb": after[0].ru_maxrss / 1024,
        "maxrss_worker_mb": after[1].ru_maxrss / 1024,
        "pages": stats.pages,
        "file_mb": stats.bytes / 1e6,
        "font": stats.font,
    }


def measure(count: int, workers: int, sample_pages: int) -> dict[str, float | int | str]:
    """One render in a fresh process, watched from here; then decode a sample of its pages."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "booklets.pdf"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(count), str(workers), str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        rss = RssSampler(proc.pid)
        while proc.poll() is None:
            rss.sample()
            time.sleep(rss.interval)
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            sys.stderr.write(stderr)
            raise SystemExit(f"benchmark child failed: {count} booklets, {workers} workers")
        result: dict[str, float | int | str] = json.loads(stdout.strip().splitlines()[-1])
        booklet_codes, ticket_codes = make_codes(count)
        ok, expected = decode_sample(out, booklet_codes, ticket_codes, sample_pages)
    result.update(peak_mb=rss.peak_kb / 1024, peak_pss_mb=rss.peak_pss_kb / 1024,
                  decoded=ok, expected=expected)
    return result


def naive(count: int) -> dict[str, float | int]:
    """The first approach: segno defaults, a PNG per QR, drawImage, one reportlab canvas."""
    import segno
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas

    from oflocal.printing.fonts import choose_font_path
    from oflocal.vouchers.codes import grouped

    path = choose_font_path()
    font = "HeiseiKakuGo-W5"
    if path:
        pdfmetrics.registerFont(TTFont("Naive", path))
        font = "Naive"
    else:
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(font))
    prog = programme()
    booklet_codes, ticket_codes = make_codes(count)
    started = time.perf_counter()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    cw, ch = (A4[0] - 20 * mm) / 3, (A4[1] - 20 * mm) / 4

    def qr_png(code: str, size: float, x: float, y: float) -> None:
        buffer = io.BytesIO()
        segno.make(code).save(buffer, kind="png", scale=4, border=4)
        buffer.seek(0)
        canvas.drawImage(ImageReader(buffer), x, y, size, size)

    for booklet in booklets(prog, booklet_codes, ticket_codes):
        canvas.setFont(font, 20)
        canvas.drawString(20 * mm, A4[1] - 30 * mm, prog.event_name)
        canvas.setFont(font, 14)
        canvas.drawString(20 * mm, A4[1] - 45 * mm, f"¥{prog.price:,}で¥{prog.face_value:,}分")
        qr_png(booklet.code, 30 * mm, A4[0] - 50 * mm, A4[1] - 80 * mm)
        for i, shop in enumerate(prog.workshops):
            canvas.setFont(font, 8)
            canvas.drawString(20 * mm, A4[1] - 100 * mm - i * 4 * mm, shop.name)
        canvas.showPage()
        for i, ticket in enumerate(booklet.tickets):
            col, row = i % 3, i // 3
            x, y = 10 * mm + col * cw, A4[1] - 10 * mm - (row + 1) * ch
            canvas.setDash(3, 2)
            canvas.rect(x, y, cw, ch)
            canvas.setDash()
            canvas.setFont(font, 7)
            canvas.drawString(x + 3 * mm, y + ch - 7 * mm, prog.event_name)
            canvas.setFont(font, 22)
            canvas.drawString(x + 3 * mm, y + ch - 18 * mm, f"¥{ticket.denomination}")
            canvas.setFont(font, 6)
            canvas.drawString(x + 3 * mm, y + ch - 23 * mm, "発行日 2026年10月1日")
            canvas.drawString(x + 3 * mm, y + ch - 26 * mm, "使用期限 2026年11月30日")
            qr_png(ticket.code, 20 * mm, x + cw - 23 * mm, y + ch - 31 * mm)
            canvas.drawString(x + cw - 33 * mm, y + ch - 34 * mm, grouped(ticket.code))
            canvas.drawString(x + cw - 20 * mm, y + 3 * mm, f"No. {ticket.serial:06d}")
            shop = ticket.workshop
            if shop is not None:
                canvas.setFont(font, 8)
                canvas.drawString(x + 24 * mm, y + ch - 40 * mm, shop.name)
                canvas.setFont(font, 5.5)
                for k in range(3):
                    canvas.drawString(x + 24 * mm, y + ch - (44 + 3 * k) * mm,
                                      shop.introduction[k * 20 : (k + 1) * 20])
                if shop.image:
                    canvas.drawImage(ImageReader(io.BytesIO(shop.image)), x + 3 * mm,
                                     y + ch - 52 * mm, 18 * mm, 18 * mm)
            for k, rule in enumerate(PrintLayout().rules):
                canvas.drawString(x + 3 * mm, y + (10 - 3 * k) * mm, "・" + rule)
        canvas.showPage()
    canvas.save()
    wall = time.perf_counter() - started
    return {"count": count, "wall": wall, "file_mb": len(out.getvalue()) / 1e6}


# --- the table ---


def run_child(args: list[str]) -> dict[str, float | int | str]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"benchmark child failed: {' '.join(args)}")
    result: dict[str, float | int | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="100,1000,5000",
                        help="booklet counts, comma separated (default 100,1000,5000)")
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--baseline", type=int, default=20,
                        help="booklets for the naive baseline (0 to skip; default 20)")
    parser.add_argument("--sample-pages", type=int, default=8,
                        help="pages per run whose QR codes are decoded (default 8)")
    parser.add_argument("--child", nargs=3, metavar=("COUNT", "WORKERS", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--naive-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        count, workers_, out = args.child
        print(json.dumps(child(int(count), int(workers_), Path(out))))
        return 0
    if args.naive_child:
        print(json.dumps(naive(args.naive_child)))
        return 0

    counts = [int(c) for c in args.counts.split(",") if c]
    workers = [int(w) for w in args.workers.split(",") if w]
    print(f"print engine benchmark: {TICKETS} tickets per booklet, A4 3 x 4, office mode, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for count in counts:
        for w in workers:
            row = measure(count, w, args.sample_pages)
            rows.append(row)
            print(f"  {count} booklets, {w} worker(s): {float(row['wall']):.2f} s", flush=True)
    baseline = run_child(["--naive-child", str(args.baseline)]) if args.baseline else None

    print()
    print("| booklets | tickets | workers | wall s | ms/booklet | CPU s | peak RSS MB "
          "(sum of processes) | peak PSS MB | max RSS MB main / worker | pages | PDF MB "
          "| QR decoded (sample) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        count, wall = int(row["count"]), float(row["wall"])
        worker_rss = (f"{float(row['maxrss_worker_mb']):.0f}" if int(row["workers"]) > 1
                      else "-")
        print(f"| {count:,} | {count * TICKETS:,} | {row['workers']} | {wall:.2f} "
              f"| {wall / count * 1000:.2f} | {float(row['cpu']):.2f} "
              f"| {float(row['peak_mb']):.0f} | {float(row['peak_pss_mb']):.0f} "
              f"| {float(row['maxrss_main_mb']):.0f} / {worker_rss} | {row['pages']:,} "
              f"| {float(row['file_mb']):.1f} | {row['decoded']}/{row['expected']} |")
    if baseline:
        per = float(baseline["wall"]) / int(baseline["count"])
        print()
        print(f"naive baseline ({baseline['count']} booklets, segno auto mask + PNG per QR + "
              f"drawImage, one reportlab canvas): {float(baseline['wall']):.2f} s = "
              f"{per * 1000:.1f} ms/booklet, ~{per * 1000:.0f} s per 1,000 booklets")
        for row in rows:
            if int(row["count"]) == 1000:
                ours = float(row["wall"]) / 1000
                print(f"  vs 1,000 booklets with {row['workers']} worker(s): "
                      f"{per / ours:.1f}x faster")
    font = rows[0]["font"] if rows else "?"
    print(f"\nfont: {font}; load average at the end {os.getloadavg()[0]:.1f} (other work on the "
          "machine inflates wall time; CPU s is the render's own user+system time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

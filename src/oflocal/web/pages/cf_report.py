"""The campaign's report (``supporters/report.py``): figures, a chart of the money paid
by day, the supporters, the returns delivered; as a page, CSV, XLSX and a one-page PDF."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.response import Stream

from oflocal.crowdfunding import staff
from oflocal.crowdfunding.items import ITEM_NAMES
from oflocal.errors import Refusal
from oflocal.reports.charts import svg_columns
from oflocal.reports.csvout import encode_rows
from oflocal.reports.exports import write_xlsx
from oflocal.reports.pdfkit import spooled
from oflocal.supporters.report import campaign_report, report_rows
from oflocal.supporters.report_pdf import report_pdf
from oflocal.web.api.common import MONEY, csv_media_type, download_headers
from oflocal.web.pages.render import AnyRequest, page, page_lang
from oflocal.web.state import services

READ = {"roles": MONEY}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@get("/admin/campaigns/{campaign_id:int}/report", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def report_page(request: AnyRequest, campaign_id: int) -> Response[Any]:
    db = services(request.app.state).db
    with db.read() as session:
        view = staff.campaign_view(session, campaign_id)
    r = campaign_report(db, campaign_id)
    chart = svg_columns([(f"{d:%m/%d}", v) for d, v in r.by_day[-31:]],
                        title="入金額（日別） / paid by day")
    side = 0 if page_lang(request) == "ja" else 1
    return page(request, "cf_staff/report.html", c=view.campaign, r=r, chart=chart,
                item_names={k: v[side] for k, v in ITEM_NAMES.items()}, error=None,
                done=None)


@get("/admin/campaigns/{campaign_id:int}/report/{fmt:str}", opt=READ, sync_to_thread=True,
     include_in_schema=False)
def report_file(request: AnyRequest, campaign_id: int, fmt: str) -> Stream:
    r = campaign_report(services(request.app.state).db, campaign_id)
    name = f"campaign-{campaign_id}-report"
    if fmt == "pdf":
        return Stream(report_pdf(r), media_type="application/pdf",
                      headers=download_headers("application/pdf", f"{name}.pdf"))
    if fmt == "xlsx":
        chunks = spooled(lambda out: write_xlsx(out, "報告", report_rows(r), (14, 28, 14, 10)))
        return Stream(chunks, media_type=XLSX, headers=download_headers(XLSX, f"{name}.xlsx"))
    if fmt == "csv":
        media = csv_media_type("utf-8-sig")
        return Stream(encode_rows(report_rows(r)), media_type=media,
                      headers=download_headers(media, f"{name}.csv"))
    raise Refusal("request.invalid", detail="format: pdf, xlsx or csv")


route_handlers = [report_page, report_file]

"""Every refusal oflocal can give: a stable code, an HTTP status, and words in ja/en.

Domain code raises :class:`Refusal` with a code from :data:`MESSAGES` and the facts
the message needs; the web, CLI and POS pages all show the same sentences. Days and
moments are given as ``date``/``datetime`` facts, not strings: each language writes them
its own way (2026年12月10日 / 10 Dec 2026, Asia/Tokyo), and ``detail`` has them in ISO 8601.
A refusal rebuilt from a stored ``detail`` (an idempotent replay) reads them back from
ISO 8601, so a replay says the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from oflocal.format import shown_moment


@dataclass(frozen=True)
class Message:
    status: int
    ja: str
    en: str


MESSAGES: dict[str, Message] = {
    # Codes people type or scan
    "code.malformed": Message(
        422,
        "券の番号として読み取れません。もう一度読み取るか、番号を確かめて入力してください。",
        "This is not a ticket code. Scan it again or check what you typed.",
    ),
    "code.checksum": Message(
        422,
        "券の番号に打ち間違いがあります。もう一度確かめてください。",
        "The code has a typo: its check character does not match. Please check it.",
    ),
    "code.unknown": Message(
        404,
        "この券は登録されていません。偽造または無効な券です。受け取らないでください。",
        "This code is not one of ours (unknown or forged). Do not accept it.",
    ),
    "code.not_a_ticket": Message(
        422,
        "これは冊子の番号です。1枚ずつの券を読み取ってください。",
        "This is a booklet code. Scan the individual tickets instead.",
    ),
    "code.not_a_booklet": Message(
        422,
        "これは券の番号です。冊子の表紙の番号を読み取ってください。",
        "This is a ticket code. Scan the code on the booklet cover instead.",
    ),
    # Redemption at a workshop
    "ticket.not_sold": Message(
        409,
        "この券はまだ販売されていないため使えません（{code}）。",
        "This ticket has not been sold yet, so it is not valid ({code}).",
    ),
    "ticket.already_redeemed": Message(
        409,
        "この券は{when}に「{workshop}」で使用済みです（{code}）。",
        "Already used at {workshop_en} on {when_en} ({code}).",
    ),
    "ticket.voided": Message(
        409,
        "この券は無効にされています（紛失・破損など）（{code}）。",
        "This ticket was voided (lost or damaged) ({code}).",
    ),
    "ticket.expired": Message(
        409,
        "使用期限（{date}）を過ぎているため使えません（{code}）。",
        "This ticket's last day of use ({date}) has passed ({code}).",
    ),
    "ticket.not_yet_valid": Message(
        409,
        "この券は{date}から使えます（{code}）。",
        "This ticket can be used from {date} ({code}).",
    ),
    "ticket.other_event": Message(
        409,
        "この券は別のイベントの券です（{code}）。",
        "This ticket belongs to another event ({code}).",
    ),
    "redemption.duplicate_code": Message(
        422,
        "同じ券が2回読み取られています（{code}）。",
        "The same ticket was scanned twice in this request ({code}).",
    ),
    "redemption.empty": Message(
        422, "券の番号がありません。", "No ticket codes were given."
    ),
    "redemption.too_many": Message(
        422,
        "一度に受け付けられる券は{limit}枚までです。",
        "At most {limit} tickets can be taken in one go.",
    ),
    "workshop.not_participating": Message(
        403,
        "この工房は現在このイベントに参加していないため、券を受け付けられません。",
        "This workshop is not taking part in the event, so it cannot take tickets.",
    ),
    "workshop.forbidden": Message(
        403,
        "この工房として操作する権限がありません。",
        "You are not allowed to act for this workshop.",
    ),
    "undo.not_found": Message(
        404, "取り消す利用記録が見つかりません。", "There is no such redemption to undo."
    ),
    "undo.other_workshop": Message(
        403,
        "ほかの工房の利用記録は取り消せません。",
        "Only the workshop that took the ticket can undo it.",
    ),
    "undo.window_passed": Message(
        409,
        "取り消しできるのは受け付けから{minutes}分以内です。事務局に連絡してください。",
        "Undo is only possible within {minutes} minutes. Please contact the committee.",
    ),
    "undo.already_undone": Message(
        409, "この利用記録はすでに取り消されています。", "This redemption was already undone."
    ),
    "undo.settled": Message(
        409,
        "精算が締められた後は取り消せません。事務局に連絡してください。",
        "The settlement period is closed; please contact the committee.",
    ),
    # Desk sales
    "booklet.unknown": Message(
        404,
        "この冊子は登録されていません（{code}）。",
        "This booklet code is not one of ours ({code}).",
    ),
    "booklet.already_sold": Message(
        409,
        "この冊子はすでに販売済みです（{code}、{when}）。",
        "This booklet was already sold ({code}, {when_en}).",
    ),
    "booklet.voided": Message(
        409,
        "この冊子は無効にされています（{code}）。販売できません。",
        "This booklet was voided ({code}) and cannot be sold.",
    ),
    "booklet.other_programme": Message(
        409,
        "別の商品券の冊子が混ざっています（{code}）。",
        "This booklet belongs to another voucher programme ({code}).",
    ),
    "booklet.not_voidable": Message(
        409,
        "販売済みの冊子は無効にできません（{code}）。",
        "A sold booklet cannot be voided ({code}).",
    ),
    "sale.empty": Message(422, "冊子の番号がありません。", "No booklet codes were given."),
    "sale.duplicate_code": Message(
        422,
        "同じ冊子が2回読み取られています（{code}）。",
        "The same booklet was scanned twice ({code}).",
    ),
    "sale.limit_exceeded": Message(
        409,
        "1回の販売は{limit}冊までです。",
        "At most {limit} booklets can be sold at once.",
    ),
    "sale.budget_exhausted": Message(
        409,
        "プレミアム分の予算に達したため、これ以上販売できません（残り{left}冊）。",
        "The premium budget is used up; no more booklets can be sold ({left} left).",
    ),
    "sale.window_closed": Message(
        409,
        "販売期間外です（{starts}〜{ends}）。",
        "Sales are closed (sales run {starts} to {ends}).",
    ),
    "sale.free_not_allowed": Message(
        409,
        "無料配布は1日{cap}冊までです。",
        "Free booklets are limited to {cap} a day.",
    ),
    "void.reason_required": Message(
        422, "無効にする理由を入力してください。", "Please give a reason for voiding."
    ),
    # Programme set-up
    "programme.denominations_mismatch": Message(
        422,
        "券の額面の合計（¥{total:,}）が冊子の額面（¥{face:,}）と一致しません。",
        "The tickets add up to ¥{total:,} but the booklet's face value is ¥{face:,}.",
    ),
    "programme.price_above_face": Message(
        422,
        "販売価格が額面を上回っています。",
        "The price is higher than the face value.",
    ),
    "programme.validity_too_long": Message(
        422,
        "有効期間が発行日から6か月を超えています（資金決済法の対象になります）。"
        "承知の上で設定する場合は明示的に上書きしてください。",
        "Validity runs more than 6 months from issue, which brings the Payment Services "
        "Act into play. Set the explicit override if the committee has decided so.",
    ),
    "programme.dates_invalid": Message(
        422, "日付の前後関係が正しくありません：{detail}", "The dates are out of order: {detail}"
    ),
    "programme.not_expired": Message(
        409,
        "使用期限（{date}）がまだ過ぎていないため、失効処理はできません。",
        "Tickets are still valid until {date}; expiry can only run after that day.",
    ),
    "programme.not_found": Message(
        404, "商品券の設定が見つかりません。", "There is no such voucher programme."
    ),
    "programme.terms_printed": Message(
        409,
        "冊子を印刷済みのため、券に印刷される項目（{fields}）は変更できません。"
        "変える場合は新しい商品券を設定してください。",
        "Booklets are already printed, so what is printed on them ({fields_en}) cannot change. "
        "Set up a new programme instead.",
    ),
    "programme.budget_below_spent": Message(
        409,
        "プレミアム予算を¥{spent:,}より少なくはできません。販売済みの冊子のプレミアムに"
        "すでに使われています。",
        "The premium budget cannot go below ¥{spent:,}: the booklets already sold have "
        "used that much.",
    ),
    "programme.already_expired": Message(
        409,
        "失効処理が済んでいるため、期限後の扱いは変更できません。",
        "Expiry has already run, so what happens to unused tickets cannot change.",
    ),
    "print.file_missing": Message(
        404,
        "この印刷ファイル（{file}）はこのパソコンにありません。印刷ファイルはバックアップに"
        "含まれません（冊子と券はデータベースにあり、有効です）。",
        "This print file ({file}) is not on this computer. Print files are not in backups "
        "(the booklets and tickets are in the database and stay valid).",
    ),
    "print.layout_invalid": Message(
        422,
        "印刷レイアウトが使えません：{problem}",
        "The print layout cannot be used: {problem_en}",
    ),
    "event.not_found": Message(404, "イベントが見つかりません。", "There is no such event."),
    "workshop.not_found": Message(404, "工房が見つかりません。", "There is no such workshop."),
    "event.slug_taken": Message(
        409,
        "イベントの識別名「{slug}」はすでに使われています。別の識別名にしてください。",
        "The event slug '{slug}' is already taken. Choose another one.",
    ),
    "workshop.code_taken": Message(
        409,
        "工房コード「{code}」はこのイベントですでに使われています。",
        "The workshop code '{code}' is already used in this event.",
    ),
    "workshop.import_invalid": Message(
        422,
        "取り込みファイルに{count}件の問題があるため、何も保存していません。",
        "The file has {count} problem(s), so nothing was saved.",
    ),
    "workshop.bank_invalid": Message(
        422,
        "口座情報に誤りがあります（{label}）：{problem}",
        "The bank details are not valid ({field}): {problem_en}",
    ),
    "workshop.kana_invalid": Message(
        422,
        "{label}はカタカナで入力してください（英数字・スペース・「()-.」も使えます）。",
        "{field} must be written in katakana (A-Z, 0-9, spaces and ( ) - . are also allowed).",
    ),
    "staff.username_taken": Message(
        409,
        "ログインID「{username}」はすでに使われています。",
        "The login name '{username}' is already taken.",
    ),
    "workshop.invoice_number_invalid": Message(
        422,
        "適格請求書発行事業者の登録番号は「T」と13桁の数字です。",
        "An invoice registration number is 'T' followed by 13 digits.",
    ),
    "invoice_number.check_digit": Message(
        422,
        "登録番号 {number} は法人番号のチェックディジット（先頭の数字）と合いません。法人の番号なら"
        "誤りですので、登録通知書または国税庁の公表サイトで確かめて入力し直してください。個人事業者・"
        "任意団体の番号で、登録通知書と同じことを確かめた場合は「確認済み」にして保存してください"
        "（API は confirm_invoice_number、コマンドは --confirm-invoice-number）。",
        "Registration number {number} fails the corporate number check digit (its first "
        "digit). A corporation's number would be wrong: check it against the registration "
        "notice or the National Tax Agency's registry and enter it again. For a sole "
        "proprietor or a voluntary body whose notice shows this number, mark it confirmed "
        "and save (API: confirm_invoice_number; command: --confirm-invoice-number).",
    ),
    # Settlement and reports (会計)
    "settlement.cutoff_in_future": Message(
        422,
        "締め日時（{cutoff}）が未来です。締められるのは現在までの利用分だけです。",
        "The cut-off ({cutoff}) is in the future; only past redemptions can be settled.",
    ),
    "settlement.cutoff_not_after_last": Message(
        409,
        "締め日時（{cutoff}）は前回の締め（{last}）より後にしてください。",
        "The cut-off ({cutoff}) must be after the previous period's cut-off ({last}).",
    ),
    "settlement.nothing_to_settle": Message(
        409,
        "{cutoff}までに精算していない利用・訂正はありません。",
        "There are no unsettled redemptions or corrections up to {cutoff}.",
    ),
    "settlement.negative_net": Message(
        409,
        "「{workshop}」の支払額がマイナス（¥{net:,}）になるため締められません。訂正を見直してください。",
        "The net amount for {workshop_en} would be negative (¥{net:,}); review its corrections.",
    ),
    "settlement.period_not_found": Message(
        404, "精算期間が見つかりません。", "There is no such settlement period."
    ),
    "settlement.already_paid": Message(
        409,
        "この精算期間は{date}振込で支払済みです。二重に支払うことはできません。",
        "This period was already paid (transfer date {date}); it cannot be paid twice.",
    ),
    "settlement.transfer_date_missing": Message(
        422,
        "振込日を指定してください。この精算期間の全銀ファイルはまだ作られていないため、"
        "振込予定日がありません。",
        "Give the transfer date: no Zengin file was made for this period yet, so it has "
        "no planned transfer date.",
    ),
    "settlement.transfer_date_invalid": Message(
        422,
        "振込日（{date}）は締め日（{cutoff}）以降の日付にしてください。",
        "The transfer date ({date}) must not be before the cut-off day ({cutoff}).",
    ),
    "settlement.close_busy": Message(
        503,
        "工房での利用・取消しの処理が終わらないため、締めを中止しました（何も変更していません）。"
        "少し待ってからもう一度締めてください。",
        "Redemptions in progress did not finish in time, so the period was not closed "
        "(nothing was changed). Please try again in a moment.",
    ),
    "settlement.transfer_date_bank_holiday": Message(
        422,
        "振込日（{date}）は{reason}で銀行が休みです。銀行の営業日を入力してください。",
        "Banks are closed on {date} ({reason_en}); enter a bank business day.",
    ),
    "settlement.not_in_period": Message(
        404,
        "この工房はこの精算期間に支払明細がありません。",
        "This workshop has no statement in this settlement period.",
    ),
    "settlement.settings_invalid": Message(
        422,
        "精算の設定に誤りがあります：{detail}",
        "The settlement settings are not valid: {detail}",
    ),
    "settlement.correction_invalid": Message(
        422, "訂正の内容に誤りがあります：{detail}", "The correction is not valid: {detail}"
    ),
    "settlement.correction_reason_required": Message(
        422, "訂正の理由を入力してください。", "Give the reason for the correction."
    ),
    "settlement.correction_same_workshop": Message(
        422,
        "移す先の工房が元の工房と同じです。別の工房を選んでください。",
        "The workshop to move it to is the one it is at; choose another workshop.",
    ),
    "settlement.correction_amount_invalid": Message(
        422,
        "訂正の金額は±1円から±10,000,000円までの整数で、0円以外にしてください。",
        "The amount is a whole number of yen from ±1 to ±10,000,000, not zero.",
    ),
    "settlement.correction_counter_invalid": Message(
        422,
        "この相手勘定は選べません。一覧から選んでください。",
        "The counter account ({account}) cannot be used here; choose one from the list.",
    ),
    "settlement.settle_invalid": Message(
        422,
        "精算方法（{settle}）は「次回の支払いで相殺」か「工房から返金」を選んでください。",
        "Settle it by offsetting the next payout or by a repayment from the workshop "
        "(not {settle}).",
    ),
    "settlement.repayment_too_much": Message(
        409,
        "「{workshop}」に返金を求めている額は¥{owed:,}です。¥{amount:,}は記録できません。",
        "{workshop_en} was asked to pay back ¥{owed:,}; ¥{amount:,} cannot be recorded.",
    ),
    "settlement.repayment_in_future": Message(
        422,
        "入金日（{date}）が未来の日付です。",
        "The day the money arrived ({date}) is in the future.",
    ),
    "settlement.not_settled": Message(
        409,
        "この利用はまだ精算されていません。取り消しは工房の画面から受付後すぐに行えます。",
        "This redemption is not settled yet; the workshop can still undo it within the window.",
    ),
    "settlement.redemption_not_found": Message(
        404,
        "この券（{code}）は利用されていないため、訂正できません。",
        "This ticket ({code}) was never redeemed, so there is nothing to correct.",
    ),
    "settlement.already_corrected": Message(
        409, "この利用はすでに訂正されています。", "This redemption was already corrected."
    ),
    "settlement.invoice_nothing_to_bill": Message(
        409,
        "「{workshop}」に請求するものはありません。返金を依頼した訂正はすべて請求書に載っているか、"
        "入金済みです。",
        "There is nothing to invoice {workshop_en}: every correction it was asked to pay "
        "back is on an invoice already, or was paid.",
    ),
    "settlement.invoice_bank_missing": Message(
        409,
        "請求書に振込先を載せるため、先に委員会の口座（精算の設定）を登録してください。",
        "Enter the committee's bank account (settlement settings) first: the invoice tells "
        "the workshop where to pay.",
    ),
    "settlement.invoice_due_invalid": Message(
        422,
        "お支払期限は発行日（{date}）以降の日付にしてください。",
        "The due date must not be before the issue date ({date}).",
    ),
    "settlement.invoice_not_found": Message(
        404, "請求書が見つかりません。", "There is no such invoice."
    ),
    "zengin.blocked": Message(
        409,
        "口座情報などに{count}件の問題があるため、全銀振込ファイルを作成できません。"
        "一覧の項目を直してください。",
        "The Zengin transfer file cannot be written: {count} problem(s) to fix, listed below.",
    ),
    "report.date_invalid": Message(
        422,
        "日付の形式が正しくありません（例：2026-03-31）。",
        "Dates are written like 2026-03-31.",
    ),
    "report.period_invalid": Message(
        422,
        "期間の終わり（{end}）が始まり（{start}）より前です。",
        "The period ends ({end}) before it starts ({start}).",
    ),
    "report.date_in_future": Message(
        422,
        "{date}はまだ来ていません。未使用残高は今日（{today}）までの日付で出せます。",
        "{date} has not come yet: the unused balance is shown for a day up to today "
        "({today}).",
    ),
    # Crowdfunding: campaigns (クラウドファンディング)
    "campaign.not_found": Message(
        404, "クラウドファンディングが見つかりません。", "There is no such campaign."
    ),
    "campaign.invalid": Message(
        422,
        "クラウドファンディングの設定に誤りがあります：{detail}",
        "The campaign's settings are not valid: {detail}",
    ),
    "campaign.slug_taken": Message(
        409,
        "識別名「{slug}」はこのイベントのクラウドファンディングですでに使われています。",
        "The campaign slug '{slug}' is already used in this event.",
    ),
    "campaign.legal_missing": Message(
        409,
        "特定商取引法に基づく表記に足りない項目があるため、公開できません：{items}",
        "The campaign cannot go live: the legal notice (特定商取引法) is missing: {items_en}",
    ),
    "campaign.no_rewards": Message(
        409,
        "リターンが1つもないため、公開できません。",
        "The campaign cannot go live without at least one return.",
    ),
    "campaign.not_draft": Message(
        409,
        "このクラウドファンディングはすでに公開されています。",
        "This campaign has already gone live.",
    ),
    "campaign.already_ended": Message(
        409,
        "終了日時（{ends}）を過ぎているため、公開できません。",
        "The campaign's end ({ends}) has passed, so it cannot go live.",
    ),
    "campaign.field_locked": Message(
        409,
        "公開後は変更できない項目です：{fields}。支援者が申し込んだ条件を守るためです。",
        "These cannot change once the campaign is live (supporters pledged on those terms): "
        "{fields}.",
    ),
    "campaign.not_open": Message(
        409,
        "支援の受付期間外です（{starts}〜{ends}）。",
        "Pledges are not being taken now (the campaign runs {starts} to {ends}).",
    ),
    "campaign.not_live": Message(
        409,
        "公開前のクラウドファンディングは結果を確定できません。",
        "A campaign that never went live has no outcome to decide.",
    ),
    "campaign.not_ended": Message(
        409,
        "終了日時（{ends}）まで結果は確定できません。",
        "The outcome can only be decided after the campaign ends ({ends}).",
    ),
    "campaign.not_decided": Message(
        409,
        "結果が確定していないため、終了処理はできません。",
        "The outcome is not decided yet, so the campaign cannot be closed.",
    ),
    "campaign.refunds_open": Message(
        409,
        "返金が済んでいない支援が{count}件あるため、終了処理はできません。",
        "{count} refund(s) are not finished, so the campaign cannot be closed.",
    ),
    "campaign.already_closed": Message(
        409,
        "このクラウドファンディングはすでに終了処理済みです。",
        "This campaign is already closed.",
    ),
    # Crowdfunding: a campaign's pictures (crowdfunding/images.py)
    "image.not_found": Message(404, "画像が見つかりません。", "There is no such picture."),
    "image.wrong_type": Message(
        422,
        "JPEG・PNG・WebP の画像だけを登録できます。iPhone の HEIC 形式などは、JPEG に"
        "書き出してから選んでください。",
        "Only JPEG, PNG and WebP pictures can be added. Save other kinds (such as an "
        "iPhone's HEIC) as JPEG first.",
    ),
    "image.too_large": Message(
        413,
        "画像が大きすぎます（{size_mb} MB）。{limit_mb} MB 以下にしてください。",
        "The picture is too large ({size_mb} MB). It must be {limit_mb} MB or less.",
    ),
    "image.too_many_pixels": Message(
        422,
        "画像の画素数が多すぎます（{width}×{height}）。{limit}百万画素以下に縮小してください。",
        "The picture has too many pixels ({width}×{height}). Shrink it to {limit} "
        "megapixels or fewer.",
    ),
    "image.unreadable": Message(
        422,
        "画像を読み取れません。ファイルが壊れている可能性があります。もう一度書き出してください。",
        "The picture cannot be read: the file may be damaged. Please save it again.",
    ),
    "image.alt_missing": Message(
        422,
        "画像の説明（代替テキスト）を入力してください。画面読み上げを使う方に読まれます。",
        "Describe the picture (alt text): screen readers read it to people who cannot "
        "see it.",
    ),
    "image.alt_too_long": Message(
        422,
        "画像の説明は{limit}文字以内にしてください。",
        "The picture's description must be {limit} characters or fewer.",
    ),
    "image.locked": Message(
        409,
        "結果が確定したクラウドファンディングの画像は変更できません。",
        "The campaign's outcome is decided: its pictures can no longer change.",
    ),
    "image.too_many": Message(
        409,
        "1つのクラウドファンディングに登録できる画像は{limit}枚までです。",
        "A campaign can have at most {limit} pictures.",
    ),
    # Crowdfunding: returns (リターン)
    "reward.not_found": Message(404, "リターンが見つかりません。", "There is no such return."),
    "reward.invalid": Message(
        422, "リターンの設定に誤りがあります：{detail}", "The return is not valid: {detail}"
    ),
    "reward.sold_out": Message(
        409,
        "このリターンは完売しました（残り{left}個）。別のリターンをお選びください。",
        "This return is sold out ({left} left). Please choose another return.",
    ),
    "reward.per_supporter_limit": Message(
        409,
        "このリターンはお一人{limit}個までです（お申し込み済み{held}個）。",
        "This return is limited to {limit} per supporter (you already have {held}).",
    ),
    "reward.limit_below_claimed": Message(
        409,
        "数量の上限を{claimed}より少なくはできません。すでに{claimed}個が申し込まれています。",
        "The limit cannot go below {claimed}: that many are already pledged.",
    ),
    "reward.terms_locked": Message(
        409,
        "申し込みのあるリターンは、支援者が申し込んだ条件（{fields}）を変更できません。",
        "This return has pledges, so the terms supporters pledged on cannot change: {fields}.",
    ),
    # Crowdfunding: pledges (支援)
    "pledge.not_found": Message(404, "支援が見つかりません。", "There is no such pledge."),
    "pledge.invalid": Message(
        422, "入力内容に誤りがあります：{detail}", "Some input is not valid: {detail}"
    ),
    "pledge.amount_below_minimum": Message(
        422,
        "支援額は¥{minimum:,}以上にしてください。",
        "The amount must be at least ¥{minimum:,}.",
    ),
    "pledge.amount_mismatch": Message(
        422,
        "このリターンの金額は¥{expected:,}です（¥{given:,}と指定されました）。",
        "This return costs ¥{expected:,} (¥{given:,} was given).",
    ),
    "pledge.answer_missing": Message(
        422,
        "「{item}」の入力が必要です：{field}",
        "This return needs your answer for {item_en}: {field}",
    ),
    "pledge.postal_code_unknown": Message(
        422,
        "郵便番号（{postal_code}）が見つかりません。7桁の郵便番号を確かめてください。",
        "The postal code {postal_code} does not exist. Please check the 7 digits.",
    ),
    "pledge.prefecture_mismatch": Message(
        422,
        "郵便番号（{postal_code}）は{expected}の番号です。都道府県（{prefecture}）を確かめて"
        "ください。",
        "The postal code {postal_code} belongs to {expected}, not {prefecture}. Please check.",
    ),
    "pledge.phone_invalid": Message(
        422,
        "電話番号（{phone}）が正しくありません。市外局番から入力してください。",
        "The phone number {phone} is not a valid Japanese number (include the area code).",
    ),
    "pledge.email_invalid": Message(
        422, "メールアドレスが正しくありません。", "The e-mail address is not valid."
    ),
    "pledge.method_unavailable": Message(
        422,
        "このお支払い方法（{method}）はこのクラウドファンディングでは使えません。",
        "This payment method ({method}) is not offered by this campaign.",
    ),
    "campaign.no_bank_account": Message(
        409,
        "銀行振込を受け付けるには、事務局の振込先口座（イベント設定の委託者口座）を先に登録してください。",
        "To take bank transfers, first give the committee's own bank account (the event's"
        " requester account).",
    ),
    "pledge.no_bank_account": Message(
        409,
        "事務局の振込先口座が登録されていないため、銀行振込ではお受けできません。ほかのお支払い方法をお選びいただくか、事務局にお問い合わせください。",
        "The committee has not registered its bank account, so bank transfer cannot be used"
        " yet. Please choose another way to pay, or ask the committee.",
    ),
    "pledge.already_paid": Message(
        409,
        "この支援はすでに入金済みです（{when}）。二重に入金を記録することはできません。",
        "This pledge was already paid ({when_en}); a payment is never recorded twice.",
    ),
    "pledge.payment_amount_mismatch": Message(
        409,
        "入金額（¥{given:,}）が支援の金額（¥{expected:,}）と一致しません。何も記録していません。",
        "The amount received (¥{given:,}) is not the pledge's amount (¥{expected:,}); "
        "nothing was recorded.",
    ),
    "pledge.fulfilment_locked": Message(
        409,
        "リターンの準備が{when}に始まったため、もう変更できません。変更が必要な場合は実行委員会へご連絡ください。",
        "The committee started preparing the returns on {when_en}; this can no longer be "
        "changed. Please contact the committee if it must be.",
    ),
    "pledge.no_receipt": Message(
        409,
        "領収書は入金済みの支援にだけ発行できます（現在：{state}）。",
        "A receipt is issued for a paid pledge only (this one is {state_en}).",
    ),
    "pledge.not_changeable": Message(
        409,
        "この支援は変更できません（現在：{state}）。",
        "This pledge can no longer be changed (it is {state_en}).",
    ),
    "update.invalid": Message(
        422, "活動報告の内容に誤りがあります：{detail}", "The update is not valid: {detail}"
    ),
    "update.not_found": Message(404, "活動報告が見つかりません。", "There is no such update."),
    "update.published": Message(
        409,
        "この活動報告は{when}に公開済みのため、変更できません。",
        "This update was published on {when_en}; it can no longer be changed.",
    ),
    "update.link_invalid": Message(
        404,
        "このリンクは無効です。メールに記載されたリンクをもう一度お確かめください。",
        "This link is not valid. Please check the link in the e-mail again.",
    ),
    "tour.invalid": Message(
        422, "見学日の内容に誤りがあります：{detail}", "The tour date is not valid: {detail}"
    ),
    "tour.not_invited": Message(
        409, "この支援のリターンには工場見学が含まれていません。",
        "This pledge's return does not include the factory tour.",
    ),
    "tour.not_paid": Message(
        409, "見学日はお支払いの確認後に選べます。",
        "You can pick a tour date once the payment is in.",
    ),
    "tour.slot_not_found": Message(404, "その見学日はありません。", "There is no such tour date."),
    "tour.slot_past": Message(
        409, "その見学日は過ぎています。別の日をお選びください。",
        "That tour date has passed. Please pick another.",
    ),
    "tour.full": Message(
        409,
        "その見学日は満員です（残り{left}名）。別の日をお選びください。",
        "That tour date is full ({left} places left). Please pick another.",
    ),
    "tour.try_again": Message(
        409, "同時に別の操作がありました。もう一度お試しください。",
        "Something else changed at the same moment. Please try again.",
    ),
    "tour.code_invalid": Message(
        404,
        "この招待コードは無効です（偽造または誤り）。入場させないでください。",
        "This invitation code is not valid (forged or mistyped). Do not let them in.",
    ),
    "tour.already_checked_in": Message(
        409,
        "この招待はすでに{when}に受付済みです。",
        "This invitation was already checked in on {when_en}.",
    ),
    "pickup.code_invalid": Message(
        404,
        "この受取コードは無効です（偽造または誤り）。冊子を渡さないでください。",
        "This pickup code is not valid (forged or mistyped). Do not hand over any booklets.",
    ),
    "pickup.no_booklets": Message(
        409, "この支援のリターンには商品券冊子が含まれていません。",
        "This pledge's return does not include voucher booklets.",
    ),
    "pickup.not_paid": Message(
        409, "この支援はお支払いが確認できていないか、返金の対象です。冊子はお渡しできません。",
        "This pledge is not paid, or is being refunded: no booklets can be handed over.",
    ),
    "pickup.campaign_undecided": Message(
        409, "プロジェクトの成立が決まってから冊子をお渡しします。",
        "Booklets are handed over once the campaign has succeeded.",
    ),
    "pickup.already_collected": Message(
        409,
        "この冊子はすでに{when}に「{place}」で受け取られています（担当 {by}）。",
        "These booklets were already collected on {when_en} at “{place}” (by {by}).",
    ),
    "pickup.wrong_booklets": Message(
        422,
        "「{programme}」の冊子を{expected}冊読み取ってください（いま{got}冊）。",
        "Scan {expected} booklet(s) of “{programme}” (now {got}).",
    ),
    "pickup.before_issue": Message(
        409, "冊子の発行日（{date}）より前にはお渡しできません。",
        "The booklets cannot be handed over before their issue date ({date}).",
    ),
    "pickup.expired": Message(
        409, "冊子の有効期限（{date}）が過ぎているためお渡しできません。委員会にご相談ください。",
        "The booklets' last day of use ({date}) has passed: they cannot be handed over. "
        "Please ask the committee.",
    ),
    "pickup.place_required": Message(
        422, "受け取り場所（例：本部受付）を100文字以内で入力してください。",
        "Enter where the booklets are handed over (e.g. main desk), at most 100 characters.",
    ),
    "fulfilment.invalid": Message(
        422, "入力内容に誤りがあります：{detail}", "Some input is not valid: {detail}"
    ),
    "fulfilment.not_owed": Message(
        409,
        "次の支援はこのリターンの対象ではないか、入金済みではありません：{pledges}",
        "These pledges are not owed this (not paid, or another return): {pledges}",
    ),
    "signin.bad_address": Message(
        422,
        "メールアドレスとして読み取れません。ご支援のときのアドレスを入力してください。",
        "This is not an e-mail address. Please type the address you pledged with.",
    ),
    "signin.too_many": Message(
        429,
        "ログイン用リンクのご依頼が続いています。しばらく（1時間ほど）待ってからもう一度お試しください。",
        "Too many sign-in links were asked for. Please wait an hour or so and try again.",
    ),
    "signin.link_invalid": Message(
        404,
        "このリンクは使えません（期限切れ・使用済み・誤りのいずれか）。もう一度ログイン用リンクをご依頼ください。",
        "This link cannot be used (expired, already used or mistyped). Please ask for a new "
        "sign-in link.",
    ),
    "signin.required": Message(
        401,
        "ログインしてください。ご支援のときのメールアドレスにリンクをお送りします。",
        "Please sign in: we will send a link to the address you pledged with.",
    ),
    "pledge.not_cancellable": Message(
        409,
        "入金前の支援だけ取り消せます（現在：{state}）。",
        "Only an unpaid pledge can be cancelled (this one is {state_en}).",
    ),
    "pledge.not_payable": Message(
        409,
        "この支援は現在「{state}」のため、お支払いを始められません。",
        "This pledge is {state_en}, so its payment cannot be started.",
    ),
    # Crowdfunding: refunds (返金)
    "refund.not_found": Message(404, "返金が見つかりません。", "There is no such refund."),
    "refund.wrong_state": Message(
        409,
        "この返金は現在「{state}」のため、この操作はできません。",
        "This refund is {state_en}, so this cannot be done now.",
    ),
    "refund.nothing_to_transfer": Message(
        409,
        "振込で返金できるものがありません（返金先の口座がまだ届いていないか、送金済みです）。",
        "There is no refund to transfer: no supporter has given an account yet, or the"
        " money has been sent.",
    ),
    "refund.link_unknown": Message(
        404,
        "このリンクは無効です。メールに記載されたリンクをもう一度お確かめください。",
        "This link is not valid. Please check the link in the e-mail again.",
    ),
    "refund.account_invalid": Message(
        422,
        "返金先の口座を確認してください：{problem}",
        "Please check the account for the refund: {problem_en}",
    ),
    "refund.account_closed": Message(
        409,
        "この返金は現在「{state}」のため、口座を変更できません。事務局にお問い合わせください。",
        "This refund is {state_en}, so its account can no longer be changed. Please ask the"
        " committee.",
    ),
    # Idempotency
    "idempotency.key_missing": Message(
        400,
        "Idempotency-Key ヘッダーが必要です。",
        "This request needs an Idempotency-Key header so it can be retried safely.",
    ),
    "idempotency.key_invalid": Message(
        400,
        "Idempotency-Key は1〜200文字の英数字・記号で指定してください。",
        "The Idempotency-Key must be 1 to 200 printable ASCII characters.",
    ),
    "idempotency.key_reused": Message(
        422,
        "同じ Idempotency-Key が別の内容の依頼に使われました。",
        "This Idempotency-Key was already used for a different request.",
    ),
    # Auth
    "auth.required": Message(401, "ログインしてください。", "Please log in."),
    "auth.forbidden": Message(
        403, "この操作を行う権限がありません。", "You are not allowed to do this."
    ),
    "auth.bad_login": Message(
        401,
        "ログインIDまたはパスワード（PIN）が違います。",
        "The login or password (PIN) is not right.",
    ),
    "auth.locked": Message(
        429,
        "パスワード（PIN）を何度も間違えたため、{minutes}分間ログインできません。",
        "Too many wrong passwords (PINs): login is locked for {minutes} minutes.",
    ),
    "auth.password_too_short": Message(
        422,
        "パスワードは{minimum}文字以上にしてください。",
        "A password needs at least {minimum} characters.",
    ),
    "auth.password_mismatch": Message(
        422, "新しいパスワードが2回とも同じではありません。", "The two new passwords differ."
    ),
    "auth.password_wrong": Message(
        422, "今のパスワードが違います。", "The current password is not right."
    ),
    "auth.password_change_required": Message(
        403,
        "はじめにパスワードを変更してください。",
        "Please change your password first.",
    ),
    "staff.not_found": Message(404, "スタッフが見つかりません。", "There is no such staff user."),
    "token.own": Message(
        409,
        "使用中のトークン自身は取り消せません。別のログインかコマンドで取り消してください。",
        "A token cannot revoke itself: revoke it from another login or the command line.",
    ),
    "token.not_found": Message(
        404, "APIトークンが見つかりません。", "There is no such API token."
    ),
    "csrf.failed": Message(
        403,
        "画面の有効期限が切れました。ページを再読み込みしてやり直してください。",
        "The form expired. Reload the page and try again.",
    ),
    # Generic request problems
    "request.invalid": Message(
        422, "入力内容に誤りがあります：{detail}", "Some input is not valid: {detail}"
    ),
    "request.unsupported_media_type": Message(
        415,
        "送信形式が正しくありません（JSONで送ってください）。",
        "Unsupported content type: send JSON.",
    ),
    "request.not_found": Message(404, "ページが見つかりません。", "Not found."),
    "request.method_not_allowed": Message(
        405, "この操作はできません。", "This method is not allowed here."
    ),
    "request.too_large": Message(413, "送信データが大きすぎます。", "The request is too large."),
    "request.body_timeout": Message(
        408,
        "送信データが{seconds:g}秒以内に届かなかったため、受け付けを打ち切りました。"
        "もう一度送ってください。",
        "The request body did not arrive within {seconds:g} seconds. Please send it again.",
    ),
    "request.body_incomplete": Message(
        400,
        "送信データが届き終わる前に接続が切れました。もう一度送ってください。",
        "The connection closed before the whole request body arrived. Please send it again.",
    ),
    "request.conflict": Message(
        409,
        "ほかのデータと矛盾するため保存できませんでした。内容を確かめてください。",
        "This conflicts with data already saved, so nothing was changed. Please check it.",
    ),
    "server.unavailable": Message(
        503,
        "サーバーが混み合っています。変更は保存されていません。もう一度お試しください。",
        "The server is busy or reconnecting. Nothing was changed; please try again.",
    ),
    "server.error": Message(
        500,
        "サーバーで問題が起きました。変更は保存されていません。",
        "Something went wrong on the server. Nothing was changed.",
    ),
    # Payments (oflocal.payments): providers, webhooks, bank statements
    "payment.signature_invalid": Message(
        400,
        "決済サービスからの通知の署名を確認できません。何も変更していません。",
        "The payment notification's signature is wrong or too old. Nothing was changed.",
    ),
    "payment.method_unavailable": Message(
        422,
        "この支払い方法（{method}）は現在ご利用いただけません。",
        "This payment method ({method}) is not available.",
    ),
    "payment.provider_unavailable": Message(
        503,
        "決済サービスに接続できませんでした。もう一度お試しください。",
        "The payment service could not be reached. Please try again.",
    ),
    "payment.provider_refused": Message(
        422,
        "決済サービスが受け付けませんでした（{reason}）。",
        "The payment service refused this ({reason}).",
    ),
    "payment.refund_unsupported": Message(
        422,
        "この支払い（{method}）は決済サービスから返金できません。銀行振込で返金してください。",
        "This payment ({method}) cannot be refunded through the payment service; "
        "refund it by bank transfer.",
    ),
    "payment.statement_unreadable": Message(
        422,
        "銀行の明細ファイルを読み取れません：{problem}",
        "The bank statement file cannot be read: {problem_en}",
    ),
    # The treasurer's own entries and the bank reconciliation (oflocal/treasury)
    "treasury.kind_unknown": Message(
        422,
        "伝票の種類が正しくありません（{kind}）。",
        "There is no such kind of entry ({kind}).",
    ),
    "treasury.account_not_allowed": Message(
        422,
        "この種類の伝票では科目「{account}」を{side_ja}に使えません。使える科目: {allowed}",
        "This kind of entry cannot use {account} as its {side}. Allowed: {allowed}",
    ),
    "treasury.amount_invalid": Message(
        422,
        "金額は1円以上{limit}円以下の整数で入力してください。",
        "The amount must be a whole number of yen from 1 to {limit}.",
    ),
    "treasury.date_invalid": Message(
        422,
        "取引日が正しくありません。今日（{date}）より後の日付は入力できません。",
        "The business date is not valid: it cannot be after today ({date}).",
    ),
    "treasury.description_missing": Message(
        422,
        "摘要（何のお金か）を入力してください。",
        "Say what the money was for (the description).",
    ),
    "treasury.voucher_no_invalid": Message(
        422,
        "伝票番号は英数字とハイフンで20文字以内にしてください（{voucher_no}）。",
        "A voucher number is up to 20 letters, digits and hyphens ({voucher_no}).",
    ),
    "treasury.voucher_no_taken": Message(
        409,
        "伝票番号 {voucher_no} はこのイベントで使用済みです。別の番号にするか空欄にしてください。",
        "Voucher number {voucher_no} is already used in this event. Give another or "
        "leave it empty to have one assigned.",
    ),
    "treasury.entry_not_found": Message(404, "伝票が見つかりません。", "There is no such voucher."),
    "treasury.already_reversed": Message(
        409,
        "この伝票は取消済みです（取消伝票 {voucher_no}）。",
        "This voucher has already been reversed (by voucher {voucher_no}).",
    ),
    "treasury.reversal_final": Message(
        409,
        "取消伝票は取り消せません。必要なら新しい伝票を起こしてください。",
        "A reversing voucher cannot itself be reversed. Post a new entry instead.",
    ),
    "treasury.reversal_before_original": Message(
        422,
        "取消の日付は元の伝票の日付（{date}）以降にしてください。",
        "A reversal is dated on or after the voucher it reverses ({date}).",
    ),
    "treasury.opening_date_invalid": Message(
        422,
        "開始残高（前期繰越）は会計年度の初日（{date}）の日付で入力してください。",
        "An opening balance is dated the first day of the fiscal year ({date}).",
    ),
    "treasury.opening_exists": Message(
        409,
        "「{account}」の開始残高は伝票 {voucher_no} で入力済みです。誤りなら、その伝票を"
        "取り消してから入力し直してください。",
        "The opening balance of {account} was entered by voucher {voucher_no}. If it is "
        "wrong, reverse that voucher and enter it again.",
    ),
    "treasury.reason_missing": Message(
        422,
        "取消の理由を入力してください。",
        "Give the reason for the reversal.",
    ),
    "treasury.attachment_not_found": Message(
        404, "添付された証憑がありません。", "This voucher has no attached receipt."),
    "receipt.wrong_type": Message(
        422,
        "証憑は PDF・JPEG・PNG のファイルだけを添付できます。",
        "A receipt must be a PDF, JPEG or PNG file.",
    ),
    "receipt.too_large": Message(
        413,
        "証憑のファイルが大きすぎます（{size_mb} MB）。{limit_mb} MB 以下にしてください。",
        "The receipt file is too large ({size_mb} MB). It must be {limit_mb} MB or less.",
    ),
    "receipt.unreadable": Message(
        422,
        "証憑のファイルを読み取れません。壊れている可能性があります。",
        "The receipt file cannot be read: it may be damaged.",
    ),
    "bank.posting_not_found": Message(
        404,
        "このイベントの普通預金の明細ではありません（{posting_id}）。",
        "This is not a line of the event's bank account ({posting_id}).",
    ),
    "bank.balance_invalid": Message(
        422,
        "通帳残高を円の整数で入力してください。",
        "Type the passbook balance as a whole number of yen.",
    ),
    # Backups and restores (oflocal backup, oflocal restore, the automatic backups)
    "backup.target_missing": Message(
        409,
        "バックアップ先のフォルダ {dir} がありません。USBメモリが挿さっているか、"
        "同期フォルダの場所が正しいか確かめてください（このフォルダは自動では作りません）。",
        "The backup folder {dir} does not exist. Is the USB stick plugged in, is the synced "
        "folder where it should be? (It is never created automatically.)",
    ),
    "backup.target_unwritable": Message(
        409,
        "バックアップ先のフォルダ {dir} に書き込めません（{reason}）。",
        "Cannot write to the backup folder {dir} ({reason}).",
    ),
    "backup.passphrase_too_short": Message(
        422,
        "パスフレーズは{minimum}文字以上にしてください。",
        "The passphrase must be at least {minimum} characters long.",
    ),
    "backup.passphrase_file": Message(
        409,
        "パスフレーズのファイル {file} を読めません（{reason}）。",
        "Cannot read the passphrase file {file} ({reason}).",
    ),
    "backup.passphrase_needed": Message(
        422,
        "このバックアップは暗号化されています。パスフレーズを入力してください。",
        "This backup is encrypted: give its passphrase.",
    ),
    "backup.wrong_passphrase": Message(
        422,
        "パスフレーズが違います。このバックアップを開けません。",
        "Wrong passphrase: this backup does not open with it.",
    ),
    "backup.not_a_backup": Message(
        422,
        "{file} は oflocal のバックアップファイルではありません。",
        "{file} is not an oflocal backup file.",
    ),
    "backup.checksum_mismatch": Message(
        422,
        "{file} はチェックサムが合いません。壊れているか、途中で切れているか、"
        "書き換えられています。使わずに、別のバックアップを選んでください。",
        "{file} fails its checksum: it is damaged, cut off or altered. Do not use it; "
        "choose another backup.",
    ),
    "backup.unreadable": Message(
        422,
        "バックアップの中身を読み取れません（{reason}）。別のバックアップを選んでください。",
        "The backup's contents cannot be read ({reason}). Choose another backup.",
    ),
    "backup.failed": Message(
        500,
        "バックアップを作れませんでした（{reason}）。",
        "The backup could not be made ({reason}).",
    ),
    "backup.database_damaged": Message(
        500,
        "データベースの検査で異常が見つかりました（{reason}）。すぐに担当者に連絡してください。",
        "The database check found damage ({reason}). Tell whoever looks after the system now.",
    ),
    "backup.pg_tool_missing": Message(
        503,
        "{tool} が見つかりません。PostgreSQL のクライアント（postgresql-client）を入れるか、"
        "OFLOCAL_PG_BIN_DIR でその場所を指定してください。",
        "{tool} was not found. Install the PostgreSQL client (postgresql-client) or name "
        "its folder in OFLOCAL_PG_BIN_DIR.",
    ),
    "backup.pg_dump_too_old": Message(
        503,
        "{tool} のバージョン（{client}）がデータベースサーバー（{server}）より古いため、"
        "バックアップできません。サーバーと同じかより新しい PostgreSQL クライアントを"
        "入れてください。",
        "{tool} {client} is older than the database server ({server}) and cannot dump it. "
        "Install a PostgreSQL client of the server's version or newer.",
    ),
    "backup.tool_failed": Message(
        500,
        "{tool} が失敗しました：{reason}",
        "{tool} failed: {reason}",
    ),
    "backup.needs_direct_connection": Message(
        409,
        "PgBouncer 経由ではバックアップ・復元できません。OFLOCAL_BACKUP_DATABASE_URL"
        "（復元では --database-url）にデータベースへの直接の接続先を指定してください。",
        "Backups and restores cannot go through PgBouncer: set OFLOCAL_BACKUP_DATABASE_URL "
        "(for a restore, --database-url) to a direct connection to the database.",
    ),
    "backup.secret_mismatch": Message(
        409,
        "この署名鍵では印刷済みの券を1枚も確認できません（{checked}枚を試しました）。"
        "サーバーと同じ設定（OFLOCAL_DATA_DIR・OFLOCAL_SECRET_KEY）で実行してください。",
        "This signing secret authenticates none of the printed codes ({checked} tried): run "
        "with the server's settings (OFLOCAL_DATA_DIR, OFLOCAL_SECRET_KEY).",
    ),
    "restore.target_not_empty": Message(
        409,
        "{dir} にはすでにインストールがあります。上書きしません。別のフォルダを指定するか、"
        "置き換える場合は --force を付けてください（元のファイルは replaced-… に移されます）。",
        "{dir} already holds an installation and is not overwritten. Choose another folder, "
        "or add --force to replace it (its files are moved to replaced-…).",
    ),
    "restore.target_in_use": Message(
        409,
        "{dir} のデータベースは使用中です（サーバーが動いています）。止めてから復元してください。",
        "The database in {dir} is in use (a server is running on it). Stop it first.",
    ),
    "restore.newer_schema": Message(
        409,
        "このバックアップは新しい oflocal（{version}、スキーマ {revision}）で作られています。"
        "そのバージョン以降の oflocal で復元してください。",
        "This backup was made by a newer oflocal ({version}, schema {revision}). Restore it "
        "with that version or later.",
    ),
    "restore.database_kind": Message(
        422,
        "{kind} のバックアップです。SQLite はフォルダの中のファイルに、PostgreSQL は "
        "--database-url で指定した空のデータベースに復元します。",
        "This is a {kind} backup. SQLite restores into a file in the folder, PostgreSQL into "
        "the empty database named by --database-url.",
    ),
    "restore.database_unreachable": Message(
        503,
        "復元先のデータベースに接続できません（{reason}）。",
        "Cannot reach the database to restore into ({reason}).",
    ),
}


class Refusal(Exception):
    """A rejection with a stable code. Raising it inside a write rolls everything back."""

    def __init__(self, code: str, /, **facts: Any) -> None:
        if code not in MESSAGES:
            raise KeyError(f"unregistered refusal code {code!r}")
        self.code = code
        self.facts = facts
        super().__init__(f"{code}: {self.message('en')}")

    @property
    def status(self) -> int:
        return MESSAGES[self.code].status

    def message(self, lang: str = "ja") -> str:
        template = MESSAGES[self.code]
        text = template.ja if lang == "ja" else template.en
        facts = {k: shown_moment(m, lang) if (m := _moment(k, v)) else v
                 for k, v in self.facts.items()}
        facts.setdefault("workshop_en", facts.get("workshop", ""))
        facts.setdefault("when_en", facts.get("when", ""))
        try:
            return text.format(**facts)
        except (KeyError, IndexError, ValueError):
            return text

    def to_body(self, lang: str = "ja") -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message(lang),
            "message_ja": self.message("ja"),
            "message_en": self.message("en"),
            "detail": {k: _json_fact(v) for k, v in self.facts.items() if _jsonable(v)},
        }


# Facts that are a day or a moment; only these are read back from ISO 8601 strings (a
# slug or a code that happens to look like a date stays as written).
MOMENT_FACTS = frozenset({"date", "cutoff", "last", "starts", "ends"})


def _moment(name: str, value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if name in MOMENT_FACTS and isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _json_fact(value: Any) -> Any:
    if isinstance(value, datetime):  # like every datetime the API answers: UTC
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | date) or value is None

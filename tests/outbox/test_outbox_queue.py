"""Queueing: the message and its job are written in the caller's transaction, once per
dedupe key, rendered from the templates in the supporter's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from mail_helpers import BANK, CAMPAIGN, DEADLINE, SUPPORTER, pledge
from sqlalchemy import func, select

from oflocal.db.base import Base
from oflocal.db.engine import Database
from oflocal.jobs.models import Job
from oflocal.outbox import notices
from oflocal.outbox.messages import KINDS, MAIL_SEND, queue_message
from oflocal.outbox.models import MailMessage
from oflocal.outbox.render import LANGUAGES, MAIL_TEMPLATES, render


def counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return (session.execute(select(func.count()).select_from(MailMessage)).scalar_one(),
                session.execute(select(func.count()).select_from(Job)).scalar_one())


class ChangeFailed(Exception):
    pass


def test_the_message_commits_with_the_change_or_not_at_all(db: Database) -> None:
    with pytest.raises(ChangeFailed), db.write() as session:
        notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                pledge=pledge(), payment=BANK)
        raise ChangeFailed  # the pledge's own write fails after the notice was queued
    assert counts(db) == (0, 0)

    with db.write() as session:
        message_id = notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                             pledge=pledge(), payment=BANK)
    assert counts(db) == (1, 1)
    with db.read() as session:
        message = session.get(MailMessage, message_id)
        job = session.execute(select(Job)).scalar_one()
    assert message is not None
    assert (message.state, message.attempts, message.send_round, message.kind,
            message.about, message.dedupe_key, message.language, message.to_address) == (
        "queued", 0, 1, "pledge_received", "pledge:12", "pledge:12:received", "ja",
        "taro@example.jp")
    assert message.subject == ("【尾州ひつじサミット2026 ひつじ団】"
                               "ご支援を受け付けました（P-000012）")
    assert (job.kind, job.payload, job.status, job.max_attempts) == (
        MAIL_SEND, {"message_id": message_id, "round": 1}, "queued", 12)


def test_the_same_notice_is_queued_once(db: Database) -> None:
    with db.write() as session:
        first = notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                        pledge=pledge(), payment=BANK)
        assert notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                       pledge=pledge(), payment=BANK) == first
    with db.write() as session:  # a retried request, a webhook delivered twice
        assert notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                       pledge=pledge(), payment=BANK) == first
        other = notices.pledge_received(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                        pledge=pledge(13), payment=BANK)
        reminder = notices.payment_reminder(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                            pledge=pledge(), payment=BANK)
        assert notices.payment_reminder(session, supporter=SUPPORTER, campaign=CAMPAIGN,
                                        pledge=pledge(), payment=BANK) == reminder
    assert len({first, other, reminder}) == 3
    assert counts(db) == (3, 3)
    with db.read() as session:
        keys = set(session.execute(select(MailMessage.dedupe_key)).scalars())
    assert keys == {"pledge:12:received", "pledge:13:received", "pledge:12:reminder:2026-01-31"}


def test_refused_before_anything_is_written(db: Database) -> None:
    with db.write() as session:
        with pytest.raises(ValueError, match="payment"):  # a fact the template needs
            queue_message(session, kind="pledge_received", to_address="a@example.jp",
                          about="pledge:1", dedupe_key="pledge:1:received",
                          context={"campaign": CAMPAIGN, "pledge": pledge(1)})
        for address in ("not-an-address", "a@b", "x@example.jp\r\nBcc: all@example.jp",
                        "山田@example.jp", "a b@example.jp"):
            with pytest.raises(ValueError, match="e-mail address"):
                queue_message(session, kind="test", to_address=address, about="test",
                              dedupe_key=f"test:{address}", context={})
        with pytest.raises(ValueError, match="kind"):
            queue_message(session, kind="newsletter", to_address="a@example.jp",
                          about="x", dedupe_key="x", context={})
        with pytest.raises(ValueError, match="language"):
            queue_message(session, kind="test", to_address="a@example.jp", language="fr",
                          about="x", dedupe_key="x", context={})
        # The old Japanese mobile addresses (dots where RFC 5322 allows none) still work.
        queue_message(session, kind="test", to_address="taro..yamada.@docomo.ne.jp",
                      about="test", dedupe_key="test:docomo", context={})
    assert counts(db) == (1, 1)


SENT_AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notice_renders_in_both_languages(language: str) -> None:
    facts = {"supporter": SUPPORTER, "campaign": CAMPAIGN, "pledge": pledge(), "to_name": "山田"}
    refund = notices.Refund(id=3, amount=12_000, reason="campaign_failed",
                            method="bank_transfer", account_form_url="https://x.example/r/s",
                            account_form_deadline=DEADLINE, sent_at=SENT_AT,
                            account_hint="尾西信金 本店 普通 ****567")
    extra: dict[str, dict[str, object]] = {
        "pledge_received": {"payment": BANK},
        "payment_reminder": {"payment": BANK},
        "payment_received": {"amount": 12_000, "method": "konbini", "paid_at": SENT_AT},
        "refund_requested": {"refund": refund},
        "refund_sent": {"refund": refund},
        "signin_link": {"url": "https://x.example/my/signin/abc", "minutes": 30},
        "campaign_update": {"title": "工場見学の日程", "body": "**¥12,000** 達成", "number": 2,
                            "campaign_title": "ひつじ団", "committee": "委員会",
                            "url": "https://x.example/c", "my_url": "https://x.example/my",
                            "unsubscribe_url": "https://x.example/u/1"},
        "test": {},
    }
    assert set(extra) == set(KINDS)
    for kind in KINDS:
        assert (MAIL_TEMPLATES / f"{kind}.{language}.txt").is_file()
        rendered = render(kind, language, {**facts, **extra[kind]})
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.text.endswith("\n") and "  \n" not in rendered.text
        if kind == "campaign_update":
            assert "https://x.example/u/1" in rendered.text and "¥12,000" in rendered.text
        elif kind == "signin_link":
            assert "https://x.example/my/signin/abc" in rendered.text and "30" in rendered.text
        elif kind != "test":
            assert "¥12,000" in rendered.text and CAMPAIGN.contact in rendered.text
    bank = render("pledge_received", language, {**facts, "payment": BANK}).text
    assert "H0012" in bank and "1234567" in bank
    assert ("2026年1月31日（土） 23:59" if language == "ja" else "Sat 31 Jan 2026 23:59") in bank
    asked = render("refund_requested", language, {**facts, "refund": refund}).text
    assert "https://x.example/r/s" in asked


def test_the_payment_instructions_say_what_each_method_needs() -> None:
    with pytest.raises(ValueError, match="bank_account, reference"):
        notices.PaymentInstructions(method="bank_transfer", deadline=DEADLINE)
    with pytest.raises(ValueError, match="payment_url"):
        notices.PaymentInstructions(method="konbini", deadline=DEADLINE)
    facts = {"supporter": SUPPORTER, "campaign": CAMPAIGN, "pledge": pledge(), "to_name": "山田"}
    konbini = notices.PaymentInstructions(method="konbini", deadline=DEADLINE,
                                          payment_url="https://pay.example/v/1")
    assert "https://pay.example/v/1" in render("pledge_received", "ja",
                                               {**facts, "payment": konbini}).text
    cash = notices.PaymentInstructions(method="cash", place="本部テント")
    assert "本部テントで" in render("pledge_received", "ja", {**facts, "payment": cash}).text


def test_the_migration_makes_the_table_the_model_describes(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, Base.metadata)
                       if "mail_message" in repr(d)]
    assert differences == []


def test_an_html_part_and_long_lines_are_encoded_as_mail_allows() -> None:
    import email
    from email.message import EmailMessage
    from email.policy import default

    from oflocal.outbox.compose import Letter, compose

    letter = Letter(id=7, to_address="taro@example.jp", to_name="山田\r\nBcc: x@example.jp",
                    kind="test", language="ja", subject="件名", text_body="あ" * 400 + "\n",
                    html_body="<p>こんにちは</p>\n", dedupe_key="test:7",
                    created_at=datetime(2026, 1, 1, tzinfo=UTC))
    raw = compose(letter, "委員会 <info@example.jp>", cte="8bit").as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert "Bcc" not in parsed  # a name cannot add a header
    assert parsed["To"].addresses[0].display_name == "山田 Bcc: x@example.jp"
    text, html = parsed.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"  # 1,200 bytes on a line
    assert text.get_content().splitlines() == ["あ" * 400]
    assert html["Content-Transfer-Encoding"] == "8bit"
    assert html.get_content().splitlines() == ["<p>こんにちは</p>"]

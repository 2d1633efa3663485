"""``oflocal payments``: the payment provider commands.

    oflocal payments reconcile [--since 2026-05-01T00:00+09:00]

``reconcile`` asks the provider (Stripe) for every payment made since ``--since``
(default: when the oldest card or konbini pledge still waiting was made), records the
paid ones whose webhook never came, releases the reservations of expired konbini
vouchers, and sends or settles the card refunds still open. Running it twice records
nothing twice. The ``payments.reconcile`` job runs the same every 5 minutes while card
or konbini pledges wait.
"""

from __future__ import annotations

import json
from datetime import datetime

import click

from oflocal.cli_base import database, settings
from oflocal.clock import TOKYO
from oflocal.crowdfunding.provider_payments import reconcile


@click.group("payments")
def payments_group() -> None:
    """Card and konbini payments through the provider (Stripe)."""


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("an ISO 8601 date or time, e.g. 2026-05-01T00:00+09:00",
                                 param_hint="--since") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=TOKYO)


@payments_group.command("reconcile")
@click.option("--since", "since_text", default=None, metavar="ISO",
              help="From when (a time without zone is Tokyo time); default: the oldest "
                   "card or konbini pledge still waiting.")
def reconcile_command(since_text: str | None) -> None:
    """Record what the provider's webhooks missed (safe to run any time, twice)."""
    since = _moment(since_text) if since_text else None
    result = reconcile(database(), settings(), since)
    click.echo(json.dumps(result.as_json(), ensure_ascii=False, sort_keys=True))

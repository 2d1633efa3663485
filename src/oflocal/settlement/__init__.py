"""Settlement: closing periods, paying workshops, and the Zengin bank-transfer file.

- ``models``: periods, frozen lines and tallies, corrections;
- ``close``: :func:`close.close_period`, the one way a period is closed;
- ``membership``: which period a redemption belongs to, and the locks that keep it exact;
- ``pay``: :func:`pay.mark_period_paid`, the one way payouts are posted;
- ``payments``: the bank account each workshop is paid to (a copy once paid);
- ``bank_days``: days banks move money, for transfer dates;
- ``corrections``: reversing entries after a period closed, settled by the next one;
- ``queries`` and ``statements``: what a workshop is paid, as PDF and CSV;
- ``transfer``: a period's Zengin file (layout in ``zengin``, ``kana``, ``banks``);
- ``settings`` and ``rules``: the committee's requester data and the fee rule;
- ``audit``: the settlement identities (payables included) ``ledger verify`` checks;
- ``cli``: ``oflocal settle``.
"""

"""Payment and report features, over ledger rows strictly before ``as_of``.

Payments:
- as payer: charges and chargebacks (all history), distinct instruments charged (all history),
  largest charge in 30 days;
- as payee: payouts in 7 days to an instrument first paid out to within those 7 days (a changed
  payout instrument, the account-takeover drain), and the amount paid out in 7 days.

Reports received: in 7 and 30 days, and distinct reporters over all history.
"""

from __future__ import annotations

from datetime import timedelta

from .aggregates import Count, CountNew, Distinct, Max, Spec, Sum

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)

PAYMENT_FEATURES: tuple[Spec, ...] = (
    Count("charges_total", ("payment",)),
    Count("chargebacks_total", ("chargeback",)),
    Distinct("charge_instruments", "charge_instrument"),
    Max("charge_amount_max_30d", ("payment",), "amount", MONTH),
    CountNew("payouts_new_instrument_7d", ("payout",), "instrument", "payout_instrument", WEEK),
    Sum("payout_amount_7d", ("payout",), "amount", WEEK),
)

REPORT_FEATURES: tuple[Spec, ...] = (
    Count("reports_7d", ("report",), window=WEEK),
    Count("reports_30d", ("report",), window=MONTH),
    Distinct("reporters_total", "reporter"),
)

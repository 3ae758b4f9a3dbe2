"""The feature table's key columns and a plain-words description of every feature.

The training table (``<data_dir>/features/training.parquet``) has one row per (user, as_of):
``user_id`` (str), ``as_of`` (UTC datetime; features use events strictly before it), ``label``
(int8: 1 if the user is a scammer whose scam had begun before ``as_of``), ``typology`` (str,
"benign" or a scam typology), ``split`` (str: train / valid / test, by ``as_of`` week), then
numeric feature columns (Float64 / Int64; null means "no data").
"""

from __future__ import annotations

KEY_COLUMNS: tuple[str, ...] = ("user_id", "as_of", "label", "typology", "split")

# feature name -> what a high value means, in words an analyst reads in a reason code
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "is_client": "account is a client",
    "kyc_verified": "identity verified (KYC)",
    "kyc_failed": "identity verification failed",
    "kyc_none": "no identity verification",
    "email_disposable": "disposable email domain",
    "email_free": "free email domain",
    "phone_country_mismatch": "phone country differs from account country",
    "profile_text_len": "profile text length",
    "profile_text_flags": "scam heuristics in profile text",
    "profile_text_copies": "other accounts with the identical profile text",
    "account_age_days": "account age in days",
    "devices_total": "devices seen on the account",
    "countries_total": "countries seen on the account",
    "msg_link_30d": "messages with links in 30d",
    "msg_contact_30d": "messages with off-platform contact handles in 30d",
    "msg_money_30d": "messages mentioning fees, deposits or payment methods in 30d",
    "msg_urgency_30d": "messages with urgency words in 30d",
    "msg_off_platform_30d": "messages asking to deal outside the platform in 30d",
    "msg_flagged_share_30d": "share of messages tripping a scam heuristic in 30d",
    "msg_multi_flag_30d": "messages tripping two or more scam heuristics in 30d",
    "jobs_flagged_text": "job posts with scam-like text",
    "job_budget_max": "largest job budget (USD)",
    "proposals_flagged_text": "proposals with scam-like text",
    "proposals_pay_outside": "proposals asking for payment outside the platform",
    "component_size": "accounts in the linked cluster (shared devices/IPs/instruments)",
    "known_bad_in_component": "known scammers in the linked cluster",
    "shared_device_users": "other accounts sharing a device",
    "shared_ip_users": "other accounts sharing an IP",
    "shared_instrument_users": "other accounts sharing a payment instrument",
    "linked_users": "accounts linked through any shared identifier",
    "known_bad_neighbors": "directly linked known scammers",
    "charges_total": "charges paid",
    "chargebacks_total": "chargebacks on the account's payments",
    "charge_instruments": "distinct cards used to pay",
    "charge_amount_max_30d": "largest charge in 30d (USD)",
    "payouts_new_instrument_7d": "payouts to a new payout instrument in 7d",
    "payout_amount_7d": "payout amount in 7d (USD)",
    "reports_7d": "reports received in 7d",
    "reports_30d": "reports received in 30d",
    "reporters_total": "distinct users who reported the account",
}
_WINDOW_WORDS = {"1h": "1h", "24h": "24h", "7d": "7d", "30d": "30d"}
_KIND_WORDS = {
    "messages": "messages sent",
    "jobs": "jobs posted",
    "proposals": "proposals sent",
    "payments": "charges paid",
    "logins": "logins",
    "failed_logins": "failed logins",
    "recipients": "distinct message recipients",
    "new_devices": "new devices",
    "new_countries": "new login countries",
}
for _kind, _words in _KIND_WORDS.items():
    for _window in _WINDOW_WORDS:
        FEATURE_DESCRIPTIONS.setdefault(f"{_kind}_{_window}", f"{_words} in {_window}")


def describe_feature(name: str) -> str:
    """Words for a feature in a reason code; falls back to the column name."""
    return FEATURE_DESCRIPTIONS.get(name, name.replace("_", " "))


def feature_columns(columns: list[str]) -> list[str]:
    """The model's input columns: every column that is not a key column, in table order."""
    return [c for c in columns if c not in KEY_COLUMNS]

"""Generated raw events for the online store's tests: small pools of users and identifiers (so
devices, IPs and instruments are shared and cross the hub limit), every table and payment kind,
failed logins, texts that trip each heuristic, and non-ASCII texts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from scamguard.schema import LABELS, PAYMENT_KINDS, REPORT_REASONS

START = datetime(2024, 3, 1, tzinfo=UTC)
TEXTS = (
    "hi, are you available?",
    "Pay the deposit today via bitcoin: www.example.xyz/pay",
    "contact me on WhatsApp +1 555 123 4567 asap",
    "let's skip the platform fees, pay me directly",
    "email me at someone@example.com, urgent",
    "ping @scammer on telegram",
    "Ünïcödé text, Zahlung heute: WIRE the fee ½ now",
    "tab\tand\x1cseparators deposit",
    "",
    "Great work on the design, thanks!",
)


def user_id(k: int) -> str:
    return f"u{k:04d}"


def signups(rng: random.Random, n_users: int) -> list[tuple[str, dict]]:
    """One sign-up per user, in time order."""
    out = []
    for k in range(n_users):
        out.append(
            (
                "users",
                {
                    "user_id": user_id(k),
                    "role": rng.choice(["client", "freelancer"]),
                    "signup_ts": START + timedelta(minutes=k),
                    "country": rng.choice(["US", "GB", "NG"]),
                    "email_domain": rng.choice(["gmail.com", "mailinator.com", "acme.io"]),
                    "phone_country": rng.choice(["US", "GB"]),
                    "signup_ip": f"10.0.0.{rng.randrange(6)}",
                    "signup_device_id": f"d{rng.randrange(8)}",
                    "kyc_status": rng.choice(["verified", "failed", "none"]),
                    "profile_text": rng.choice(TEXTS),
                },
            )
        )
    return out


def activity(rng: random.Random, n_users: int, n: int) -> list[tuple[str, dict]]:
    """``n`` events after every sign-up (times increase; tables and users at random)."""
    out = []
    t = START + timedelta(days=1)
    for k in range(n):
        t += timedelta(seconds=rng.randrange(1, 600))
        a, b = user_id(rng.randrange(n_users)), user_id(rng.randrange(n_users))
        table = rng.choice(["logins", "messages", "payments", "jobs", "proposals", "reports"])
        if rng.random() < 0.03:
            table = "labels"
        rows: dict[str, dict] = {
            "logins": {
                "login_id": f"l{k}",
                "user_id": a,
                "ts": t,
                "ip": f"10.0.0.{rng.randrange(6)}",
                "device_id": f"d{rng.randrange(8)}",
                "country": rng.choice(["US", "GB", "NG"]),
                "success": rng.random() < 0.8,
            },
            "messages": {
                "message_id": f"m{k}",
                "sender_id": a,
                "recipient_id": b,
                "job_id": rng.choice([None, "j1"]),
                "ts": t,
                "text": rng.choice(TEXTS),
            },
            "payments": {
                "payment_id": f"p{k}",
                "payer_id": a,
                "payee_id": b,
                "ts": t,
                "amount_usd": rng.choice([10, 99.5, 1200.0]),
                "instrument_id": f"card{rng.randrange(6)}",
                "kind": rng.choice(PAYMENT_KINDS),
            },
            "jobs": {
                "job_id": f"j{k}",
                "client_id": a,
                "ts": t,
                "title": rng.choice(TEXTS),
                "description": rng.choice(TEXTS),
                "budget_usd": rng.choice([50.0, 500, 5000.0]),
                "category": "web_dev",
            },
            "proposals": {
                "proposal_id": f"r{k}",
                "job_id": "j1",
                "freelancer_id": a,
                "ts": t,
                "bid_usd": 100.0,
                "cover_text": rng.choice(TEXTS),
            },
            "reports": {
                "report_id": f"x{k}",
                "reporter_id": b,
                "reported_id": a,
                "ts": t,
                "reason": rng.choice(REPORT_REASONS),
            },
            "labels": {
                "user_id": a,
                "label": rng.choice(LABELS),
                "decided_ts": t,
                "first_bad_ts": None,
            },
        }
        out.append((table, rows[table]))
    return out

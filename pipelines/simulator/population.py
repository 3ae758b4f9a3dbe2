"""Who is on the marketplace: users, their roles, identifiers, and which of them are scammers.

Every array is indexed by user index ``0..n-1``. Times are int64 seconds since the epoch (UTC).
Scam users get a ``skill`` in [0, 1]: skilled scammers look more like benign users (aged accounts,
verified KYC, fewer shared identifiers, fewer obvious words).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scamguard.schema import SCAM_TYPOLOGIES

from .config import SimulationConfig

DAY = 86_400
HOUR = 3_600

COUNTRIES = np.array(
    [
        "US",
        "GB",
        "IN",
        "PH",
        "PK",
        "NG",
        "UA",
        "CA",
        "DE",
        "BR",
        "BD",
        "KE",
        "EG",
        "RO",
        "VN",
        "AU",
        "FR",
        "ES",
        "RU",
        "GH",
    ]
)
BENIGN_COUNTRY_P = np.array(
    [
        0.26,
        0.07,
        0.14,
        0.08,
        0.06,
        0.04,
        0.04,
        0.04,
        0.04,
        0.04,
        0.04,
        0.03,
        0.03,
        0.02,
        0.02,
        0.02,
        0.02,
        0.02,
        0.02,
        0.03,
    ]
)
SCAM_COUNTRY_P = np.array(
    [
        0.16,
        0.05,
        0.10,
        0.08,
        0.08,
        0.09,
        0.05,
        0.03,
        0.03,
        0.05,
        0.05,
        0.05,
        0.04,
        0.03,
        0.03,
        0.02,
        0.02,
        0.02,
        0.04,
        0.08,
    ]
)
FREE_DOMAINS = np.array(
    ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "hotmail.com"]
)
DISPOSABLE_DOMAINS = np.array(
    ["mailinator.com", "tempmail.dev", "10minutemail.net", "guerrillamail.com"]
)
COMPANY_DOMAINS = np.array(
    [
        f"{c}.com"
        for c in [
            "brightline",
            "nordicpixel",
            "acmeretail",
            "blueharbor",
            "greenleaf",
            "summithealth",
            "keystone",
            "orbitlog",
            "maple-co",
            "vertexstudio",
            "lumen",
            "quanta",
            "harbor-it",
            "peakdigital",
        ]
    ]
)

TYPOLOGY_CODE = {name: i + 1 for i, name in enumerate(SCAM_TYPOLOGIES)}  # 0 = benign


class IdAllocator:
    """Hands out fresh integer ids for devices, IPs and payment instruments."""

    def __init__(self) -> None:
        self.next = {"device": 0, "ip": 0, "instrument": 0}

    def take(self, kind: str, n: int) -> np.ndarray:
        start = self.next[kind]
        self.next[kind] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@dataclass
class Population:
    role: np.ndarray  # int8: 0 client, 1 freelancer
    typology: np.ndarray  # int8: 0 benign, else TYPOLOGY_CODE
    skill: np.ndarray  # float: scammer skill in [0, 1], 0 for benign
    signup_s: np.ndarray  # int64
    bad_s: np.ndarray  # int64: when scam activity starts (account takeover time), -1 for benign
    country: np.ndarray  # str
    phone_country: np.ndarray
    email_domain: np.ndarray
    kyc: np.ndarray
    device: np.ndarray  # int64 primary device
    device2: np.ndarray  # int64 second device or -1
    home_ip: np.ndarray
    instrument: np.ndarray  # card (clients) or payout account (freelancers)
    activity: np.ndarray  # float: benign activity multiplier (0 = dormant in the window)
    ring: np.ndarray  # int64 ring id or -1

    @property
    def n(self) -> int:
        return len(self.role)


def _scam_counts(cfg: SimulationConfig, n: int) -> dict[str, int]:
    total = max(len(SCAM_TYPOLOGIES), round(cfg.scam_rate * n))
    mix = cfg.typology_mix
    weight = sum(mix.values())
    return {t: max(1, round(total * mix.get(t, 0) / weight)) for t in SCAM_TYPOLOGIES}


def build_population(
    cfg: SimulationConfig, rng: np.random.Generator, ids: IdAllocator
) -> Population:
    n = cfg.n_users
    t0 = int(cfg.start.timestamp())
    t_end = int(cfg.end.timestamp())
    counts = _scam_counts(cfg, n)

    typology = np.zeros(n, dtype=np.int8)
    order = rng.permutation(n)
    cursor = 0
    for name in ("fake_client", "fraud_ring", "payment_fraud", "fake_freelancer"):
        typology[order[cursor : cursor + counts[name]]] = TYPOLOGY_CODE[name]
        cursor += counts[name]
    is_scam = typology > 0
    skill = np.where(is_scam, rng.beta(2.0, 2.0, n), 0.0)
    role = _roles(rng, typology)
    signup, bad = _signups(rng, typology, skill, t0, t_end)
    ring = _rings(rng, typology, skill, signup, bad, t0, t_end)

    # account takeover: victims are older benign accounts; bad_s is the takeover time
    candidates = np.flatnonzero((typology == 0) & (signup < t0 - 30 * DAY))
    victims = rng.choice(
        candidates, size=min(len(candidates), counts["account_takeover"]), replace=False
    )
    typology[victims] = TYPOLOGY_CODE["account_takeover"]
    skill[victims] = rng.beta(2.0, 2.0, len(victims))
    bad[victims] = rng.integers(t0 + 3 * DAY, t_end - DAY, len(victims))
    is_scam = typology > 0
    own_account = is_scam & (typology != TYPOLOGY_CODE["account_takeover"])  # scammer-made accounts
    bad = np.where(is_scam, np.minimum(bad, t_end - DAY), -1)

    country, phone_country, email_domain = _contact_details(rng, own_account, skill)
    kyc = _kyc(rng, n, own_account, skill, signup < t0)
    device, device2, home_ip, instrument = _identifiers(rng, ids, typology, role)

    activity = np.where(rng.random(n) < 0.75, rng.lognormal(0.0, 0.7, n), 0.0)
    activity[victims] = np.maximum(activity[victims], 0.5)

    return Population(
        role=role,
        typology=typology,
        skill=skill,
        signup_s=signup,
        bad_s=bad,
        country=country,
        phone_country=phone_country,
        email_domain=email_domain,
        kyc=kyc,
        device=device,
        device2=device2,
        home_ip=home_ip,
        instrument=instrument,
        activity=activity,
        ring=ring,
    )


def _roles(rng: np.random.Generator, typology: np.ndarray) -> np.ndarray:
    """Benign 35% clients; fake clients and payment fraudsters are clients, fake freelancers
    freelancers, ring members 70% freelancers."""
    n = len(typology)
    role = (rng.random(n) > 0.35).astype(np.int8)
    role[typology == TYPOLOGY_CODE["fake_client"]] = 0
    role[typology == TYPOLOGY_CODE["payment_fraud"]] = 0
    role[typology == TYPOLOGY_CODE["fake_freelancer"]] = 1
    ring_members = typology == TYPOLOGY_CODE["fraud_ring"]
    role[ring_members] = (rng.random(ring_members.sum()) < 0.7).astype(np.int8)
    return role


def _signups(
    rng: np.random.Generator, typology: np.ndarray, skill: np.ndarray, t0: int, t_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """(sign-up time, scam start or -1) per user: most benign users predate the window; fake
    clients, payment fraudsters and fake freelancers start soon after signing up."""
    n = len(typology)
    old = rng.random(n) < 0.72
    signup = np.where(
        old, t0 - rng.integers(7 * DAY, 730 * DAY, n), rng.integers(t0, t_end - DAY, n)
    )
    bad = np.full(n, -1, dtype=np.int64)

    fc = typology == TYPOLOGY_CODE["fake_client"]
    aged = fc & (skill > 0.55) & (rng.random(n) < 0.6)  # bought or aged accounts
    signup[fc] = rng.integers(t0, t_end - 4 * DAY, n)[fc]
    signup[aged] = t0 - rng.integers(30 * DAY, 400 * DAY, n)[aged]
    bad[fc] = np.maximum(signup[fc], t0) + rng.exponential(2 * DAY, n)[fc].astype(np.int64)
    bad[aged] = rng.integers(t0, t_end - 4 * DAY, n)[aged]

    pf = typology == TYPOLOGY_CODE["payment_fraud"]
    signup[pf] = rng.integers(t0 - 20 * DAY, t_end - 5 * DAY, n)[pf]
    bad[pf] = np.maximum(signup[pf], t0) + rng.exponential(1 * DAY, n)[pf].astype(np.int64)

    ff = typology == TYPOLOGY_CODE["fake_freelancer"]
    signup[ff] = rng.integers(t0 - 60 * DAY, t_end - 5 * DAY, n)[ff]
    bad[ff] = np.maximum(signup[ff], t0) + rng.exponential(1 * DAY, n)[ff].astype(np.int64)
    return signup, bad


def _rings(
    rng: np.random.Generator,
    typology: np.ndarray,
    skill: np.ndarray,
    signup: np.ndarray,
    bad: np.ndarray,
    t0: int,
    t_end: int,
) -> np.ndarray:
    """Ring id per user (-1: none). Fraud rings are bursts of sign-ups within hours of the ring's
    start, sharing their operator's skill; sets their ``signup``, ``bad`` and ``skill``."""
    ring = np.full(len(typology), -1, dtype=np.int64)
    members = np.flatnonzero(typology == TYPOLOGY_CODE["fraud_ring"])
    rng.shuffle(members)
    ring_id = 0
    i = 0
    while i < len(members):
        size = int(min(len(members) - i, 3 + rng.poisson(4)))
        group = members[i : i + size]
        ring_start = rng.integers(t0, t_end - 6 * DAY)
        ring[group] = ring_id
        signup[group] = ring_start + rng.exponential(3 * HOUR, size).astype(np.int64)
        bad[group] = signup[group] + rng.exponential(12 * HOUR, size).astype(np.int64)
        skill[group] = skill[group[0]]  # a ring shares its operator's skill
        ring_id += 1
        i += size
    return ring


def _contact_details(
    rng: np.random.Generator, own_account: np.ndarray, skill: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(country, phone country, email domain) per user; ``own_account``: scammer-made."""
    n = len(own_account)
    country = np.where(
        own_account,
        rng.choice(COUNTRIES, n, p=SCAM_COUNTRY_P / SCAM_COUNTRY_P.sum()),
        rng.choice(COUNTRIES, n, p=BENIGN_COUNTRY_P / BENIGN_COUNTRY_P.sum()),
    )
    phone_mismatch = rng.random(n) < np.where(own_account, 0.25 - 0.2 * skill, 0.05)
    phone_country = np.where(phone_mismatch, rng.choice(COUNTRIES, n), country)

    email_kind = rng.random(n)
    disposable_p = np.where(own_account, 0.20 * (1 - skill), 0.015)
    company_p = np.where(own_account, 0.05, 0.18)
    email_domain = np.where(
        email_kind < disposable_p,
        rng.choice(DISPOSABLE_DOMAINS, n),
        np.where(
            email_kind < disposable_p + company_p,
            rng.choice(COMPANY_DOMAINS, n),
            rng.choice(FREE_DOMAINS, n),
        ),
    )
    return country, phone_country, email_domain


def _identifiers(
    rng: np.random.Generator, ids: IdAllocator, typology: np.ndarray, role: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(device, second device or -1, home IP, payment instrument) per user; a few benign users
    share a device (households), an IP (offices) or a card (families)."""
    n = len(typology)
    device = ids.take("device", n)
    device2 = np.where(rng.random(n) < 0.3, ids.take("device", n), -1)
    # households: a few benign users share a device with another benign user
    benign_idx = np.flatnonzero(typology == 0)
    pairs = rng.choice(benign_idx, size=(int(0.01 * len(benign_idx)), 2), replace=False)
    device[pairs[:, 1]] = device[pairs[:, 0]]

    home_ip = ids.take("ip", n)
    # coworking spaces / offices: benign users behind a shared IP
    n_pooled = int(0.12 * len(benign_idx))
    pooled = rng.choice(benign_idx, n_pooled, replace=False)
    office_ips = ids.take("ip", max(1, n_pooled // 6))
    home_ip[pooled] = rng.choice(office_ips, n_pooled)

    instrument = ids.take("instrument", n)
    family = rng.choice(benign_idx[role[benign_idx] == 0], size=(int(0.004 * len(benign_idx)), 2))
    instrument[family[:, 1]] = instrument[family[:, 0]]
    return device, device2, home_ip, instrument


def _kyc(
    rng: np.random.Generator, n: int, scam: np.ndarray, skill: np.ndarray, old: np.ndarray
) -> np.ndarray:
    u = rng.random(n)
    verified_p = np.where(scam, 0.05 + 0.45 * skill, np.where(old, 0.65, 0.25))
    failed_p = np.where(scam, 0.10 * (1 - skill), 0.02)
    pending_p = np.where(scam, 0.25, np.where(old, 0.10, 0.30))
    return np.where(
        u < verified_p,
        "verified",
        np.where(
            u < verified_p + failed_p,
            "failed",
            np.where(u < verified_p + failed_p + pending_p, "pending", "none"),
        ),
    )

"""Fraud rings: bursts of sign-ups sharing devices, IPs and stolen instruments; copied proposals;
ring clients pay ring freelancers with stolen cards, chargebacks weeks later.

The other typologies, and what every typology shares (the :class:`~.scams.Market`, scammers'
text and logins), are in ``.scams``.
"""

from __future__ import annotations

import numpy as np

from .benign import JobBoard
from .events import EventLog
from .population import DAY, HOUR, TYPOLOGY_CODE, IdAllocator, Population
from .scams import Market, scam_text, scammer_logins
from .text import TextBanks


def fraud_rings(
    pop: Population,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    board: JobBoard,
    text: TextBanks,
    ids: IdAllocator,
) -> None:
    users = np.flatnonzero(pop.typology == TYPOLOGY_CODE["fraud_ring"])
    for ring_id in np.unique(pop.ring[users]):
        members = np.flatnonzero(pop.ring == ring_id)
        skill = float(pop.skill[members[0]])
        size = len(members)
        # shared infrastructure: few devices, an IP or two, a couple of stolen cards
        devices = ids.take("device", max(1, round(size * (0.1 + 0.6 * skill))))
        pop.device[members] = devices[np.arange(size) % len(devices)]
        ring_ips = ids.take("ip", 1 + int(rng.random() < 0.5))
        share_ip = rng.random(size) < 0.8 - 0.5 * skill
        pop.home_ip[members[share_ip]] = rng.choice(ring_ips, int(share_ip.sum()))
        cards = ids.take("instrument", 1 + int(rng.integers(0, 3)))
        payout_accounts = ids.take("instrument", max(1, round(size * skill * 0.8)))
        clients = members[pop.role[members] == 0]
        freelancers = members[pop.role[members] == 1]
        pop.instrument[clients] = rng.choice(cards, len(clients))
        pop.instrument[freelancers] = rng.choice(payout_accounts, len(freelancers))
        _ring_proposals(pop, freelancers, skill, m, rng, log, text)
        if len(clients) and len(freelancers):
            _ring_payments(pop, clients, freelancers, cards, m, rng, log, board, text)
    scammer_logins(pop, users, m, rng, log)


def _ring_proposals(
    pop: Population,
    freelancers: np.ndarray,
    skill: float,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    text: TextBanks,
) -> None:
    counts = rng.poisson(8 * (1 - skill) + 3, len(freelancers))
    who = np.repeat(freelancers, counts)
    k = len(who)
    if k == 0:
        return
    start = pop.bad_s[who]
    open_jobs = np.flatnonzero(m.job_ts < m.t_end)
    pick = open_jobs[rng.integers(0, len(open_jobs), k)]
    ts = np.maximum(m.job_ts[pick], start) + rng.exponential(6 * HOUR, k).astype(np.int64)
    copied = text.draw("cover", 1)[0]  # the ring shares one cover letter
    cover = np.where(
        rng.random(k) < 0.4 * (1 - skill), text.draw("fake_freelancer_cover", k), copied
    )
    log.add(
        "proposals",
        job_id=m.job[pick],
        freelancer_id=who,
        ts=ts,
        bid_usd=np.round(rng.lognormal(5.0, 0.6, k), 2),
        cover_text=cover,
    )
    talk = rng.random(k) < 0.3
    log.add(
        "messages",
        sender_id=who[talk],
        recipient_id=m.job_client[pick][talk],
        job_id=m.job[pick][talk],
        ts=ts[talk] + rng.exponential(3 * HOUR, int(talk.sum())).astype(np.int64),
        text=scam_text(pop.skill[who[talk]], ts[talk], m.drift_start, rng, text),
    )


def _ring_payments(
    pop: Population,
    clients: np.ndarray,
    freelancers: np.ndarray,
    cards: np.ndarray,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    board: JobBoard,
    text: TextBanks,
) -> None:
    n = len(clients)
    ts = pop.bad_s[clients] + rng.integers(HOUR, 2 * DAY, n)
    job = board.post(
        log,
        clients,
        ts,
        text.draw("job_title", n),
        text.draw("job_description", n),
        rng.lognormal(6.0, 0.6, n),
        rng.choice(m.categories, n),
    )
    counts = 1 + rng.poisson(2, n)
    payer = np.repeat(clients, counts)
    k = len(payer)
    payee = rng.choice(freelancers, k)
    pay_ts = np.repeat(ts, counts) + rng.integers(DAY, 6 * DAY, k)
    amount = np.round(rng.lognormal(6.5, 0.5, k), 2)
    card = rng.choice(cards, k)
    log.add(
        "payments",
        payer_id=payer,
        payee_id=payee,
        ts=pay_ts,
        amount_usd=amount,
        instrument_id=card,
        kind=np.full(k, "charge"),
    )
    log.add(
        "payments",
        payer_id=payer,
        payee_id=payee,
        ts=pay_ts + rng.integers(DAY, 4 * DAY, k),
        amount_usd=amount,
        instrument_id=pop.instrument[payee],
        kind=np.full(k, "payout"),
    )
    cb = rng.random(k) < 0.6
    log.add(
        "payments",
        payer_id=payer[cb],
        payee_id=payee[cb],
        ts=pay_ts[cb] + rng.integers(10 * DAY, 45 * DAY, int(cb.sum())),
        amount_usd=amount[cb],
        instrument_id=card[cb],
        kind=np.full(int(cb.sum()), "chargeback"),
    )
    log.add(
        "messages",
        sender_id=payer,
        recipient_id=payee,
        job_id=np.repeat(job, counts),
        ts=pay_ts - 600,
        text=text.draw("benign_message", k),
    )

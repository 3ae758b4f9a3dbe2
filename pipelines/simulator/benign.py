"""Benign marketplace activity: logins, job posts, proposals, conversations, payments, reports.

Fully vectorised over users and jobs. Benign users include look-alikes of scam behaviour: travel
logins from new countries and devices, shared office IPs, mentions of WhatsApp or deposits, disputed
payments and false reports.
"""

from __future__ import annotations

import numpy as np

from .events import NULL_JOB, EventLog
from .population import COUNTRIES, DAY, HOUR, IdAllocator, Population
from .text import TextBanks

WEEK = 7 * DAY


def uniform_times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One time per row, uniform in [lo, hi) (int seconds)."""
    span = np.maximum(hi - lo, 1)
    return lo + (rng.random(len(lo)) * span).astype(np.int64)


class JobBoard:
    """Allocates job ids and remembers every job, so proposals and messages can refer to it."""

    def __init__(self) -> None:
        self.next_id = 0

    def post(
        self,
        log: EventLog,
        client: np.ndarray,
        ts: np.ndarray,
        title: np.ndarray,
        description: np.ndarray,
        budget: np.ndarray,
        category: np.ndarray,
    ) -> np.ndarray:
        job = np.arange(self.next_id, self.next_id + len(client), dtype=np.int64)
        self.next_id += len(client)
        log.add(
            "jobs",
            job_id=job,
            client_id=client,
            ts=ts,
            title=title,
            description=description,
            budget_usd=np.round(budget, 2),
            category=category,
        )
        return job


def simulate_logins(
    pop: Population,
    users: np.ndarray,
    t0: int,
    t_end: int,
    rng: np.random.Generator,
    log: EventLog,
    ids: IdAllocator,
    carrier_ips: np.ndarray,
    rate_per_week: float = 2.0,
) -> None:
    """Logins of account owners, from their own devices and IPs, with some travel."""
    start = np.maximum(pop.signup_s[users], t0)
    weeks = np.maximum(t_end - start, 0) / WEEK
    counts = rng.poisson(pop.activity[users] * rate_per_week * weeks)
    who = np.repeat(users, counts)
    m = len(who)
    ts = uniform_times(rng, np.repeat(start, counts), np.full(m, t_end))
    second = (pop.device2[who] >= 0) & (rng.random(m) < 0.25)
    device = np.where(second, pop.device2[who], pop.device[who])
    u = rng.random(m)
    ip = np.where(u < 0.85, pop.home_ip[who], rng.choice(carrier_ips, m))
    country = pop.country[who].copy()
    travel = u > 0.975
    country[travel] = rng.choice(COUNTRIES, int(travel.sum()))
    ip[travel] = ids.take("ip", int(travel.sum()))
    new_dev = travel & (rng.random(m) < 0.3)
    device[new_dev] = ids.take("device", int(new_dev.sum()))
    success = rng.random(m) > 0.03
    log.add("logins", user_id=who, ts=ts, ip=ip, device_id=device, country=country, success=success)


def simulate_jobs(
    pop: Population,
    clients: np.ndarray,
    t0: int,
    t_end: int,
    rng: np.random.Generator,
    log: EventLog,
    board: JobBoard,
    text: TextBanks,
    categories: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Benign job posts. Returns (job, client, ts, budget) arrays."""
    start = np.maximum(pop.signup_s[clients], t0)
    weeks = np.maximum(t_end - start, 0) / WEEK
    counts = rng.poisson(pop.activity[clients] * 0.45 * weeks)
    client = np.repeat(clients, counts)
    m = len(client)
    ts = uniform_times(rng, np.repeat(start, counts), np.full(m, t_end))
    budget = rng.lognormal(5.6, 0.9, m)
    job = board.post(
        log,
        client,
        ts,
        text.draw("job_title", m),
        text.draw("job_description", m),
        budget,
        rng.choice(categories, m),
    )
    return job, client, ts, budget


def simulate_proposals(
    job: np.ndarray,
    job_ts: np.ndarray,
    budget: np.ndarray,
    mean_proposals: np.ndarray,
    freelancers: np.ndarray,
    weights: np.ndarray,
    signup_s: np.ndarray,
    rng: np.random.Generator,
    log: EventLog,
    text: TextBanks,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Benign freelancers bid on jobs (only those signed up by then).

    Returns (job index, freelancer, ts, bid) per proposal, ordered by job.
    """
    counts = rng.poisson(mean_proposals)
    pj = np.repeat(np.arange(len(job)), counts)
    m = len(pj)
    p = weights / weights.sum()
    freelancer = freelancers[rng.choice(len(freelancers), m, p=p)]
    ts = job_ts[pj] + rng.exponential(18 * HOUR, m).astype(np.int64) + 60
    bid = budget[pj] * rng.uniform(0.6, 1.2, m)
    signed_up = ts > signup_s[freelancer]
    pj, freelancer, ts, bid = pj[signed_up], freelancer[signed_up], ts[signed_up], bid[signed_up]
    m = len(pj)
    log.add(
        "proposals",
        job_id=job[pj],
        freelancer_id=freelancer,
        ts=ts,
        bid_usd=np.round(bid, 2),
        cover_text=text.draw("cover", m),
    )
    return pj, freelancer, ts, bid


def conversation(
    client: np.ndarray,
    freelancer: np.ndarray,
    job: np.ndarray,
    start: np.ndarray,
    n_messages: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Alternating messages between each (client, freelancer) pair, starting with the client.

    Returns arrays sender, recipient, job, ts, and ``pair`` (index of the pair each message is in).
    """
    pair = np.repeat(np.arange(len(client)), n_messages)
    pos = np.arange(len(pair)) - np.repeat(np.cumsum(n_messages) - n_messages, n_messages)
    from_client = pos % 2 == 0
    sender = np.where(from_client, client[pair], freelancer[pair])
    recipient = np.where(from_client, freelancer[pair], client[pair])
    gaps = rng.exponential(6 * HOUR, len(pair)).astype(np.int64) + 30
    # time offset within each pair: cumulative gaps restarted at the pair's first message
    csum = np.cumsum(gaps)
    first_of_pair = np.cumsum(n_messages) - n_messages
    has = n_messages > 0
    base = np.zeros(len(n_messages), dtype=np.int64)
    base[has] = csum[first_of_pair[has]] - gaps[first_of_pair[has]]
    offset = csum - base[pair]
    return {
        "sender": sender,
        "recipient": recipient,
        "job": job[pair],
        "ts": start[pair] + offset,
        "pair": pair,
    }


def benign_texts(n: int, rng: np.random.Generator, text: TextBanks) -> np.ndarray:
    """Benign message text: mostly job talk, some casual chat, a few scam look-alikes."""
    u = rng.random(n)
    out = text.draw("benign_message", n)
    lookalike = u < 0.04
    casual = (u >= 0.04) & (u < 0.08)
    out[lookalike] = text.draw("benign_lookalike", int(lookalike.sum()))
    out[casual] = text.draw("casual", int(casual.sum()))
    return out


def simulate_hiring(
    pop: Population,
    job: np.ndarray,
    client: np.ndarray,
    job_ts: np.ndarray,
    pj: np.ndarray,
    prop_freelancer: np.ndarray,
    prop_ts: np.ndarray,
    bid: np.ndarray,
    rng: np.random.Generator,
    log: EventLog,
    text: TextBanks,
) -> None:
    """Clients talk to their first proposers, hire some, and pay through the platform."""
    first = np.ones(len(pj), dtype=bool)
    first[1:] = pj[1:] != pj[:-1]
    second = np.zeros(len(pj), dtype=bool)
    second[1:] = (pj[1:] == pj[:-1]) & first[:-1]
    talk = first | (second & (rng.random(len(pj)) < 0.5))
    idx = np.flatnonzero(talk)
    c, f, j = client[pj[idx]], prop_freelancer[idx], job[pj[idx]]
    n_msgs = 1 + rng.poisson(3.0, len(idx))
    conv = conversation(
        c, f, j, prop_ts[idx] + rng.exponential(8 * HOUR, len(idx)).astype(np.int64), n_msgs, rng
    )
    log.add(
        "messages",
        sender_id=conv["sender"],
        recipient_id=conv["recipient"],
        job_id=conv["job"],
        ts=conv["ts"],
        text=benign_texts(len(conv["ts"]), rng, text),
    )

    last_ts = np.zeros(len(idx), dtype=np.int64)
    np.maximum.at(last_ts, conv["pair"], conv["ts"])
    hired = rng.random(len(idx)) < 0.55
    h = np.flatnonzero(hired)
    amount = np.round(bid[idx[h]], 2)
    charge_ts = last_ts[h] + rng.exponential(1 * DAY, len(h)).astype(np.int64)
    log.add(
        "payments",
        payer_id=c[h],
        payee_id=f[h],
        ts=charge_ts,
        amount_usd=amount,
        instrument_id=pop.instrument[c[h]],
        kind=np.full(len(h), "charge"),
    )
    payout_ts = charge_ts + rng.integers(3 * DAY, 14 * DAY, len(h))
    log.add(
        "payments",
        payer_id=c[h],
        payee_id=f[h],
        ts=payout_ts,
        amount_usd=amount,
        instrument_id=pop.instrument[f[h]],
        kind=np.full(len(h), "payout"),
    )
    refund = rng.random(len(h)) < 0.02
    log.add(
        "payments",
        payer_id=f[h][refund],
        payee_id=c[h][refund],
        ts=payout_ts[refund] + DAY,
        amount_usd=amount[refund],
        instrument_id=pop.instrument[c[h]][refund],
        kind=np.full(int(refund.sum()), "refund"),
    )
    dispute = rng.random(len(h)) < 0.006
    log.add(
        "payments",
        payer_id=c[h][dispute],
        payee_id=f[h][dispute],
        ts=charge_ts[dispute] + rng.integers(14 * DAY, 45 * DAY, int(dispute.sum())),
        amount_usd=amount[dispute],
        instrument_id=pop.instrument[c[h]][dispute],
        kind=np.full(int(dispute.sum()), "chargeback"),
    )


def simulate_casual_messages(
    pop: Population,
    users: np.ndarray,
    t0: int,
    t_end: int,
    rng: np.random.Generator,
    log: EventLog,
    text: TextBanks,
) -> None:
    """Messages outside any job (job_id null) between users, casual SMS-like chat."""
    counts = rng.poisson(
        pop.activity[users] * 0.15 * (t_end - np.maximum(pop.signup_s[users], t0)).clip(0) / WEEK
    )
    sender = np.repeat(users, counts)
    m = len(sender)
    recipient = users[rng.integers(0, len(users), m)]
    ok = recipient != sender
    ts = uniform_times(
        rng, np.maximum(pop.signup_s[sender], pop.signup_s[recipient]).clip(t0), np.full(m, t_end)
    )
    log.add(
        "messages",
        sender_id=sender[ok],
        recipient_id=recipient[ok],
        job_id=np.full(int(ok.sum()), NULL_JOB),
        ts=ts[ok],
        text=benign_texts(m, rng, text)[ok],
    )


def simulate_false_reports(
    pop: Population,
    users: np.ndarray,
    t0: int,
    t_end: int,
    rng: np.random.Generator,
    log: EventLog,
    reasons: np.ndarray,
) -> None:
    """Disputes and competitors: some benign users get reported."""
    reported = users[rng.random(len(users)) < 0.012]
    m = len(reported)
    reporter = users[rng.integers(0, len(users), m)]
    ok = reporter != reported
    ts = uniform_times(
        rng,
        np.maximum(np.maximum(pop.signup_s[reported], pop.signup_s[reporter]), t0),
        np.full(m, t_end),
    )
    log.add(
        "reports",
        reporter_id=reporter[ok],
        reported_id=reported[ok],
        ts=ts[ok],
        reason=rng.choice(reasons, m)[ok],
    )

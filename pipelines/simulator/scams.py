"""Scam typologies, each with its own behaviour, text, timing and graph footprint.

- fake_client: attractive job posts, then messages that move freelancers off-platform,
  advance fees, equipment cheques, phishing; in the last weeks a new task/crypto variant (drift).
- fraud_ring: bursts of sign-ups sharing devices, IPs and stolen instruments; copied proposals;
  ring clients pay ring freelancers with stolen cards, chargebacks weeks later (``.rings``).
- account_takeover: an old benign account logs in from a new device and country, drains its
  balance to a new payout instrument and messages its past contacts.
- payment_fraud: stolen cards (shared between carders), chargebacks arriving weeks later.
- fake_freelancer: copied profile text, many proposals asking to be paid outside the platform.
A scammer's ``skill`` in [0, 1] lowers every obvious signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .benign import JobBoard, conversation, simulate_proposals, uniform_times
from .events import NULL_JOB, EventLog
from .population import COUNTRIES, DAY, HOUR, TYPOLOGY_CODE, IdAllocator, Population
from .text import TextBanks


@dataclass
class Market:
    """What scammers can act on: the benign jobs and freelancers, and shared infrastructure."""

    t0: int
    t_end: int
    drift_start: int
    job: np.ndarray
    job_client: np.ndarray
    job_ts: np.ndarray
    freelancers: np.ndarray  # benign, active
    freelancer_weight: np.ndarray
    vpn_ips: np.ndarray  # proxy / VPN exit IPs, used by scammers and some benign users
    categories: np.ndarray
    report_reasons: np.ndarray


def scam_text(
    skill: np.ndarray, ts: np.ndarray, drift_start: int, rng: np.random.Generator, text: TextBanks
) -> np.ndarray:
    """Message text of scammers of the given skill: obvious, subtle, or benign-looking."""
    n = len(skill)
    u = rng.random(n)
    p_obvious = 0.8 - 0.65 * skill
    out = text.draw("benign_message", n)
    obvious = u < p_obvious
    subtle = (u >= p_obvious) & (u < p_obvious + (1 - p_obvious) / 2)
    out[obvious] = text.draw("scam_obvious", int(obvious.sum()))
    out[subtle] = text.draw("scam_subtle", int(subtle.sum()))
    drift = (ts >= drift_start) & (rng.random(n) < 0.6)
    out[drift] = text.draw("task_scam", int(drift.sum()))
    return out


def scammer_logins(
    pop: Population,
    users: np.ndarray,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    rate_per_day: float = 0.6,
) -> None:
    """Logins of scammer-made accounts from their start of activity to the end."""
    start = np.maximum(pop.signup_s[users], m.t0)
    counts = 1 + rng.poisson(rate_per_day * (m.t_end - start) / DAY)
    who = np.repeat(users, counts)
    k = len(who)
    ts = uniform_times(rng, np.repeat(start, counts), np.full(k, m.t_end))
    vpn = rng.random(k) < (0.6 - 0.45 * pop.skill[who])
    ip = np.where(vpn, rng.choice(m.vpn_ips, k), pop.home_ip[who])
    log.add(
        "logins",
        user_id=who,
        ts=ts,
        ip=ip,
        device_id=pop.device[who],
        country=pop.country[who],
        success=rng.random(k) > 0.08,
    )


def _reports(
    reporter: np.ndarray,
    reported: np.ndarray,
    ts: np.ndarray,
    p: np.ndarray,
    reasons: list[str],
    rng: np.random.Generator,
    log: EventLog,
) -> None:
    hit = rng.random(len(reporter)) < p
    k = int(hit.sum())
    log.add(
        "reports",
        reporter_id=reporter[hit],
        reported_id=reported[hit],
        ts=ts[hit] + rng.exponential(2 * DAY, k).astype(np.int64) + 600,
        reason=rng.choice(reasons, k),
    )


def fake_clients(
    pop: Population,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    board: JobBoard,
    text: TextBanks,
) -> None:
    users = np.flatnonzero(pop.typology == TYPOLOGY_CODE["fake_client"])
    skill = pop.skill[users]
    n_jobs = 1 + rng.poisson(1.5 * (1 - skill))
    owner = np.repeat(np.arange(len(users)), n_jobs)
    k = len(owner)
    ts = np.minimum(pop.bad_s[users][owner] + rng.integers(0, 5 * DAY, k), m.t_end - HOUR)
    attractive = rng.random(k) < (0.9 - 0.7 * skill[owner])
    title = np.where(attractive, text.draw("scam_job_title", k), text.draw("job_title", k))
    description = np.where(
        attractive, text.draw("scam_job_description", k), text.draw("job_description", k)
    )
    budget = np.where(attractive, rng.lognormal(6.9, 0.5, k), rng.lognormal(5.6, 0.9, k))
    category = np.where(
        attractive,
        rng.choice(["data_entry", "admin_support", "writing"], k),
        rng.choice(m.categories, k),
    )
    job = board.post(log, users[owner], ts, title, description, budget, category)

    pj, freelancer, prop_ts, _ = simulate_proposals(
        job,
        ts,
        budget,
        3.0 + 5.0 * attractive,
        m.freelancers,
        m.freelancer_weight,
        pop.signup_s,
        rng,
        log,
        text,
    )
    # unsolicited outreach to more freelancers
    extra = rng.poisson(6 * (1 - skill))
    extra_owner = np.repeat(np.arange(len(users)), extra)
    first_job = np.cumsum(n_jobs) - n_jobs
    contact_owner = np.concatenate([owner[pj], extra_owner])
    contact_freelancer = np.concatenate(
        [freelancer, m.freelancers[rng.integers(0, len(m.freelancers), len(extra_owner))]]
    )
    contact_job = np.concatenate([job[pj], job[first_job[extra_owner]]])
    # outreach about a job starts after the job is posted
    contact_start = np.concatenate(
        [prop_ts, ts[first_job[extra_owner]] + rng.integers(0, 7 * DAY, len(extra_owner))]
    )
    contact_start += rng.exponential(4 * HOUR, len(contact_start)).astype(np.int64)
    reachable = (
        pop.signup_s[contact_freelancer] < contact_start
    )  # only freelancers already on the platform
    contact_owner, contact_freelancer = contact_owner[reachable], contact_freelancer[reachable]
    contact_job, contact_start = contact_job[reachable], contact_start[reachable]

    n_msgs = 1 + rng.poisson(1.5, len(contact_owner))
    conv = conversation(
        users[contact_owner], contact_freelancer, contact_job, contact_start, n_msgs, rng
    )
    from_scammer = conv["sender"] == users[contact_owner][conv["pair"]]
    msg_text = np.where(
        from_scammer,
        scam_text(skill[contact_owner][conv["pair"]], conv["ts"], m.drift_start, rng, text),
        text.draw("benign_message", len(conv["ts"])),
    )
    log.add(
        "messages",
        sender_id=conv["sender"],
        recipient_id=conv["recipient"],
        job_id=conv["job"],
        ts=conv["ts"],
        text=msg_text,
    )
    _reports(
        contact_freelancer,
        users[contact_owner],
        contact_start,
        0.02 + 0.12 * (1 - skill[contact_owner]),
        ["off_platform", "advance_fee", "fake_job"],
        rng,
        log,
    )
    scammer_logins(pop, users, m, rng, log)


def account_takeovers(
    pop: Population,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    text: TextBanks,
    ids: IdAllocator,
    contacts: dict[int, np.ndarray],
) -> None:
    victims = np.flatnonzero(pop.typology == TYPOLOGY_CODE["account_takeover"])
    for v in victims:
        skill = pop.skill[v]
        t = int(pop.bad_s[v])
        device = ids.take("device", 1)[0]
        ip = rng.choice(m.vpn_ips)
        country = rng.choice(COUNTRIES) if rng.random() < 0.85 - 0.5 * skill else pop.country[v]
        n_fail = rng.poisson(2.5 * (1 - skill))
        n_after = rng.poisson(2)
        ts = np.concatenate(
            [t - rng.integers(60, 2 * HOUR, n_fail), [t], t + rng.integers(HOUR, 3 * DAY, n_after)]
        )
        log.add(
            "logins",
            user_id=np.full(len(ts), v),
            ts=ts,
            ip=np.full(len(ts), ip),
            device_id=np.full(len(ts), device),
            country=np.full(len(ts), country),
            success=np.arange(len(ts)) >= n_fail,
        )
        if rng.random() < 0.7:  # drain the balance to a new payout instrument
            log.add(
                "payments",
                payer_id=[v],
                payee_id=[v],
                ts=[t + int(rng.exponential(3 * HOUR)) + 60],
                amount_usd=[round(float(rng.lognormal(7.0, 0.5)), 2)],
                instrument_id=ids.take("instrument", 1),
                kind=["payout"],
            )
        known = contacts.get(int(v))
        if rng.random() < 0.65:
            k = 1 + rng.poisson(4 * (1 - skill) + 1)
            pool = known if known is not None and len(known) else m.freelancers
            to = rng.choice(pool, k)
            msg_ts = t + rng.exponential(6 * HOUR, k).astype(np.int64) + 60
            to, msg_ts = to[pop.signup_s[to] < msg_ts], msg_ts[pop.signup_s[to] < msg_ts]
            k = len(to)
            log.add(
                "messages",
                sender_id=np.full(k, v),
                recipient_id=to,
                job_id=np.full(k, NULL_JOB),
                ts=msg_ts,
                text=text.draw("ato_message", k),
            )
            _reports(
                to,
                np.full(k, v),
                msg_ts,
                np.full(k, 0.08),
                ["payment_issue", "spam", "other"],
                rng,
                log,
            )


def payment_fraud(
    pop: Population,
    m: Market,
    rng: np.random.Generator,
    log: EventLog,
    board: JobBoard,
    text: TextBanks,
    ids: IdAllocator,
) -> None:
    users = np.flatnonzero(pop.typology == TYPOLOGY_CODE["payment_fraud"])
    carding_pool = ids.take("instrument", max(5, 2 * len(users)))
    for u in users:
        skill = pop.skill[u]
        cards = rng.choice(carding_pool, 2 + rng.poisson(3 * (1 - skill)))
        pop.instrument[u] = cards[0]
        start = int(pop.bad_s[u])
        job = board.post(
            log,
            np.array([u]),
            np.array([start]),
            text.draw("job_title", 1),
            text.draw("job_description", 1),
            rng.lognormal(6.0, 0.6, 1),
            rng.choice(m.categories, 1),
        )
        k = 1 + rng.poisson(3 * (1 - skill) + 1)
        payee = m.freelancers[rng.integers(0, len(m.freelancers), k)]
        ts = start + rng.integers(HOUR, 10 * DAY, k)
        payee, ts = payee[pop.signup_s[payee] < ts], ts[pop.signup_s[payee] < ts]
        k = len(payee)
        amount = np.round(rng.lognormal(6.3, 0.6, k), 2)
        card = rng.choice(cards, k)
        log.add(
            "messages",
            sender_id=np.full(k, u),
            recipient_id=payee,
            job_id=np.full(k, job[0]),
            ts=ts - 1200,
            text=text.draw("benign_message", k),
        )
        log.add(
            "payments",
            payer_id=np.full(k, u),
            payee_id=payee,
            ts=ts,
            amount_usd=amount,
            instrument_id=card,
            kind=np.full(k, "charge"),
        )
        cb = rng.random(k) < 0.7
        log.add(
            "payments",
            payer_id=np.full(int(cb.sum()), u),
            payee_id=payee[cb],
            ts=ts[cb] + rng.integers(10 * DAY, 50 * DAY, int(cb.sum())),
            amount_usd=amount[cb],
            instrument_id=card[cb],
            kind=np.full(int(cb.sum()), "chargeback"),
        )
    scammer_logins(pop, users, m, rng, log)


def fake_freelancers(
    pop: Population, m: Market, rng: np.random.Generator, log: EventLog, text: TextBanks
) -> None:
    users = np.flatnonzero(pop.typology == TYPOLOGY_CODE["fake_freelancer"])
    skill = pop.skill[users]
    counts = rng.poisson(10 * (1 - skill) + 4)
    idx = np.repeat(np.arange(len(users)), counts)
    who = users[idx]
    k = len(who)
    open_jobs = np.flatnonzero(m.job_ts < m.t_end)
    pick = open_jobs[rng.integers(0, len(open_jobs), k)]
    ts = np.maximum(m.job_ts[pick], pop.bad_s[who]) + rng.exponential(8 * HOUR, k).astype(np.int64)
    pay_outside = rng.random(k) < 0.75 - 0.6 * skill[idx]
    cover = np.where(pay_outside, text.draw("fake_freelancer_cover", k), text.draw("cover", k))
    log.add(
        "proposals",
        job_id=m.job[pick],
        freelancer_id=who,
        ts=ts,
        bid_usd=np.round(rng.lognormal(4.8, 0.7, k), 2),
        cover_text=cover,
    )
    talk = rng.random(k) < 0.3
    log.add(
        "messages",
        sender_id=who[talk],
        recipient_id=m.job_client[pick][talk],
        job_id=m.job[pick][talk],
        ts=ts[talk] + rng.exponential(4 * HOUR, int(talk.sum())).astype(np.int64),
        text=np.where(
            pay_outside[talk],
            text.draw("fake_freelancer_cover", int(talk.sum())),
            scam_text(skill[idx][talk], ts[talk], m.drift_start, rng, text),
        ),
    )
    _reports(
        m.job_client[pick],
        who,
        ts,
        0.015 + 0.04 * pay_outside,
        ["off_platform", "payment_issue", "spam"],
        rng,
        log,
    )
    scammer_logins(pop, users, m, rng, log)

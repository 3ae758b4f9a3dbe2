"""Assemble a simulated marketplace: population, benign activity, scams, late and noisy labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from scamguard.schema import JOB_CATEGORIES, REPORT_REASONS, SCAM_TYPOLOGIES, TABLES

from . import benign, rings, scams
from .config import SimulationConfig
from .events import NULL_JOB, EventLog, finalize, to_timestamp, uid
from .population import DAY, TYPOLOGY_CODE, IdAllocator, Population, build_population
from .text import SKILLS, TextBanks

USER_REF_COLUMNS = {
    "logins": ["user_id"],
    "jobs": ["client_id"],
    "proposals": ["freelancer_id"],
    "messages": ["sender_id", "recipient_id"],
    "payments": ["payer_id", "payee_id"],
    "reports": ["reporter_id", "reported_id"],
}
ID_PREFIX = {
    "logins": "l",
    "jobs": "j",
    "proposals": "p",
    "messages": "m",
    "payments": "pay",
    "reports": "r",
}


@dataclass
class SimulatedWorld:
    tables: dict[str, pl.DataFrame]  # raw tables in the contract schema
    truth: (
        pl.DataFrame
    )  # user_id, typology, skill, bad_ts: the simulator's ground truth (not a raw table)


def simulate(cfg: SimulationConfig, *, progress=None) -> SimulatedWorld:  # type: ignore[no-untyped-def]
    """Simulate ``cfg.weeks`` of marketplace activity. Deterministic for ``cfg.seed``.

    ``progress`` is an optional callable ``progress(step_name)`` called after each stage.
    """
    step = progress or (lambda _name: None)
    rng = np.random.default_rng(cfg.seed)
    t0, t_end = int(cfg.start.timestamp()), int(cfg.end.timestamp())
    ids = IdAllocator()
    text = TextBanks(rng, sms_csv=cfg.sms_csv)
    pop = build_population(cfg, rng, ids)
    log = EventLog()
    board = benign.JobBoard()
    categories = np.array(JOB_CATEGORIES)
    step("population")

    owners = np.flatnonzero(
        (pop.typology == 0) | (pop.typology == TYPOLOGY_CODE["account_takeover"])
    )
    carrier_ips = ids.take("ip", max(20, cfg.n_users // 40))
    vpn_ips = ids.take("ip", max(10, cfg.n_users // 400))
    benign.simulate_logins(pop, owners, t0, t_end, rng, log, ids, carrier_ips)
    _vpn_logins(pop, owners, t0, t_end, vpn_ips, rng, log)
    clients = owners[pop.role[owners] == 0]
    freelancers = owners[(pop.role[owners] == 1) & (pop.activity[owners] > 0)]
    job, job_client, job_ts, budget = benign.simulate_jobs(
        pop, clients, t0, t_end, rng, log, board, text, categories
    )
    weights = pop.activity[freelancers]
    pj, prop_f, prop_ts, bid = benign.simulate_proposals(
        job,
        job_ts,
        budget,
        np.full(len(job), 3.5),
        freelancers,
        weights,
        pop.signup_s,
        rng,
        log,
        text,
    )
    benign.simulate_hiring(pop, job, job_client, job_ts, pj, prop_f, prop_ts, bid, rng, log, text)
    benign.simulate_casual_messages(pop, owners, t0, t_end, rng, log, text)
    benign.simulate_false_reports(pop, owners, t0, t_end, rng, log, np.array(REPORT_REASONS))
    step("benign activity")

    market = scams.Market(
        t0=t0,
        t_end=t_end,
        drift_start=t_end - cfg.drift_weeks * 7 * DAY,
        job=job,
        job_client=job_client,
        job_ts=job_ts,
        freelancers=freelancers,
        freelancer_weight=weights,
        vpn_ips=vpn_ips,
        categories=categories,
        report_reasons=np.array(REPORT_REASONS),
    )
    contacts = _contacts_before_takeover(log.frame("messages"), pop)
    scams.fake_clients(pop, market, rng, log, board, text)
    rings.fraud_rings(pop, market, rng, log, board, text, ids)
    scams.account_takeovers(pop, market, rng, log, text, ids, contacts)
    scams.payment_fraud(pop, market, rng, log, board, text, ids)
    scams.fake_freelancers(pop, market, rng, log, text)
    step("scams")

    tables = {name: _finish(log.frame(name), name, t_end) for name in USER_REF_COLUMNS}
    tables["users"] = _users_table(pop, text, rng)
    tables["labels"] = _labels_table(pop, tables["reports"], cfg, rng)
    truth = _truth_table(pop)
    step("tables")
    return SimulatedWorld(tables={t: tables[t] for t in TABLES}, truth=truth)


def _vpn_logins(
    pop: Population,
    owners: np.ndarray,
    t0: int,
    t_end: int,
    vpn_ips: np.ndarray,
    rng: np.random.Generator,
    log: EventLog,
) -> None:
    """Logins of privacy-minded benign users (3% of ``owners``) from VPN exit IPs."""
    vpn_users = owners[rng.random(len(owners)) < 0.03]
    log.add(
        "logins",
        user_id=vpn_users,
        ts=benign.uniform_times(
            rng, np.maximum(pop.signup_s[vpn_users], t0), np.full(len(vpn_users), t_end)
        ),
        ip=rng.choice(vpn_ips, len(vpn_users)),
        device_id=pop.device[vpn_users],
        country=pop.country[vpn_users],
        success=np.ones(len(vpn_users), dtype=bool),
    )


def _truth_table(pop: Population) -> pl.DataFrame:
    """user_id, typology, skill, bad_ts: the simulator's ground truth (not a raw table)."""
    return (
        pl.DataFrame(
            {
                "user_idx": np.arange(pop.n),
                "typology": np.array(["benign", *SCAM_TYPOLOGIES])[pop.typology],
                "skill": pop.skill,
                "bad_s": pop.bad_s,
            }
        )
        .select(
            uid("user_idx").alias("user_id"),
            "typology",
            "skill",
            pl.when(pl.col("bad_s") >= 0).then(pl.col("bad_s")).alias("bad_s"),
        )
        .with_columns(to_timestamp("bad_s").alias("bad_ts"))
        .drop("bad_s")
    )


def _contacts_before_takeover(messages: pl.DataFrame, pop: Population) -> dict[int, np.ndarray]:
    victims = np.flatnonzero(pop.typology == TYPOLOGY_CODE["account_takeover"])
    if messages.height == 0 or len(victims) == 0:
        return {}
    grouped = (
        messages.lazy()
        .filter(pl.col("sender_id").is_in(victims.tolist()))
        .group_by("sender_id")
        .agg(pl.col("recipient_id").unique().sort())
        .collect()
    )
    return {
        int(s): np.asarray(r)
        for s, r in zip(grouped["sender_id"], grouped["recipient_id"], strict=True)
    }


def _dotted_ip(col: str) -> pl.Expr:
    h = (pl.col(col).cast(pl.UInt64) * 2654435761 + 0x17000000) % (2**32)
    return pl.format(
        "{}.{}.{}.{}", (h // 2**24) % 256, (h // 2**16) % 256, (h // 2**8) % 256, h % 256
    )


def _finish(df: pl.DataFrame, table: str, t_end: int) -> pl.DataFrame:
    """Integer references -> contract ids, then sort, id and cast."""
    if df.height == 0:
        return pl.DataFrame(schema=TABLES[table].schema)
    exprs = [uid(c).alias(c) for c in USER_REF_COLUMNS[table]]
    if "job_id" in df.columns:
        exprs.append(
            pl.when(pl.col("job_id") != NULL_JOB)
            .then(pl.format("j{}", pl.col("job_id").cast(pl.String).str.zfill(8)))
            .alias("job_id")
        )
    if "device_id" in df.columns:
        exprs.append(
            pl.format("dev-{}", pl.col("device_id").cast(pl.String).str.zfill(8)).alias("device_id")
        )
    if "ip" in df.columns:
        exprs.append(_dotted_ip("ip").alias("ip"))
    if "instrument_id" in df.columns:
        exprs.append(
            pl.format("pi_{}", pl.col("instrument_id").cast(pl.String).str.zfill(8)).alias(
                "instrument_id"
            )
        )
    return finalize(df.with_columns(exprs), table, end_s=t_end, prefix=ID_PREFIX[table])


def _profile_texts(pop: Population, text: TextBanks, rng: np.random.Generator) -> np.ndarray:
    n = pop.n
    rate = rng.integers(8, 150, n)
    extra = np.asarray(SKILLS, dtype=object)[rng.integers(0, len(SKILLS), n)]
    freelancer = (
        text.draw("profile_freelancer", n)
        + " Rate $"
        + rate.astype(str).astype(object)
        + "/hr. Also: "
        + extra
        + "."
    )
    out = np.where(pop.role == 1, freelancer, text.draw("profile_client", n))
    fc = np.flatnonzero(
        (pop.typology == TYPOLOGY_CODE["fake_client"]) & (rng.random(n) < 0.7 * (1 - pop.skill))
    )
    out[fc] = text.draw("profile_scam_client", len(fc))
    ff = np.flatnonzero(pop.typology == TYPOLOGY_CODE["fake_freelancer"])
    source = np.flatnonzero((pop.typology == 0) & (pop.role == 1))
    copy = ff[rng.random(len(ff)) < 0.8]
    out[copy] = out[rng.choice(source, len(copy))]
    return out


def _users_table(pop: Population, text: TextBanks, rng: np.random.Generator) -> pl.DataFrame:
    df = pl.DataFrame(
        {
            "user_idx": np.arange(pop.n),
            "role": np.where(pop.role == 0, "client", "freelancer"),
            "signup_ts": pop.signup_s,
            "country": pop.country,
            "email_domain": pop.email_domain,
            "phone_country": pop.phone_country,
            "signup_ip": pop.home_ip,
            "signup_device_id": pop.device,
            "kyc_status": pop.kyc,
            "profile_text": _profile_texts(pop, text, rng).astype(str),
        }
    )
    df = df.with_columns(
        uid("user_idx").alias("user_id"),
        to_timestamp("signup_ts").alias("signup_ts"),
        _dotted_ip("signup_ip").alias("signup_ip"),
        pl.format("dev-{}", pl.col("signup_device_id").cast(pl.String).str.zfill(8)).alias(
            "signup_device_id"
        ),
    )
    return df.select([pl.col(c).cast(t) for c, t in TABLES["users"].columns.items()])


def _labels_table(
    pop: Population, reports: pl.DataFrame, cfg: SimulationConfig, rng: np.random.Generator
) -> pl.DataFrame:
    """Ground truth as the organisation learns it: late, incomplete, and a little wrong.

    Scammers are labelled a lognormal delay (median ~10 days) after their scam starts; labels decided
    later than ``end + label_horizon_days`` are not known yet. Reported benign users are sometimes
    investigated and cleared (rarely: wrongly labelled scam).
    """
    t_end = int(cfg.end.timestamp())
    horizon = t_end + cfg.label_horizon_days * DAY
    names = np.array(["benign", *SCAM_TYPOLOGIES])
    scam = np.flatnonzero(pop.typology > 0)
    decided = pop.bad_s[scam] + (np.exp(rng.normal(np.log(10 * DAY), 0.7, len(scam)))).astype(
        np.int64
    )
    label = names[pop.typology[scam]].astype(object)
    # a scammer-made account is fraudulent from sign-up; a taken-over account from the takeover
    takeover = pop.typology[scam] == TYPOLOGY_CODE["account_takeover"]
    first_bad = np.where(takeover, pop.bad_s[scam], pop.signup_s[scam]).astype(np.float64)
    wrong = rng.random(len(scam)) < cfg.wrong_scam_label_rate
    label[wrong] = "benign"
    first_bad[wrong] = np.nan
    keep = decided < horizon
    rows = [
        pl.DataFrame(
            {
                "user_idx": scam[keep],
                "label": label[keep].astype(str),
                "decided_s": decided[keep],
                "first_bad_s": first_bad[keep],
            }
        )
    ]

    first_report = (
        reports.lazy()
        .group_by("reported_id")
        .agg(pl.col("ts").min().dt.epoch("s").alias("report_s"))
        .with_columns(pl.col("reported_id").str.slice(1).cast(pl.Int64).alias("user_idx"))
        .sort("user_idx")  # group_by order is arbitrary; the draws below must not depend on it
        .collect()
    )
    reported = first_report.filter(
        pl.col("user_idx").is_in(np.flatnonzero(pop.typology == 0).tolist())
    )
    investigated = reported.filter(pl.Series(rng.random(reported.height) < 0.6))
    k = investigated.height
    b_decided = investigated["report_s"].to_numpy() + np.exp(
        rng.normal(np.log(5 * DAY), 0.6, k)
    ).astype(np.int64)
    b_wrong = rng.random(k) < cfg.wrong_benign_label_rate
    b_label = np.where(b_wrong, rng.choice(np.array(SCAM_TYPOLOGIES), k), "benign")
    b_first = np.where(b_wrong, investigated["report_s"].to_numpy().astype(np.float64), np.nan)
    keep_b = b_decided < horizon
    rows.append(
        pl.DataFrame(
            {
                "user_idx": investigated["user_idx"].to_numpy()[keep_b],
                "label": b_label[keep_b],
                "decided_s": b_decided[keep_b],
                "first_bad_s": b_first[keep_b],
            }
        )
    )
    df = pl.concat(rows).unique("user_idx", keep="first", maintain_order=True)
    df = df.with_columns(
        uid("user_idx").alias("user_id"),
        to_timestamp("decided_s").alias("decided_ts"),
        pl.col("first_bad_s").fill_nan(None).cast(pl.Int64).alias("first_bad_s"),
    )
    df = df.with_columns(to_timestamp("first_bad_s").alias("first_bad_ts")).sort("decided_ts")
    return df.select([pl.col(c).cast(t) for c, t in TABLES["labels"].columns.items()])

"""A straightforward pandas implementation of every feature of ``features.build`` (the benchmark's
reference): for each family, merge the spine with the user's events, filter to the window, group
by (user_id, as_of). The same definitions as the Polars builder, written the way a pandas user
would; the benchmark checks both give the same table before it compares their speed.

Shares only constants with ``features`` (regexes, e-mail domain lists, windows, hub limit).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.build import FEATURE_COLUMNS
from features.graph import HUB_LIMIT
from features.profile import DISPOSABLE_EMAIL, FREE_EMAIL
from features.text import TEXT_FLAGS
from features.velocity import EVENT_KINDS, WINDOWS
from scamguard.schema import SCAM_TYPOLOGIES

KEY = ["user_id", "as_of"]
W = {name: pd.Timedelta(width) for name, width in WINDOWS.items()}
DAY7, DAY30 = pd.Timedelta(days=7), pd.Timedelta(days=30)


def _flags(text: pd.Series) -> pd.DataFrame:
    text = text.fillna("")
    with warnings.catch_warnings():  # the patterns' groups are only for alternation
        warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular")
        return _contains(text)


def _contains(text: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            f"flag_{n}": text.str.contains(p, regex=True).astype("int64")
            for n, p in TEXT_FLAGS.items()
        },
        index=text.index,
    )


def _window(df: pd.DataFrame, width: pd.Timedelta | None) -> pd.DataFrame:
    keep = df["ts"] < df["as_of"]
    if width is not None:
        keep &= df["ts"] >= df["as_of"] - width
    return df[keep]


def profile(spine: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    flags = _flags(users["profile_text"])
    prof = pd.DataFrame(
        {
            "user_id": users["user_id"],
            "signup_ts": users["signup_ts"],
            "is_client": (users["role"] == "client").astype("int64"),
            "kyc_verified": (users["kyc_status"] == "verified").astype("int64"),
            "kyc_failed": (users["kyc_status"] == "failed").astype("int64"),
            "kyc_none": (users["kyc_status"] == "none").astype("int64"),
            "email_disposable": users["email_domain"].isin(DISPOSABLE_EMAIL).astype("int64"),
            "email_free": users["email_domain"].isin(FREE_EMAIL).astype("int64"),
            "phone_country_mismatch": (users["phone_country"] != users["country"]).astype("int64"),
            "profile_text_len": users["profile_text"].fillna("").str.len(),
            "profile_text_flags": flags.sum(axis=1),
        }
    )
    out = spine.merge(prof, on="user_id", how="left")
    seconds = (out["as_of"] - out["signup_ts"]) // pd.Timedelta(seconds=1)
    out["account_age_days"] = seconds / 86_400
    texts = users.loc[
        users["profile_text"].fillna("").str.len() > 0, ["user_id", "profile_text", "signup_ts"]
    ]
    pairs = spine.merge(texts[["user_id", "profile_text"]], on="user_id").merge(
        texts.rename(columns={"user_id": "other", "signup_ts": "other_signup"}), on="profile_text"
    )
    pairs = pairs[(pairs["other"] != pairs["user_id"]) & (pairs["other_signup"] < pairs["as_of"])]
    copies = pairs.groupby(KEY).size().rename("profile_text_copies").reset_index()
    out = out.merge(copies, on=KEY, how="left")
    out["profile_text_copies"] = out["profile_text_copies"].fillna(0)
    return out.drop(columns=["signup_ts"])


def velocity(spine: pd.DataFrame, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    charges = t["payments"][t["payments"]["kind"] == "charge"]
    acts = pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": t["messages"]["sender_id"],
                    "ts": t["messages"]["ts"],
                    "kind": "message",
                    "cp": t["messages"]["recipient_id"],
                }
            ),
            pd.DataFrame(
                {
                    "user_id": t["jobs"]["client_id"],
                    "ts": t["jobs"]["ts"],
                    "kind": "job",
                    "cp": None,
                }
            ),
            pd.DataFrame(
                {
                    "user_id": t["proposals"]["freelancer_id"],
                    "ts": t["proposals"]["ts"],
                    "kind": "proposal",
                    "cp": None,
                }
            ),
            pd.DataFrame(
                {
                    "user_id": charges["payer_id"],
                    "ts": charges["ts"],
                    "kind": "payment",
                    "cp": charges["payee_id"],
                }
            ),
            pd.DataFrame(
                {
                    "user_id": t["logins"]["user_id"],
                    "ts": t["logins"]["ts"],
                    "kind": np.where(t["logins"]["success"], "login", "failed_login"),
                    "cp": None,
                }
            ),
        ],
        ignore_index=True,
    )
    j = _window(spine.merge(acts, on="user_id"), DAY30)
    counts = {}
    for name, width in W.items():
        inside = j["ts"] >= j["as_of"] - width
        for kind in EVENT_KINDS:
            counts[f"{kind}s_{name}"] = (inside & (j["kind"] == kind)).astype("int64")
    agg = pd.concat([j[KEY], pd.DataFrame(counts)], axis=1).groupby(KEY).sum()
    msgs = j[j["kind"] == "message"]
    for name, width in W.items():
        inside = msgs[msgs["ts"] >= msgs["as_of"] - width]
        agg[f"recipients_{name}"] = inside.groupby(KEY)["cp"].nunique()
    out = spine.merge(agg.reset_index(), on=KEY, how="left")
    for what, column, signup in (
        ("devices", "device_id", "signup_device_id"),
        ("countries", "country", "country"),
    ):
        ok = t["logins"][t["logins"]["success"]]
        seen = pd.concat(
            [
                pd.DataFrame({"user_id": ok["user_id"], "value": ok[column], "ts": ok["ts"]}),
                pd.DataFrame(
                    {
                        "user_id": t["users"]["user_id"],
                        "value": t["users"][signup],
                        "ts": t["users"]["signup_ts"],
                    }
                ),
            ]
        )
        first = (
            seen.groupby(["user_id", "value"], dropna=False)["ts"]
            .min()
            .rename("first")
            .reset_index()
        )
        m = spine.merge(first, on="user_id")
        m = m[m["first"] < m["as_of"]]
        m = m.assign(
            **{
                f"new_{what}_{w}": (m["first"] >= m["as_of"] - W[w]).astype("int64")
                for w in ("7d", "30d")
            },
            **{f"{what}_total": 1},
        )
        cols = [f"new_{what}_7d", f"new_{what}_30d", f"{what}_total"]
        out = out.merge(m.groupby(KEY)[cols].sum().reset_index(), on=KEY, how="left")
    return out


def text(spine: pd.DataFrame, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    m = t["messages"]
    msgs = pd.concat(
        [pd.DataFrame({"user_id": m["sender_id"], "ts": m["ts"]}), _flags(m["text"])], axis=1
    )
    msgs["n"] = msgs[[f"flag_{n}" for n in TEXT_FLAGS]].sum(axis=1)
    j = _window(spine.merge(msgs, on="user_id"), DAY30)
    g = j.groupby(KEY)
    agg = pd.DataFrame({f"msg_{n}_30d": g[f"flag_{n}"].sum() for n in TEXT_FLAGS})
    agg["msg_flagged_share_30d"] = (j["n"] > 0).groupby([j["user_id"], j["as_of"]]).mean()
    agg["msg_multi_flag_30d"] = (j["n"] >= 2).groupby([j["user_id"], j["as_of"]]).sum()
    out = spine.merge(agg.reset_index(), on=KEY, how="left")

    jobs = t["jobs"]
    jf = _flags(jobs["title"] + " " + jobs["description"])
    jobs = pd.DataFrame(
        {
            "user_id": jobs["client_id"],
            "ts": jobs["ts"],
            "budget": jobs["budget_usd"],
            "n": jf.sum(axis=1),
        }
    )
    j = _window(spine.merge(jobs, on="user_id"), None)
    g = j.assign(flagged=(j["n"] > 0).astype("int64")).groupby(KEY)
    out = out.merge(
        pd.DataFrame(
            {"jobs_flagged_text": g["flagged"].sum(), "job_budget_max": g["budget"].max()}
        ).reset_index(),
        on=KEY,
        how="left",
    )
    p = t["proposals"]
    pf = _flags(p["cover_text"])
    props = pd.DataFrame(
        {
            "user_id": p["freelancer_id"],
            "ts": p["ts"],
            "flagged": (pf.sum(axis=1) > 0).astype("int64"),
            "outside": ((pf["flag_off_platform"] + pf["flag_money"]) > 0).astype("int64"),
        }
    )
    j = _window(spine.merge(props, on="user_id"), None)
    g = j.groupby(KEY)
    out = out.merge(
        pd.DataFrame(
            {
                "proposals_flagged_text": g["flagged"].sum(),
                "proposals_pay_outside": g["outside"].sum(),
            }
        ).reset_index(),
        on=KEY,
        how="left",
    )
    return out


def graph(
    spine: pd.DataFrame, t: dict[str, pd.DataFrame], hub_limit: int = HUB_LIMIT
) -> pd.DataFrame:
    users, ok, pay = t["users"], t["logins"][t["logins"]["success"]], t["payments"]
    owner = np.where(pay["kind"].isin(["charge", "chargeback"]), pay["payer_id"], pay["payee_id"])
    links = pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": users["user_id"],
                    "kind": "device",
                    "ident": users["signup_device_id"],
                    "ts": users["signup_ts"],
                }
            ),
            pd.DataFrame(
                {
                    "user_id": users["user_id"],
                    "kind": "ip",
                    "ident": users["signup_ip"],
                    "ts": users["signup_ts"],
                }
            ),
            pd.DataFrame(
                {
                    "user_id": ok["user_id"],
                    "kind": "device",
                    "ident": ok["device_id"],
                    "ts": ok["ts"],
                }
            ),
            pd.DataFrame(
                {"user_id": ok["user_id"], "kind": "ip", "ident": ok["ip"], "ts": ok["ts"]}
            ),
            pd.DataFrame(
                {
                    "user_id": owner,
                    "kind": "instrument",
                    "ident": pay["instrument_id"],
                    "ts": pay["ts"],
                }
            ),
        ],
        ignore_index=True,
    )
    links = links.groupby(["user_id", "kind", "ident"])["ts"].min().rename("first_ts").reset_index()
    labels = t["labels"]
    bad = labels[labels["label"].isin(SCAM_TYPOLOGIES)][["user_id", "decided_ts"]]
    parts = []
    for as_of in spine["as_of"].unique():
        live = links[links["first_ts"] < as_of]
        size = live.groupby(["kind", "ident"])["user_id"].transform("size")
        live = live[size <= hub_limit]
        bad_now = set(bad.loc[bad["decided_ts"] < as_of, "user_id"])
        pairs = live.merge(
            live[["user_id", "kind", "ident"]].rename(columns={"user_id": "other"}),
            on=["kind", "ident"],
        )
        pairs = pairs[pairs["user_id"] != pairs["other"]]
        g = pairs.groupby("user_id")
        feats = pd.DataFrame(
            {
                f"shared_{k}_users": pairs[pairs["kind"] == k].groupby("user_id")["other"].nunique()
                for k in ("device", "ip", "instrument")
            }
        )
        feats = feats.reindex(g.size().index)
        feats["linked_users"] = g["other"].nunique()
        distinct = pairs[["user_id", "other"]].drop_duplicates()
        feats["known_bad_neighbors"] = (
            distinct["other"].isin(bad_now).groupby(distinct["user_id"]).sum()
        )
        user_codes, user_index = pd.factorize(live["user_id"])
        ident_codes, _ = pd.factorize(live["kind"] + ":" + live["ident"])
        n_u, n = len(user_index), len(user_index) + ident_codes.max() + 1 if len(live) else 0
        matrix = coo_matrix((np.ones(len(live)), (user_codes, n_u + ident_codes)), shape=(n, n))
        _, comp = connected_components(matrix, directed=False)
        comp = pd.DataFrame({"user_id": user_index, "component": comp[:n_u]})
        comp["is_bad"] = comp["user_id"].isin(bad_now).astype("int64")
        comp["component_size"] = comp.groupby("component")["user_id"].transform("size")
        comp["known_bad_in_component"] = (
            comp.groupby("component")["is_bad"].transform("sum") - comp["is_bad"]
        )
        feats = comp.set_index("user_id")[["component_size", "known_bad_in_component"]].join(
            feats, how="left"
        )
        rows = spine[spine["as_of"] == as_of]
        parts.append(rows.merge(feats.reset_index(), on="user_id", how="left"))
    return pd.concat(parts, ignore_index=True)


def payments(spine: pd.DataFrame, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    pay = t["payments"]
    j = _window(spine.merge(pay.rename(columns={"payer_id": "user_id"}), on="user_id"), None)
    charge = j["kind"] == "charge"
    g = j.assign(
        charge=charge.astype("int64"),
        chargeback=(j["kind"] == "chargeback").astype("int64"),
        amount30=j["amount_usd"].where(charge & (j["ts"] >= j["as_of"] - DAY30)),
        instrument=j["instrument_id"].where(charge),
    ).groupby(KEY)
    paid = pd.DataFrame(
        {
            "charges_total": g["charge"].sum(),
            "chargebacks_total": g["chargeback"].sum(),
            "charge_instruments": g["instrument"].nunique(),
            "charge_amount_max_30d": g["amount30"].max(),
        }
    )
    payouts = pay[pay["kind"] == "payout"].rename(columns={"payee_id": "user_id"})
    first = (
        payouts.groupby(["user_id", "instrument_id"])["ts"].min().rename("first_ts").reset_index()
    )
    r = _window(
        spine.merge(payouts.merge(first, on=["user_id", "instrument_id"]), on="user_id"), DAY7
    )
    g = r.assign(new=(r["first_ts"] >= r["as_of"] - DAY7).astype("int64")).groupby(KEY)
    received = pd.DataFrame(
        {"payouts_new_instrument_7d": g["new"].sum(), "payout_amount_7d": g["amount_usd"].sum()}
    )
    return spine.merge(paid.reset_index(), on=KEY, how="left").merge(
        received.reset_index(), on=KEY, how="left"
    )


def reports(spine: pd.DataFrame, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    j = _window(
        spine.merge(t["reports"].rename(columns={"reported_id": "user_id"}), on="user_id"), None
    )
    g = j.assign(
        r7=(j["ts"] >= j["as_of"] - DAY7).astype("int64"),
        r30=(j["ts"] >= j["as_of"] - DAY30).astype("int64"),
    ).groupby(KEY)
    got = pd.DataFrame(
        {
            "reports_7d": g["r7"].sum(),
            "reports_30d": g["r30"].sum(),
            "reporters_total": g["reporter_id"].nunique(),
        }
    )
    return spine.merge(got.reset_index(), on=KEY, how="left")


NULLABLE = {"job_budget_max", "charge_amount_max_30d", "msg_flagged_share_30d"}
PROFILE = {
    "is_client",
    "kyc_verified",
    "kyc_failed",
    "kyc_none",
    "email_disposable",
    "email_free",
    "phone_country_mismatch",
    "profile_text_len",
    "profile_text_flags",
    "account_age_days",
}


def build_features_pandas(
    spine: pd.DataFrame, tables: dict[str, pd.DataFrame], *, hub_limit: int = HUB_LIMIT
) -> pd.DataFrame:
    """``spine`` (``user_id, as_of``) with every feature of ``features.build.FEATURE_COLUMNS``."""
    spine = spine[KEY].drop_duplicates()
    out = spine
    for part in (
        profile(spine, tables["users"]),
        velocity(spine, tables),
        text(spine, tables),
        graph(spine, tables, hub_limit),
        payments(spine, tables),
        reports(spine, tables),
    ):
        out = out.merge(part, on=KEY, how="left")
    for column in FEATURE_COLUMNS:
        if column not in NULLABLE and column not in PROFILE:
            out[column] = out[column].fillna(0)
    return out[[*KEY, *FEATURE_COLUMNS]]

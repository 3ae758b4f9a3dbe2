"""Behavioural tests of the text model and the risk model (Made-With-ML style).

- invariance: renaming a user (everywhere in the raw tables) does not move the risk; swapping a
  person's name or a skill in a message barely moves the text score;
- direction: adding "send the deposit via WhatsApp first" raises a message's text score, and
  sending such messages raises a user's risk;
- minimum functionality: obvious scams and obvious benign cases land on the right side.

The text model is all-MiniLM-L6-v2 fine-tuned for 2 epochs on a few hundred simulator texts
(seconds on a CPU); the risk model is the session's ``trained_env`` champion.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import torch

from scamguard.schema import TABLES

DIRECTION_SUFFIX = " Please send the deposit via WhatsApp first."
OBVIOUS_SCAMS = [
    "Congratulations, you are hired! Pay the $150 training fee with gift cards to start today.",
    "Add me on WhatsApp +44 7700 900123 for the interview, this chat is slow.",
    "Your payout is on hold, verify your bank details at http://secure-pay-x7k2.com/login now",
    "I will mail you a cheque for $2,500, deposit it and send the rest to our vendor via Zelle.",
]
OBVIOUS_BENIGN = [
    "Thanks for the update, the landing page looks great.",
    "I have pushed the fixes to the dashboard, please review when you can.",
    "The first milestone is funded in escrow, you can start whenever you are ready.",
    "Could we move our call to Thursday at 10?",
]


# ------------------------------------------------------------------------------- text model


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/models/test_text_model.py
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def text_model(one_torch_thread):  # type: ignore[no-untyped-def]
    """MiniLM fine-tuned on simulator text banks: scam templates (1) vs marketplace chat (0)."""
    from models.text.fit import fit_text_model
    from models.text.model import TextModelConfig
    from pipelines.simulator.text import TextBanks

    banks = TextBanks(np.random.default_rng(11), variants=60).banks
    rng = np.random.default_rng(0)
    scam_banks = [
        "scam_obvious",
        "scam_subtle",
        "task_scam",
        "fake_freelancer_cover",
        "ato_message",
    ]
    benign_banks = [
        "benign_message",
        "benign_lookalike",
        "cover",
        "job_title",
        "profile_freelancer",
    ]
    texts, labels = [], []
    for label, names, per_bank in ((1, scam_banks, 24), (0, benign_banks, 48)):
        for name in names:
            picked = rng.choice(banks[name], size=min(per_bank, len(banks[name])), replace=False)
            texts += [str(t) for t in picked]
            labels += [label] * len(picked)
    config = TextModelConfig(
        encoder="minilm", max_len=48, epochs=2, batch_size=16, lr=1e-4, val_frac=0.0, seed=0
    )
    return fit_text_model(texts, np.array(labels), config, device="cpu").predictor


def test_text_minimum_functionality(text_model):  # type: ignore[no-untyped-def]
    scam = text_model.predict_proba(OBVIOUS_SCAMS)
    benign = text_model.predict_proba(OBVIOUS_BENIGN)
    assert np.all(scam > 0.5), scam
    assert np.all(benign < 0.5), benign


def test_text_direction_whatsapp_deposit_raises_the_score(text_model):  # type: ignore[no-untyped-def]
    before = text_model.predict_proba(OBVIOUS_BENIGN)
    after = text_model.predict_proba([t + DIRECTION_SUFFIX for t in OBVIOUS_BENIGN])
    assert np.all(after > before), (before, after)
    assert np.mean(after - before) > 0.2


def test_text_invariance_to_names_and_skills(text_model):  # type: ignore[no-untyped-def]
    pairs = [
        ("Hi Anna, just checking in on progress for this week.", "Anna", "Kwame"),
        ("Thanks Ravi, can you share a sample of your Python work?", "Ravi", "Elena"),
        ("Need a Figma expert for our online store", "Figma", "WordPress"),
        ("Add me on WhatsApp for the interview, Maria from HR", "Maria", "Jonas"),
    ]
    a = text_model.predict_proba([t for t, _, _ in pairs])
    b = text_model.predict_proba([t.replace(x, y) for t, x, y in pairs])
    assert np.all(np.abs(a - b) < 0.1), (a, b)
    assert np.all((a > 0.5) == (b > 0.5))  # no renaming flips a decision


# ------------------------------------------------------------------------------- risk model


def _user_columns() -> dict[str, list[str]]:
    """table -> columns holding user ids (primary key ``user_id`` and every FK to users)."""
    out: dict[str, list[str]] = {}
    for name, spec in TABLES.items():
        cols = [fk.column for fk in spec.foreign_keys if fk.table == "users"]
        if name == "users":
            cols.append("user_id")
        if cols:
            out[name] = cols
    return out


@pytest.fixture(scope="module")
def clean_frames(trained_env) -> dict[str, pl.DataFrame]:  # type: ignore[no-untyped-def]
    from features.tables import load_clean_tables

    tables = load_clean_tables(trained_env)
    return {name: getattr(tables, name).collect() for name in TABLES}


@pytest.fixture(scope="module")
def scorer(trained_env):  # type: ignore[no-untyped-def]
    from models.registry import load_scorer

    return load_scorer(trained_env)


def _features_of(frames: dict[str, pl.DataFrame], user: str, as_of) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    from features.build import Tables, build_features

    spine = pl.LazyFrame(
        {"user_id": [user], "as_of": [as_of]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    return build_features(spine, Tables.from_frames(frames)).collect()


@pytest.fixture(scope="module")
def cases(clean_frames, training_table):  # type: ignore[no-untyped-def]
    """Benign users in the first test snapshot who messaged someone in the 30 days before it:
    (user, as_of, a recipient), sorted by user id."""
    test = training_table.filter((pl.col("split") == "test") & (pl.col("label") == 0))
    as_of = test["as_of"].min()
    senders = (
        clean_frames["messages"]
        .filter((pl.col("ts") < as_of) & (pl.col("ts") >= as_of - timedelta(days=30)))
        .group_by("sender_id")
        .agg(pl.col("recipient_id").sort().first())
    )
    rows = (
        test.filter(pl.col("as_of") == as_of)
        .join(senders, left_on="user_id", right_on="sender_id")
        .sort("user_id")
    )
    return [(r["user_id"], as_of, r["recipient_id"]) for r in rows.head(30).iter_rows(named=True)]


def test_risk_invariance_renaming_a_user_does_not_move_the_score(clean_frames, scorer, cases):  # type: ignore[no-untyped-def]
    user, as_of, _ = cases[0]
    new_id = "zzz-renamed-user"  # sorts after every other id: catches order-dependent features
    renamed = {
        name: frame.with_columns(
            pl.when(pl.col(c) == user).then(pl.lit(new_id)).otherwise(pl.col(c)).alias(c)
            for c in _user_columns().get(name, [])
        )
        for name, frame in clean_frames.items()
    }
    before = _features_of(clean_frames, user, as_of)
    after = _features_of(renamed, new_id, as_of)
    assert before.drop("user_id").equals(after.drop("user_id"))
    assert scorer.risk(before)[0] == scorer.risk(after)[0]
    assert scorer.score(before)["reasons"].to_list() == scorer.score(after)["reasons"].to_list()


def test_risk_direction_whatsapp_deposit_messages_raise_the_risk(clean_frames, scorer, cases):  # type: ignore[no-untyped-def]
    """Three such messages in the last 30 hours raise the risk of (nearly) every benign user.

    A tree ensemble is not monotone: the messages also move volume features (messages_24h, ...)
    whose interactions can nudge a risk down. On the test world 1 user in 30 moves down by a
    hair, so the test asks for 90% of the users and a large median rise.
    """
    messages = clean_frames["messages"]
    text = "Hi, before we start." + DIRECTION_SUFFIX + " My number +44 7700 900123"
    ratios = []
    for user, as_of, recipient in cases:
        planted = pl.DataFrame(
            {
                "message_id": [f"m-planted-{i}" for i in range(3)],
                "sender_id": [user] * 3,
                "recipient_id": [recipient] * 3,
                "job_id": [None] * 3,
                "ts": [as_of - timedelta(hours=h) for h in (30, 20, 10)],
                "text": [text] * 3,
            },
            schema=messages.schema,
        )
        frames = {**clean_frames, "messages": pl.concat([messages, planted])}
        before = scorer.risk(_features_of(clean_frames, user, as_of))[0]
        after = scorer.risk(_features_of(frames, user, as_of))[0]
        ratios.append(after / before)
    ratios = np.array(ratios)
    assert len(ratios) >= 20
    assert np.mean(ratios > 1) >= 0.9, np.round(ratios, 3)
    assert np.median(ratios) > 2.0, np.round(ratios, 3)


def test_risk_minimum_functionality(scorer, training_table):  # type: ignore[no-untyped-def]
    benign_rows = training_table.filter((pl.col("split") == "test") & (pl.col("label") == 0))
    typical = benign_rows.select(pl.col(scorer.feature_names).median())  # a typical benign user
    scam_values = {
        "msg_contact_30d": 12,
        "msg_money_30d": 10,
        "msg_off_platform_30d": 8,
        "msg_urgency_30d": 8,
        "msg_multi_flag_30d": 12,
        "msg_flagged_share_30d": 1.0,
        "known_bad_neighbors": 3,
        "known_bad_in_component": 3,
        "shared_device_users": 6,
        "account_age_days": 1.0,
        "kyc_none": 1,
        "kyc_verified": 0,
    }
    present = {k: v for k, v in scam_values.items() if k in scorer.feature_names}
    assert len(present) >= 6, "the catalog's scam-signal features are missing"
    obvious_scam = typical.with_columns(
        pl.lit(v).cast(pl.Float64).alias(k) for k, v in present.items()
    )
    both = pl.concat([typical, obvious_scam], how="vertical_relaxed")
    benign, scam = scorer.score(both).iter_rows(named=True)
    assert benign["decision"] == "allow" and benign["risk"] < scorer.thresholds.review
    assert scam["decision"] in ("review", "block") and scam["risk"] >= scorer.thresholds.review
    assert scam["risk"] > 100 * benign["risk"]

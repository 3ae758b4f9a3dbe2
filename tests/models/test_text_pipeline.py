"""The text model inside the risk pipeline: the labelled corpus, each fold's candidate scores,
author cross-fitting, and the risk model trained with and without the ``textmodel_*`` features.

Training uses the tiny from-scratch configuration; the MLflow store is a real SQLite registry in a
temporary directory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from models.text.model import TextModelConfig
from scamguard.settings import Settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_corpus_labels_are_known_at_the_cutoff_and_start_with_the_scam():
    import polars as pl

    from models.text.pipeline import labelled_corpus

    cut = datetime(2026, 8, 1, tzinfo=UTC)
    day = timedelta(days=1)
    docs = pl.DataFrame(
        {
            "user_id": ["ato", "ato", "late", "ring", "ring", "ok", "blank"],
            "ts": [
                cut - 9 * day,
                cut - 2 * day,
                cut - 3 * day,
                cut - 5 * day,
                cut,
                cut - day,
                cut - day,
            ],
            "kind": ["message"] * 7,
            "text": ["hi", "send gift cards", "pay me outside", "join", "later", "thanks", "  "],
        },
        schema={
            "user_id": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "kind": pl.String,
            "text": pl.String,
        },
    )
    labels = pl.DataFrame(
        {
            "user_id": ["ato", "late", "ring", "ok"],
            "label": ["account_takeover", "fake_freelancer", "fraud_ring", "benign"],
            "decided_ts": [cut - day, cut + day, cut - day, cut - day],
            "first_bad_ts": [cut - 4 * day, cut - 10 * day, cut - 20 * day, None],
        },
        schema_overrides={
            "decided_ts": pl.Datetime("us", "UTC"),
            "first_bad_ts": pl.Datetime("us", "UTC"),
        },
    )
    corpus = labelled_corpus(docs, labels, cut)
    got = {(r["user_id"], r["text"]): r["label"] for r in corpus.iter_rows(named=True)}
    assert got == {
        ("ato", "hi"): 0,  # before the takeover: the real owner wrote it
        ("ato", "send gift cards"): 1,
        ("late", "pay me outside"): 0,  # label decided after the cutoff: unknown then
        ("ring", "join"): 1,
        ("ok", "thanks"): 0,
    }  # the document at the cutoff and the blank one are left out


def test_fold_scores_give_each_candidate_and_null_for_blank_texts(fitted, corpus):  # type: ignore[no-untyped-def]
    """One fold's scores: the transformer's, TF-IDF + LR's and their log-odds mean, each text
    scored once (a repeated text gets the same scores), a blank text none."""
    import polars as pl

    from models.text.ensemble import combine, fit_tfidf_lr
    from models.text.pipeline import _fold_scores

    texts, labels = corpus
    tfidf = fit_tfidf_lr(texts, labels)
    sample = [texts[0], texts[1], "  ", texts[0], None]
    docs = pl.DataFrame(
        {"user_id": list("abcde"), "text": sample}, schema_overrides={"text": pl.String}
    )
    scored = _fold_scores(docs, fitted, tfidf, ("tfidf-lr", "finetuned", "ensemble"))
    assert scored["user_id"].to_list() == list("abcde")
    ok = [0, 1, 3]
    p_finetuned = fitted.predictor.predict_proba([sample[i] for i in ok])
    p_tfidf = tfidf.predict_proba([sample[i] for i in ok])[:, 1]
    want = {
        "score_finetuned": p_finetuned,
        "score_tfidf_lr": p_tfidf,
        "score_ensemble": combine(p_tfidf, p_finetuned),
    }
    for column, values in want.items():
        assert np.allclose(scored[column].gather(ok).to_numpy(), values, atol=1e-9), column
        assert scored[column].gather([2, 4]).is_null().all(), column
    assert scored["score_ensemble"][0] == scored["score_ensemble"][3]
    only = _fold_scores(docs, fitted, None, ("finetuned",))
    assert [c for c in only.columns if c.startswith("score")] == ["score_finetuned"]


def test_cross_fitted_scores_never_come_from_a_model_that_saw_the_author(
    trained_env, training_table
):  # type: ignore[no-untyped-def]
    import polars as pl

    from features.tables import load_clean_tables
    from features.text_scores import TEXT_SCORE_FEATURES, text_documents
    from models.text.pipeline import add_text_model_features, cross_fit_scores, cutoff_of

    tables = load_clean_tables(trained_env)
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    config = TextModelConfig.tiny(epochs=2)
    result = cross_fit_scores(
        docs,
        tables.labels,
        cutoff_of(training_table),
        config,
        folds=2,
        max_train_rows=600,
        fit_full=False,
    )
    scored = result.scored
    assert scored.height == docs.height
    for k, authors in enumerate(result.fold_train_authors):
        held_out = set(scored.filter(pl.col("fold") == k)["user_id"].unique().to_list())
        assert held_out and authors and held_out.isdisjoint(authors)
    blank = scored["text"].str.strip_chars().fill_null("") == ""
    assert scored.filter(~blank)["score"].is_between(0, 1).all()
    assert scored.filter(blank)["score"].is_null().all()
    assert result.corpus_positives > 0 and result.oof_metrics["roc_auc"] > 0.6
    # the three candidates were scored out of fold; the best AP gives the scores
    metrics = result.candidate_metrics
    assert set(metrics) == {"tfidf-lr", "finetuned", "ensemble"}
    assert result.oof_metrics == metrics[result.chosen]
    assert all(metrics[result.chosen]["ap"] >= m["ap"] for m in metrics.values())
    assert len({m["ap"] for m in metrics.values()}) > 1  # the candidates score differently

    table = add_text_model_features(training_table, scored)
    assert table.height == training_table.height
    assert table.select(training_table.columns).equals(training_table)  # rows and order kept
    assert [c for c in table.columns if c.startswith("textmodel_")] == list(TEXT_SCORE_FEATURES)
    scam_rows = table.filter(pl.col("label") == 1)["textmodel_max"].drop_nulls()
    benign_rows = table.filter(pl.col("label") == 0)["textmodel_max"].drop_nulls()
    assert scam_rows.mean() > benign_rows.mean()


def test_risk_model_is_trained_with_and_without_text_features_on_the_same_split(
    tmp_path, training_table
):  # type: ignore[no-untyped-def]
    import json

    import polars as pl
    from mlflow.tracking import MlflowClient

    from features.text_scores import TEXT_SCORE_DESCRIPTIONS, TEXT_SCORE_FEATURES
    from models.text.pipeline import TEXT_FEATURES_ALIAS, train_with_and_without_text
    from tests.conftest import FAST_PARAMS

    rng = np.random.default_rng(0)
    noisy = training_table["label"].to_numpy() * 0.5 + rng.random(training_table.height) * 0.5
    table = training_table.with_columns(
        pl.Series(name, noisy if name == "textmodel_max" else rng.random(training_table.height))
        for name in TEXT_SCORE_FEATURES
    )
    settings = Settings(data_dir=tmp_path / "data", api_key="test-key")
    ablation = train_with_and_without_text(
        table,
        settings=settings,
        params={**FAST_PARAMS, "n_jobs": 1},
        text_model_uri="models:/scamguard-text/7",
    )
    without, with_text = ablation.without, ablation.with_text
    assert without.rows == with_text.rows  # the same split
    assert set(with_text.feature_names) - set(without.feature_names) == set(TEXT_SCORE_FEATURES)
    assert without.model_version == "" and with_text.alias == TEXT_FEATURES_ALIAS

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    runs = [client.get_run(r.run_id) for r in (without, with_text)]
    assert {r.data.tags["ablation"] for r in runs} == {ablation.ablation_id}
    assert [r.data.tags["feature_set"] for r in runs] == ["base", "base+textmodel"]
    assert runs[1].data.params["text_model_uri"] == "models:/scamguard-text/7"
    version = client.get_model_version_by_alias(settings.risk_model_name, TEXT_FEATURES_ALIAS)
    assert version.run_id == with_text.run_id
    assert "champion" not in client.get_registered_model(settings.risk_model_name).aliases
    features = json.loads(open(client.download_artifacts(with_text.run_id, "features.json")).read())
    assert features["descriptions"]["textmodel_max"] == TEXT_SCORE_DESCRIPTIONS["textmodel_max"]
    assert with_text.metrics["test_pr_auc"] > without.metrics["test_pr_auc"]  # the planted signal
    assert any(r[0] == "test PR-AUC" for r in ablation.table_rows())

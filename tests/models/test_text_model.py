"""The text model: weights port, CSV reading, training loop, MLflow round trip, CLI, devices.

Training uses the tiny from-scratch configuration (seconds on a CPU) except where the MiniLM path
itself is under test. The MLflow store is a real SQLite registry in a temporary directory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from models.text.data import (
    ERR_EMPTY,
    ERR_UTF8,
    TextCsvError,
    length_batches,
    read_text_csv,
    stratified_split,
)
from models.text.fit import fit_text_model, text_metrics
from models.text.model import (
    TextModelConfig,
    TextPredictor,
    autocast,
    autocast_dtype,
    minilm_dir,
    select_device,
)
from scamguard import tracking
from scamguard.settings import Settings, get_settings
from tests.conftest import SMS_CSV
from tests.models.text_corpus import templated_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------- weights port


def test_minilm_port_reproduces_sentence_transformers_embeddings():
    from sentence_transformers import SentenceTransformer

    texts = ["Kindly add me on WhatsApp for the interview.", "The milestone is funded.", "ok"]
    ours = TextPredictor.pretrained(TextModelConfig(encoder="minilm", max_len=128, dropout=0.0))
    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    np.testing.assert_allclose(ours.embed(texts), reference, atol=1e-5)


# ------------------------------------------------------------------------------- CSV reading


def _write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_csv_rows_with_empty_or_invalid_utf8_text_get_an_error_and_keep_their_place(
    tmp_path: Path,
):
    path = _write_bytes(
        tmp_path / "mixed.csv",
        b"message_id,text,label\n"
        b"m1,hello there,0\n"
        b"m2,,1\n"
        b'm3,"caf\xe9 au lait",0\n'
        b"m4,   ,0\n"
        b"m5,too,many,fields\n"
        b"m6,WIN a prize now,spam\n",
    )
    table = read_text_csv(path)
    assert table.ids == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert table.id_column == "message_id"
    assert table.errors[0] is None and table.errors[5] is None
    assert table.errors[1] == ERR_EMPTY and table.errors[3] == ERR_EMPTY
    assert table.errors[2] == ERR_UTF8
    error = table.errors[4]
    assert error is not None and "fields" in error
    assert table.labels is not None
    assert table.labels.tolist() == [0, 1, 0, 0, -1, 1]
    texts, labels, rows = table.labelled()
    assert texts == ["hello there", "WIN a prize now"] and rows.tolist() == [0, 5]


def test_csv_without_id_column_uses_row_numbers_and_a_genuine_replacement_char_is_valid(
    tmp_path: Path,
):
    path = _write_bytes(tmp_path / "noid.csv", "text\nfirst\n\nsecond \ufffd\n".encode())
    table = read_text_csv(path)
    assert table.ids == ["0", "1"] and table.id_column is None
    assert table.errors == [None, None] and table.labels is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"id,body\n1,x\n", "no 'text' column"), (b'text\n"unclosed\n', "not valid")],
)
def test_unusable_csv_files_raise_one_clear_error(tmp_path: Path, content: bytes, message: str):
    path = _write_bytes(tmp_path / "bad.csv", content)
    with pytest.raises(TextCsvError, match=message):
        read_text_csv(path)


def test_length_batches_cover_every_row_once_and_group_similar_lengths():
    lengths = np.random.default_rng(0).integers(3, 64, 1_000)
    train = length_batches(lengths, 32, np.random.default_rng(1))
    assert np.array_equal(np.sort(np.concatenate(train)), np.arange(1_000))
    spread = np.mean([np.ptp(lengths[b]) for b in train])
    assert spread < 0.25 * np.ptp(lengths)  # far less padding than random batches
    infer = np.concatenate(length_batches(lengths, 32))
    assert np.all(np.diff(lengths[infer]) >= 0)


def test_stratified_split_holds_out_each_class():
    labels = np.array([0] * 90 + [1] * 10)
    train, held = stratified_split(labels, 0.2, seed=0)
    assert np.intersect1d(train, held).size == 0 and train.size + held.size == 100
    assert labels[held].sum() == 2 and (labels[held] == 0).sum() == 18


# ------------------------------------------------------------------------------- training


def test_tiny_model_learns_the_templates(fitted, corpus):  # type: ignore[no-untyped-def]
    texts, labels = templated_corpus(300, seed=1)  # new draws of the same templates
    metrics = text_metrics(labels, fitted.predictor.predict_proba(texts))
    assert metrics["roc_auc"] > 0.98
    assert fitted.history and fitted.valid_rows.size == 40
    assert set(fitted.train_rows).isdisjoint(fitted.valid_rows)


def test_training_is_deterministic_for_a_seed(corpus, fitted):  # type: ignore[no-untyped-def]
    texts, labels = corpus
    probe = texts[:50]
    again = fit_text_model(texts, labels, TextModelConfig.tiny(epochs=3), device="cpu")
    np.testing.assert_array_equal(
        again.predictor.predict_proba(probe), fitted.predictor.predict_proba(probe)
    )
    other = fit_text_model(texts, labels, TextModelConfig.tiny(epochs=3, seed=1), device="cpu")
    assert not np.array_equal(
        other.predictor.predict_proba(probe), fitted.predictor.predict_proba(probe)
    )


def test_early_stopping_keeps_the_best_validation_weights():
    rng = np.random.default_rng(3)
    texts = [f"message number {i} about {rng.integers(1000)}" for i in range(240)]
    labels = rng.integers(0, 2, 240)  # no signal: validation loss can only get worse
    config = TextModelConfig.tiny(epochs=30, patience=1, lr=5e-3, head_lr=5e-3)
    fitted = fit_text_model(texts, labels, config, device="cpu")
    per_epoch = -(-fitted.train_rows.size // config.batch_size)
    assert fitted.steps < per_epoch * config.epochs  # stopped early
    best = min(fitted.history, key=lambda e: e["valid_loss"])
    assert fitted.best_step == best["step"]
    kept_loss = text_metrics(labels[fitted.valid_rows], fitted.valid_scores)["log_loss"]
    assert kept_loss == pytest.approx(best["valid_loss"], rel=1e-4)


def test_minilm_fine_tuning_runs_and_moves_the_scores(corpus):  # type: ignore[no-untyped-def]
    texts, labels = corpus
    rows = np.r_[np.flatnonzero(labels == 1)[:30], np.flatnonzero(labels == 0)[:90]]
    config = TextModelConfig(
        encoder="minilm", max_len=32, epochs=1, batch_size=16, lr=1e-4, val_frac=0.0
    )
    fitted = fit_text_model([texts[i] for i in rows], labels[rows], config, device="cpu")
    probe_texts, probe_labels = templated_corpus(100, seed=5)
    assert text_metrics(probe_labels, fitted.predictor.predict_proba(probe_texts))["ap"] > 0.9


def test_training_rejects_single_class_and_empty_texts():
    with pytest.raises(ValueError, match="both present"):
        fit_text_model(["a", "b"], np.array([1, 1]), TextModelConfig.tiny())
    with pytest.raises(ValueError, match="non-empty"):
        fit_text_model(["a", " "], np.array([1, 0]), TextModelConfig.tiny())


def test_predictor_round_trips_through_disk(fitted, tmp_path: Path):  # type: ignore[no-untyped-def]
    probe = ["send the deposit via WhatsApp first", "thanks, see you tomorrow"]
    loaded = TextPredictor.load(fitted.predictor.save(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(
        loaded.predict_proba(probe), fitted.predictor.predict_proba(probe), rtol=1e-6
    )


# ------------------------------------------------------------------------------- devices


def test_device_and_autocast_selection():
    assert select_device("cpu").type == "cpu"
    assert select_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert autocast_dtype(torch.device("cpu")) is None  # the CPU path is fp32
    cuda = torch.device("cuda")
    assert autocast_dtype(cuda, bf16_supported=True) is torch.bfloat16
    assert autocast_dtype(cuda, bf16_supported=False) is None
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            select_device("cuda")


# ------------------------------------------------------------------------------- CLI + MLflow


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(tmp_path / "data"), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_train_text_then_score_text_on_an_unseen_csv(cli_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from scamguard.cli import app

    texts, labels = templated_corpus(300, seed=2)
    train_csv = _write_csv(
        tmp_path / "train.csv",
        ["message_id", "text", "label"],
        [[f"t{i}", t, y] for i, (t, y) in enumerate(zip(texts, labels, strict=True))],
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["train-text", "--data", str(train_csv), "--tiny", "--epochs", "3"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert "scamguard-text/1" in result.output

    new_texts, new_labels = templated_corpus(60, seed=9)
    ids = [f"x-{i:03d}" for i in range(60)][::-1]  # ids in no particular order
    unseen = tmp_path / "unseen.csv"
    with open(unseen, "wb") as fh:
        fh.write(b"id,text\n")
        for i, t in zip(ids, new_texts, strict=True):
            fh.write(f'{i},"{t}"\n'.encode())
        fh.write(b"bad-empty,\n")
        fh.write(b"bad-bytes,caf\xe9 \xff\n")
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score-text", "--data", str(unseen), "--out", str(out)], env=cli_env
    )
    assert result.exit_code == 0, result.output

    scored = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    assert scored.columns.tolist() == ["id", "score", "error"]
    assert scored["id"].tolist() == [*ids, "bad-empty", "bad-bytes"]
    good = scored.iloc[:60]
    p = good["score"].astype(float).to_numpy()
    assert (good["error"] == "").all() and np.all((p >= 0) & (p <= 1))
    assert text_metrics(new_labels, p)["roc_auc"] > 0.95
    assert scored.loc[60, "error"] == ERR_EMPTY and scored.loc[60, "score"] == ""
    assert scored.loc[61, "error"] == ERR_UTF8 and scored.loc[61, "score"] == ""

    # The registered champion is a generic pyfunc giving the same scores.
    settings = Settings(data_dir=Path(cli_env["SCAMGUARD_DATA_DIR"]), api_key="test-key")
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    version = client.get_model_version_by_alias("scamguard-text", "champion")
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    assert run.data.params["source"] == str(train_csv)
    assert {"valid_ap", "valid_recall_at_0_2pct_fpr"} <= set(run.data.metrics)
    aps = [run.data.metrics[f"valid_ap_{n}"] for n in ("tfidf_lr", "finetuned", "ensemble")]
    assert run.data.metrics["valid_ap"] == pytest.approx(max(aps)) and run.data.params["text_model"]
    plots = {Path(a.path).name for a in client.list_artifacts(version.run_id, "plots")}
    assert plots == {"roc.png", "pr.png"}
    with tracking.tracking(settings):
        pyfunc = mlflow.pyfunc.load_model("models:/scamguard-text@champion")
    frame = pd.DataFrame({"text": [new_texts[0], "", None]})
    via_pyfunc = pyfunc.predict(frame)
    assert via_pyfunc["score"].iloc[0] == pytest.approx(p[0], abs=1e-6)
    assert via_pyfunc["error"].tolist()[1:] == [ERR_EMPTY, ERR_EMPTY]


def test_score_text_without_a_champion_fails_cleanly(cli_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    from scamguard.cli import app

    data = _write_csv(tmp_path / "x.csv", ["text"], [["hello"]])
    result = CliRunner().invoke(
        app, ["score-text", "--data", str(data), "--out", str(tmp_path / "o.csv")], env=cli_env
    )
    assert result.exit_code == 2
    assert "train-text" in result.output


def test_train_text_on_a_file_without_labels_fails_cleanly(cli_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    from scamguard.cli import app

    data = _write_csv(tmp_path / "x.csv", ["id", "text"], [[1, "hello"], [2, "there"]])
    result = CliRunner().invoke(app, ["train-text", "--data", str(data), "--tiny"], env=cli_env)
    assert result.exit_code == 2
    assert "label" in result.output


@pytest.mark.skipif(not SMS_CSV.exists(), reason="the shared SMS corpus is not present")
def test_sms_corpus_reads_without_errors():
    table = read_text_csv(SMS_CSV)
    texts, labels, _ = table.labelled()
    assert len(table) == 4_460 and len(texts) == 4_460 and int(labels.sum()) == 598

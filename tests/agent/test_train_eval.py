"""``agent-train`` end to end on the small simulated world: MLflow run, bundle, ``agent-eval --json``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from agent.bundle import AgentBundle
from agent.episode import Episode
from agent.evaluate import REPORT_KEYS, evaluate_agent, recall_by_group
from agent.train import EXPERIMENT_NAME, load_training_table
from scamguard.cli import app
from scamguard.costs import CostModel
from scamguard.settings import Settings, get_settings
from tests.agent.helpers import SMALL_CONFIG, small_agent


@pytest.fixture(scope="module")
def agent(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory):
    return small_agent(trained_env, tmp_path_factory.mktemp("agent"))


def test_training_logs_the_learning_curve_to_mlflow(agent) -> None:
    settings, result = agent
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["search_num_simulations"] == "8"
    history = client.get_metric_history(result.run_id, "valid_mean_total_cost")
    assert [m.step for m in history] == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/learning_curve.png" in artifacts
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT_NAME
    assert {r["mask_size"] for r in result.calibration["valid"]} == set(range(1, 8))


def test_saved_bundle_reloads_to_the_same_decisions(agent) -> None:
    settings, result = agent
    loaded = AgentBundle.load(result.path)
    assert loaded.layout.columns == result.bundle.layout.columns
    x = result.bundle.train.values[:20]
    masks = np.full(20, 0b0000101)
    np.testing.assert_allclose(
        loaded.belief.predict(x, masks), result.bundle.belief.predict(x, masks)
    )
    assert loaded.fixed_order == result.fixed_order
    assert loaded.costs == result.bundle.costs == SMALL_CONFIG.costs
    costs = dict(zip(loaded.layout.groups, loaded.layout.costs, strict=True))
    assert costs == loaded.costs.evidence.by_group()


def test_a_bundle_saved_with_the_old_decision_costs_is_refused(agent, tmp_path: Path) -> None:
    _, result = agent
    old = tmp_path / "agent"
    shutil.copytree(result.path, old)
    meta = json.loads((old / "agent.json").read_text())
    meta["costs"] = {"missed_scam": 500.0, "wrongful_block": 100.0, "escalate": 10.0}
    (old / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="re-run `scamguard agent-train`"):
        AgentBundle.load(old)


def test_agent_eval_on_valid_reproduces_the_training_validation(agent) -> None:
    # the round kept, and the untrained round 0, score the same on `agent-eval --split valid`
    settings, result = agent
    table, _ = load_training_table(settings)
    bundle = AgentBundle.load(result.path)
    evaluation = evaluate_agent(bundle, table, split="valid", cases=SMALL_CONFIG.expert.valid_cases)
    cost = {r.policy: r.mean_total_cost for r in evaluation.reports}
    best = min(result.curve, key=lambda r: r.valid_mean_total_cost)
    assert cost["mcts-trained"] == pytest.approx(best.valid_mean_total_cost, abs=1e-9)
    assert cost["mcts-untrained"] == pytest.approx(result.curve[0].valid_mean_total_cost, abs=1e-9)
    # in the belief's currency no policy beats the hindsight reference
    assert set(evaluation.expected_cost) == set(cost)
    assert min(evaluation.expected_cost.values()) >= evaluation.hindsight_bound - 1e-9


@pytest.fixture
def cli_env(agent) -> Iterator[dict[str, str]]:
    settings, _ = agent
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(settings.data_dir), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


def test_agent_eval_json_compares_every_policy_on_held_out_cases(cli_env) -> None:
    result = CliRunner().invoke(app, ["agent-eval", "--cases", "40", "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["policy"] for r in rows] == [
        "gather-everything",
        "fixed-order",
        "greedy-voi",
        "mcts-untrained",
        "mcts-trained",
    ]
    for row in rows:
        assert list(row) == list(REPORT_KEYS)
        assert row["mean_total_cost"] == pytest.approx(
            row["mean_evidence_cost"] + row["mean_decision_loss"]
        )
    everything = rows[0]
    every_group = sum(CostModel().evidence.by_group().values())  # 3.8 at the default costs
    assert everything["mean_evidence_cost"] == pytest.approx(every_group)
    assert all(r["mean_evidence_cost"] <= every_group + 1e-9 for r in rows)


def test_agent_eval_with_expectimax_adds_the_exact_model_last(agent) -> None:
    settings, result = agent
    table, _ = load_training_table(settings)
    bundle = AgentBundle.load(result.path)
    evaluation = evaluate_agent(bundle, table, cases=30, with_expectimax=True)
    names = [r.policy for r in evaluation.reports]
    assert names[-2:] == ["mcts-trained", "expectimax"]
    assert "mcts-trained - expectimax" in evaluation.versus
    assert evaluation.expected_cost["expectimax"] >= evaluation.hindsight_bound - 1e-9
    for episode in evaluation.episodes["expectimax"]:
        groups = episode.groups_revealed
        assert len(groups) == len(set(groups))  # never a group twice
        assert all("exact_values" in step.why for step in episode.steps)


def test_agent_eval_table(cli_env) -> None:
    result = CliRunner().invoke(app, ["agent-eval", "--cases", "30"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "mcts-trained" in result.output and "Paired difference" in result.output
    assert "Scam recall by typology" in result.output
    assert "expected under the belief" in result.output and "hindsight reference" in result.output


def test_agent_eval_by_variant_splits_scam_recall(cli_env, trained_env: Settings) -> None:
    raw = Path(cli_env["SCAMGUARD_DATA_DIR"]) / "raw"  # the agent's copy has no raw tables
    runner = CliRunner()
    args = ["agent-eval", "--cases", "30", "--by-variant"]
    missing = runner.invoke(app, args, env=cli_env)
    assert missing.exit_code == 2 and "no raw messages" in missing.output
    raw.symlink_to(Path(trained_env.data_dir) / "raw", target_is_directory=True)
    try:
        result = runner.invoke(app, args, env=cli_env)
    finally:
        raw.unlink()
    assert result.exit_code == 0, result.output
    assert "Scam recall by drift variant" in result.output, result.output
    rows = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")]
    assert {"variant", "other"} & set(rows), result.output


def test_recall_by_group_counts_scams_only() -> None:
    def episode(label: int, decision: str) -> Episode:
        return Episode(0, [], decision, 0.0, 0.0, label, 0.0)

    episodes = [
        episode(1, "block"),
        episode(1, "allow"),
        episode(1, "escalate"),
        episode(0, "block"),  # benign: not counted anywhere
        episode(1, "allow"),
    ]
    kinds = np.asarray(["fraud_ring", "fraud_ring", "fake_client", "", "fake_client"], dtype=object)
    scams, recall = recall_by_group(episodes, kinds)
    assert scams == {"fake_client": 2, "fraud_ring": 2}
    assert recall == {"fake_client": 0.5, "fraud_ring": 0.5}


def test_agent_eval_without_a_trained_agent_says_so(trained_env: Settings) -> None:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["agent-eval"], env={"SCAMGUARD_DATA_DIR": str(trained_env.data_dir)}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "agent-train" in result.output


def test_agent_train_refuses_an_unknown_root_rule(trained_env: Settings) -> None:
    result = CliRunner().invoke(
        app,
        ["agent-train", "--root-rule", "ucb"],
        env={"SCAMGUARD_DATA_DIR": str(trained_env.data_dir)},
    )
    assert result.exit_code == 2 and "--root-rule must be gumbel or puct" in result.output


def test_agent_train_cli_defaults_are_the_training_config_defaults() -> None:
    # the options repeat the config's defaults so that --help shows them: they must not drift
    import inspect

    from agent.cli import agent_train
    from agent.train import AgentTrainConfig

    config = AgentTrainConfig()
    options = {k: p.default for k, p in inspect.signature(agent_train).parameters.items()}
    assert options["iterations"] == config.expert.iterations
    assert options["episodes"] == config.expert.episodes
    assert options["valid_cases"] == config.expert.valid_cases
    assert options["simulations"] == config.search["num_simulations"]
    assert options["root_rule"] == config.search["root_rule"]
    assert options["selfplay_folds"] == config.selfplay_folds
    assert options["seed"] == config.seed
    # the costs come from the settings' cost model unless an option is given
    assert options["missed_scam"] is options["wrongful_block"] is options["escalate"] is None
    assert options["group_cost"] is None
    assert config.costs == CostModel() == Settings().costs


def test_agent_train_refuses_bad_costs_in_one_line(tmp_path: Path) -> None:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["agent-train", "--review-cost", "-1"],
            env={"SCAMGUARD_DATA_DIR": str(tmp_path / "data")},
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: review must be a finite cost >= 0, got -1.0"


def test_with_neighbours_sets_its_own_neighbours_and_leaves_the_search_model(agent) -> None:
    # greedy (agent-eval) completes from its own number of neighbours; the searches' model and
    # its settings stay as saved
    _, result = agent
    bundle = AgentBundle.load(result.path)
    search_model = bundle.case_model()
    other = search_model.with_neighbours(3, 4)
    values, mask = bundle.train.values[0], bundle.layout.event_mask
    assert (other.k_scam, other.k_benign) == (3, 4)
    assert other.particles(values, mask, belief=0.5).size == 7
    assert search_model.particles(values, mask, belief=0.5).size == (
        search_model.k_scam + search_model.k_benign
    )
    assert bundle.case_model() is search_model
    assert bundle.completion == AgentBundle.load(result.path).completion

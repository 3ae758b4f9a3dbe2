"""Bad input on the command line: one line naming the problem, exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scamguard.cli import app
from scamguard.settings import get_settings

runner = CliRunner()

# Each command on an empty data dir or with a malformed option, and what its one line must name.
BAD_INPUT: list[tuple[list[str], str]] = [
    (["batch-score", "--date", "30/08/2026"], "--date must be a date YYYY-MM-DD"),
    (["batch-score"], "no events in the data"),
    (["features"], "no events in the data"),
    (["features", "--as-of", "yesterday"], "--as-of must be an ISO date"),
    (["train"], "no training table"),
    (["investigate", "u0000001"], "unknown user u0000001"),
    (["online-load"], "no events in the data"),
    (["online-load", "--as-of", "soon"], "--as-of must be an ISO date"),
    (["train-challenger"], "no training table"),
    (["compare"], "no training table"),
    (["promote"], "no training table"),
    (["text-features"], "no training table"),
    (["text-features", "--text-model", "bert"], "--text-model must be best"),
    (["score-text", "--data", "missing.csv", "--out", "out.csv"], "scamguard-text"),
    (["train-text", "--data", "missing.csv"], "missing.csv"),
    (["agent-train"], "training"),
    (["agent-eval"], "agent-train"),
    (["simulate", "--users", "1000", "--start", "someday"], "--start must be an ISO date"),
    (["label", "u0000001", "--benign"], "unknown user u0000001"),
    (["label", "u0000001", "--scam"], "--scam needs --typology"),
    (["queue"], "no scores under"),
    (["queue", "--date", "31/08"], "--date must be a date YYYY-MM-DD"),
    (["rules", "check", "missing.yaml"], "no rules file at missing.yaml"),
    (["rules", "backtest", "missing.yaml"], "no rules file at missing.yaml"),
]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(tmp_path / "data"), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("args", "names"), BAD_INPUT, ids=lambda a: " ".join(a) if isinstance(a, list) else ""
)
def test_bad_input_is_one_line_naming_the_problem(
    args: list[str], names: str, env: dict[str, str], tmp_path: Path
) -> None:
    os.chdir(tmp_path)
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = _lines(result.output)
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], result.output


def test_under_json_the_error_is_json(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["investigate", "u0000001", "--json"], env=env)
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": json.loads(result.stdout)["error"]}
    assert "unknown user u0000001" in json.loads(result.stdout)["error"]


def test_a_placeholder_key_in_production_is_one_line_through_the_console_script(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "SCAMGUARD_DATA_DIR": str(tmp_path / "data"),
        "SCAMGUARD_ENVIRONMENT": "production",
        "SCAMGUARD_API_KEY": "dev-key",
        "SCAMGUARD_PII_KEY": "a-real-pii-key-0123",
    }
    script = Path(sys.executable).with_name("scamguard")
    done = subprocess.run(
        [str(script), "ingest"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert _lines(done.stderr) == [
        "error: api_key: SCAMGUARD_API_KEY is a placeholder; set a real key outside development"
    ]

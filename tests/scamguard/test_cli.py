"""The command line as a user meets it: every command the README names answers ``--help``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scamguard.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()


def _readme_commands() -> list[str]:
    """Every ``scamguard <command>`` the README shows (in code spans and blocks)."""
    names = set(re.findall(r"\bscamguard ([a-z][a-z-]+)", README.read_text()))
    return sorted(names)


def _registered_commands() -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def test_the_readme_names_commands() -> None:
    assert {"demo", "serve", "investigate", "batch-score"} <= set(_readme_commands())


@pytest.mark.parametrize("command", _readme_commands())
def test_every_command_the_readme_names_exists_and_has_help(command: str) -> None:
    assert command in _registered_commands(), f"the README names `scamguard {command}`"
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "Traceback" not in result.output


def test_every_command_that_existed_before_the_cli_was_split_is_still_there() -> None:
    before = {
        "simulate", "ingest", "features", "train", "batch-score", "serve", "investigate", "demo",
        "train-text", "score-text", "text-features", "train-challenger", "compare", "promote",
        "online-load", "online-compact", "agent-train", "agent-eval",
    }  # fmt: skip
    assert before <= _registered_commands()

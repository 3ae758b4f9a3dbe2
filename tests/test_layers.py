"""The layers run scamguard core -> features -> models -> pipelines -> agent -> serving.

No module imports from a layer above its own (at module level or inside a function); the CLI
(``scamguard/cli.py``) mounts every stage and is the one exception. ``monitoring`` reads every
layer's outputs and sits on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("scamguard", "features", "models", "pipelines", "agent", "serving", "monitoring")
EXEMPT = {"scamguard/cli.py"}


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
    return out


def _upward_imports() -> list[str]:
    found = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in EXEMPT:
                continue
            for line, module in _imported_packages(path):
                top = module.split(".")[0]
                if top in LAYERS and LAYERS.index(top) > LAYERS.index(layer):
                    found.append(f"{relative}:{line} ({layer}) imports {module}")
    return found


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert _upward_imports() == []


def test_the_agent_reads_data_through_features_not_the_pipelines() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "agent").rglob("*.py"))
        for line, module in _imported_packages(path)
        if module.startswith(("pipelines.batch", "pipelines.ingest"))
    ]
    assert offenders == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from serving.app import create_app\n")
    assert _imported_packages(module) == [(2, "serving.app")]

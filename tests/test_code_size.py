"""Size limits of the code: no module over 500 lines, no function over 100 lines.

A longer function is allowed only when the line just above its ``def`` (or above its first
decorator) is a comment saying why, ``# long function: <reason>``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "scamguard",
    "features",
    "models",
    "pipelines",
    "serving",
    "monitoring",
    "agent",
    "benchmarks",
    "tests",
)
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100
JUSTIFIED = re.compile(r"^\s*#.*long function:\s*\S")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def long_functions(source: str) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function over the limit without a justifying comment."""
    lines = source.splitlines()
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                assert child.end_lineno is not None
                size = child.end_lineno - child.lineno + 1
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                above = lines[first - 2] if first >= 2 else ""
                if size > MAX_FUNCTION_LINES and not JUSTIFIED.match(above):
                    found.append((name, size))
            visit(child, f"{name}." if name != prefix else prefix)

    visit(ast.parse(source), "")
    return found


def test_the_packages_have_python_modules() -> None:
    names = {_name(p) for p in _modules()}
    assert {"agent/mcts.py", "tests/test_code_size.py", "benchmarks/text_bench.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_module_and_function_sizes(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    name = _name(path)
    problems = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES:
        problems.append(f"{name} has {n_lines} lines (at most {MAX_MODULE_LINES})")
    for function, size in long_functions(source):
        problems.append(
            f"{name}:{function} has {size} lines (at most {MAX_FUNCTION_LINES} unless the "
            "line above its def says '# long function: <why>')"
        )
    assert not problems, "\n".join(problems)


def test_the_limit_can_be_justified_only_by_a_comment_above_the_def() -> None:
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES))
    plain = f"def f():\n{body}\n"
    assert long_functions(plain) == [("f", MAX_FUNCTION_LINES + 1)]
    assert long_functions(f"# long function: a flat table of cases\n{plain}") == []
    assert long_functions(f"# long function:\n{plain}") == [("f", MAX_FUNCTION_LINES + 1)]
    decorated = f"# long function: one sequence\n@staticmethod\n{plain}"
    assert long_functions(decorated) == []
    method_body = "\n".join(f"    {line}" for line in body.splitlines())
    nested = f"class C:\n    # note\n    def g(self):\n{method_body}\n"
    assert long_functions(nested) == [("C.g", MAX_FUNCTION_LINES + 1)]
    at_the_limit = "\n".join(body.splitlines()[1:])  # the def and 99 lines: 100
    assert long_functions(f"def f():\n{at_the_limit}\n") == []

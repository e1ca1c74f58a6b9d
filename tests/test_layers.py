"""The layers of src/cairn hold (STYLE.md): import-linter's contracts in pyproject.toml, no import circle, and no
module inside the package importing the package itself."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def test_the_import_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], capture_output=True,
                          text=True, env=env, cwd=SRC.parent, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "Contracts: 7 kept" in done.stdout, done.stdout


def test_no_module_imports_itself_back_through_another():
    import grimp

    graph = grimp.build_graph("cairn")
    circles = {tuple(sorted((module, imported)))
               for module in graph.modules for imported in graph.find_modules_directly_imported_by(module)
               if graph.find_shortest_chain(importer=imported, imported=module)}
    assert not circles, circles


def test_nothing_inside_the_package_imports_the_package_itself():
    offenders = []
    for path in (SRC / "cairn").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(alias.name == "cairn" for alias in node.names):
                offenders.append(f"{path}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "cairn" and node.level == 0:
                offenders.append(f"{path}:{node.lineno}")
    assert not offenders, offenders

"""`mypy --strict` over the typed packages (pyproject's [tool.mypy]: config, runner, store, registry, serving,
estimators, model) is part of the suite: a type error there fails the tests. mypy comes with the test extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_typed_packages_pass_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mypy (pyproject's [tool.mypy], strict) reported errors:\n{output}"
    assert "Success" in output, output

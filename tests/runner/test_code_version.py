"""A stage's cache key hashes its own code: rewording a docstring or a comment anywhere keeps every stage cached;
changing a line of training code changes the training stage's version (and those that run training code), never
the data's or the exploration's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cairn.runner.code_version import ROOT, module_closure, stage_code_version
from cairn.runner.graph import STAGES

CODE = {stage.name: stage.code for stage in STAGES}


@pytest.fixture
def package(tmp_path) -> Path:
    """A copy of the cairn source to edit."""
    copy = tmp_path / "cairn"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def versions(root: Path) -> dict[str, str]:
    return {name: stage_code_version(modules, root=root) for name, modules in CODE.items()}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_copy_versions_like_the_package(package):
    assert versions(package) == versions(ROOT)


def test_docstrings_and_comments_anywhere_keep_every_version(package):
    before = versions(package)
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        # a comment line, and every docstring of the module reworded (triple-quoted text only)
        edited = "# reworded\n" + text.replace('"""', '"""Reworded. ', 1) if '"""' in text else "# reworded\n" + text
        path.write_text(edited)
    assert versions(package) == before


def test_a_line_of_training_code_reruns_training_and_its_users_only(package):
    before = versions(package)
    edit(package / "stages" / "training" / "crossval.py", "STOPPING_ROUNDS = 50", "STOPPING_ROUNDS = 51")
    after = versions(package)
    changed = {name for name in before if before[name] != after[name]}
    assert "training" in changed
    assert changed <= {"training", "evaluation", "deployment"}, changed
    assert not {"business", "data", "preprocessing", "exploration", "features", "models"} & changed


def test_a_line_of_data_code_reruns_the_data_stage():
    """The data stage runs the quality checks: their modules are in its closure, not in training's."""
    data = module_closure(CODE["data"])
    assert "cairn.stages.data.quality.leakage" in data and "cairn.privacy" in data
    assert not any(module.startswith("cairn.stages.training") for module in data)
    assert not any(module.startswith("cairn.stages.exploration") for module in data)
    assert "cairn.stages.training.tuning" in module_closure(CODE["training"])

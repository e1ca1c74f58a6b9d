"""training.rare_classes end to end on a small multiclass table: a class too rare to cross-validate is set aside
(or merged) and named with its counts, the run, the prediction and the verdict carry on; an error only when no
class is left to learn, or when the user asked for one."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.examples import QUICK, copy_example

MULTICLASS = {"problem": "multiclass", "target": "Band", "success": [{"metric": "accuracy", "above": 0.5}]}


def small_multiclass(folder, *, rare: dict[str, int]) -> pd.DataFrame:
    """600 Ames houses banded by price into three classes, with a few rows relabelled into rare classes."""
    table = pd.read_csv(folder / "data" / "ames.csv.gz").head(600)
    band = pd.qcut(table.pop("Sale_Price"), 3, labels=["low", "mid", "high"]).astype(object).to_numpy().copy()
    start = 0
    for label, count in rare.items():
        band[start:start + count] = label
        start += count
    table["Band"] = band
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    return table


def project_with(tmp_path, *, rare: dict[str, int], **training) -> tuple[Project, pd.DataFrame]:
    folder = copy_example(tmp_path / "hp", **QUICK, business=MULTICLASS, training={"holdout": 0.2, "cv": 3,
                                                                                   **training})
    table = small_multiclass(folder, rare=rare)
    return Project.load(folder / "cairn.yaml"), table


def test_rare_classes_are_set_aside_and_named(tmp_path):
    project, table = project_with(tmp_path, rare={"castle": 2, "ruin": 3})
    run = project.run()
    notes = " ".join(run.stage("preprocessing").notes)
    assert "set aside 5 rows of 2 classes with fewer than 4 rows" in notes and "'ruin' (3), 'castle' (2)" in notes
    data = " ".join(run.stage("data").notes)
    assert "warn: 2 classes of Band have fewer rows than 3-fold cross-validation and a holdout need (4)" in data
    model = project.load_model()
    assert sorted(model.classes) == ["high", "low", "mid"]
    assert set(model.predict(table.drop(columns=["Band"]).head(50))) <= {"high", "low", "mid"}
    assert run.shipped is not None and run.verdict and "accuracy" in run.metrics


def test_rare_classes_can_be_merged_into_other(tmp_path):
    project, _ = project_with(tmp_path, rare={"castle": 2, "ruin": 3}, rare_classes="merge")
    run = project.run()
    assert "merged 2 classes with fewer than 4 rows into 'other' (training.rare_classes: merge): 'ruin' (3), " \
           "'castle' (2)" in " ".join(run.stage("preprocessing").notes)
    assert sorted(project.load_model().classes) == ["high", "low", "mid", "other"]


def test_rare_classes_stop_the_run_when_asked(tmp_path):
    project, _ = project_with(tmp_path, rare={"castle": 2}, rare_classes="fail")
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(project.path)])
    assert result.exit_code == 2, result.output
    assert "'castle'" in result.output and "training.rare_classes" in " ".join(result.output.split())


def test_no_class_left_to_learn_is_an_error_naming_the_classes(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, training={"cv": 3}, business={
        "problem": "binary", "target": "Kind", "success": [{"metric": "roc_auc", "above": 0.5}]})
    table = pd.read_csv(folder / "data" / "ames.csv.gz").head(300).drop(columns=["Sale_Price"])
    table["Kind"] = np.where(np.arange(len(table)) < 2, "rare", "common")
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "'rare' (2)" in output and "no class is left to learn" in output and "'common' (298)" in output

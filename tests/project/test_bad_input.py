"""Every user mistake: one paragraph naming the thing, exit code 2, no traceback, and nothing written."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from tests.examples import QUICK, copy_example

runner = CliRunner()


def run_cli(folder: Path, *args: str):
    return runner.invoke(app, ["run", "--quiet", "-p", str(folder / "cairn.yaml"), *args])


def assert_user_error(result, *phrases: str) -> None:
    text = result.output
    assert result.exit_code == 2, text
    assert "Traceback" not in text and result.exception is None or isinstance(result.exception, SystemExit)
    for phrase in phrases:
        assert phrase in text, text


def edit(folder: Path, old: str, new: str) -> None:
    path = folder / "cairn.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def example(tmp_path):
    return copy_example(tmp_path / "hp")


def test_missing_project_file(tmp_path):
    result = run_cli(tmp_path)
    assert_user_error(result, "No project file", "cairn init")
    assert list(tmp_path.iterdir()) == []


def test_yaml_syntax_error(example):
    edit(example, "  target: Sale_Price", "  target: [Sale_Price")
    assert_user_error(run_cli(example), "not valid YAML", "line ", "column ")
    assert not (example / ".cairn").exists()


def test_unknown_key_gets_a_suggestion(example):
    edit(example, "  sample_rows: 200000", "  sample_row: 200000")
    assert_user_error(run_cli(example), "exploration.sample_row", "did you mean 'sample_rows'?")
    assert not (example / ".cairn").exists()


def test_target_not_in_data(example):
    edit(example, "target: Sale_Price", "target: Sale_Prize")
    assert_user_error(run_cli(example), "'Sale_Prize' is not in the data", "did you mean 'Sale_Price'?")
    assert not (example / ".cairn").exists()


def test_data_file_missing(example):
    edit(example, "source: data/ames.csv.gz", "source: data/ames.csv")
    assert_user_error(run_cli(example), "does not exist", "did you mean 'ames.csv.gz'?")
    assert not (example / ".cairn").exists()


def test_data_file_unreadable(example):
    (example / "data" / "ames.csv.gz").write_bytes(b"this is not gzip at all")
    assert_user_error(run_cli(example), "cannot be read as CSV")
    assert not (example / ".cairn").exists()


def test_empty_data_file(example):
    (example / "data" / "ames.csv.gz").write_bytes(gzip.compress(b""))
    assert_user_error(run_cli(example), "holds no rows")
    assert not (example / ".cairn").exists()


def as_binary(example: Path, csv: str) -> None:
    """The example turned into a binary problem on a small file whose `label` column is the target."""
    (example / "data" / "one.csv").write_text(csv)
    edit(example, "source: data/ames.csv.gz", "source: data/one.csv")
    edit(example, "problem: regression", "problem: binary")
    edit(example, "target: Sale_Price", "target: label")
    edit(example, "{metric: mape, below: 10%}", "{metric: roc_auc, above: 0.8}")


def test_target_with_one_class(example):
    as_binary(example, "x,label\n1,yes\n2,yes\n3,yes\n")
    assert_user_error(run_cli(example), "has one class only", "at least two classes")
    assert not (example / ".cairn").exists()


def test_constant_target_is_refused_before_anything_is_trained(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table["Sale_Price"] = 150_000
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    result = run_cli(folder)
    assert_user_error(result, "The target column 'Sale_Price' is 150000 in every one of its 2,930 rows",
                      "nothing to learn", "check that business.target names the column to predict")
    assert "MAPE" not in result.output and "met" not in result.output
    assert not (folder / ".cairn").exists()


def test_single_class_after_trimming_names_the_label_and_count(example):
    as_binary(example, "x,label\n1,yes\n2,yes \n3, yes\n4,\n")
    assert_user_error(run_cli(example), "has one class only (once white space around labels is trimmed)",
                      "every labelled row (3) is 'yes'", "got 1 class, 'yes' (3)")
    assert not (example / ".cairn").exists()


def test_binary_with_three_labels_names_them_with_counts(example):
    rows = ["no"] * 5 + ["no "] * 3 + ["yes"] * 4 + ["maybe"] * 2
    (example / "data" / "three.csv").write_text("x,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(rows)))
    edit(example, "source: data/ames.csv.gz", "source: data/three.csv")
    edit(example, "problem: regression", "problem: binary")
    edit(example, "target: Sale_Price", "target: label")
    edit(example, "{metric: mape, below: 10%}", "{metric: roc_auc, above: 0.8}")
    assert_user_error(run_cli(example), "has 3 classes (once white space around labels is trimmed), not two: "
                                        "'no' (8), 'yes' (4), 'maybe' (2)")
    assert not (example / ".cairn").exists()


def test_one_row_is_worded_for_one_row(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    pd.read_csv(folder / "data" / "ames.csv.gz").head(1).to_csv(folder / "data" / "ames.csv.gz", index=False)
    result = run_cli(folder)
    assert_user_error(result, "The data has 1 quality finding that stops the run",
                      "Sale_Price: expected enough rows for cross-validation (too few rows, error); got 1 row with a "
                      "Sale_Price gives 0 rows per fold of 5-fold cross-validation")
    assert "expected no too few rows" not in result.output


def test_unknown_stage_name(example):
    assert_user_error(run_cli(example, "--until", "trainning"), "no stage 'trainning'", "did you mean 'training'?")
    assert not (example / ".cairn").exists()


def test_listing_before_any_run_is_empty_and_makes_no_store(example):
    """Nothing has run: the listings are empty (a script reads [] as JSON, not an error), and no store is made;
    a command that needs a run is still a user error."""
    for command, said in (("runs", "no runs yet: `cairn run` makes the first"),
                          ("models", "no model versions yet"), ("audit", "no registry actions yet")):
        result = runner.invoke(app, [command, "-p", str(example / "cairn.yaml")])
        assert result.exit_code == 0 and said in result.output, result.output
        result = runner.invoke(app, [command, "--json", "-p", str(example / "cairn.yaml")])
        assert result.exit_code == 0 and json.loads(result.output) == [], result.output
    assert_user_error(runner.invoke(app, ["show", "-p", str(example / "cairn.yaml")]), "has no runs yet", "cairn run")
    assert not (example / ".cairn").exists()

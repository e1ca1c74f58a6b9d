"""The command line over the shared example run: help, listings as JSON, init, validate, schema."""

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cairn.cli import app

runner = CliRunner()
COMMANDS = ["init", "validate", "schema", "run", "runs", "show", "report", "models", "promote", "rollback",
            "serve", "predict", "monitor", "feedback", "explain", "card", "reproduce", "diff", "alias", "audit"]


def test_help_lists_every_command_and_each_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output, command


def test_schema_is_json_schema_of_the_project_file():
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert {"business", "data", "training"} <= set(schema["properties"])
    assert set(schema["required"]) == {"project", "business", "data"}
    # an editor flags a refit_seeds member that is no seed-varied booster, as cairn validate does
    [mapping] = [kind for kind in schema["$defs"]["Training"]["properties"]["refit_seeds"]["anyOf"]
                 if kind.get("type") == "object"]
    [(pattern, count)] = mapping["patternProperties"].items()
    assert mapping["additionalProperties"] is False and mapping["minProperties"] == 1
    assert (count["minimum"], count["maximum"]) == (1, 10)
    assert [bool(re.fullmatch(pattern, key)) for key in ("lightgbm", "catboost#2", "linear", "lightgbm#0")] == [
        True, True, False, False]


def test_init_from_example_then_validate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "mine", "--example", "house-prices"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine" / "data" / "ames.csv.gz").exists()
    result = runner.invoke(app, ["validate", "-p", "mine/cairn.yaml"])
    assert result.exit_code == 0 and "valid" in result.output and "optimising mape" in result.output
    again = runner.invoke(app, ["init", "mine", "--example", "house-prices"])
    assert again.exit_code == 2 and "not empty" in again.output


def test_init_without_example_writes_a_template_to_fill_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "blank"])
    assert result.exit_code == 0 and "next: put your data in blank/data/, set business.target" in " ".join(
        result.output.split())
    assert (tmp_path / "blank" / "data").is_dir()  # where the template's data.source points
    result = runner.invoke(app, ["run", "-p", "blank/cairn.yaml"])
    assert result.exit_code == 2 and "YOUR_FILE.csv" in result.output


def test_listings_print_one_json_document(house_prices):
    folder, run, _ = house_prices
    project = str(folder / "cairn.yaml")
    runs = json.loads(runner.invoke(app, ["runs", "--json", "-p", project]).stdout)
    assert runs[-1]["id"] == run.id and runs[-1]["verdict"]["shipped"] is True
    shown = json.loads(runner.invoke(app, ["show", str(run.id), "--json", "-p", project]).stdout)
    assert [s["stage"] for s in shown["stages"]][0] == "business"
    assert shown["metrics"]["mape"] == run.metrics["mape"]
    assert shown["manifest"]["data"]["fingerprint"] == run.manifest["data"]["fingerprint"]
    models = json.loads(runner.invoke(app, ["models", "--json", "-p", project]).stdout)
    assert models[0]["version"] == 1 and models[0]["stage"] == "production"


def test_show_unknown_run(house_prices):
    folder, _, _ = house_prices
    result = runner.invoke(app, ["show", "999", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "No run 999" in result.output


def test_report_prints_the_path(house_prices):
    folder, run, _ = house_prices
    result = runner.invoke(app, ["report", str(run.id), "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0 and result.stdout.strip() == str(run.report_path)


def test_predict_a_file(house_prices, tmp_path):
    import pandas as pd

    folder, _, _ = house_prices
    rows = pd.read_csv(folder / "data" / "ames.csv.gz").head(20)
    rows.drop(columns="Sale_Price").to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(app, ["predict", str(tmp_path / "new.csv"), "-o", str(tmp_path / "out.csv"),
                                 "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == 20 and (abs(scored["prediction"] / rows["Sale_Price"] - 1) < 0.5).all()
    assert "warning: no column" not in result.output
    rows.drop(columns=["Sale_Price", "Gr_Liv_Area"]).to_csv(tmp_path / "fewer.csv", index=False)
    fewer = runner.invoke(app, ["predict", str(tmp_path / "fewer.csv"), "-o", str(tmp_path / "out.csv"),
                                "-p", str(folder / "cairn.yaml")])
    assert fewer.exit_code == 0, fewer.output  # imputed, as an API request without it is, and said
    assert "warning: no column for 1 of the model's inputs (Gr_Liv_Area): the model imputed it in every row" in \
        " ".join(fewer.output.split())
    assert "did not read" not in result.output
    worded = rows.drop(columns=["Sale_Price"]).astype({"Lot_Area": object, "Year_Built": object})
    worded.loc[worded.index[:3], "Lot_Area"] = ["large", "N/A", "9600"]  # a word, a missing marker, a number
    worded.loc[worded.index[5], "Year_Built"] = "long ago"
    worded.to_csv(tmp_path / "worded.csv", index=False)
    read = runner.invoke(app, ["predict", str(tmp_path / "worded.csv"), "-o", str(tmp_path / "out.csv"),
                               "-p", str(folder / "cairn.yaml")])
    assert read.exit_code == 0, read.output  # imputed, as training and the API impute such text, and said
    said = " ".join(read.output.split())
    assert "warning: Lot_Area: 1 value did not read as a number, such as 'large'; the model imputed it, as " \
           "training did" in said
    assert "warning: Year_Built: 1 value did not read as a number, such as 'long ago'" in said


def test_show_keeps_a_stage_short_but_never_hides_the_chosen_model():
    from cairn.cli import _stage_notes

    notes = ["stratified holdout of 211 rows", "budget 1 min", "6 candidates compared", "linear: CV roc_auc 0.864",
             "chose ensemble: CV roc_auc 0.870", "peak memory 385 MB"]
    assert _stage_notes(notes) == ("stratified holdout of 211 rows; budget 1 min; chose ensemble: CV roc_auc 0.870; "
                                   "+3 more (--json or the report)")
    assert _stage_notes(["read 2,930 rows"]) == "read 2,930 rows"


def _regression_project(folder: Path, *, target: str, source: str) -> Path:
    project = folder / "cairn.yaml"
    project.write_text(f"project: x\nbusiness:\n  problem: regression\n  target: {target}\n"
                       f"  constraints: {{train_budget_minutes: 1}}\ndata:\n  source: {source}\n")
    return project


def test_validate_checks_the_source_has_the_target_and_names_a_bound_s_fix(tmp_path):
    (tmp_path / "d.csv").write_text("area,math3\n1,2\n")
    project = _regression_project(tmp_path, target="math_3", source="d.csv")
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "The target column 'math_3' is not in the data." in result.output
    assert "did you mean 'math3'?" in result.output
    project.write_text(project.read_text().replace("math_3", "math3").replace("minutes: 1", "minutes: 0"))
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2
    assert "expected greater than 0; got 0. Fix: set train_budget_minutes to a number greater than 0" in " ".join(
        result.output.split())
    project.write_text(project.read_text().replace("minutes: 0", "minutes: 1").replace("d.csv", "e.csv"))
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "e.csv does not exist" in result.output
    assert "did you mean 'd.csv'?" in result.output


def test_validate_refuses_a_source_with_a_header_and_no_rows(tmp_path):
    """`cairn run` would stop on a file that holds only its header: `cairn validate` says so first, and passes once
    any of the source's files has a row."""
    (tmp_path / "a.csv").write_text("area,price\n")
    project = _regression_project(tmp_path, target="price", source="'*.csv'")
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "The data file a.csv holds no rows." in result.output
    (tmp_path / "b.csv").write_text("area,price\n70,150000\n")
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 0 and "valid (project x" in result.output
    (tmp_path / "c.csv").write_text("")  # an empty file among others: cairn run refuses it too
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "The data file c.csv holds no rows." in result.output
    # JSON lines leave out a missing key: the target's key may first come in a later record
    (tmp_path / "d.jsonl").write_text('{"area": 1}\n{"area": 2, "price": 3}\n')
    result = runner.invoke(app, ["validate", "-p", str(_regression_project(tmp_path, target="price",
                                                                          source="d.jsonl"))])
    assert result.exit_code == 0 and "valid (project x" in result.output, result.output


def test_validate_checks_a_database_url_is_set_and_parses_without_querying(tmp_path, monkeypatch):
    """A new-user trial: validate said 'valid' for a SQL source whose url_env was unset; the run then stopped."""
    project = _regression_project(tmp_path, target="price", source="{sql: 'select * from sales', url_env: SALES_DB}")
    monkeypatch.delenv("SALES_DB", raising=False)
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "the environment variable SALES_DB is empty" in result.output, result.output
    monkeypatch.setenv("SALES_DB", "postgresql://nobody@127.0.0.1:1/none")  # nothing listens there: not queried
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 0 and "valid (project x" in result.output, result.output
    monkeypatch.setenv("SALES_DB", "mssql+pyodbc://nobody@127.0.0.1/none")  # a driver this machine lacks
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "The database driver is not installed." in result.output, result.output
    assert "the Python module pyodbc" in result.output
    monkeypatch.setenv("SALES_DB", "not a url")
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 2 and "The database URL cannot be parsed." in result.output

"""`cairn explain` over the shared example run: a holdout row, a row of a file, a record file; bad rows exit 2.
And the run itself: mean |SHAP| beside permutation importance, in the evaluation and in the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project

runner = CliRunner()


def test_a_holdout_row_is_explained_as_json(house_prices):
    folder, _, _ = house_prices
    result = runner.invoke(app, ["explain", "--row", "3", "--json", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    # the example's target_transform (auto) picks log for MAPE; a blend of log-target members explains in dollars
    assert explained["scale"] in {"Sale_Price", "log1p(Sale_Price)"}
    if explained["scale"] == "Sale_Price":
        assert explained["value"] == explained["prediction"]
    assert explained["base_value"] + sum(explained["contributions"].values()) == pytest.approx(
        explained["prediction"], rel=1e-9)
    model = Project.load(folder / "cairn.yaml").load_model()
    assert list(explained["contributions"]) == model.feature_names
    assert explained["value"] > 10_000  # a price, in dollars


def test_a_row_of_a_file_and_a_record_file_give_the_same_explanation(house_prices, tmp_path):
    folder, _, _ = house_prices
    table = pd.read_csv(folder / "data" / "ames.csv.gz", nrows=5)
    table.to_csv(tmp_path / "new.csv", index=False)
    record = {key: value for key, value in table.drop(columns="Sale_Price").iloc[2].to_dict().items()
              if value == value}
    (tmp_path / "house.json").write_text(json.dumps(record, default=float), encoding="utf-8")
    project = ["-p", str(folder / "cairn.yaml")]
    from_file = runner.invoke(app, ["explain", "--row", "2", "--data", str(tmp_path / "new.csv"), "--json", *project])
    from_record = runner.invoke(app, ["explain", str(tmp_path / "house.json"), "--json", *project])
    assert from_file.exit_code == 0 and from_record.exit_code == 0, from_file.output + from_record.output
    assert json.loads(from_file.stdout)["prediction"] == pytest.approx(json.loads(from_record.stdout)["prediction"])
    readable = runner.invoke(app, ["explain", str(tmp_path / "house.json"), "--top", "5", *project])
    assert readable.exit_code == 0
    for line in ("contribution", "base value", "prediction", "Sale_Price"):
        assert line in readable.stdout, line
    assert "more inputs" in readable.stdout  # only the top 5 are listed


def test_a_row_out_of_range_exits_2_naming_the_row_and_the_range(house_prices):
    folder, _, _ = house_prices
    result = runner.invoke(app, ["explain", "--row", "100000", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2
    assert "There is no row 100000 in the holdout" in result.output and "from 0 to" in result.output
    assert "Traceback" not in result.output


def test_nothing_to_explain_exits_2(house_prices, tmp_path):
    folder, _, _ = house_prices
    assert runner.invoke(app, ["explain", "-p", str(folder / "cairn.yaml")]).exit_code == 2
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    result = runner.invoke(app, ["explain", str(tmp_path / "bad.json"), "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "holds no record" in result.output


def test_the_run_measures_mean_shap_and_the_report_shows_it(house_prices):
    folder, run, _ = house_prices
    html = run.report_path.read_text(encoding="utf-8")
    assert 'id="explanations"' in html and "Mean |SHAP|" in html
    assert html.count('alt="What moves each prediction (SHAP summary)"') == 1

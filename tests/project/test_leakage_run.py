"""Issue 16's leakage cases end to end, in a copy of the example: a list price warns and the run finishes; a price
per square foot stops the run naming both columns and the formula, which the report shows."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.examples import QUICK, copy_example


def plant(folder, **columns) -> None:
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    sale_price = table["Sale_Price"]
    made = {"List_Price": lambda: (sale_price / np.random.default_rng(3).uniform(0.95, 1.05, len(table))).round(-2),
            "Price_per_SqFt": lambda: (sale_price / table["Gr_Liv_Area"]).round(2)}
    table = table.assign(**{name: made[name]() for name in columns})
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)


def test_a_list_price_warns_and_the_run_finishes(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, data={"drop_columns": ["Price_per_SqFt"]})
    plant(folder, List_Price=True, Price_per_SqFt=True)
    project = Project.load(folder / "cairn.yaml")
    run = project.run()
    assert run.verdict is not None
    data_notes = " ".join(run.stage("data").notes)
    assert "List_Price predicts Sale_Price very well on its own" in data_notes
    assert "List_Price" in project.load_model().feature_names  # a warning: the model uses it
    report = run.report_path.read_text()
    assert "Price_per_SqFt × Gr_Liv_Area = Sale_Price, R² 1.000" in report  # dropped, so a note, with its formula


def test_a_price_per_square_foot_stops_the_run(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    plant(folder, Price_per_SqFt=True)
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2, result.output
    assert "Price_per_SqFt" in result.output and "Gr_Liv_Area" in result.output
    assert "Price_per_SqFt × Gr_Liv_Area = Sale_Price" in " ".join(result.output.split())

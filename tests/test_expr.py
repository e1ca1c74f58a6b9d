"""The derived-feature language: arithmetic as written, errors with positions, and the same values when served."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import ConfigError
from cairn.expr import parse
from cairn.project.api import Project
from tests.examples import QUICK, copy_example

COLUMNS = {"a": np.array([1.0, 2.0, np.nan]), "b": np.array([3.0, 0.0, 1.0]), "d": np.array([19727.0, 0.0, 1.0])}


@pytest.mark.parametrize(("text", "expected"), [
    ("a + b * 2", [7, 2, np.nan]),
    ("(a + b) * 2", [8, 4, np.nan]),
    ("-a ** 2", [-1, -4, np.nan]),
    ("2 ** 3 ** 2", [512, 512, 512]),
    ("a / b", [1 / 3, np.nan, np.nan]),
    ("if(a > 1 and b == 0, 10, -1)", [-1, 10, -1]),
    ("not a > 1", [1, 0, 1]),
    ("clip(a, 1.5, 2)", [1.5, 2, np.nan]),
    ("year(d) * 100 + month(d)", [202401, 197001, 197001]),
    ("log(a) + sqrt(b)", [np.sqrt(3), np.log(2), np.nan]),
    ("max(a, b) % 2", [1, 0, 1]),
    ("isnull(a)", [0, 0, 1]),
])
def test_values(text, expected):
    result = parse("x", text, known_columns=list(COLUMNS))(COLUMNS)
    assert np.allclose(np.broadcast_to(result, (3,)), expected, equal_nan=True)


@pytest.mark.parametrize(("text", "message"), [
    ("a +", "at character 4"),
    ("a + * b", "at character 5"),
    ("a # b", "at character 3"),
    ("foo(a)", "unknown function 'foo'"),
    ("aa + 1", "did you mean 'a'?"),
    ("clip(a)", "clip with 3 argument(s)"),
])
def test_errors_name_the_problem(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse("x", text, known_columns=list(COLUMNS))


def test_derived_features_train_and_serve(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK,
                          features={"derive": {"House_Age": "Year_Sold - Year_Built",
                                               "Area_per_Room": "Gr_Liv_Area / max(TotRms_AbvGrd, 1)"}})
    run = Project.load(folder / "cairn.yaml").run()
    assert "derived House_Age = Year_Sold - Year_Built" in run.stage("features").notes
    model = Project.load(folder / "cairn.yaml").load_model()
    rows = pd.read_csv(folder / "data" / "ames.csv.gz").head(5)
    encoder_input = model.pipeline.regressor_.named_steps["derive"].transform(model.frame(rows))
    assert np.array_equal(encoder_input["House_Age"], rows["Year_Sold"] - rows["Year_Built"])
    records = rows.drop(columns="Sale_Price").to_dict(orient="records")
    assert np.allclose(model.predict(records), model.predict(rows))


def test_bad_expression_stops_the_run_with_its_position(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, features={"derive": {"Age": "Year_Sold - - "}})
    result = CliRunner().invoke(app, ["validate", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "features.derive.Age" in result.output
    assert "at character 15 of 'Year_Sold - - '" in result.output
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and not (folder / ".cairn").exists()

"""`cairn predict` on values far outside the training range: finite answers, and stderr says what was clipped."""

import pandas as pd
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project

runner = CliRunner()


def test_predict_clips_far_values_and_says_so_on_stderr(house_prices, tmp_path):
    folder, _, _ = house_prices
    rows = pd.read_csv(folder / "data" / "ames.csv.gz").head(5).drop(columns="Sale_Price")
    rows.loc[0, "Total_Bsmt_SF"] = 1e6
    rows.loc[1:2, "Gr_Liv_Area"] = 1e7
    rows.to_csv(tmp_path / "far.csv", index=False)
    model = Project.load(folder / "cairn.yaml").load_model()
    ranged = {f.name: (f.low, f.high) for f in model.features if f.low is not None}
    assert {"Total_Bsmt_SF", "Gr_Liv_Area"} <= set(ranged)  # recorded by the run, read back from model.json
    result = runner.invoke(app, ["predict", str(tmp_path / "far.csv"), "-o", str(tmp_path / "out.csv"),
                                 "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    assert "warning: 3 values in 2 fields outside the training range, clipped to it:" in result.stderr
    assert f"Gr_Liv_Area is outside the training range {ranged['Gr_Liv_Area'][0]:.6g} to " in result.stderr
    assert "(2 values, furthest 1e+07)" in result.stderr and "Total_Bsmt_SF = 1e+06" in result.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    top = pd.read_csv(folder / "data" / "ames.csv.gz")["Sale_Price"].max()
    assert scored["prediction"].between(0, 10 * top).all()

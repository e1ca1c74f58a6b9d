"""`cairn predict`: CSV or Parquet in and out by extension; without -o, the CSV on stdout exactly as written."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app

runner = CliRunner()
MARKUP_LIKE = ["[see note]", "[/x]", "[bold]sold[/bold]", ":smile:"]


@pytest.fixture
def rows(quick_house_prices, tmp_path):
    table = pd.read_csv(quick_house_prices / "data" / "ames.csv.gz").head(len(MARKUP_LIKE)).drop(columns="Sale_Price")
    return table.assign(Comment=MARKUP_LIKE)


def predict(project, *arguments):
    return runner.invoke(app, ["predict", *map(str, arguments), "-p", str(project / "cairn.yaml")])


def test_stdout_is_the_raw_csv_with_markup_like_values_intact(quick_house_prices, rows, tmp_path):
    rows.to_csv(tmp_path / "rows.csv", index=False)
    printed = predict(quick_house_prices, tmp_path / "rows.csv")
    assert printed.exit_code == 0, printed.output
    table = pd.read_csv(io.StringIO(printed.stdout))
    assert table["Comment"].tolist() == MARKUP_LIKE and len(table) == len(rows)
    written = predict(quick_house_prices, tmp_path / "rows.csv", "-o", tmp_path / "scored.csv")
    assert written.exit_code == 0 and "(csv)" in written.output
    assert (tmp_path / "scored.csv").read_text() == printed.stdout


def test_parquet_in_and_out_by_extension(quick_house_prices, rows, tmp_path):
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.to_parquet(tmp_path / "rows.parquet", index=False)
    from_csv = predict(quick_house_prices, tmp_path / "rows.csv")
    expected = pd.read_csv(io.StringIO(from_csv.stdout))
    result = predict(quick_house_prices, tmp_path / "rows.parquet", "-o", tmp_path / "scored.parquet")
    assert result.exit_code == 0, result.output
    assert "(parquet)" in result.output
    assert (tmp_path / "scored.parquet").read_bytes()[:4] == b"PAR1"  # Parquet, not CSV under another name
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert scored["Comment"].tolist() == MARKUP_LIKE
    assert scored["prediction"].to_numpy() == pytest.approx(expected["prediction"].to_numpy(), rel=1e-9)


def test_an_output_of_another_kind_is_refused_before_scoring(quick_house_prices, rows, tmp_path):
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = predict(quick_house_prices, tmp_path / "rows.csv", "-o", tmp_path / "scored.xlsx")
    assert result.exit_code == 2
    assert "--output" in result.output and ".parquet" in result.output and ".xlsx" in result.output
    assert not (tmp_path / "scored.xlsx").exists()

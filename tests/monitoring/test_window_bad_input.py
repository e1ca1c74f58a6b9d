"""`cairn monitor --data` on windows a user may get wrong: new columns are named and ignored, an empty file (CSV or
Parquet) is a user error, and a large file is read a batch at a time with the same answer as whole."""

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project

runner = CliRunner()


@pytest.fixture
def project(quick_house_prices, tmp_path):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    return folder


def monitor(folder, data, *args):
    return runner.invoke(app, ["monitor", "--data", str(data), "-p", str(folder / "cairn.yaml"), *args])


def test_new_columns_are_named_and_ignored(project, tmp_path):
    rows = pd.read_csv(project / "data" / "ames.csv.gz").head(400)
    rows.assign(Listing_Agent="A. Smith", Open_House=True).to_csv(tmp_path / "new.csv", index=False)
    result = monitor(project, tmp_path / "new.csv", "--json", "--no-fail")
    assert result.exit_code == 0, result.output
    report = Project.load(project / "cairn.yaml").monitor(tmp_path / "new.csv")
    assert {"Listing_Agent", "Open_House"} <= set(report.ignored_columns)
    assert "Ignored:" in report.advice and "Listing_Agent" in report.advice


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_empty_window_is_a_user_error(project, tmp_path, kind):
    empty = pd.read_csv(project / "data" / "ames.csv.gz").head(0)
    path = tmp_path / f"empty.{kind}"
    empty.to_csv(path, index=False) if kind == "csv" else empty.to_parquet(path, index=False)
    result = monitor(project, path)
    assert result.exit_code == 2, result.output
    assert "no rows" in result.output
    assert "Traceback" not in result.output


def test_a_window_read_in_batches_answers_as_read_whole(project, tmp_path, monkeypatch):
    import cairn.monitoring.streamed as streamed

    rows = pd.read_csv(project / "data" / "ames.csv.gz").sample(1500, random_state=4)
    rows.to_parquet(tmp_path / "window.parquet", index=False)
    whole = Project.load(project / "cairn.yaml").monitor(tmp_path / "window.parquet")
    monkeypatch.setattr(streamed, "LABELLED_SAMPLE_ROWS", 10_000)
    from cairn.stages.data import sources

    original = sources.file_chunks
    monkeypatch.setattr(sources, "file_chunks", lambda path, **kw: original(path, chunk_rows=256))
    batched = Project.load(project / "cairn.yaml").monitor(tmp_path / "window.parquet")
    assert batched.drift.current_rows == whole.drift.current_rows == 1500
    assert [round(f.psi, 9) for f in batched.drift.features] == [round(f.psi, 9) for f in whole.drift.features]
    assert batched.performance["mape"] == pytest.approx(whole.performance["mape"], rel=1e-12)

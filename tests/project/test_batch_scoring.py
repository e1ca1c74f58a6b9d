"""`cairn predict` a chunk at a time: the same answers as scoring the file whole, one Parquet schema across chunks
whose CSV types differ, no half-written output when a chunk fails."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cairn.errors import DataError
from cairn.project.api import Project
from cairn.project.batch import score_file


@pytest.fixture
def project_and_rows(quick_house_prices, tmp_path):
    project = Project.load(quick_house_prices / "cairn.yaml")
    rows = pd.read_csv(quick_house_prices / "data" / "ames.csv.gz").head(1000).drop(columns="Sale_Price")
    # a whole-number column with a gap only in a later chunk: pandas reads that chunk as floats
    rows["Garage_Cars"] = rows["Garage_Cars"].astype("Int64")  # written as 2, not 2.0; a gap written empty
    rows.loc[rows.index[-5:], "Garage_Cars"] = pd.NA
    rows.to_csv(tmp_path / "rows.csv", index=False)
    return project, rows


def test_chunks_answer_as_the_whole_file_and_keep_one_parquet_schema(project_and_rows, tmp_path):
    project, _ = project_and_rows
    whole = project.predict_file(tmp_path / "rows.csv")
    seen: list[int] = []
    scored = score_file(project.load_model(), tmp_path / "rows.csv", tmp_path / "out.parquet", chunk_rows=300,
                        progress=seen.append)
    assert scored.rows == 1000 and seen == [300, 600, 900, 1000]
    parquet = pq.ParquetFile(tmp_path / "out.parquet")
    assert parquet.metadata.num_row_groups == 4
    written = parquet.read().to_pandas()
    np.testing.assert_allclose(written["prediction"], whole["prediction"], rtol=1e-12)
    assert str(parquet.schema_arrow.field("Garage_Cars").type) == "int64"
    assert written["Garage_Cars"].isna().sum() == 5
    again = score_file(project.load_model(), tmp_path / "out.parquet", tmp_path / "again.csv", chunk_rows=256)
    assert again.rows == 1000
    np.testing.assert_allclose(pd.read_csv(tmp_path / "again.csv")["prediction"], whole["prediction"], rtol=1e-9)


def test_values_clipped_are_counted_over_every_chunk(project_and_rows, tmp_path):
    project, rows = project_and_rows
    rows.loc[[10, 700], "Gr_Liv_Area"] = [1_000_000, 5_000_000]
    rows.to_csv(tmp_path / "far.csv", index=False)
    scored = score_file(project.load_model(), tmp_path / "far.csv", tmp_path / "far_out.csv", chunk_rows=300)
    [area] = [item for item in scored.out_of_range if item.name == "Gr_Liv_Area"]
    assert area.count == 2 and area.furthest == 5e6


def test_text_that_does_not_read_is_counted_over_every_chunk_and_given_to_the_python_api(project_and_rows, tmp_path):
    project, rows = project_and_rows
    rows["Lot_Area"] = rows["Lot_Area"].astype(object)
    rows.loc[[10, 400, 401, 900], "Lot_Area"] = ["large", "huge", "N/A", "small"]  # three words, a missing marker
    rows.to_csv(tmp_path / "worded.csv", index=False)
    scored = score_file(project.load_model(), tmp_path / "worded.csv", tmp_path / "worded_out.csv", chunk_rows=300)
    assert [(item.name, item.count, item.example) for item in scored.unread] == [("Lot_Area", 3, "large")]
    whole = project.predict_file(tmp_path / "worded.csv")
    assert [(item.name, item.count) for item in whole.attrs["unread"]] == [("Lot_Area", 3)]


def test_a_failing_chunk_leaves_no_output(project_and_rows, tmp_path):
    project, rows = project_and_rows
    rows["Garage_Cars"] = rows["Garage_Cars"].astype(object)
    rows.loc[rows.index[-1], "Garage_Cars"] = "two"  # a word in a whole-number column, in the last chunk only
    rows.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="Garage_Cars"):
        score_file(project.load_model(), tmp_path / "bad.csv", tmp_path / "bad.parquet", chunk_rows=300)
    assert not (tmp_path / "bad.parquet").exists()
    assert not list(tmp_path.glob(".bad.parquet*"))

"""`cairn predict` a chunk at a time: the same answers as scoring the file whole, one Parquet schema across chunks
whose CSV types differ, no half-written output when a chunk fails; what the model read otherwise than written
(text in a number column, category levels training never had) said over every chunk."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import DataError
from cairn.monitoring.drift import window_drift
from cairn.monitoring.unseen import Unseen, training_levels
from cairn.project.api import Project
from cairn.project.batch import score_file
from cairn.store.tables import StageRow
from tests.examples import QUICK, copy_example

RARE = "as the rare levels training grouped together"  # the linear model's encoder has a rare-level group


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
    assert [(item["name"], item["count"]) for item in whole.attrs["unread"]] == [("Lot_Area", 3)]
    assert whole.attrs["unread"][0]["warning"].startswith("Lot_Area: 3 values did not read as a number")


def test_levels_training_never_had_are_counted_over_every_chunk_as_cairn_monitor_counts_them(project_and_rows,
                                                                                            tmp_path):
    """Four rows of two new neighbourhoods in three of four chunks, one level holding a phone number (masked as
    monitoring masks it); a known level in other case and spacing, and missing values, are not new."""
    project, rows = project_and_rows
    rows.loc[[10, 400, 401, 900], "Neighborhood"] = ["Atlantis", "Atlantis", "Lemuria", "Atlantis"]
    rows.loc[[20, 30, 31], "Neighborhood"] = [" north_AMES ", "N/A", None]  # North_Ames; two missing values
    rows.loc[650, "MS_Zoning"] = "call 5551234567"
    rows.to_csv(tmp_path / "new.csv", index=False)
    model, baseline = project.load_model(), project.monitoring_baseline()
    scored = score_file(model, tmp_path / "new.csv", tmp_path / "new_out.csv", chunk_rows=300,
                        levels=training_levels(baseline, model))
    assert scored.unseen == (Unseen("Neighborhood", 4, ("Atlantis", "Lemuria"), RARE),  # in the order first found
                             Unseen("MS_Zoning", 1, ("call ********67",), RARE))
    assert scored.unseen[0].sentence() == ("Neighborhood: 4 rows have levels the training split never had, such as "
                                           f"'Atlantis', 'Lemuria'; the model reads them {RARE}")
    drift = window_drift(baseline, rows, model=model, domain=False)  # what `cairn monitor` names new
    assert {new.feature: [level for level, _ in new.levels] for new in drift.new_categories} == {
        "MS_Zoning": ["call ********67"], "Neighborhood": ["Atlantis", "Lemuria"]}
    whole = project.predict_file(tmp_path / "new.csv")
    assert {item["warning"] for item in whole.attrs["unseen"]} == {item.sentence() for item in scored.unseen}
    assert "unread" not in whole.attrs  # in one chunk
    whole.to_parquet(tmp_path / "whole.parquet")  # pandas keeps attrs as JSON: the findings are plain values
    kept = pd.read_parquet(tmp_path / "whole.parquet").attrs["unseen"]
    assert {item["name"]: item["count"] for item in kept} == {"Neighborhood": 4, "MS_Zoning": 1}
    known = rows.assign(Neighborhood=rows["Neighborhood"].where(~rows["Neighborhood"].isin(["Atlantis", "Lemuria"]),
                                                                "COLLEGE_creek"), MS_Zoning="  residential_low_density")
    known.to_csv(tmp_path / "known.csv", index=False)
    assert "unseen" not in project.predict_file(tmp_path / "known.csv").attrs
    assert score_file(model, tmp_path / "known.csv", None, levels=training_levels(baseline, model)).unseen == ()


def test_a_level_the_model_learned_after_its_baseline_is_not_new(project_and_rows):
    """A deployment refit on every row learns the holdout's levels, which the baseline (training rows) lacks: a
    level the model's encoder knows is not called new, one neither knows still is."""
    import copy

    from cairn.monitoring.drift import statistics_of

    project, rows = project_and_rows
    model, baseline = project.load_model(), copy.deepcopy(project.monitoring_baseline())
    counts = statistics_of(baseline).features["Neighborhood"].counts
    learned = next(key for key in counts if key in _encoder_keys(model, "Neighborhood"))
    del counts[learned]  # as if only the holdout had it
    levels = training_levels(baseline, model)
    assert learned in levels.keys["Neighborhood"]
    seen = rows.head(3).assign(Neighborhood=[learned, learned, "Atlantis"])
    [unseen] = levels.unseen(seen, seen, shown=str)
    assert (unseen.name, unseen.count, unseen.examples) == ("Neighborhood", 1, ("Atlantis",))


def _encoder_keys(model, name: str) -> set[str]:
    from cairn.estimators.encoder import encoders_in

    return {key for encoder, _ in encoders_in(model.pipeline) if name in encoder.categorical
            for key in encoder.codes_[list(encoder.categorical).index(name)] if isinstance(key, str)}


def test_cairn_predict_warns_of_levels_training_never_had(project_and_rows, tmp_path):
    project, rows = project_and_rows
    rows.loc[[3, 50, 120], "Neighborhood"] = "Atlantis"
    rows.to_csv(tmp_path / "new.csv", index=False)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "new.csv"), "-o", str(tmp_path / "out.csv"),
                                      "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())  # on stderr with the other warnings, the CSV's stdout kept clean
    assert said.count("warning:") == 1 and (
        "warning: Neighborhood: 3 rows have levels the training split never had, such as 'Atlantis'; the model "
        f"reads them {RARE} wrote 1,000 predictions to") in said
    assert len(pd.read_csv(tmp_path / "out.csv")) == 1000
    model = project.load_model()
    categories = [f.name for f in model.features if f.kind == "category" and f.name in rows][:12]
    assert len(categories) == 12
    rows.loc[7, categories] = "Atlantis"  # twelve columns with a new level: ten said, and how many more
    rows.to_csv(tmp_path / "many.csv", index=False)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "many.csv"), "-o", str(tmp_path / "many_out.csv"),
                                      "-p", str(project.path)])
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and said.count("warning:") == 11, said
    assert ("warning: and 2 more columns with text that did not read or levels the training split never had "
            "wrote 1,000") in said


def test_a_version_without_a_monitoring_baseline_scores_without_the_check(quick_house_prices, project_and_rows,
                                                                          tmp_path):
    """A store whose run kept no monitoring stage (older stores, runs that saved none): no warning, no error."""
    _, rows = project_and_rows
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    project = Project.load(folder / "cairn.yaml")
    with project._existing_store() as store, store.session() as session:
        session.execute(sa.delete(StageRow).where(StageRow.stage == "monitoring"))
    rows.loc[[3, 50], "Neighborhood"] = "Atlantis"
    rows.to_csv(tmp_path / "new.csv", index=False)
    scored = project.predict_file(tmp_path / "new.csv")
    assert "unseen" not in scored.attrs and scored["prediction"].notna().all()
    assert project.score_file(tmp_path / "new.csv", tmp_path / "out.parquet").unseen == ()


def test_new_levels_of_a_personal_column_are_counted_never_shown(tmp_path, monkeypatch):
    """A hashed e-mail column: a file's e-mails are hashed as in training before the look-up (so the known ones
    are known), and the new ones are counted, never quoted, raw or hashed. Trained on 600 rows: seconds."""
    monkeypatch.setenv("CAIRN_TEST_SALT", "not-a-real-secret")
    folder = copy_example(tmp_path / "hp", **QUICK, data={"privacy": {"pii": "hash", "salt_env": "CAIRN_TEST_SALT"}})
    table = pd.read_csv(folder / "data" / "ames.csv.gz").head(600)
    table["owner_email"] = [f"agent{i % 7}@example.org" for i in range(len(table))]  # few values: kept, hashed
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    if not project.run().shipped:  # a starved machine may miss the objective: scoring is what is tested
        project.promote(1)
    model = project.load_model()
    assert [column.column for column in model.personal_columns] == ["owner_email"]
    rows = table.drop(columns="Sale_Price").head(100)
    rows.loc[rows.index[:5], "owner_email"] = [f"new{i}@example.org" for i in range(5)]  # new people; 95 known
    rows.to_csv(tmp_path / "new.csv", index=False)
    found = {item["name"]: item for item in project.predict_file(tmp_path / "new.csv").attrs["unseen"]}
    assert (found["owner_email"]["count"], found["owner_email"]["examples"]) == (5, ())  # others may have some
    hashed = set(model.protected(rows[["owner_email"]])["owner_email"])
    fed = model.inputs(rows)  # hashed once, whether inputs hashes or batch scoring did before it
    assert set(fed["owner_email"]) == hashed
    pd.testing.assert_frame_equal(model.inputs(model.protected(rows), protected=True), fed)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "new.csv"), "-o", str(tmp_path / "out.csv"),
                                      "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert ("warning: owner_email: 5 rows have levels the training split never had (a personal column: its levels "
            "are not shown); the model reads them as") in said
    assert "example.org" not in said and not any(value in said for value in hashed)


def test_a_failing_chunk_leaves_no_output(project_and_rows, tmp_path):
    project, rows = project_and_rows
    rows["Garage_Cars"] = rows["Garage_Cars"].astype(object)
    rows.loc[rows.index[-1], "Garage_Cars"] = "two"  # a word in a whole-number column, in the last chunk only
    rows.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="Garage_Cars"):
        score_file(project.load_model(), tmp_path / "bad.csv", tmp_path / "bad.parquet", chunk_rows=300)
    assert not (tmp_path / "bad.parquet").exists()
    assert not list(tmp_path.glob(".bad.parquet*"))


def test_a_list_or_a_mapping_in_a_category_is_a_level_training_never_had(project_and_rows, tmp_path):
    """JSON lines may hold a list or a mapping where a category belongs: the model reads it as text it never saw,
    and `cairn predict` and `cairn monitor` say so as for any such level (both stopped on a TypeError)."""
    project, rows = project_and_rows
    records = rows.head(40).copy()
    records["Neighborhood"] = records["Neighborhood"].astype(object)
    records.at[records.index[3], "Neighborhood"] = ["North_Ames"]
    records.at[records.index[5], "Neighborhood"] = {"a": 1}
    records.to_json(tmp_path / "nested.jsonl", orient="records", lines=True)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "nested.jsonl"), "-o", str(tmp_path / "out.csv"),
                                      "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert ("warning: Neighborhood: 2 rows have levels the training split never had, such as "
            "\"['North_Ames']\", \"{'a': 1}\"") in said, said
    assert len(pd.read_csv(tmp_path / "out.csv")) == 40
    shutil.copytree(project.path.parent, tmp_path / "hp")  # monitor stores its check: the shared project stays
    result = CliRunner().invoke(app, ["monitor", "--data", str(tmp_path / "nested.jsonl"), "--no-fail", "--json",
                                      "-p", str(tmp_path / "hp" / "cairn.yaml")])
    assert result.exit_code == 0, result.output
    [neighborhood] = [f for f in json.loads(result.output)["drift"]["features"] if f["feature"] == "Neighborhood"]
    assert "unseen levels in 5.0% of rows (\"['North_Ames']\", \"{'a': 1}\")" in neighborhood["detail"]


def test_an_input_column_named_as_the_answers_is_replaced_and_said(project_and_rows, tmp_path):
    """A file scored before has a `prediction` column of its own: the new answers replace it, said on stderr and
    in the Python API's attrs, not silently (a user's column of that name was lost without a word)."""
    project, rows = project_and_rows
    rows.head(30).assign(prediction="mine").to_csv(tmp_path / "scored.csv", index=False)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "scored.csv"), "-o", str(tmp_path / "again.csv"),
                                      "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    assert ("warning: the input has a column named as the answers' (prediction): the answers replaced it in the "
            "output; rename it in the input to keep both") in " ".join(result.stderr.split())
    again = pd.read_csv(tmp_path / "again.csv")
    assert list(again.columns).count("prediction") == 1 and pd.api.types.is_numeric_dtype(again["prediction"])
    assert project.predict_file(tmp_path / "scored.csv").attrs["replaced"] == ["prediction"]
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "plain.csv"),
                                      "-p", str(project.path)])
    assert result.exit_code == 0 and "named as the answers'" not in result.stderr


def test_a_file_with_none_of_the_model_s_inputs_is_refused_and_a_semicolon_file_is_named(project_and_rows, tmp_path):
    """Every row would get the same imputed answer: a user error, exit 2, no output written; a file separated by
    semicolons (read as one column) is named as such (it scored with a warning and exit 0)."""
    project, rows = project_and_rows
    rows.head(5).to_csv(tmp_path / "semicolons.csv", index=False, sep=";")
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "semicolons.csv"), "-o", str(tmp_path / "out.csv"),
                                      "-p", str(project.path)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "The input has none of the model's" in said, said
    assert "the file looks separated by ';': save it with commas" in said
    assert not (tmp_path / "out.csv").exists()
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "other.csv", index=False)
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "other.csv"), "-p", str(project.path)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "got 2 columns: a, b" in said and "cairn card lists them" in said, said


def test_a_missing_input_file_is_named_as_the_shell_reads_it(project_and_rows, tmp_path, monkeypatch):
    """A file named to predict_file or on the command line is read from the current folder, not cairn.yaml's."""
    project, _ = project_and_rows
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(DataError) as raised:
        project.predict_file("nope.csv")
    [problem] = raised.value.problems
    assert problem.where == "INPUT" and problem.got == str(tmp_path / "elsewhere" / "nope.csv")
    assert problem.fix == "check the path (relative to the current folder)"

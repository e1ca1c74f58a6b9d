"""Issue 3's demonstration: a copy of the example with planted faults; each is found, reported and handled."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from cairn.cli import app
from cairn.project.api import Project
from tests.examples import QUICK, copy_example


def plant_faults(folder):
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    rng = np.random.default_rng(7)
    table["Appraisal"] = (table["Sale_Price"] * 1.01 + rng.normal(0, 2000, len(table))).round()  # leakage
    table["Lot_Area_Text"] = table["Lot_Area"].map("${:,}".format)  # numbers stored as text
    table["owner_email"] = [f"owner{i}@example.org" for i in range(len(table))]  # PII
    spelled = table.index[table["Neighborhood"] == "North_Ames"][:30]
    table.loc[spelled[:15], "Neighborhood"] = "north_ames "  # mixed spellings
    table.loc[spelled[15:], "Neighborhood"] = "NORTH_AMES"
    table = pd.concat([table, table.iloc[:25]], ignore_index=True)  # 25 exact duplicates
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)


def test_leakage_stops_the_run_by_default(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    plant_faults(folder)
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2, result.output
    assert "target leakage" in result.output and "Appraisal" in result.output
    assert "owner0@example.org" not in result.output


def test_every_planted_fault_is_found_reported_and_handled(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK,
                          data={"quality": {"fail_on": []}, "drop_columns": ["Appraisal"]})
    plant_faults(folder)
    project = Project.load(folder / "cairn.yaml")
    run = project.run()
    report = run.report_path.read_text()
    checks = {"target leakage": "Appraisal", "numbers as text": "Lot_Area_Text", "duplicate rows": "25 rows",
              "inconsistent spellings": "Neighborhood"}
    for check, detail in checks.items():
        assert check in report and detail in report, check
    assert "owner_email" in report and "owner0@example.org" not in report
    notes = {stage.name: " ".join(stage.notes) for stage in run.stages}
    assert "owner_email" in notes["data"]  # PII found and dropped (the default policy)
    assert "dropped 25 exact duplicate rows" in notes["preprocessing"]
    assert "Lot_Area_Text: numbers written as text, parsed" in notes["features"]
    assert "left out Appraisal: dropped in cairn.yaml" in notes["features"]
    model = project.load_model()
    assert "owner_email" not in model.feature_names and "Appraisal" not in model.feature_names
    one = {"Lot_Area_Text": "$31,770", "Neighborhood": " NORTH_AMES"}
    same = {"Lot_Area_Text": 31770, "Neighborhood": "North_Ames"}
    assert model.predict([one])[0] == model.predict([same])[0]  # parsed and normalised at serving time too


def test_changed_source_reruns_downstream_and_unchanged_does_not(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    project = Project.load(folder / "cairn.yaml")
    first = project.run(until="preprocessing")
    assert [s.cached for s in project.run(until="preprocessing").stages] == [True, True, True]
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table.loc[0, "Lot_Area"] += 1
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    changed = project.run(until="preprocessing")
    assert [s.cached for s in changed.stages] == [True, False, False]
    assert changed.manifest["data"]["fingerprint"] != first.manifest["data"]["fingerprint"]


def test_missing_targets_are_dropped_and_counted_or_refused(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK)
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    table.loc[:9, "Sale_Price"] = np.nan
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    run = Project.load(folder / "cairn.yaml").run(until="preprocessing")
    assert "dropped 10 rows with no target" in run.stage("preprocessing").notes
    table.loc[:999, "Sale_Price"] = np.nan  # 34% missing, over the default 20%
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 2 and "missing in 34% of rows" in result.output
    # refused before the run started, as the other checks of the data are: no failed run left in the history
    assert [r.status for r in Project.load(folder / "cairn.yaml").runs()] == ["succeeded"]


def test_padded_class_labels_are_one_class_end_to_end(tmp_path):
    folder = copy_example(tmp_path / "hp", **QUICK, business={
        "problem": "binary", "target": "Expensive", "success": [{"metric": "roc_auc", "above": 0.8}]})
    table = pd.read_csv(folder / "data" / "ames.csv.gz")
    expensive = np.where(table.pop("Sale_Price") > 160_000, "yes", "no").astype(object)
    padded = np.flatnonzero(expensive == "no")[:12]
    expensive[padded] = "no "
    table["Expensive"] = expensive
    table.to_csv(folder / "data" / "ames.csv.gz", index=False)
    project = Project.load(folder / "cairn.yaml")
    run = project.run()
    assert "trimmed white space around 12 target labels" in run.stage("preprocessing").notes
    data_notes = " ".join(run.stage("data").notes)
    assert "class imbalance" not in data_notes and "too few rows" not in data_notes
    assert sorted(project.load_model().classes) == ["no", "yes"]  # two classes, not 'no ' as a third

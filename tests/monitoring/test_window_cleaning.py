"""The window is read as the model reads its inputs: the training file never drifts from itself (issue 13)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.project.api import Project


@pytest.fixture(scope="module")
def project(quick_house_prices: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy of the shared quick project, store included: monitoring may write to the store."""
    folder = tmp_path_factory.mktemp("monitored") / "hp"
    shutil.copytree(quick_house_prices, folder)
    return Project.load(folder / "cairn.yaml")


@pytest.fixture(scope="module")
def ames(quick_house_prices: Path) -> pd.DataFrame:
    return pd.read_csv(quick_house_prices / "data" / "ames.csv.gz")


def psi_by_feature(report) -> dict[str, float]:
    return {feature.feature: feature.psi for feature in report.drift.features}


def test_the_training_file_itself_does_not_drift(project: Project) -> None:
    """The bug: the reference held 'WD' (trimmed in preprocessing), the window 'WD ': Sale_Type drifted."""
    report = project.monitor(project.base_dir / "data" / "ames.csv.gz")
    drift = report.drift
    assert drift.drifted == [] and max(psi_by_feature(report).values()) < 0.01
    sale_type = next(feature for feature in drift.features if feature.feature == "Sale_Type")
    assert "unseen" not in sale_type.detail and sale_type.psi < 0.01
    # only three levels of single holdout rows are new to the training rows, one row each
    assert {new.feature for new in drift.new_categories} == {"Electrical", "Exterior_2nd", "Misc_Feature"}
    assert all(new.share == pytest.approx(1 / 2930) for new in drift.new_categories)
    assert drift.missing_changes == []
    assert drift.domain is not None and drift.domain.auc == pytest.approx(0.5, abs=0.06)
    assert not drift.domain.drifted and "no drift across features" in drift.domain.sentence
    [prediction] = drift.predictions
    # against the judged model's answers on its holdout rows (hundreds, not thousands): stable, not zero
    assert prediction.feature == "prediction" and prediction.psi < 0.05 and not prediction.drifted


def test_spelling_variants_of_known_levels_are_the_same_levels(project: Project, ames: pd.DataFrame,
                                                               tmp_path: Path) -> None:
    """Case, surrounding and doubled inner spaces, 'N/A' for missing: the encoder folds them (clean_text under
    preprocessing.normalize_categories), so drift must not see them either."""
    respelt = ames.copy()
    text_columns = [name for name in ames.columns if not pd.api.types.is_numeric_dtype(ames[name])]
    assert "Sale_Type" in text_columns and "Neighborhood" in text_columns
    rows = np.arange(len(ames))
    for name in text_columns:
        values = ames[name].astype(object)
        upper = values.map(lambda value: f" {value.upper()}" if isinstance(value, str) else value)
        padded = values.map(lambda value: f"  {value.strip().lower()}   " if isinstance(value, str) else value)
        respelt[name] = np.where(rows % 3 == 0, upper, np.where(rows % 3 == 1, padded, values))
    respelt["Mas_Vnr_Type"] = respelt["Mas_Vnr_Type"].where(ames["Mas_Vnr_Type"].notna(), "N/A")  # missing, spelt
    assert (respelt["Sale_Type"] != ames["Sale_Type"]).mean() > 0.6  # most rows spelt differently
    path = tmp_path / "respelt.csv"
    respelt.to_csv(path, index=False)
    original = psi_by_feature(project.monitor(project.base_dir / "data" / "ames.csv.gz"))
    report = project.monitor(path)
    assert report.drift.drifted == []
    assert psi_by_feature(report) == pytest.approx(original, abs=1e-12)
    assert {new.feature for new in report.drift.new_categories} == {"Electrical", "Exterior_2nd", "Misc_Feature"}


def test_new_levels_and_missing_values_are_named(project: Project, ames: pd.DataFrame, tmp_path: Path) -> None:
    changed = ames.copy()
    generator = np.random.default_rng(0)
    changed.loc[generator.random(len(ames)) < 0.31, "Lot_Area"] = np.nan
    changed.loc[generator.random(len(ames)) < 0.10, "Neighborhood"] = "Atlantis"
    path = tmp_path / "changed.csv"
    changed.to_csv(path, index=False)
    drift = project.monitor(path).drift
    [lot_area] = [change for change in drift.missing_changes if change.feature == "Lot_Area"]
    assert lot_area.reference == 0.0 and lot_area.current == pytest.approx(0.31, abs=0.02)
    assert lot_area.text() == f"Lot_Area: missing 0% → {100 * lot_area.current:.0f}%"
    [neighborhood] = [new for new in drift.new_categories if new.feature == "Neighborhood"]
    assert neighborhood.levels[0][0] == "Atlantis" and neighborhood.share == pytest.approx(0.10, abs=0.02)
    assert drift.new_categories[0] is neighborhood  # the largest share first
    as_json = json.loads(json.dumps(drift.to_dict()))
    assert as_json["missing_changes"][0]["feature"] == "Lot_Area"
    assert as_json["new_categories"][0]["levels"][0]["level"] == "Atlantis"
    assert as_json["predictions"][0]["feature"] == "prediction" and as_json["domain"]["auc"] > 0.6


def test_a_shift_moves_the_predictions_and_the_domain_classifier_names_it(project: Project, ames: pd.DataFrame,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "shifted.csv"
    ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.5).to_csv(path, index=False)
    drift = project.monitor(path).drift
    assert [feature.feature for feature in drift.drifted] == ["Gr_Liv_Area"]
    [prediction] = drift.predictions
    assert prediction.psi > 0.1 and prediction.p_value is not None and prediction.p_value < 1e-6
    # against the judged model's answers on its holdout: larger houses cost more
    assert re.match(r"mean 18\d,\d{3} → 20\d,\d{3}", prediction.detail), prediction.detail
    assert drift.domain is not None and drift.domain.auc > 0.95 and drift.domain.top[0][0] == "Gr_Liv_Area"
    assert "Gr_Liv_Area" in drift.domain.sentence

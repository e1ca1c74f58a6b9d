"""The opt-in retrain rules: the model's answers drifted, or a classifier tells the new rows from the training rows."""

import shutil

import pandas as pd
import yaml

from cairn.project.api import Project


def _project(quick_house_prices, tmp_path, **retrain_when):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config.setdefault("monitoring", {})["retrain_when"] = retrain_when
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    bigger = pd.read_csv(folder / "data" / "ames.csv.gz").sample(800, random_state=1)
    bigger["Gr_Liv_Area"] = bigger["Gr_Liv_Area"] * 2.0  # the answers' PSI against the holdout's passes 0.2
    bigger["Total_Bsmt_SF"] = bigger["Total_Bsmt_SF"] * 2.0
    bigger.drop(columns="Sale_Price").to_csv(folder / "bigger.csv", index=False)
    return Project.load(folder / "cairn.yaml"), folder / "bigger.csv"


def test_prediction_drift_and_the_domain_classifier_fire_when_asked(quick_house_prices, tmp_path):
    project, bigger = _project(quick_house_prices, tmp_path, drift_share=1.0, prediction_drift=True, domain_auc=0.8)
    report = project.monitor(bigger)
    fired = {rule["rule"]: rule for rule in report.rules}
    assert set(fired) == {"prediction_drift", "domain_auc"}, report.advice
    assert fired["domain_auc"]["auc"] >= 0.8 and "Gr_Liv_Area" in fired["domain_auc"]["separating"][:3]
    assert all(psi >= 0.2 for psi in fired["prediction_drift"]["psi"].values())
    assert report.retrain and "the model's answers drifted" in report.advice


def test_they_stay_off_by_default(quick_house_prices, tmp_path):
    project, bigger = _project(quick_house_prices, tmp_path, drift_share=1.0)
    report = project.monitor(bigger)
    assert not {rule["rule"] for rule in report.rules} & {"prediction_drift", "domain_auc"}
    assert report.drift.domain is not None and report.drift.domain.auc >= 0.8  # measured and shown, not a rule

"""Reference statistics computed once at training: what a check reads instead of the training rows."""

from __future__ import annotations

import json
import math
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from cairn.config.schema import Monitoring
from cairn.model.trained import FeatureSpec, TrainedModel, as_model_frame
from cairn.monitoring.drift import (
    WindowDrift,
    batched_window_drift,
    feature_drift,
    population_stability_index,
    window_drift,
)
from cairn.monitoring.reference import SAMPLE_ROWS, NumberReference, reference_statistics
from cairn.project.api import Project
from cairn.stages.monitoring import MonitoringBaseline, monitoring_baseline

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"


@pytest.fixture(scope="module")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


@pytest.fixture(scope="module")
def project(quick_house_prices: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A copy of the shared quick project, store included: monitoring may write to the store."""
    folder = tmp_path_factory.mktemp("monitored") / "hp"
    shutil.copytree(quick_house_prices, folder)
    return Project.load(folder / "cairn.yaml")


def old_style(baseline: MonitoringBaseline, training_rows: pd.DataFrame) -> MonitoringBaseline:
    """A baseline pickled before the statistics: training rows parsed by as_model_frame in `reference`, and no
    `statistics` attribute at all (its pickle holds the four old fields only)."""
    old = pickle.loads(pickle.dumps(baseline))
    old.__dict__.pop("statistics")
    old.__dict__["reference"] = as_model_frame(training_rows, baseline.features)
    payload = pickle.dumps(old)
    assert b"statistics" not in payload
    return pickle.loads(payload)  # type: ignore[no-any-return]


def test_the_stage_keeps_statistics_of_every_training_row_and_a_small_sample(project: Project) -> None:
    baseline = project.monitoring_baseline()
    statistics = baseline.statistics
    assert statistics.rows == 2344  # the training split of 2,930 rows
    assert len(baseline.reference) == len(statistics.sample) == min(SAMPLE_ROWS, 2344)
    assert set(statistics.features) == {feature.name for feature in baseline.features}
    area = statistics.features["Gr_Liv_Area"]
    assert isinstance(area, NumberReference) and area.counts.sum() == 2344 and area.missing_rate == 0.0
    assert area.exact and area.mean == pytest.approx(1500, rel=0.02) and area.std > 400
    sale_type = statistics.features["Sale_Type"]
    assert "wd" in sale_type.counts and sale_type.spelling["wd"] == "WD"  # keyed as the encoder keys it
    assert len(pickle.dumps(baseline)) < 3_000_000


def test_a_baseline_pickled_before_the_statistics_still_works(project: Project, ames: pd.DataFrame) -> None:
    model = project.load_model()
    new = project.monitoring_baseline()
    old = old_style(new, ames)  # the old reference: training rows (here all 2,930 rows)
    assert getattr(old, "statistics", None) is None and "kept 2,930 training rows" in old.notes()[0]
    shifted = ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.5, Lot_Area=ames["Lot_Area"].where(
        np.arange(len(ames)) % 4 != 0))
    from_old = window_drift(old, shifted, model=model)
    assert {feature.feature for feature in from_old.drifted} == {"Gr_Liv_Area", "Lot_Area"}
    assert from_old.reference_rows == 2930
    assert [change.feature for change in from_old.missing_changes] == ["Lot_Area"]
    assert from_old.domain is not None and from_old.domain.top[0][0] == "Gr_Liv_Area"
    assert from_old.predictions[0].psi > 0.1
    # the same rows kept the new way give the same figures
    from_new = window_drift(monitoring_baseline(ames, features=new.features, spec=Monitoring(), seed=0), shifted,
                            model=model, domain=False)
    assert {f.feature: f.psi for f in from_new.features} == pytest.approx(
        {f.feature: f.psi for f in from_old.features}, abs=1e-12)


def test_a_window_in_batches_gives_the_answer_of_the_whole(ames: pd.DataFrame) -> None:
    features = [FeatureSpec(name, "number" if pd.api.types.is_numeric_dtype(ames[name]) else "category")
                for name in ames.columns if name != "Sale_Price"]
    statistics = reference_statistics(ames, features, bins=10)
    current = ames.sample(frac=1.0, random_state=1).assign(Lot_Area=lambda t: t["Lot_Area"] * 1.2)
    whole = feature_drift(statistics, current, features=features)
    window = WindowDrift(statistics, features)
    for part in np.array_split(np.arange(len(current)), 3):
        window.add(current.iloc[part])
    in_batches = window.report(threshold=0.2)
    assert [(f.feature, f.psi, f.p_value, f.detail) for f in in_batches.features] == \
        [(f.feature, f.psi, f.p_value, f.detail) for f in whole.features]
    assert in_batches.current_rows == whole.current_rows == len(ames)


def test_a_classifier_s_predicted_shares_and_probabilities_drift(ames: pd.DataFrame) -> None:
    numbers, categories = ["Gr_Liv_Area", "Lot_Area", "Year_Built"], ["Neighborhood"]
    features = [FeatureSpec(name, "number") for name in numbers] + [FeatureSpec("Neighborhood", "category")]
    prepare = ColumnTransformer([("numbers", SimpleImputer(strategy="median"), numbers),
                                 ("categories", OneHotEncoder(handle_unknown="ignore"), categories)])
    pipeline = Pipeline([("prepare", prepare),
                         ("classify", LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1, random_state=0))])
    # classes spelt with capitals: the predictions are counted as the model spells them, not folded like inputs
    expensive = np.where(ames["Sale_Price"] > ames["Sale_Price"].median(), "Expensive", "Cheap")
    model = TrainedModel(name="pricey", version=1, problem="binary", target="Expensive", features=features,
                         pipeline=pipeline, classes=["Cheap", "Expensive"], positive_class="Expensive")
    pipeline.fit(model.frame(ames), expensive)
    baseline = monitoring_baseline(ames, features=features, spec=Monitoring(), seed=0)
    same = window_drift(baseline, ames, model=model, domain=False)
    assert [p.feature for p in same.predictions] == ["probability of Expensive", "predicted class"]
    assert all(p.psi < 0.01 for p in same.predictions)
    bigger = window_drift(baseline, ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.6), model=model, domain=False)
    probability, predicted = bigger.predictions
    assert probability.drifted and probability.kind == "prediction" and probability.test == "ks"
    assert predicted.test == "chi2" and predicted.psi > 0.1
    assert re.match(r"Cheap 5\d% → 3\d%", predicted.detail)  # larger houses: fewer predicted cheap


def test_a_million_whole_numbers_are_counted_per_value_with_the_same_answer() -> None:
    """Above 50,000 rows whole numbers are counted per distinct value before the binary search: same D, same PSI."""
    generator = np.random.default_rng(5)
    reference = pd.DataFrame({"year": generator.integers(1900, 2010, size=20_000)})
    current = pd.DataFrame({"year": generator.integers(1903, 2011, size=120_000)})
    statistics = reference_statistics(reference, [FeatureSpec("year", "number")], bins=10)
    [year] = feature_drift(statistics, current, features=[FeatureSpec("year", "number")]).features
    exact = stats.ks_2samp(reference["year"], current["year"])
    effective_rows = 20_000 * 120_000 / 140_000
    assert year.p_value == pytest.approx(float(stats.kstwobign.sf(exact.statistic * math.sqrt(effective_rows))),
                                         rel=1e-9)
    edges = statistics.features["year"].edges
    by_hand = [np.histogram(table["year"], bins=[-np.inf, *(edges + 1e-9), np.inf])[0] for table in (reference,
                                                                                                     current)]
    expected = population_stability_index(np.append(by_hand[0], 0), np.append(by_hand[1], 0))
    assert year.psi == pytest.approx(expected, rel=1e-12)


def test_a_new_level_holding_personal_data_is_masked_in_the_report() -> None:
    """An e-mail typed into a category field is a new level: named, but masked as the prediction log masks it."""
    reference = pd.DataFrame({"zone": ["north", "south"] * 50})
    current = pd.DataFrame({"zone": ["north", "south"] * 45 + ["zed.file@example.org"] * 10})
    report = feature_drift(reference, current, features=[FeatureSpec("zone", "category")])
    [new] = report.new_categories
    assert new.share == pytest.approx(0.1) and "zed.file" not in new.levels[0][0] and "@" in new.levels[0][0]
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    assert "zed.file@example.org" not in text and new.levels[0][0] in text


def test_a_window_read_in_batches_predicts_on_a_sample_beyond_the_limit(project: Project,
                                                                         ames: pd.DataFrame) -> None:
    model, baseline = project.load_model(), project.monitoring_baseline()
    shifted = ames.assign(Gr_Liv_Area=ames["Gr_Liv_Area"] * 1.5)
    whole = window_drift(baseline, shifted, model=model, domain=False)
    parts = [shifted.iloc[rows] for rows in np.array_split(np.arange(len(ames)), 3)]
    batched = batched_window_drift(baseline, iter(parts), model=model, domain=False, total_rows=len(ames),
                                   prediction_rows=1_000)
    assert [(f.feature, f.psi) for f in batched.features] == [(f.feature, f.psi) for f in whole.features]
    [sampled], [every] = batched.predictions, whole.predictions
    found = re.match(r"on ([\d,]+) of the 2,930 rows, sampled; ", sampled.detail)
    assert found is not None
    scored = int(found.group(1).replace(",", ""))
    assert 850 < scored < 1_150 and not every.detail.startswith("on ")
    assert sampled.psi == pytest.approx(every.psi, abs=0.05) and sampled.psi > 0.1


def test_predictions_are_compared_with_answers_on_rows_the_model_never_saw(ames: pd.DataFrame) -> None:
    """Extra trees answer their own training rows with certainty: against those answers, new rows from the same
    houses looked like a major shift in the predicted probabilities (a new-user trial's monitor advised a retrain).
    Against the judged model's answers on its holdout, they do not."""
    from sklearn.ensemble import ExtraTreesClassifier

    numbers = ["Gr_Liv_Area", "Lot_Area", "Year_Built", "Total_Bsmt_SF"]
    features = [FeatureSpec(name, "number") for name in numbers]
    shuffled = ames.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, holdout, new = shuffled.iloc[:1500], shuffled.iloc[1500:2200], shuffled.iloc[2200:]
    pipeline = Pipeline([("prepare", SimpleImputer(strategy="median")),
                         ("classify", ExtraTreesClassifier(n_estimators=60, random_state=0, n_jobs=1))])
    model = TrainedModel(name="pricey", version=1, problem="binary", target="Expensive", features=features,
                         pipeline=pipeline, classes=["Cheap", "Expensive"], positive_class="Expensive")
    labels = np.where(shuffled["Sale_Price"] > shuffled["Sale_Price"].median(), "Expensive", "Cheap")
    pipeline.fit(model.frame(train), labels[:1500])
    learned = monitoring_baseline(train, features=features, spec=Monitoring(), seed=0)  # as baselines were
    judged = monitoring_baseline(train, features=features, spec=Monitoring(), seed=0, judged=(model, holdout))
    assert learned.predictions is None and judged.holdout_rows == 700
    assert "the 700 holdout rows it was judged on, which it never learned" in " ".join(judged.notes())
    before = window_drift(learned, new, model=model, domain=False).predictions[0]
    after = window_drift(judged, new, model=model, domain=False).predictions[0]
    assert before.feature == after.feature == "probability of Expensive"
    assert before.drifted and before.psi > 0.4  # certain answers (0 or 1) against probabilities spread between
    assert not after.drifted and after.psi < 0.1


def test_a_personal_feature_is_hashed_once_for_the_references_the_window_and_the_log(monkeypatch) -> None:
    """A hashed e-mail the model reads: the holdout (hashed by the data stage), a raw window and the prediction log
    (hashed when logged) must each reach the model hashed once; hashed twice, every address is a level it never
    saw, the stored answers one constant and the logged window all new levels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    from cairn.config.schema import Privacy
    from cairn.privacy import PiiColumn, protect_columns

    monkeypatch.setenv("CAIRN_TEST_SALT", "not-a-real-secret")
    generator = np.random.default_rng(0)
    emails = [f"user{i}@example.com" for i in range(20)]
    raw = pd.DataFrame({"contact": generator.choice(emails, 3000)})
    labels = np.where(raw["contact"].isin(emails[:10]), "Yes", "No")
    personal = [PiiColumn("contact", "email", "name and content", 1.0)]
    privacy = Privacy(pii="hash", salt_env="CAIRN_TEST_SALT")
    clean = protect_columns(raw, found=personal, spec=privacy).table  # as the data stage keeps it
    features = [FeatureSpec("contact", "category")]
    pipeline = Pipeline([("encode", OneHotEncoder(handle_unknown="ignore")), ("classify", LogisticRegression())])
    model = TrainedModel("m", 1, "binary", "y", features, pipeline.fit(clean.iloc[:2000], labels[:2000]),
                         classes=["No", "Yes"], positive_class="Yes", personal_columns=personal, privacy=privacy)
    baseline = monitoring_baseline(clean.iloc[:2000], features=features, spec=Monitoring(), seed=0,
                                   judged=(model, clean.iloc[2000:]))
    [(_, stored)] = baseline.predictions
    assert stored.counts[:-1].min() < stored.counts[:-1].max()  # the answers spread: the holdout was read as known
    fresh = window_drift(baseline, raw.iloc[2000:], model=model, domain=False)
    assert not fresh.drifted and not fresh.prediction_drifted and fresh.new_categories == []
    logged = pd.DataFrame.from_records(model.loggable(raw.iloc[2000:].to_dict("records")), columns=["contact"])
    from_log = window_drift(baseline, logged, model=model, domain=False, protected=True)  # as monitor_requests
    assert not from_log.drifted and from_log.new_categories == []
    assert from_log.predictions[0].psi == pytest.approx(fresh.predictions[0].psi, abs=1e-9)

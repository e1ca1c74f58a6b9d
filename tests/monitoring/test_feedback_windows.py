"""Windows of a classifier: the realised metrics on the rows whose truth came back and the confidence-based
estimate beside them, on a fitted LightGBM pipeline (the serving tests' classifier)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from cairn.config.schema import ProjectConfig
from cairn.model.trained import TrainedModel
from cairn.monitoring.windows import performance_windows, served_table
from tests.serving.test_app import ames, classifier  # noqa: F401  (fixtures)


def config(**monitoring: Any) -> ProjectConfig:
    return ProjectConfig.model_validate({
        "project": "pricey", "data": {"source": "x.csv"}, "monitoring": monitoring,
        "business": {"problem": "binary", "target": "Expensive", "positive_class": "expensive",
                     "success": [{"metric": "roc_auc", "above": 0.8}, {"metric": "accuracy", "above": 0.7}]},
        "evaluation": {"bootstrap": 200}})


def test_a_classifier_window_has_realised_metrics_and_an_estimate_from_its_probabilities(
        classifier: TrainedModel, ames: pd.DataFrame) -> None:  # noqa: F811
    rows = ames.sample(900, random_state=2).reset_index(drop=True)
    records = json.loads(rows[classifier.feature_names].to_json(orient="records"))
    truth = np.where(rows["Sale_Price"] > ames["Sale_Price"].median(), "expensive", "cheap")
    days = np.repeat(["2010-03-01", "2010-03-02", "2010-03-03"], 300)
    lines = [{"at": f"{day}T12:00:00Z", "id": f"p{i}", "record": record, "prediction": None}
             for i, (day, record) in enumerate(zip(days, records, strict=True))]
    # truth comes back for the first two days only, and for every other row of them
    feedback = [{"prediction_id": f"p{i}", "version": 1, "actual": str(truth[i]), "event_at": None, "record": None,
                 "received_at": None, "prediction": None, "source": "api"} for i in range(0, 600, 2)]
    table = served_table(lines, feedback, version=1, feature_names=classifier.feature_names)
    windows = performance_windows(table, model=classifier, config=config(window="1d"))
    assert [(w.rows, w.labelled) for w in windows] == [(300, 150), (300, 150), (300, 0)]
    labels, probabilities = classifier.answer(classifier.inputs(rows[classifier.feature_names]))
    positive = probabilities[:, list(classifier.pipeline.classes_).index("expensive")]
    first = np.arange(0, 300, 2)
    auc = windows[0].realised("roc_auc")
    accuracy = windows[0].realised("accuracy")
    assert auc is not None and auc.value == pytest.approx(roc_auc_score(truth[first] == "expensive", positive[first]))
    assert accuracy is not None and accuracy.value == pytest.approx(accuracy_score(truth[first], labels[first]))
    assert auc.low is not None and auc.high is not None and auc.low < auc.value < auc.high and auc.met is True
    # the estimate: every window, all its rows; the last has no truth, only the estimate
    assert windows[2].realised("roc_auc") is None
    for window in windows:
        estimate = window.estimated("accuracy")
        assert estimate is not None and estimate.rows == 300 and 0.5 < estimate.value <= 1
    # an estimate from the probabilities, not a measure: near the realised accuracy
    assert windows[0].estimated("accuracy").value == pytest.approx(accuracy.value, abs=0.1)


def test_a_window_gives_a_verdict_on_ground_truth_only_when_its_interval_agrees(
        classifier: TrainedModel, ames: pd.DataFrame) -> None:  # noqa: F811
    """One labelled row has no interval, and fewer than VERDICT_ROWS_AT_LEAST (whose bootstrap is degenerate) or
    an interval across the threshold cannot say the objective is missed: no verdict (None), where the value alone
    once read 'missed' and counted towards retraining. Many clearly wrong rows still miss."""
    from cairn.monitoring.windows import VERDICT_ROWS_AT_LEAST, _interval_verdict

    assert VERDICT_ROWS_AT_LEAST == 20
    [accuracy] = [c for c in config().business.success if c.metric == "accuracy"]
    assert _interval_verdict(accuracy, 0.0, 0.0, 0.0, rows=2) is None  # two wrong answers: [0, 0], too few
    assert _interval_verdict(accuracy, 0.0, 0.0, 0.0, rows=20) is False
    assert _interval_verdict(accuracy, 0.6, 0.4, 0.8, rows=50) is None  # across 0.7
    assert _interval_verdict(accuracy, 0.9, 0.8, 0.95, rows=50) is True
    rows = ames.sample(200, random_state=3).reset_index(drop=True)
    records = json.loads(rows[classifier.feature_names].to_json(orient="records"))
    labels, _ = classifier.answer(classifier.inputs(rows[classifier.feature_names]))
    wrong = np.where(labels == "expensive", "cheap", "expensive")  # every answer wrong: accuracy 0
    days = np.repeat(["2010-03-01", "2010-03-02", "2010-03-03"], [1, 4, 195])
    lines = [{"at": f"{day}T12:00:00Z", "id": f"p{i}", "record": record, "prediction": None}
             for i, (day, record) in enumerate(zip(days, records, strict=True))]
    truth = [*wrong[:1], *labels[1:3], *wrong[3:5], *wrong[5:]]  # day two: two right, two wrong
    feedback = [{"prediction_id": f"p{i}", "version": 1, "actual": str(truth[i]), "event_at": None, "record": None,
                 "received_at": None, "prediction": None, "source": "api"} for i in range(200)]
    table = served_table(lines, feedback, version=1, feature_names=classifier.feature_names)
    windows = performance_windows(table, model=classifier, config=config(window="1d"))
    one, few, many = (w.realised("accuracy") for w in windows)
    # an estimate on a window's rows gives no verdict below as many rows either (two requests fired a rule)
    estimates = [w.estimated("accuracy") for w in windows]
    assert [(e.rows, e.met is None) for e in estimates if e is not None] == [(1, True), (4, True), (195, False)]
    assert one is not None and (one.value, one.low, one.met) == (0.0, None, None)
    assert few is not None and few.value == 0.5 and few.low is not None and few.low < 0.7 < few.high
    assert few.met is None
    assert many is not None and (many.value, many.high, many.met) == (0.0, 0.0, False)


def test_a_window_without_a_verdict_on_ground_truth_falls_back_on_its_estimate() -> None:
    """One labelled row gives no verdict: the estimate on every row served decides the estimate_missed rule, as
    in a window with no ground truth at all (one row of feedback silenced it)."""
    from datetime import UTC, datetime

    from cairn.monitoring.watch import _window_rules
    from cairn.monitoring.windows import Window, WindowMetric

    start = datetime(2010, 3, 1, tzinfo=UTC)

    def latest(labelled: int) -> list[Window]:
        realised = [WindowMetric("accuracy", "realised", 0.0, None, None, 0.7, None, labelled)] if labelled else []
        estimate = WindowMetric("accuracy", "estimated", 0.5, None, None, 0.7, False, 5000)
        return [Window(start, start, 5000, labelled, [*realised, estimate])]

    for labelled in (0, 1):
        rules, reasons, missed = _window_rules(latest(labelled), config())
        assert [rule["rule"] for rule in rules] == ["estimate_missed"] and not missed, labelled
        assert "accuracy is estimated at 0.500 (an estimate)" in reasons[0]

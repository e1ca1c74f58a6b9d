"""Evaluation's permutation importance fits its time on a wide table (issue 17, item 13), unchanged on a narrow one."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from cairn.config.schema import Business
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.stages.bounded_importance import MIN_EXAMINED, MIN_ROWS, REPEATS, importance_plan, sample_rows, screened
from cairn.stages.business import business_case
from cairn.stages.evaluation import _importance


def wide_model(columns: int, rows: int = 60) -> tuple[TrainedModel, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    X = pd.DataFrame({f"num_{i}": rng.normal(size=rows) for i in range(columns)})
    X["colour"] = rng.choice(["red", "blue"], size=rows)
    y = 4 * X["num_3"].to_numpy() - 2 * X["num_9"].to_numpy() + 3 * (X["colour"] == "red") + rng.normal(size=rows)
    numbers = [c for c in X.columns if c != "colour"]
    pipeline = Pipeline([("prepare", ColumnTransformer([("n", "passthrough", numbers),
                                                        ("c", OneHotEncoder(), ["colour"])])),
                         ("ridge", Ridge(alpha=1.0))]).fit(X, y)
    features = [FeatureSpec(c, "number") for c in numbers] + [FeatureSpec("colour", "category")]
    model = TrainedModel(name="wide", version=1, problem="regression", target="y", features=features,
                         pipeline=pipeline)
    return model, X, y


CASE = business_case(Business(problem="regression", target="y", success=[{"metric": "rmse", "below": 10}]))


def test_a_wide_table_examines_the_screened_inputs_and_says_so():
    model, X, y = wide_model(2_000)
    importance, notes = _importance(model, X, y, case=CASE, seed=1, budget_s=0.4)  # 0.04 s for the measurement
    [note] = notes
    examined = int(note.split(" examined ")[1].split(" of ")[0].replace(",", ""))
    assert MIN_EXAMINED <= examined < 2_001 and "of 2,001 inputs" in note and "repeat" in note
    assert [name for name, _ in importance[:2]] == ["num_3", "num_9"]  # the screen kept what matters


def test_a_narrow_table_is_measured_in_full_as_before():
    model, X, y = wide_model(10)
    importance, notes = _importance(model, X, y, case=CASE, seed=1, budget_s=600)
    assert notes == () and len(importance) == 11 and importance[0][0] == "num_3"
    assert REPEATS == 3


def test_the_screen_ranks_by_how_the_predictions_vary_with_each_input():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"noise": rng.normal(size=200), "signal": rng.normal(size=200),
                      "level": rng.choice(["a", "b"], size=200), "flat": ["x"] * 200})
    predicted = 3 * X["signal"].to_numpy() + 2.0 * (X["level"] == "a").to_numpy()
    assert screened(X, predicted[:, None])[:2] == ["signal", "level"]
    assert screened(X, predicted[:, None])[-1] == "flat"


class _SlowPerRow:
    """The fitted pipeline, as slow on every row as a heavy booster (flights: 4,000 trees, 0.6 ms a row)."""

    def __init__(self, pipeline, seconds_per_row: float) -> None:
        self.pipeline, self.seconds_per_row = pipeline, seconds_per_row

    def predict(self, X):
        time.sleep(self.seconds_per_row * len(X))
        return self.pipeline.predict(X)


def test_a_model_slow_on_every_row_is_permuted_on_fewer_rows_not_past_its_time():
    """Eleven inputs whose passes on 2,000 rows would take twelve times the allowance: each pass takes fewer
    rows, not fewer inputs (every input is still ranked) and not more time; the note says on how many rows."""
    model, X, y = wide_model(10, rows=2_000)
    slow = replace(model, pipeline=_SlowPerRow(model.pipeline, seconds_per_row=25e-6))  # 0.05 s a pass
    plan = importance_plan(slow.pipeline, X, budget_s=0.5, signal=slow.pipeline.predict)  # 0.05 s allowed
    assert len(plan.columns) == 11 and plan.repeats == 1 and plan.timed_rows == 2_000
    assert MIN_ROWS <= plan.rows < 2_000 and plan.bounded(11)
    importance, notes = _importance(slow, X, y, case=CASE, seed=1, budget_s=0.5)
    assert any(f"each on {MIN_ROWS:,} rows, to fit" in note for note in notes), notes  # 12 passes: the floor
    assert importance[0][0] == "num_3"
    roomy = importance_plan(slow.pipeline, X, budget_s=40.0, signal=slow.pipeline.predict)  # 4 s: room for 33, slow too
    assert roomy.rows == 2_000 and not roomy.bounded(11) and roomy.repeats == REPEATS


def test_a_sample_keeps_every_class_and_its_share_so_a_rare_positive_still_has_an_auc():
    """2 positives in 2,000 rows: a plain draw of 500 misses both three times in four, and ROC AUC is undefined
    on it (it failed the evaluation stage); a numeric target is drawn plainly."""
    y = np.array(["no"] * 1_998 + ["yes"] * 2)
    for seed in range(20):
        kept = sample_rows(y, 500, np.random.default_rng(seed))
        assert set(y[kept]) == {"no", "yes"} and 495 <= len(kept) <= 505 and len(set(kept)) == len(kept)
    balanced = sample_rows(np.array(["a", "b"] * 1_000), 500, np.random.default_rng(0))
    assert len(balanced) == 500 and (np.array(["a", "b"] * 1_000)[balanced] == "a").sum() == 250
    numbers = np.random.default_rng(1).normal(size=2_000)
    assert len(sample_rows(numbers, 500, np.random.default_rng(0))) == 500
    assert list(sample_rows(y, 5_000, np.random.default_rng(0))) == list(range(2_000))


def test_the_screened_path_does_not_shrink_rows_it_has_time_for():
    """The baseline's pass is counted when the inputs are chosen, so a wide table's screen fits its time on every
    row it timed (an off-by-one had shaved a few rows and changed the draw)."""
    model, X, y = wide_model(400, rows=2_000)
    plan = importance_plan(model.pipeline, X, budget_s=5.0, signal=model.pipeline.predict)  # 0.5 s: tens of passes
    assert MIN_EXAMINED < len(plan.columns) < 401 and plan.repeats == 1, plan
    assert plan.rows == plan.timed_rows == 2_000

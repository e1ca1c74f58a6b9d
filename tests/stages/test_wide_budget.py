"""A very wide table inside a small budget (issue 17, item 13): the inputs are screened before any candidate is
timed, CatBoost is priced from the table's shape before its timed fit can outlast its limit, and a budget no
estimate fits runs the cheapest candidate instead of refusing, up to a line."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Business, Data, Features, Models, Preprocessing, Training
from cairn.errors import ConfigError
from cairn.model.trained import TrainedModel
from cairn.stages.business import BusinessCase, business_case
from cairn.stages.features import FeaturePlan, plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.budget import OVERRUN_AT_MOST, Budget, CostEstimate, affordable, estimate_cost, over_budget
from cairn.stages.training.scope import search_scope
from cairn.stages.training.screening import (
    KEEP_AT_LEAST,
    SCREEN_ABOVE_INPUTS,
    association,
    inputs_affordable,
    screened,
)
from cairn.stages.training.train import train_models
from tests.stages.test_training import ames


def wide(rows: int = 200, columns: int = 3_000, *, seed: int = 0) -> tuple[pd.DataFrame, BusinessCase, FeaturePlan]:
    """Every fifth column categorical (4 levels), the rest noise; the target reads num_1, num_2 and cat_0."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i in range(columns):
        data[f"cat_{i}" if i % 5 == 0 else f"num_{i}"] = (rng.choice(["a", "b", "c", "d"], size=rows) if i % 5 == 0
                                                          else rng.normal(size=rows))
    table = pd.DataFrame(data)
    table["target"] = (3 * table["num_1"] - 2 * table["num_2"] + 4 * (table["cat_0"] == "a")
                       + rng.normal(size=rows) * 0.5 + 10)
    case = business_case(Business(problem="regression", target="target",
                                  success=[{"metric": "rmse", "below": 100}]))  # type: ignore[list-item]
    plan = plan_features(table, case=case, spec=Features(), data_spec=Data(source="wide.csv"),
                         cleaning=Preprocessing(), column_types={})
    return table, case, plan


@pytest.fixture(scope="module")
def wide_table() -> tuple[pd.DataFrame, BusinessCase, FeaturePlan]:
    return wide()


def test_a_wide_table_trains_within_a_ten_second_budget(wide_table):
    """200 x 3,000 at 10 s, the default candidates: screened to what the budget affords, trained, on time."""
    table, case, plan = wide_table
    budget_s = 10.0
    result = train_models(table, case=case, plan=plan, candidates=choose_candidates(Models()),
                          spec=Training(budget_minutes=budget_s / 60), seed=7)
    notes = result.notes("rmse")
    assert result.duration_s <= 1.2 * budget_s, notes
    assert result.features is not None and len(result.features) == 418, notes  # 10 s x 6,700 / 160 rows
    assert {"num_1", "num_2", "cat_0"} <= set(result.features)  # the signal survives the screen
    screen = next(line for line in result.remarks if line.startswith("screened a wide table"))
    assert screen.startswith("screened a wide table: kept 418 of 3,000 inputs"), screen
    assert "catboost" in result.dropped and "not timed: priced at" in result.dropped["catboost"], result.dropped
    # the model reads the screened inputs only, as the registered model will
    kept = [f for f in plan.features if f.name in set(result.features)]
    holdout = table.iloc[result.holdout_index]
    predicted = TrainedModel("wide", 1, "regression", "target", kept, result.pipeline).predict(holdout)
    rmse = float(np.sqrt(np.mean((predicted - holdout["target"].to_numpy()) ** 2)))
    assert rmse < 0.95 * float(holdout["target"].std()), notes  # the mean scores about 1.0


def test_catboost_on_a_wide_table_is_priced_before_it_can_outlast_its_limit(wide_table):
    """Its borders come before the first tree, where no callback reaches (4.5 s for one tree on 240 x 5,000): the
    estimate comes from the encoded shape instead, within the limit, and drops it with that price."""
    table, case, plan = wide_table
    data = search_scope(table, case=case, plan=plan, spec=Training(), seed=3).data
    [catboost] = choose_candidates(Models(candidates=["catboost"]))
    estimate = estimate_cost(catboost, data, limit_s=2.0)
    # priced from the encoded shape, returned before any fit (a fit cut by the clock sets cut_at_s instead)
    assert estimate.priced_tree_s is not None and estimate.priced_tree_s > 2.0 / 51 and estimate.cut_at_s is None
    fold_rows = len(data.split.folds[0][0])  # 128: the larger sample is the whole fold, the smaller half of it
    assert estimate.sample_rows == fold_rows // 2  # priced on the smaller sample: the larger one never fitted
    assert estimate.cv_s > 60  # every tree it may grow, on five folds
    linear = CostEstimate("linear", 5, 1, 160, 0.2)
    kept, dropped = affordable([estimate, linear], budget=Budget(60, "default"), seconds_left=50, folds=5)
    assert kept == ["linear"] and "(not timed: priced at " in dropped["catboost"], dropped
    narrow = search_scope(table[["num_1", "num_2", "cat_0", "target"]], case=case,
                          plan=plan_features(table[["num_1", "num_2", "cat_0", "target"]], case=case,
                                             spec=Features(), data_spec=Data(source="x.csv"),
                                             cleaning=Preprocessing(), column_types={}),
                          spec=Training(), seed=3).data
    timed = estimate_cost(catboost, narrow, limit_s=2.0)
    assert timed.priced_tree_s is None and timed.cut_at_s is None  # three columns: timed as always


def test_no_estimate_fits_so_the_cheapest_runs_alone_up_to_twice_the_budget():
    estimates = [CostEstimate("linear", 14, 3, 240, 0.5), CostEstimate("lightgbm", 30, 6, 240, 0.5)]
    budget = Budget(18, "business.constraints.train_budget_minutes")
    kept, dropped = affordable(estimates, budget=budget, seconds_left=13, folds=5, keep_cheapest=True)
    assert kept == ["linear"] and list(dropped) == ["lightgbm"]
    said = over_budget(estimates, kept, budget=budget, seconds_left=13)
    assert said is not None and said.startswith("no candidate's estimate fits the 0.3 min budget: the run goes on "
                                                "with the cheapest, linear (estimated 14 s for CV and 3.0 s")
    assert "business.constraints.train_budget_minutes of about 0.4 min would fit it on time" in said
    assert over_budget(estimates, ["linear"], budget=budget, seconds_left=40) is None  # it fits: nothing to say
    # beyond OVERRUN_AT_MOST budgets the run would take several budgets: refused as before
    hopeless = [CostEstimate("linear", OVERRUN_AT_MOST * 18, 3, 240, 0.5)]
    with pytest.raises(ConfigError, match="too small for any candidate"):
        affordable(hopeless, budget=budget, seconds_left=13, folds=5, keep_cheapest=True)


def test_the_screen_scores_signal_above_noise_and_levels_do_not_buy_association():
    rng = np.random.default_rng(1)
    rows = 300
    frame = pd.DataFrame({"signal": rng.normal(size=rows), "noise": rng.normal(size=rows),
                          "bumpy": rng.uniform(-2, 2, size=rows),
                          "ident": [f"id{i}" for i in range(rows)], "group": rng.choice(list("abc"), size=rows)})
    frame.loc[::7, "signal"] = np.nan  # missing values are a bin of their own
    y = (np.nan_to_num(frame["signal"].to_numpy()) + frame["bumpy"].to_numpy() ** 2
         + 2 * (frame["group"] == "a").to_numpy() + rng.normal(size=rows) * 0.3)
    target = (y - y.mean())[:, None]
    scores = association(frame, numbers=["signal", "noise", "bumpy"], categories=["ident", "group"], target=target)
    assert scores["signal"] > 0.1 and scores["bumpy"] > 0.3 and scores["group"] > 0.2  # bumpy: not monotone
    assert abs(scores["noise"]) < 0.05
    assert scores["ident"] == -1.0  # one level per row explains nothing beyond chance


def test_tables_at_most_the_line_are_never_screened():
    """Ames (81 inputs) even at a budget of seconds; a wide table at a budget that affords it all."""
    table, case, plan = ames(400)
    scope = search_scope(table, case=case, plan=plan, spec=Training(), seed=0)
    assert screened(scope, budget=Budget(1, "x"))[1] is None
    assert inputs_affordable(budget_s=18, searched_rows=240) == 502  # the 300 x 5,000 at 18 s
    assert inputs_affordable(budget_s=600, searched_rows=2_344) == 1_715  # Ames at 10 min: 81 inputs, far below
    assert inputs_affordable(budget_s=1, searched_rows=1_000_000) == KEEP_AT_LEAST
    for inputs, kept in ((SCREEN_ABOVE_INPUTS, None), (SCREEN_ABOVE_INPUTS + 1, KEEP_AT_LEAST)):
        table, case, plan = wide(200, inputs)
        scope = search_scope(table, case=case, plan=plan, spec=Training(), seed=0)
        screening = screened(scope, budget=Budget(1, "x"))[1]
        assert (screening and len(screening.kept)) == kept


def test_the_screen_repeats_and_keeps_what_derived_features_read(wide_table):
    table, case, plan = wide_table
    derived = replace(plan, derived={"odd": "num_4 * num_6"})
    scope = search_scope(table, case=case, plan=derived, spec=Training(), seed=3)
    first, screening = screened(scope, budget=Budget(10, "x"))
    again, repeated = screened(scope, budget=Budget(10, "x"))
    assert screening is not None and repeated is not None and screening.kept == repeated.kept
    assert {"num_4", "num_6"} <= set(screening.kept) and screening.forced.get("num_4") == "odd"
    assert list(first.data.X.columns) == screening.kept == [f.name for f in first.plan.features]
    assert len(scope.data.X.columns) == 3_000  # the scope it was handed is unchanged
    assert screening.dropped["num_3"].startswith("screened out of a wide table: association ")

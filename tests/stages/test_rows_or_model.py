"""When the budget confines the final fit, a cheaper model that the time left fits on many more rows can be judged
instead of the best validated one (`rows_or_model`), and a leaf-wise booster's default leaves grow with the final
fit's rows."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cairn.algorithms import leaves_for
from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training
from cairn.errors import ConfigError
from cairn.stages.business import BusinessCase
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates, default_params
from cairn.stages.training.budget import Budget
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import cross_validate
from cairn.stages.training.leaderboard import leaderboard
from cairn.stages.training.refit_cost import refit_s
from cairn.stages.training.rounds import Searched
from cairn.stages.training.rows_or_model import rows_or_model
from cairn.stages.training.scope import SearchScope, search_scope

CASE = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """A surface trees learn slowly: their error keeps falling as the rows grow, a straight line's does not."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(-1, 1, size=(60_000, 4)), columns=["a", "b", "c", "d"])
    frame["y"] = np.sin(4 * frame["a"]) * np.cos(4 * frame["b"]) + frame["c"] * frame["d"] + rng.normal(
        scale=0.05, size=len(frame))
    return frame


def _scope(table: pd.DataFrame, **training: object) -> SearchScope:
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    spec = Training(search_rows=8_000, validation="one_fold", **training)  # one fold of 6,400 fitting rows
    return replace(search_scope(table, case=CASE, plan=plan, spec=spec, seed=0), fit_searched_rows=True)


def _ctx(seconds_left: float, **training: object) -> Context:
    return Context(CASE, Training(**training), 0, Budget(seconds_left / 0.97, "test"), time.perf_counter(),
                   lambda message: None)


def _searched(scope: SearchScope, fit_s: dict[str, float]) -> dict[str, Searched]:
    """Each candidate's defaults really validated on the fold, with the seconds per fold set, so what the time left
    affords does not hang on this machine's speed."""
    searched = {}
    for candidate in choose_candidates(Models(candidates=list(fit_s))):
        params = default_params(candidate, case=CASE, early_stopping=candidate.algorithm.boosted,
                                rows=scope.data.fold_rows)
        result = cross_validate(candidate, params, scope.data)
        searched[candidate.name] = Searched(candidate, replace(result, fit_time_s=fit_s[candidate.name]), trials=1,
                                            pruned=0, cv_s=fit_s[candidate.name])
    return searched


def test_a_model_the_time_left_fits_on_many_more_rows_is_judged_when_its_curve_predicts_it_better(table):
    """scikit-learn's boosting validates best, but at 20 s a fold the time left refits it on about 10,000 rows (fewer
    the longer its curve takes to measure); LightGBM, a little worse on the searched rows and as steep, fits all
    48,000 and is predicted better there (from about 13,000 rows for the other, it would not be)."""
    scope = _scope(table)
    searched = _searched(scope, {"lightgbm": 0.05, "hist_gradient_boosting": 20.0})
    board = leaderboard(searched, scope, ensemble=False)
    assert board.chosen == "hist_gradient_boosting"
    boosting, lightgbm = (s.cv["rmse"][0] for s in board.scores)
    judged = rows_or_model(board, searched, scope, _ctx(60.0))
    assert judged.board.chosen == "lightgbm"
    assert [s.model for s in judged.board.scores] == ["lightgbm", "hist_gradient_boosting"]
    [remark] = judged.remarks
    assert remark.startswith(f"judged lightgbm rather than hist_gradient_boosting, the best validated (rmse "
                             f"{boosting:.3g} against {lightgbm:.3g}): the time left fits lightgbm on 48,000 rows and "
                             f"hist_gradient_boosting on ")
    assert remark.endswith("also set training.final_model: lightgbm")
    # the project that names the model keeps it, whatever the clock says; a replayed plan keeps the best validated
    named = rows_or_model(board, searched, scope, _ctx(60.0, final_model="hist_gradient_boosting"))
    assert named.board.chosen == "hist_gradient_boosting" and named.remarks == []
    assert rows_or_model(judged.board, searched, scope, _ctx(0.1, final_model="lightgbm")).board.chosen == "lightgbm"
    plan = {"lightgbm": 1, "hist_gradient_boosting": 1}
    replayed = rows_or_model(board, searched, scope, _ctx(60.0, tuning={"plan": plan}))
    assert replayed.board is board and replayed.remarks == []


def test_the_best_validated_model_stays_when_the_cheaper_one_gets_no_more_rows_or_the_fit_is_not_confined(table):
    scope = _scope(table)
    searched = _searched(scope, {"lightgbm": 0.05, "hist_gradient_boosting": 0.05})
    board = leaderboard(searched, scope, ensemble=False)
    same = rows_or_model(board, searched, scope, _ctx(60.0))  # both fit every row
    assert same.board is board and same.remarks == []
    every_row = rows_or_model(board, searched, scope.on_every_row(), _ctx(0.1))  # never confined by the budget
    assert every_row.board is board and board.chosen == "hist_gradient_boosting"


def test_final_model_must_name_a_model_the_search_scored(table):
    scope = _scope(table)
    searched = _searched(scope, {"lightgbm": 0.05})
    with pytest.raises(ConfigError) as raised:
        rows_or_model(leaderboard(searched, scope, ensemble=False), searched, scope, _ctx(3.0, final_model="catboost"))
    assert "training.final_model" in str(raised.value) and "lightgbm" in str(raised.value)
    with pytest.raises(ValidationError) as invalid:
        Training(final_model="gradient_descent")
    [error] = invalid.value.errors()  # one error listing every name, ensemble included, not one per kind
    assert error["loc"] == ("final_model",) and "'hist_gradient_boosting'" in error["msg"]
    assert "'ensemble'" in error["msg"]


def test_default_leaves_grow_with_the_final_fits_rows_and_are_priced_so(table):
    """15 leaves on 6,400 fold rows; 48 on all 48,000 training rows. Tuned or pinned leaves stay."""
    scope = _scope(table)
    lightgbm = choose_candidates(Models(candidates=["lightgbm"]))[0]
    defaults = default_params(lightgbm, case=CASE, early_stopping=True, rows=scope.data.fold_rows)
    result = cross_validate(lightgbm, defaults, scope.data, keep_outputs=False)
    assert leaves_for(6_400) == 15 and result.best_iteration is not None
    every_row = scope.on_every_row()
    assert every_row.refit_params(lightgbm, result)["num_leaves"] == 48
    assert scope.refit_params(lightgbm, result)["num_leaves"] == 15  # the searched rows: as searched
    tuned = replace(result, params={**result.params, "num_leaves": 40})
    assert every_row.refit_params(lightgbm, tuned)["num_leaves"] == 40
    faster = replace(result, params={**result.params, "learning_rate": 0.1})  # tuned, at the default's 15 leaves
    assert every_row.refit_params(lightgbm, faster)["num_leaves"] == 15
    pinned_leaves = replace(lightgbm, params={"num_leaves": 15})
    assert every_row.refit_params(pinned_leaves, result)["num_leaves"] == 15
    # finer trees cost more per tree: (48 / 15) ** 0.3 over the same trial with searched leaves, refit as they are
    searched_leaves = replace(result, params={**result.params, "num_leaves": 16})
    assert every_row.refit_params(lightgbm, searched_leaves)["num_leaves"] == 16
    assert refit_s(lightgbm, result, every_row) == pytest.approx(
        refit_s(lightgbm, searched_leaves, every_row) * (48 / 15) ** 0.3)

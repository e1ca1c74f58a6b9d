"""A chosen model whose final fit would end well past the budget gives way to the best validated one that fits,
and the note says how to replay that (training.final_model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Data, Features, Models, Preprocessing, Training
from cairn.project.reproduce import with_search_replayed
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.copy_reserve import final_fit_s
from cairn.stages.training.crossval import CVResult
from cairn.stages.training.in_time import in_time
from cairn.stages.training.leaderboard import CandidateScore, Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope, search_scope
from tests.stages.test_final_rows import CASE, _ctx


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=10_000)})
    frame["y"] = frame["x"] * 2 + rng.normal(size=10_000)
    return frame


def _scope(table: pd.DataFrame, *, search_rows: int | None) -> SearchScope:
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    spec = Training(search_rows=search_rows, validation="cv")
    return search_scope(table, case=CASE, plan=plan, spec=spec, seed=0)


def _searched() -> dict[str, Searched]:
    """A quick LightGBM (0.2 s a fold) and a slow CatBoost (6 s a fold), each for 100 trees."""
    candidates = {c.name: c for c in choose_candidates(Models(candidates=["lightgbm", "catboost"]))}

    def best(rmse: float, fit_time_s: float) -> CVResult:
        return CVResult({}, {"rmse": (rmse, 0.1)}, [rmse] * 5, 0.9, fit_time_s=fit_time_s, predict_ms_per_row=0.01,
                        best_iteration=100)

    return {"lightgbm": Searched(candidates["lightgbm"], best(1.10, 0.2), trials=3, pruned=0, cv_s=1.0),
            "catboost": Searched(candidates["catboost"], best(1.05, 6.0), trials=3, pruned=0, cv_s=30.0)}


def _board(searched: dict[str, Searched], scope: SearchScope) -> Leaderboard:
    """The blend of both first (its last trial made CatBoost a member), then CatBoost, then LightGBM."""
    def score(model: str, rmse: float) -> CandidateScore:
        return CandidateScore(model, {"rmse": (rmse, 0.1)}, 0.9, 1.0, fold_scores=[rmse] * 5,
                              params=(scope.refit_params(searched[model].candidate, searched[model].best)
                                      if model in searched else {}))

    return Leaderboard([score("ensemble", 1.00), score("catboost", 1.05), score("lightgbm", 1.10)],
                       {"catboost": 0.6, "lightgbm": 0.4})


def test_a_blend_whose_fit_on_every_row_would_overrun_gives_way_to_the_best_model_that_fits(table):
    """Every training row was searched, so no fewer rows can be fitted: with 3 s left, the blend (CatBoost's 7.2 s
    and LightGBM's 0.2 s) and CatBoost alone would end far past the stop, and LightGBM is judged, with the note that
    replays it."""
    scope, searched = _scope(table, search_rows=None), _searched()
    assert scope.split.rows_searched() == len(scope.data.y) == 8_000
    catboost_s, lightgbm_s = final_fit_s(["catboost"], searched, scope), final_fit_s(["lightgbm"], searched, scope)
    assert catboost_s == pytest.approx(30 * lightgbm_s) and lightgbm_s == pytest.approx(0.24, abs=0.01)

    chosen = in_time(_board(searched, scope), searched, scope, _ctx(3.0))
    assert [s.model for s in chosen.board.scores] == ["lightgbm", "ensemble", "catboost"]
    said, = chosen.remarks
    assert said.startswith("judged lightgbm rather than ensemble, the best validated (rmse 1 against 1.1): "
                           "ensemble's final fit on 8,000 rows was estimated at 7.5 s, lightgbm's at 0.2 s, with ")
    assert said.endswith(" left before the safety stop; to replay this run with training.tuning.plan, also set "
                         "training.final_model: lightgbm")
    replayed, said = with_search_replayed(_project(), _record(chosen.remarks))
    assert replayed.training.final_model == "lightgbm" and said == [
        "replayed what the budget chose: training.final_model: lightgbm"]
    earlier = ("judged catboost rather than ensemble, ...; to replay this run with training.tuning.plan, also set "
               "training.final_model: catboost")  # rows_or_model's note comes first: the last judgement stands
    assert with_search_replayed(_project(), _record([earlier, *chosen.remarks]))[0].training.final_model == "lightgbm"


def test_a_fit_within_a_tenth_of_the_budget_past_the_stop_stays_and_the_best_validated_that_fits_is_judged(table):
    """The blend (7.47 s) ends 8% of the time left past the stop: within a tenth of the budget, it stays. With less
    time, CatBoost (7.23 s), validated second best, still fits and is judged, not the cheaper LightGBM."""
    scope, searched = _scope(table, search_rows=None), _searched()
    blend_s = final_fit_s(["catboost", "lightgbm"], searched, scope)
    catboost_s = final_fit_s(["catboost"], searched, scope)
    board = _board(searched, scope)
    assert in_time(board, searched, scope, _ctx(blend_s / 1.08)).board is board
    between = (blend_s + catboost_s) / 2 / 1.1  # allowed: 1.103 x that, between CatBoost's estimate and the blend's
    assert in_time(board, searched, scope, _ctx(between)).board.chosen == "catboost"
    assert in_time(board, searched, scope, _ctx(blend_s / 1.5)).board.chosen == "lightgbm"


def test_nothing_changes_when_the_project_names_the_model_a_plan_is_replayed_or_no_model_fits(table):
    scope, searched = _scope(table, search_rows=None), _searched()
    board = _board(searched, scope)
    for ctx in (_ctx(3.0, final_model="ensemble"), _ctx(3.0, tuning={"plan": {"lightgbm": 3, "catboost": 3}}),
                _ctx(0.01)):  # named; replayed; not even LightGBM's 0.24 s fits 0.01 s
        chosen = in_time(board, searched, scope, ctx)
        assert chosen.board is board and chosen.remarks == []


def test_a_sampled_search_is_priced_on_the_searched_rows_it_may_be_confined_to(table):
    """With 4,000 of 8,000 rows searched, `final_rows` may confine the blend's fit to the searched rows: it is
    priced there, and stays chosen when that fits."""
    scope, searched = _scope(table, search_rows=4_000), _searched()
    assert scope.split.rows_searched() == 4_000 and not scope.fit_searched_rows
    on_every_row = final_fit_s(["catboost", "lightgbm"], searched, scope)
    confined = final_fit_s(["catboost", "lightgbm"], searched, replace(scope, fit_searched_rows=True))
    assert confined < on_every_row * 0.7
    board = _board(searched, scope)
    assert in_time(board, searched, scope, _ctx(confined)).board is board  # fits on the searched rows
    assert in_time(board, searched, scope, _ctx(confined / 2)).board.chosen == "lightgbm"


def _project():
    from cairn.config.schema import ProjectConfig

    return ProjectConfig.model_validate({"project": "p", "business": {"problem": "regression", "target": "y"},
                                         "data": {"source": "x.csv"}})


def _record(notes: list[str]):
    from types import SimpleNamespace

    return SimpleNamespace(stages=[SimpleNamespace(stage="training", notes=notes)])

"""Trial members: the search keeps each family's next best trials, the blend may draw on them under their own
names (`lightgbm#2`), the final fit fits each with its own parameters, and the blend falls back to the families'
best trials when the budget confined the final fit or their fit would not end in time (a replay keeps them)."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training, Tuning
from cairn.stages.business import BusinessCase
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.budget import Budget
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import CVResult, TrainingData
from cairn.stages.training.final_fit import final_fit
from cairn.stages.training.leaderboard import ENSEMBLE, leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope, search_scope
from cairn.stages.training.train import train_models
from cairn.stages.training.trial_library import family_of, rank_of, with_trials
from cairn.stages.training.trial_members import ranked_with_trials
from cairn.stages.training.tuning import CandidateSearch

CASE = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))


def _table(rows: int = 1_200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    frame["y"] = frame["a"] * 2 + np.sin(frame["b"] * 3) + rng.normal(scale=0.5, size=rows)
    return frame


def _scope(spec: Training, table: pd.DataFrame | None = None) -> SearchScope:
    table = _table() if table is None else table
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    return search_scope(table, case=CASE, plan=plan, spec=spec, seed=0)


def _result(data: TrainingData, oof: np.ndarray, params: dict[str, object] | None = None) -> CVResult:
    """A trial whose out-of-fold predictions are `oof`, scored on `data`'s folds."""
    y = data.y
    scores = [float(np.sqrt(np.mean((oof[valid] - y[valid]) ** 2))) for _, valid in data.split.folds]
    return CVResult(params or {}, {"rmse": (float(np.mean(scores)), float(np.std(scores)))}, scores,
                    float(np.mean(scores)) * 0.8, 0.01, 0.01, None, oof, [oof[fit] for fit, _ in data.split.folds])


def _searched(scope: SearchScope, *, noise: dict[str, list[float]]) -> dict[str, Searched]:
    """Each family with trials whose out-of-fold errors are independent noise of the given scales, best first."""
    rng = np.random.default_rng(1)
    y = scope.data.y
    searched = {}
    for candidate in choose_candidates(Models(candidates=list(noise))):
        trials = [_result(scope.data, y + rng.normal(scale=scale, size=len(y)), {"num_leaves": 15 + 8 * rank})
                  for rank, scale in enumerate(noise[candidate.name])]
        trials.sort(key=lambda trial: trial.primary_mean)  # as a search keeps them
        searched[candidate.name] = Searched(candidate, trials[0], len(trials), 0, 0.05, tuple(trials[1:]))
    return searched


def _ctx(spec: Training, *, seconds_left: float = 60.0, replay: bool = False) -> Context:
    if replay:
        spec = spec.model_copy(update={"tuning": Tuning(plan={"lightgbm": 2, "linear": 1})})
    return Context(CASE, spec, 0, Budget(seconds_left / 0.97, "test"), time.perf_counter(), lambda message: None)


def test_a_search_keeps_its_next_best_complete_trials_best_first():
    spec = Training(validation="cv")
    scope = _scope(spec)
    [candidate] = choose_candidates(Models(candidates=["linear"]))
    search = CandidateSearch(candidate, scope.data, 0, keep_others=2)
    y = scope.data.y
    errors = [0.9, 0.5, 0.7, 0.6, 1.2]  # the noise of each trial, in the order they finish
    for scale in errors:
        search._record(_result(scope.data, y + np.random.default_rng(int(scale * 10)).normal(scale=scale,
                                                                                           size=len(y))))
    means = [search.best.primary_mean, *[other.primary_mean for other in search.others]]
    assert len(search.others) == 2 and means == sorted(means)
    assert search.best.primary_mean == pytest.approx(min(search.history))
    assert sorted(search.history)[:3] == pytest.approx(means)  # the best and the next two, no others
    without = CandidateSearch(candidate, scope.data, 0)  # training.blend_trials: 1
    for scale in errors:
        without._record(_result(scope.data, y + scale))
    assert without.others == ()
    no_outputs = CandidateSearch(candidate, scope.data, 0, keep_others=2)
    for scale in errors:
        no_outputs._record(replace(_result(scope.data, y + scale), oof=None))
    assert no_outputs.others == ()  # nothing for the blend to weigh


def test_the_library_names_each_trial_after_its_family_and_rank():
    spec = Training(validation="cv")
    scope = _scope(spec)
    searched = _searched(scope, noise={"lightgbm": [1.0, 1.1, 1.2], "linear": [1.05]})
    library = with_trials(searched)
    assert list(library) == ["lightgbm", "linear", "lightgbm#2", "lightgbm#3"]
    assert library["lightgbm#3"].best is searched["lightgbm"].others[1]
    assert library["lightgbm#2"].candidate is searched["lightgbm"].candidate and library["lightgbm#2"].others == ()
    assert [family_of(name) for name in library] == ["lightgbm", "linear", "lightgbm", "lightgbm"]
    assert [rank_of(name) for name in library] == [1, 1, 2, 3]


def test_the_blend_draws_on_a_familys_other_trials_and_the_final_fit_fits_each_with_its_parameters():
    spec = Training(validation="cv")
    scope = _scope(spec)
    searched = _searched(scope, noise={"lightgbm": [1.0, 1.02, 1.04], "linear": [3.0]})
    families = leaderboard(searched, scope, ensemble=True)
    assert families.blend == {} and families.chosen == "lightgbm"  # linear is far behind: no blend of families
    ranked = ranked_with_trials(searched, scope, _ctx(spec))
    board = ranked.board
    assert board.chosen == ENSEMBLE and set(board.blend) == {"lightgbm", "lightgbm#2", "lightgbm#3"}
    assert sum(board.blend.values()) == pytest.approx(1.0)
    [said] = ranked.remarks
    assert said.startswith("the blend draws on trials other than a family's best: lightgbm#2 is lightgbm's trial "
                           "ranked 2 (CV rmse ")
    ensemble = next(score for score in board.scores if score.model == ENSEMBLE)
    assert ensemble.cv["rmse"][0] < searched["lightgbm"].best.primary_mean * 0.7  # independent errors average out
    pipeline = final_fit(board, ranked.models, scope, _ctx(spec))
    assert [name for name, _ in pipeline.estimators] == list(board.blend)
    leaves = {name: member.steps[-1][1].get_params()["num_leaves"]
              for (name, _), member in zip(pipeline.estimators, pipeline.estimators_, strict=True)}
    assert leaves == {name: ranked.models[name].best.params["num_leaves"] for name in board.blend}
    assert len(set(leaves.values())) == 3  # each trial's own parameters
    X = scope.data.X.iloc[:40]
    each = np.array([member.predict(X) for member in pipeline.estimators_])
    np.testing.assert_allclose(pipeline.predict(X), np.average(each, axis=0, weights=list(board.blend.values())),
                               rtol=1e-12)


def test_the_blend_falls_back_to_each_familys_best_when_the_fit_is_confined_or_late_but_not_on_a_replay():
    spec = Training(validation="cv")
    scope = _scope(spec)
    searched = _searched(scope, noise={"lightgbm": [1.0, 1.02, 1.04], "linear": [1.05]})
    in_time = ranked_with_trials(searched, scope, _ctx(spec))
    assert "lightgbm#2" in in_time.board.blend and "lightgbm#2" in in_time.models
    late = ranked_with_trials(searched, scope, _ctx(spec, seconds_left=0.001))
    assert set(late.board.blend) == {"lightgbm", "linear"} and "lightgbm#2" not in late.models
    [said] = late.remarks
    assert said.startswith("a blend drawing on trials other than a family's best (lightgbm#2 is lightgbm's trial "
                           "ranked 2 (CV rmse ")
    assert ") was not fitted: its final fit was estimated at " in said
    assert said.endswith(" of the budget left; the blend draws on each family's best trial alone; to replay "
                         "this run with training.tuning.plan, also set training.blend_trials: 1")
    confined = ranked_with_trials(searched, replace(scope, fit_searched_rows=True), _ctx(spec))
    assert set(confined.board.blend) == {"lightgbm", "linear"}
    [said] = confined.remarks  # its replay may fit every row: the setting that keeps the blend is named
    assert ") was not fitted: the final fit is confined to fewer rows, and more rows pay better than more members;" \
        in said and said.endswith("also set training.blend_trials: 1")
    replayed = ranked_with_trials(searched, scope, _ctx(spec, seconds_left=0.001, replay=True))
    assert replayed.board.blend == in_time.board.blend  # the clock decides nothing on a replay


def test_searches_keep_other_trials_only_when_training_blend_trials_asks_and_a_blend_may_use_them():
    from cairn.stages.training.standing import first_trial

    [candidate] = choose_candidates(Models(candidates=["linear"]))
    kept = {}
    for name, spec in {"default": Training(validation="cv"), "one": Training(validation="cv", blend_trials=1),
                       "five": Training(validation="cv", blend_trials=5),
                       "no blend": Training(validation="cv", ensemble=False)}.items():
        search, _ = first_trial(candidate, {}, 0.0, deadline=None, scope=_scope(spec), ctx=_ctx(spec))
        kept[name] = search.keep_others
    assert kept == {"default": 2, "one": 0, "five": 4, "no blend": 0}
    from cairn.stages.training.trial_library import OUTPUTS_KEPT_AT_MOST, trials_kept

    assert trials_kept(3, ensemble=True, rows=OUTPUTS_KEPT_AT_MOST // 10, classes=10) == 2
    assert trials_kept(3, ensemble=True, rows=OUTPUTS_KEPT_AT_MOST // 10 + 1, classes=10) == 0  # too many outputs
    with pytest.raises(ValueError, match="blend_trials"):
        Training(blend_trials=0)


def test_training_with_three_trials_per_family_fits_and_serves_the_blend_it_drew():
    table = _table(800)
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    candidates = choose_candidates(Models(candidates=["lightgbm", "linear"]))
    spec = Training(validation="cv", blend_trials=3, budget_minutes=0.25, refit_seeds=1,
                    tuning=Tuning(plan={"lightgbm": 6, "linear": 3}))
    result = train_models(table, case=CASE, plan=plan, candidates=candidates, spec=spec, seed=0)
    weights = result.ensemble_weights  # a recorded plan: the same trials, the same blend, whatever the clock says
    assert result.chosen == ENSEMBLE and "lightgbm#2" in weights and sum(weights.values()) == pytest.approx(1.0)
    assert [name for name, _ in result.pipeline.estimators] == list(weights)
    [said] = [remark for remark in result.remarks if "trials other than a family's best" in remark]
    assert said.startswith("the blend draws on trials other than a family's best: lightgbm#2 is lightgbm's trial "
                           "ranked 2 (CV rmse ")
    X = table.drop(columns="y").iloc[:20]
    each = np.array([member.predict(X) for member in result.pipeline.estimators_])
    np.testing.assert_allclose(result.pipeline.predict(X), np.average(each, axis=0, weights=list(weights.values())),
                               rtol=1e-12)


def test_a_blend_of_many_near_equal_members_each_under_the_least_weight_is_the_best_alone():
    from cairn.stages.training.ensemble import greedy_weights

    spec = Training(validation="cv")
    scope = _scope(spec)
    rng = np.random.default_rng(3)
    y = scope.data.y
    results = {f"m{k}": _result(scope.data, y + rng.normal(scale=1.0, size=len(y))) for k in range(24)}
    best = min(results, key=lambda name: results[name].primary_mean)
    # eleven picks, each a new member (independent errors average out): every weight 1/11, under MIN_WEIGHT 0.1,
    # which trimmed them all and left no model at all
    assert greedy_weights(results, scope.data, rounds=10) == {best: 1.0}

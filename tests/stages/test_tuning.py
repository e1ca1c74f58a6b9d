"""The budget becomes a plan before any tuning; the search runs exactly that plan, defaults first, pruned on early
folds, and a seeded sampler makes it repeat."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.algorithms import ALGORITHMS
from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training
from cairn.errors import ConfigError
from cairn.model.trained import as_model_frame
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan, plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.budget import (
    Budget,
    CostEstimate,
    affordable,
    estimate_cost,
    plan_trials,
    training_budget,
)
from cairn.stages.training.crossval import TrainingData
from cairn.stages.training.splits import split_rows
from cairn.stages.training.tuning import CandidateSearch, enough_trials, quiet_optuna, sampler_seed, search_space
from tests.stages.test_training import ames


def _case(**constraints: float) -> BusinessCase:
    return BusinessCase("regression", "y", "", "mape", [], Constraints(**constraints))


# the budget --------------------------------------------------------------------------------------------------------
def test_budget_comes_from_the_business_constraint_first():
    assert training_budget(_case(train_budget_minutes=2), Training(budget_minutes=7)) == Budget(
        120, "business.constraints.train_budget_minutes")
    assert training_budget(_case(), Training(budget_minutes=7)) == Budget(420, "training.budget_minutes")
    assert training_budget(_case(), Training()) == Budget(300, "default")


def test_candidates_that_cannot_finish_are_dropped_with_their_estimate():
    estimates = [CostEstimate("linear", 5, 1, 100, 0.1), CostEstimate("catboost", 570, 100, 100, 2.0),
                 CostEstimate("lightgbm", 40, 8, 100, 0.5)]
    kept, dropped = affordable(estimates, budget=Budget(120, "training.budget_minutes"), seconds_left=100, folds=5)
    assert kept == ["linear", "lightgbm"]
    assert dropped == {"catboost": "estimated 9.5 min for 5-fold CV and 100 s for the final fit, budget 2 min "
                                   "(46 s left after cheaper candidates)"}


def test_a_budget_no_candidate_fits_names_the_cheapest_and_a_fix():
    estimates = [CostEstimate("knn", 30, 3, 100, 0.1), CostEstimate("lightgbm", 90, 20, 100, 0.5)]
    with pytest.raises(ConfigError) as raised:
        affordable(estimates, budget=Budget(12, "business.constraints.train_budget_minutes"), seconds_left=10,
                   folds=5)
    problem = raised.value.problems[0]
    assert problem.where == "business.constraints.train_budget_minutes"
    assert "the cheapest candidate, knn, needs an estimated 30 s for 5-fold CV" in problem.expected
    assert problem.got == "0.2 minutes" and "lower training.cv" in (problem.fix or "")


def test_plan_gives_equal_time_within_caps_and_the_total():
    seconds = {"linear": 1.0, "lightgbm": 4.0, "extra_trees": 8.0}
    caps = {"linear": 1, "lightgbm": 16, "extra_trees": 8}
    plan = plan_trials(seconds, caps=caps, seconds=60, total=None)
    assert plan["linear"] == 1  # nothing to tune
    spent = {name: (plan[name] - 1) * seconds[name] for name in ("lightgbm", "extra_trees")}
    assert abs(spent["lightgbm"] - spent["extra_trees"]) <= 8  # within one trial of equal time
    assert 60 - 8 < sum((plan[n] - 1) * seconds[n] for n in plan) <= 60
    assert plan_trials(seconds, caps=caps, seconds=1e6, total=None) == caps  # plenty of time: caps bind
    capped = plan_trials(seconds, caps=caps, seconds=1e6, total=10)
    assert sum(capped.values()) == 10 and capped["linear"] == 1
    assert plan_trials(seconds, caps=caps, seconds=0, total=None) == {"linear": 1, "lightgbm": 1, "extra_trees": 1}


def test_a_plan_continues_from_the_trials_that_ran():
    seconds = {"lightgbm": 1.0, "catboost": 2.0}
    caps = {"lightgbm": 16, "catboost": 12}
    ran = {"lightgbm": 5, "catboost": 3}
    more = plan_trials(seconds, caps=caps, seconds=10, total=None, ran=ran)
    assert more["lightgbm"] >= 5 and more["catboost"] >= 3
    assert sum((more[n] - ran[n]) * seconds[n] for n in more) <= 10
    assert more["catboost"] > 3  # catboost had spent 4 s against lightgbm's 4 s: both get time
    assert plan_trials(seconds, caps=caps, seconds=1e6, total=8, ran=ran) == ran  # the total is already reached
    assert ran == {"lightgbm": 5, "catboost": 3}  # not changed in place


def test_caps_grow_with_the_budget_up_to_four_times():
    lightgbm = choose_candidates(Models(candidates=["lightgbm"]))[0]
    assert enough_trials(lightgbm, problem="regression", budget_s=30) == 16
    assert enough_trials(lightgbm, problem="regression", budget_s=60) == 32
    assert enough_trials(lightgbm, problem="regression", budget_s=90) == 48
    assert enough_trials(lightgbm, problem="regression", budget_s=3600) == 64


def test_the_estimate_is_in_the_range_of_the_real_cross_validation():
    table, case, plan = ames(400)
    data = _data(table, case, plan)
    estimate = estimate_cost(choose_candidates(Models(candidates=["linear"]))[0], data)
    assert estimate.sample_rows == len(data.split.folds[0][0])  # under 4,000 rows: the whole first fold
    assert 0 < estimate.sample_s < estimate.cv_s < 60
    assert estimate.refit_s > estimate.cv_s / 5  # the final fit has more rows than a fold


def test_the_timed_fit_starts_after_the_family_is_loaded(monkeypatch):
    """A family whose first build is slow (a cold import of its package, here a 2 s sleep) is built once before
    the clock starts: the timed samples of a linear fit on 400 rows take milliseconds, not the 2 s."""
    import dataclasses
    import time

    table, case, plan = ames(400)
    data = _data(table, case, plan)
    [linear] = choose_candidates(Models(candidates=["linear"]))
    build, calls = linear.algorithm.build, []

    def cold_first(*args, **kwargs):
        if not calls:
            time.sleep(2.0)
        calls.append(1)
        return build(*args, **kwargs)

    monkeypatch.setitem(ALGORITHMS, "linear", dataclasses.replace(linear.algorithm, build=cold_first))
    estimate = estimate_cost(linear, data)
    assert len(calls) >= 3  # the load, then one build per timed sample
    assert estimate.sample_s < 1.0, estimate


def test_a_timed_fit_cut_at_its_limit_is_priced_as_unfinished_and_dropped():
    """The timed sample fit stops at `limit_s`; the candidate is then priced at every tree it may grow."""
    import time

    table, case, plan = ames(2000)
    data = _data(table, case, plan)
    [lightgbm] = choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": {"learning_rate": 1e-4}}))
    began = time.perf_counter()
    estimate = estimate_cost(lightgbm, data, limit_s=0.2)
    assert time.perf_counter() - began < 5
    assert estimate.cut_at_s == 0.2 and estimate.trees == 2000 + 50
    assert estimate.sample_s < 1.5  # the larger sample was not fitted after the cut
    cheap = estimate_cost(choose_candidates(Models(candidates=["linear"]))[0], data, limit_s=0.2)
    assert cheap.cut_at_s is None  # no trees, no deadline: the linear fit is not cut
    left = cheap.cv_s + cheap.refit_s + 0.5 * (estimate.cv_s + estimate.refit_s)
    kept, dropped = affordable([estimate, cheap], budget=Budget(60, "default"), seconds_left=left, folds=5)
    assert kept == ["linear"] and "timed sample fit was stopped at 0.2 s, unfinished" in dropped["lightgbm"]


# the search --------------------------------------------------------------------------------------------------------
def _data(table, case, plan, *, early_stopping: bool = True) -> TrainingData:
    spec = Training()
    split = split_rows(table, case=case, spec=spec, seed=3)
    X = as_model_frame(table, plan.features).iloc[split.train_index].reset_index(drop=True)
    y = table[case.target].to_numpy()[split.train_index]
    return TrainingData(X, y, split, plan, case, None, case.reported_metrics, 3, 1, early_stopping)


@pytest.fixture(scope="module")
def search_data() -> TrainingData:
    table, case, plan = ames(300)
    return _data(table, case, plan)


def _search(data: TrainingData, trials: int, **pinned: object) -> CandidateSearch:
    candidate = choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": pinned}))[0]
    restore = quiet_optuna()
    try:
        search = CandidateSearch(candidate, data, seed=3)
        search.run_defaults()
        search.run(trials)
    finally:
        restore()
    return search


def test_search_runs_the_plan_defaults_first_and_keeps_the_best(search_data):
    search = _search(search_data, 8, n_estimators=60)
    assert search.trials_run == 8 and not search.stopped
    assert len(search.history) == 8 - search.pruned
    assert search.best is not None and search.best.primary_mean == min(search.history)
    assert search.history[0] <= max(search.history)
    defaults = search.start_params
    assert defaults["learning_rate"] == 0.03 and "n_estimators" not in defaults  # pinned: never searched


def test_the_same_plan_gives_the_same_trials(search_data):
    first, second = _search(search_data, 6, n_estimators=60), _search(search_data, 6, n_estimators=60)
    assert first.history == second.history and first.pruned == second.pruned
    assert first.best.params == second.best.params
    np.testing.assert_array_equal(first.best.oof, second.best.oof)


def test_a_search_continued_in_rounds_asks_for_the_same_trials(search_data):
    """Top-up rounds extend each study; replaying the final counts in one round must find the same model."""
    candidate = choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": {"n_estimators": 60}}))[0]
    restore = quiet_optuna()
    try:
        rounds = CandidateSearch(candidate, search_data, seed=3)
        rounds.run_defaults()
        rounds.run(4)
        rounds.run(9)
    finally:
        restore()
    once = _search(search_data, 9, n_estimators=60)
    assert rounds.trials_run == once.trials_run == 9
    assert rounds.history == once.history and rounds.pruned == once.pruned
    np.testing.assert_array_equal(rounds.best.oof, once.best.oof)


def test_folds_side_by_side_give_the_same_search(search_data):
    """training.parallel_folds: folds fit in two threads, read in fold order: the same trials, pruning and model."""
    from dataclasses import replace

    one = _search(search_data, 10, n_estimators=60)
    two = _search(replace(search_data, fold_workers=2, _encoded={}), 10, n_estimators=60)
    assert two.history == one.history and two.pruned == one.pruned >= 1
    np.testing.assert_array_equal(two.best.oof, one.best.oof)
    assert two.best.fold_scores == one.best.fold_scores


def test_bad_trials_are_pruned_on_early_folds(search_data):
    search = _search(search_data, 14, n_estimators=60)
    assert search.pruned >= 1
    assert search.trials_run == 14


def test_safety_stop_cuts_the_search_and_the_plan_records_what_ran(search_data):
    candidate = choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": {"n_estimators": 60}}))[0]
    search = CandidateSearch(candidate, search_data, seed=3)
    search.run_defaults()
    search.deadline = 0.0  # long past
    search.run(10)
    assert search.stopped and search.trials_run == 1


def test_search_space_leaves_out_pinned_parameters():
    lightgbm = choose_candidates(Models(candidates=["lightgbm"], params={"lightgbm": {"num_leaves": 7}}))[0]
    assert "num_leaves" not in search_space(lightgbm, problem="regression")
    assert "learning_rate" in search_space(lightgbm, problem="regression")
    linear = choose_candidates(Models(candidates=["linear"]))[0]
    assert search_space(linear, problem="regression") == {}  # RidgeCV chooses its alpha itself
    assert enough_trials(linear, problem="regression") == 1
    assert set(search_space(linear, problem="binary")) == {"C"}


def test_each_candidate_samples_with_its_own_seed_by_catalogue_position():
    assert [sampler_seed(3, name) for name in ("linear", "lightgbm", "catboost", "knn")] == [3, 4, 6, 10]
    knn = choose_candidates(Models(candidates=["knn"]))[0]
    assert enough_trials(knn, problem="regression", budget_s=60) == 16
    assert list(search_space(knn, problem="binary")) == ["n_neighbors", "weights", "p"]


def _straight_line() -> tuple[pd.DataFrame, BusinessCase, FeaturePlan]:
    """30,000 rows of y = 2x + noise, a one-minute regression and its feature plan: what the budget's search-size
    choices are priced on."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=30_000)})
    table["y"] = table["x"] * 2 + rng.normal(size=30_000)
    case = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))
    plan = plan_features(table, case=case, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    return table, case, plan


def test_the_budget_may_search_fewer_rows_so_that_more_candidates_compete():
    """A sample-size model of each candidate's cost lets the stage halve the searched rows (not below 5,000)
    when that keeps a candidate the full sample would drop; the final fit still has every row."""
    from cairn.stages.training.pool import Priced, smaller_search
    from cairn.stages.training.scope import search_scope

    table, case, plan = _straight_line()
    scope = search_scope(table, case=case, plan=plan, spec=Training(validation="cv"), seed=0)  # priced as 5 folds
    assert scope.split.rows_searched() == 24_000
    linear = CostEstimate("linear", 1.0, 0.5, 1_000, 0.1, per_tree_s=0.05, trees=1, growth=1.0)
    booster = CostEstimate("lightgbm", 0.0, 0.0, 1_000, 0.1, per_tree_s=0.001, trees=500, growth=1.0)
    booster = replace(booster, cv_s=booster.fit_s(scope.data.fold_rows) * 5, refit_s=booster.fit_s(24_000))
    assert booster.cv_s == pytest.approx(48.0) and booster.refit_s == pytest.approx(12.0)
    kept, dropped = affordable([linear, booster], budget=Budget(60, "x"), seconds_left=40, folds=5)
    assert "lightgbm" in dropped
    smaller = smaller_search(Priced([linear, booster], kept, dropped, scope), left=40, budget=Budget(60, "x"), seed=0,
                             boosted=BOOSTED)
    assert smaller.kept == ["linear", "lightgbm"] and not smaller.dropped
    assert smaller.scope.split.rows_searched() == 12_000 and len(smaller.scope.data.y) == 24_000  # refit: every row
    assert scope.split.rows_searched() == 24_000  # the scope it was handed is unchanged
    assert "12,000-row sample (to fit the budget)" in smaller.scope.split.description
    assert smaller.remarks == ["to replay this run with training.tuning.plan, also set training.search_rows: 12000"]
    assert {e.name: round(e.cv_s) for e in smaller.estimates} == {"linear": 2, "lightgbm": 24}  # costs at 12,000 rows
    assert list(smaller.scope.fit_rows()) == list(range(24_000))
    replayed = search_scope(table, case=case, plan=plan, spec=Training(search_rows=12_000, validation="cv"), seed=0)
    for (fit, valid), (again_fit, again_valid) in zip(smaller.scope.split.folds, replayed.split.folds, strict=True):
        np.testing.assert_array_equal(fit, again_fit)  # what the note says to set gives the same folds
        np.testing.assert_array_equal(valid, again_valid)

    # a final fit on every row that cannot finish, and no smaller search (8,000 halved is under MIN_SEARCH_ROWS):
    # the judged model is fitted on the searched rows instead
    scope = search_scope(table, case=case, plan=plan, spec=Training(search_rows=8_000, validation="cv"), seed=0)
    slow = replace(booster, trees=700)
    slow = replace(slow, cv_s=slow.fit_s(scope.data.fold_rows) * 5, refit_s=slow.fit_s(24_000))
    kept, dropped = affordable([linear, slow], budget=Budget(60, "x"), seconds_left=35, folds=5)
    assert "lightgbm" in dropped and slow.cv_s == pytest.approx(22.4) and slow.refit_s == pytest.approx(16.8)
    smaller = smaller_search(Priced([linear, slow], kept, dropped, scope), left=35, budget=Budget(60, "x"), seed=0,
                             boosted=BOOSTED)
    assert smaller.kept == ["linear", "lightgbm"] and smaller.scope.split.rows_searched() == 8_000
    assert len(smaller.scope.fit_rows()) == 8_000 and smaller.scope.fit_searched_rows
    assert not scope.fit_searched_rows  # the scope it was handed is unchanged
    assert not any("final_fit" in remark for remark in smaller.remarks)  # said by `final_rows`, which may widen it
    replayed = search_scope(table, case=case, plan=plan, spec=Training(search_rows=8_000, final_fit="searched_rows"),
                            seed=0)
    np.testing.assert_array_equal(smaller.scope.fit_rows(), replayed.fit_rows())


BOOSTED = frozenset({"lightgbm"})


def test_rows_are_halved_for_a_booster_not_for_a_family_the_booster_competes_beside():
    """Halving the searched rows costs every family; a dropped family other than a booster is worth it only when
    no booster competes (diamonds at one minute: halved so that extra trees fitted as well, RMSE 517 against 491
    on every row). It stays dropped, and may still join late."""
    from cairn.stages.training.pool import Priced, smaller_search
    from cairn.stages.training.scope import search_scope

    table, case, plan = _straight_line()
    scope = search_scope(table, case=case, plan=plan, spec=Training(validation="cv"), seed=0)

    def priced(name: str, per_tree_s: float, trees: int) -> CostEstimate:
        estimate = CostEstimate(name, 0.0, 0.0, 1_000, 0.1, per_tree_s=per_tree_s, trees=trees, growth=1.0)
        return replace(estimate, cv_s=estimate.fit_s(scope.data.fold_rows) * 5, refit_s=estimate.fit_s(24_000))

    linear, booster, forest = priced("linear", 0.01, 1), priced("lightgbm", 0.0005, 500), priced("extra_trees", 0.25, 1)
    assert (booster.cv_s, booster.refit_s, forest.cv_s, forest.refit_s) == pytest.approx((24.0, 6.0, 24.0, 6.0))
    kept, dropped = affordable([linear, booster, forest], budget=Budget(60, "x"), seconds_left=40, folds=5)
    assert kept == ["linear", "lightgbm"] and list(dropped) == ["extra_trees"]
    as_priced = Priced([linear, booster, forest], kept, dropped, scope)
    same = smaller_search(as_priced, left=40, budget=Budget(60, "x"), seed=0, boosted=BOOSTED)
    assert same is as_priced and same.scope.split.rows_searched() == 24_000  # every row searched, the forest out

    # no booster among the candidates: the halved rows let the forest compete beside linear
    halved = smaller_search(as_priced, left=40, budget=Budget(60, "x"), seed=0, boosted=frozenset())
    assert halved.scope.split.rows_searched() == 12_000 and not halved.dropped

    # the booster itself dropped at every row: halved for it, and not again for the forest (6,000 rows fit both)
    kept, dropped = affordable([linear, booster, forest], budget=Budget(60, "x"), seconds_left=30, folds=5)
    assert kept == ["linear"]
    halved = smaller_search(Priced([linear, booster, forest], kept, dropped, scope), left=30, budget=Budget(60, "x"),
                            seed=0, boosted=BOOSTED)
    assert halved.scope.split.rows_searched() == 12_000 and halved.kept == ["linear", "lightgbm"]
    assert list(halved.dropped) == ["extra_trees"]


def test_defaults_that_kept_most_trees_are_tried_next_with_a_larger_step(search_data):
    """A booster whose defaults' early stopping kept 70% of MAX_TREES or more had a step too small: its first
    tuned trial is the defaults with a learning rate three times larger, not a random draw; otherwise nothing is
    enqueued."""
    from cairn.algorithms import MAX_TREES
    from cairn.stages.training.tuning import faster_step

    search = _search(search_data, trials=1)  # the defaults' trial alone: no study yet
    assert search.best is not None and search.best.best_iteration < 0.7 * MAX_TREES
    start = search.start_params
    assert faster_step(search.best.best_iteration, start, search.space) is None
    assert faster_step(int(0.7 * MAX_TREES) - 1, start, search.space) is None  # just under: left to the sampler
    at_threshold = faster_step(int(0.7 * MAX_TREES), start, search.space)  # hotel_rates' LightGBM kept 1,546
    assert at_threshold is not None
    assert at_threshold["learning_rate"] == pytest.approx(start["learning_rate"] * 3)
    assert faster_step(MAX_TREES, start, {}) is None  # learning rate pinned or not searched
    search.best = replace(search.best, best_iteration=MAX_TREES)  # as if every tree had been kept
    search.run(2)
    asked = search._study.trials[1].params
    assert asked["learning_rate"] == pytest.approx(start["learning_rate"] * 3)
    assert {name: asked[name] for name in asked if name != "learning_rate"} == {
        name: start[name] for name in search.space if name != "learning_rate"}

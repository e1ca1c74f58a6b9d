"""What a final fit is priced at, what tuning keeps free for it, and the rows a fit the budget confined to the searched
rows takes: as many more as the time left affords."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training
from cairn.stages.business import BusinessCase
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates, default_params
from cairn.stages.training.budget import Budget
from cairn.stages.training.context import Context
from cairn.stages.training.copy_reserve import final_fit_s
from cairn.stages.training.crossval import CVResult
from cairn.stages.training.final_rows import final_rows
from cairn.stages.training.leaderboard import CandidateScore, Leaderboard, refit_for
from cairn.stages.training.pool import Pool
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope, search_scope

CASE = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30_000)})
    frame["y"] = frame["x"] * 2 + rng.normal(size=30_000)
    return frame


def _scope(table: pd.DataFrame, **training: object) -> SearchScope:
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    spec = Training(search_rows=8_000, validation="cv", **training)  # five folds of 6,400 rows: the figures below
    return search_scope(table, case=CASE, plan=plan, spec=spec, seed=0)


def _searched() -> dict[str, Searched]:
    """LightGBM whose folds took 1 s each for 100 trees (and the 50 rounds early stopping waited)."""
    lightgbm = choose_candidates(Models(candidates=["lightgbm"]))[0]
    best = CVResult({}, {"rmse": (1.0, 0.1)}, [1.0] * 5, 0.9, fit_time_s=1.0, predict_ms_per_row=0.01,
                    best_iteration=100)
    return {"lightgbm": Searched(lightgbm, best, trials=3, pruned=0, cv_s=5.0)}


def _board(searched: dict[str, Searched], scope: SearchScope) -> Leaderboard:
    best = searched["lightgbm"].best
    return Leaderboard([CandidateScore("lightgbm", best.cv, best.train, best.fit_time_s,
                                       params=scope.refit_params(searched["lightgbm"].candidate, best),
                                       best_iteration=100)], {})


def _ctx(seconds_left: float, **training: object) -> Context:
    """A stage that has `seconds_left` before its safety stop (97% of the budget)."""
    return Context(CASE, Training(**training), 0, Budget(seconds_left / 0.97, "test"), time.perf_counter(),
                   lambda message: None)


def test_the_final_fit_takes_as_many_rows_as_the_time_left_affords(table):
    """Priced at the folds' seconds per tree (1 s for 150 trees on 5,760 rows) grown as the rows ** 0.8, a final
    fit growing 200 trees costs (rows / 5,760) ** 0.8 x 200 / 150 s: 3.6 s afford 19,000 rows of the 24,000 (19,935
    before rounding), and the note names them."""
    scope = replace(_scope(table), fit_searched_rows=True)  # as the budget leaves it (`smaller_search`)
    searched = _searched()
    assert len(scope.fit_rows()) == 8_000 and len(scope.data.y) == 24_000
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(3.6))
    fitted = rows.scope.fit_rows()
    assert len(fitted) == 19_000
    assert set(scope.fit_rows()) <= set(fitted)  # the searched rows and more
    assert final_fit_s(["lightgbm"], searched, rows.scope) == pytest.approx((19_000 / 5_760) ** 0.8 * 200 / 150)
    assert final_fit_s(["lightgbm"], searched, replace(rows.scope, fit_rows_count=20_000)) > 3.6
    assert rows.remarks == [
        "the model the holdout judges was fitted on 19,000 of the 24,000 training rows (the 8,000 searched and "
        "11,000 more, as many as the 4 s left afforded): a fit on every row would not finish in time; to replay "
        "this run with training.tuning.plan, also set training.final_fit: 19000"]
    board = refit_for(_board(searched, scope), searched, rows.scope)
    assert board.scores[0].params["n_estimators"] == 200  # the trees the widened fit grows, shown as fitted
    assert _board(searched, scope).scores[0].params["n_estimators"] == 139  # 8,000 / 5,760 of the folds' 100

    replayed = _scope(table, final_fit=19_000)  # what the note says to set gives the same rows
    assert replayed.fit_searched_rows
    np.testing.assert_array_equal(replayed.fit_rows(), fitted)
    again = final_rows(_board(searched, replayed), searched, replayed, _ctx(0.01, final_fit=19_000))
    assert again.scope is replayed and again.remarks == []  # a replay keeps the count whatever the clock says

    # training.refit_seeds: 2 fits LightGBM twice on the rows chosen: twice the time affords the same rows
    twice = final_rows(_board(searched, scope), searched, scope, _ctx(7.2, refit_seeds=2))
    assert len(twice.scope.fit_rows()) == 19_000
    halved = final_rows(_board(searched, scope), searched, scope, _ctx(3.6, refit_seeds=2))
    assert len(halved.scope.fit_rows()) == 9_000  # two fits in 3.6 s: 1.8 s each
    assert final_fit_s(["lightgbm"], searched, halved.scope) <= 1.8 < final_fit_s(
        ["lightgbm"], searched, replace(halved.scope, fit_rows_count=10_000))


def test_a_fit_on_every_row_the_time_left_cannot_pay_for_is_confined_and_widened_as_far_as_it_affords(table):
    """The search reserved a fit on all 24,000 rows from the blend its best trials built so far, and a last trial
    changed it: a final fit on every row (4.17 s) more than a tenth of the budget past the stop is confined to the
    8,000 searched rows and widened as far as the time left affords, with the note that replays it. Within that
    tenth, on a replay, or when the project chose its final fit, every row is fitted as planned."""
    scope, searched = _scope(table), _searched()
    assert not scope.fit_searched_rows and scope.split.rows_searched() == 8_000
    everything = final_fit_s(["lightgbm"], searched, scope)
    assert everything == pytest.approx(4.17, abs=0.01)

    rows = final_rows(_board(searched, scope), searched, scope, _ctx(3.6))  # 4.17 s > 3.6 s + 0.37 s
    assert len(rows.scope.fit_rows()) == 19_000  # what 3.6 s afford, as for a fit the plan confined
    assert rows.remarks[0].startswith("the model the holdout judges was fitted on 19,000 of the 24,000 training rows")
    assert rows.remarks[0].endswith("also set training.final_fit: 19000")
    short = final_rows(_board(searched, scope), searched, scope, _ctx(0.5))
    assert short.scope.fit_searched_rows and len(short.scope.fit_rows()) == 8_000
    assert short.remarks[0].endswith("also set training.final_fit: searched_rows")

    within = final_rows(_board(searched, scope), searched, scope, _ctx(3.9))  # 4.17 s <= 3.9 s + 0.40 s
    assert within.scope is scope and within.remarks == []
    replayed = final_rows(_board(searched, scope), searched, scope, _ctx(0.5, tuning={"plan": {"lightgbm": 3}}))
    assert replayed.scope is scope and replayed.remarks == []
    unsampled = _scope(table.iloc[:7_000].reset_index(drop=True))  # every training row searched: none to leave out
    assert final_rows(_board(searched, unsampled), searched, unsampled, _ctx(0.01)).scope is unsampled


def test_no_time_left_keeps_the_searched_rows_and_says_so(table):
    scope = replace(_scope(table), fit_searched_rows=True)
    searched = _searched()
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(0.5))  # 8,800 rows would cost 2 s
    assert rows.scope is scope and len(rows.scope.fit_rows()) == 8_000
    assert rows.remarks[0].startswith("the model the holdout judges was fitted on the 8,000 searched rows, not all "
                                      "24,000")
    assert rows.remarks[0].endswith("also set training.final_fit: searched_rows")


def test_enough_time_fits_every_training_row(table):
    scope = replace(_scope(table), fit_searched_rows=True)
    searched = _searched()
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(60.0))
    assert len(rows.scope.fit_rows()) == 24_000
    np.testing.assert_array_equal(rows.scope.fit_rows(), np.arange(24_000))
    assert rows.remarks[0].startswith("the model the holdout judges was fitted on all 24,000 training rows: the 60 s "
                                      "left afforded them after all")
    assert rows.remarks[0].endswith("the plan had kept the time for the 8,000 searched rows only")
    assert not rows.scope.fit_searched_rows  # as an unconfined run: deployment may refit on every row as well


def test_a_project_that_chose_its_final_fit_keeps_it(table):
    searched = _searched()
    for training in ({"final_fit": "searched_rows"}, {}):  # asked for the searched rows; every row (no budget cut)
        scope = _scope(table, **training)
        rows = final_rows(_board(searched, scope), searched, scope, _ctx(60.0, **training))
        assert rows.scope is scope and rows.remarks == []
        assert len(rows.scope.fit_rows()) == (8_000 if training else 24_000)


@pytest.mark.parametrize("value", [500, "most", -1])
def test_a_final_fit_that_is_neither_a_choice_nor_a_row_count_is_refused(value):
    with pytest.raises(ValidationError) as error:
        Training(final_fit=value)
    assert "final_fit" in str(error.value)


def test_a_search_that_stops_because_no_next_trial_fits_says_so_not_that_it_converged(table):
    """The remark names the cheapest next trial and its cost when that, and not every search's cap, ended it."""
    from cairn.stages.training.rounds import finished_early
    from cairn.stages.training.tuning import CandidateSearch

    scope = _scope(table)
    searched = _searched()
    search = CandidateSearch(searched["lightgbm"].candidate, scope.data, seed=0, best=searched["lightgbm"].best,
                             trials_run=2, history=[1.0, 1.0])
    # a 10 s budget, nothing spent: 9.3 s to tune less the reserve, LightGBM's refit on 24,000 rows priced from
    # its folds (1 s for 150 trees on 5,760 rows) at (24,000 / 5,760) ** 0.8 x 200 / 150 s, times 1.2: 5.0 s
    ctx = _ctx(10.0 * 0.97)
    stopped = finished_early({"lightgbm": search}, scope, ctx, trial_s={"lightgbm": 12.0})
    assert len(stopped) == 1 and stopped[0].startswith("tuning stopped with about 4.3 s of the 10 s budget left "
                                                       "unused after the final fit's reserve")
    assert stopped[0].endswith("the cheapest next trial (lightgbm, about 12 s) would not fit in it")
    flat = finished_early({"lightgbm": search}, scope, ctx, trial_s={"lightgbm": 2.0})
    assert flat[0].startswith("finished early: every candidate reached its trial cap")


def test_cairn_reproduce_sets_what_the_training_notes_say_replays_the_budgets_choices():
    """The sample, the final fit's row count, the model judged for its rows, the seed copies and CatBoost on target
    means, read back from the notes."""
    from types import SimpleNamespace

    from cairn.config.schema import ProjectConfig
    from cairn.project.reproduce import with_search_replayed

    config = ProjectConfig.model_validate({"project": "p", "business": {"problem": "regression", "target": "y"},
                                           "data": {"source": "x.csv"}})
    notes = ["budget 1 min", "to replay this run with training.tuning.plan, also set training.search_rows: 12500",
             "the model the holdout judges was fitted on 84,000 of the 209,500 training rows (...): a fit on every "
             "row would not finish in time; to replay this run with training.tuning.plan, also set "
             "training.final_fit: 84000 and training.final_rate_boost: 4",
             "a blend drawing on up to 3 trials of a family (...): ...; it draws on up to 2 trials of a family; to "
             "replay this run with training.tuning.plan, also set training.blend_trials: 2",
             "judged lightgbm rather than catboost, the best validated (...); to replay this run with "
             "training.tuning.plan, also set training.final_model: lightgbm",
             "catboost reads the many-level categories as out-of-fold target means, ...; to replay this run with "
             "training.tuning.plan, also set models.native_categories: false",
             "each booster of the chosen model (lightgbm) was fitted with 4 seeds (0-3) and its predictions averaged, "
             "...; to replay this run with training.tuning.plan, also set training.refit_seeds: 4"]
    record = SimpleNamespace(stages=[SimpleNamespace(stage="training", notes=notes)])
    replayed, said = with_search_replayed(config, record)
    assert replayed.training.search_rows == 12_500 and replayed.training.final_fit == 84_000
    assert replayed.models.native_categories is False and replayed.training.final_model == "lightgbm"
    assert replayed.training.refit_seeds == 4 and replayed.training.blend_trials == 2
    assert replayed.training.final_rate_boost == 4
    assert said == ["replayed what the budget chose: training.search_rows: 12500, training.final_fit: 84000, "
                    "training.final_model: lightgbm, training.blend_trials: 2, training.refit_seeds: 4, "
                    "training.final_rate_boost: 4, models.native_categories: false"]
    kept = ["catboost reads the many-level categories as out-of-fold target means, ...; to replay this run with "
            "training.tuning.plan, also set models.native_categories: [lightgbm]"]  # LightGBM stayed native
    replayed, said = with_search_replayed(config, SimpleNamespace(stages=[SimpleNamespace(stage="training",
                                                                                          notes=kept)]))
    assert replayed.models.native_categories == ["lightgbm"]
    assert said == ["replayed what the budget chose: models.native_categories: [lightgbm]"]
    some = ["boosters of the chosen model fitted with more seeds and their predictions averaged, ...: lightgbm 5 "
            "seeds (0-4); catboost (about 26.9 s a fit) copied no further, with 8.1 s left; to replay this run with "
            "training.tuning.plan, also set training.refit_seeds: {lightgbm: 5, xgboost#2: 3}"]
    replayed, said = with_search_replayed(config, SimpleNamespace(stages=[SimpleNamespace(stage="training",
                                                                                          notes=some)]))
    assert replayed.training.refit_seeds == {"lightgbm": 5, "xgboost#2": 3}
    assert said == ["replayed what the budget chose: training.refit_seeds: {lightgbm: 5, xgboost#2: 3}"]
    unchanged, said = with_search_replayed(config, SimpleNamespace(stages=[SimpleNamespace(stage="training",
                                                                                           notes=["budget 1 min"])]))
    assert unchanged is config and said == []
    # the validation the run had, whatever training.validation auto decides today
    for split, validation in [("random holdout of 52,376 rows (20%); 5-fold random CV on 209,500 rows", "cv"),
                              ("random holdout of 52,376 rows (20%); one validation fold of the 209,500 training "
                               "rows, the first of 5 (training.validation auto: ...)", "one_fold")]:
        record = SimpleNamespace(stages=[SimpleNamespace(stage="training", notes=[split, "budget 1 min"])])
        pinned, said = with_search_replayed(config, record)
        assert pinned.training.validation == validation and said == []


def test_tuning_reserves_the_final_fits_refits_as_their_best_trials_so_far_would_fit(table):
    """The reserve is the refit of what the final fit would fit if the search ended now, priced from the best
    trials so far with a tuned trial's 1.2 margin, and no learning curves (they get what the search leaves): a tuned
    trial that fits three times slower than the defaults moves the safety stop earlier by the difference. A fit the
    budget confined to the searched rows is reserved the time of a fit on every row."""
    from cairn.stages.training.standing import reserve_s, safety_deadline
    from cairn.stages.training.tuning import CandidateSearch

    scope, searched = _scope(table), _searched()

    def searches(fit_time_s: float) -> dict[str, CandidateSearch]:
        best = replace(searched["lightgbm"].best, fit_time_s=fit_time_s)
        return {"lightgbm": CandidateSearch(searched["lightgbm"].candidate, scope.data, seed=0, best=best,
                                            trials_run=2, history=[1.0, 1.0])}

    ctx = _ctx(60.0)
    refit = final_fit_s(["lightgbm"], searched, scope)  # on all 24,000 rows
    assert refit == pytest.approx((24_000 / 5_760) ** 0.8 * 200 / 150)
    assert reserve_s(searches(1.0), scope, ctx) == pytest.approx(refit * 1.2)
    assert reserve_s(searches(3.0), scope, ctx) == pytest.approx(refit * 3 * 1.2)
    moved = safety_deadline(searches(1.0), scope, ctx) - safety_deadline(searches(3.0), scope, ctx)
    assert moved == pytest.approx(refit * 2 * 1.2)

    confined = replace(scope, fit_searched_rows=True)  # 8,000 searched rows
    assert reserve_s(searches(1.0), confined, _ctx(60.0, final_fit="searched_rows")) < refit  # on the 8,000 rows
    assert reserve_s(searches(1.0), confined, ctx) == pytest.approx(refit * 1.2)  # the budget confined it


def test_the_reserve_prices_the_blend_the_search_would_end_with_not_the_best_three(table):
    """Four searches: the best two blend (their errors are independent), the third and fourth are far behind and
    get no weight, so only the first two refits are reserved, however slow the others' are. With
    training.ensemble off, only the best one's; with training.final_model naming the slowest, its refit too."""
    from cairn.stages.training.standing import reserve_s
    from cairn.stages.training.tuning import CandidateSearch

    scope, searched = _scope(table), _searched()
    y = scope.data.y
    rng = np.random.default_rng(1)

    def search(mean: float, fit_time_s: float, noise: float) -> CandidateSearch:
        best = replace(searched["lightgbm"].best, fold_scores=[mean] * 5, fit_time_s=fit_time_s,
                       oof=y + rng.normal(scale=noise, size=len(y)))
        return CandidateSearch(searched["lightgbm"].candidate, scope.data, seed=0, best=best, trials_run=1,
                               history=[mean])

    four = {"lightgbm": search(1.0, 1.0, 1.0), "catboost": search(1.05, 2.0, 1.0),
            "extra_trees": search(1.2, 3.0, 6.0), "knn": search(1.25, 100.0, 8.0)}
    refit = final_fit_s(["lightgbm"], searched, scope)
    assert reserve_s(four, scope, _ctx(60.0)) == pytest.approx(refit * (1 + 2) * 1.2)
    assert reserve_s(four, scope, _ctx(60.0, ensemble=False)) == pytest.approx(refit * 1 * 1.2)
    # the model training.final_model names is refit whatever the blend says
    assert reserve_s(four, scope, _ctx(60.0, final_model="knn")) == pytest.approx(refit * (1 + 2 + 100) * 1.2)


def test_the_reserve_keeps_the_boosters_the_seed_copies_a_number_asks_for(table):
    """training.refit_seeds: N keeps N - 1 copies of each booster the final fit would refit (`copy_reserve`),
    whatever they cost, on a fit the budget confined too (priced on every row); auto keeps none (it fits copies
    with what the search leaves), and a model whose fit does not vary with its seed is kept no copy."""
    from cairn.stages.training.standing import reserve_s
    from cairn.stages.training.tuning import CandidateSearch

    scope, searched = _scope(table), _searched()
    lightgbm = {"lightgbm": CandidateSearch(searched["lightgbm"].candidate, scope.data, seed=0,
                                            best=searched["lightgbm"].best, trials_run=2, history=[1.0, 1.0])}
    refit = final_fit_s(["lightgbm"], searched, scope)  # 4.17 s on all 24,000 rows
    assert refit == pytest.approx(4.17, abs=0.01)
    assert reserve_s(lightgbm, scope, _ctx(60.0)) == pytest.approx(refit * 1.2)
    assert reserve_s(lightgbm, scope, _ctx(60.0, refit_seeds=3)) == pytest.approx(refit * 3 * 1.2)
    assert reserve_s(lightgbm, scope, _ctx(30.0, refit_seeds=8)) == pytest.approx(refit * 8 * 1.2)  # past 30 s
    confined = replace(scope, fit_searched_rows=True)
    assert reserve_s(lightgbm, confined, _ctx(60.0, refit_seeds=3)) == pytest.approx(refit * 3 * 1.2)

    trees = choose_candidates(Models(candidates=["extra_trees"]))[0]
    extra_trees = {"extra_trees": CandidateSearch(trees, scope.data, seed=0, best=searched["lightgbm"].best,
                                                  trials_run=1, history=[1.0])}
    alone = reserve_s(extra_trees, scope, _ctx(60.0))
    assert alone > 0 and reserve_s(extra_trees, scope, _ctx(60.0, refit_seeds=3)) == pytest.approx(alone)
    # training.final_model naming extra trees: the final fit copies nothing, whatever else the reserve refits
    both = {**lightgbm, **extra_trees}
    pinned = _ctx(60.0, refit_seeds=3, final_model="extra_trees", ensemble=False)
    assert reserve_s(both, scope, pinned) == pytest.approx(refit * 1.2 + alone)
    assert reserve_s(both, scope, _ctx(60.0, refit_seeds=3, ensemble=False)) == pytest.approx(refit * 3 * 1.2)  # best


def test_top_up_rounds_set_the_safety_stop_from_the_leaders_as_tuned_so_far(table):
    """Before each candidate's trials the deadline is set again from the reserve the searches' best trials price; a
    deadline left from before (here: never) would let tuning eat the final fit's time."""
    from cairn.stages.training.budget import STOP_SHARE
    from cairn.stages.training.rounds import top_up
    from cairn.stages.training.standing import reserve_s
    from cairn.stages.training.tuning import CandidateSearch

    scope = _scope(table.iloc[:4_000].reset_index(drop=True))  # fewer rows than training.search_rows: all searched
    lightgbm = choose_candidates(Models(candidates=["lightgbm"]))[0]
    search = CandidateSearch(lightgbm, scope.data, seed=0)
    began = time.perf_counter()
    search.run_defaults()
    cv_s = time.perf_counter() - began
    ctx = Context(CASE, Training(), 0, Budget(max(cv_s * 8, 3.0), "test"), time.perf_counter(), lambda message: None)
    assert search.deadline is None
    topped = top_up({"lightgbm": search}, {"lightgbm": cv_s}, {"lightgbm": 0.0}, caps={"lightgbm": 3},
                    pool=Pool([lightgbm], {}, scope, {}), ctx=ctx)
    assert search.trials_run > 1, topped  # at least one round ran
    assert search.deadline is not None  # set by the rounds, from a reserve the best trial priced
    assert reserve_s({"lightgbm": search}, scope, ctx) > 0
    assert search.deadline < ctx.started + ctx.budget.seconds * STOP_SHARE


def _defaults_searched(scope: SearchScope, *, learning_rate: float | None = None) -> dict[str, Searched]:
    """`_searched`'s LightGBM, its best trial the defaults the folds' rows set (a rate of 0.03, 15 leaves)."""
    searched = _searched()
    lightgbm = searched["lightgbm"]
    params = default_params(lightgbm.candidate, case=CASE, early_stopping=False, rows=scope.data.fold_rows)
    if learning_rate is not None:
        params["learning_rate"] = learning_rate
    return {"lightgbm": replace(lightgbm, best=replace(lightgbm.best, params=params))}


def test_a_larger_learning_rate_buys_rows_the_validated_rate_could_not(table):
    """1 s affords the 8,000 searched rows at the validated rate (200 trees); 4 times the rate, with 50 trees,
    affords 20,000, more than twice as many: the final fit takes them, the note says so and how to replay it, and
    the defaults' leaves still grow with the rows (20 for 20,000)."""
    scope = replace(_scope(table), fit_searched_rows=True)
    searched = _defaults_searched(scope)
    assert searched["lightgbm"].best.params["learning_rate"] == 0.03
    assert searched["lightgbm"].best.params["num_leaves"] == 15
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(1.0))
    assert rows.scope.rate_boost == 4 and len(rows.scope.fit_rows()) == 20_000
    fitted = refit_for(_board(searched, scope), searched, rows.scope).scores[0].params
    assert fitted["learning_rate"] == pytest.approx(0.12)
    assert fitted["n_estimators"] == 50 and fitted["num_leaves"] == 20
    assert rows.remarks == [
        "the model the holdout judges was fitted on 20,000 of the 24,000 training rows (the 8,000 searched and "
        "12,000 more, as many as the 1 s left afforded), at 4 times the validated learning rate (lightgbm 0.12) and "
        "1/4 of the trees, where the validated rate afforded no more than the 8,000 searched rows: a fit on every "
        "row would not finish in time; to replay this run with training.tuning.plan, also set training.final_fit: "
        "20000 and training.final_rate_boost: 4"]

    replayed = _scope(table, final_fit=20_000, final_rate_boost=4)  # what the note says to set
    assert replayed.rate_boost == 4
    np.testing.assert_array_equal(replayed.fit_rows(), rows.scope.fit_rows())
    assert refit_for(_board(searched, replayed), searched, replayed).scores[0].params == fitted

    everything = final_rows(_board(searched, scope), searched, scope, _ctx(1.5))
    assert everything.scope.rate_boost == 4 and not everything.scope.fit_searched_rows
    assert everything.remarks[0].startswith("the model the holdout judges was fitted on all 24,000 training rows, "
                                            "at 4 times the validated learning rate")
    assert everything.remarks[0].endswith("also set training.final_rate_boost: 4")


def test_the_learning_rate_stays_when_it_would_not_double_the_rows_or_grow_too_large(table):
    scope = replace(_scope(table), fit_searched_rows=True)
    searched = _defaults_searched(scope)
    # 3.6 s afford 18,000 rows at the validated rate: a larger one could add 6,000 at most, not worth coarser steps
    near = final_rows(_board(searched, scope), searched, scope, _ctx(3.6))
    assert near.scope.rate_boost == 1 and len(near.scope.fit_rows()) == 18_000
    assert refit_for(_board(searched, scope), searched, near.scope).scores[0].params["learning_rate"] == 0.03
    # in 2 s a rate of 0.05 grows four times (every row), one of 0.1 only doubles (0.4 > 0.3: 22,000 rows)
    slow = _defaults_searched(scope, learning_rate=0.05)
    assert final_rows(_board(slow, scope), slow, scope, _ctx(2.0)).scope.rate_boost == 4
    fast = _defaults_searched(scope, learning_rate=0.1)
    doubled = final_rows(_board(fast, scope), fast, scope, _ctx(2.0)).scope
    assert doubled.rate_boost == 2 and len(doubled.fit_rows()) == 22_000
    # a rate the project pinned, or a set boost, is kept
    pinned = {"lightgbm": replace(searched["lightgbm"], candidate=choose_candidates(
        Models(candidates=["lightgbm"], params={"lightgbm": {"learning_rate": 0.03}}))[0])}
    assert final_rows(_board(pinned, scope), pinned, scope, _ctx(1.0)).scope.rate_boost == 1
    assert refit_for(_board(pinned, scope), pinned, replace(scope, rate_boost=4)).scores[0].params[
        "learning_rate"] == 0.03
    assert final_rows(_board(searched, scope), searched, scope, _ctx(1.0, final_rate_boost=1)).scope.rate_boost == 1


def test_a_final_rate_boost_other_than_auto_or_a_small_number_is_refused():
    for wrong in (0, 9, "fast", 2.5):
        with pytest.raises(ValidationError, match="final_rate_boost"):
            Training(final_rate_boost=wrong)
    assert Training(final_rate_boost=8).final_rate_boost == 8 and Training().final_rate_boost == "auto"


def test_a_larger_rate_is_for_the_judged_model_and_a_set_one_says_what_the_validated_rate_afforded(table):
    """The budget raises the rate of the judged model's boosters only: a runner-up refit for the holdout keeps the
    rate it was validated at, or the comparison would judge it at four times that. A rate the project set applies
    to every booster, and its note gives the rows the validated rate would have afforded, not the set one's."""
    scope = replace(_scope(table), fit_searched_rows=True)
    searched = _defaults_searched(scope)
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(1.0))
    assert rows.scope.rate_boost == 4 and rows.scope.boost_only == frozenset({"lightgbm"})
    runner_up = choose_candidates(Models(candidates=["hist_gradient_boosting"]))[0]
    params = {"learning_rate": 0.05, "max_iter": 100}
    result = replace(searched["lightgbm"].best, params=params)
    assert rows.scope.refit_params(runner_up, result)["learning_rate"] == 0.05
    assert replace(rows.scope, boost_only=None).refit_params(runner_up, result)["learning_rate"] == 0.2

    set_four = replace(_scope(table, final_rate_boost=4), fit_searched_rows=True)
    assert set_four.rate_boost == 4 and set_four.boost_only is None
    said = final_rows(_board(searched, set_four), searched, set_four, _ctx(1.0, final_rate_boost=4))
    assert len(said.scope.fit_rows()) == 20_000 and said.scope.boost_only == frozenset({"lightgbm"})
    replayed = _scope(table, final_fit=20_000, final_rate_boost=4)  # a replay's runner-up keeps its rate too
    kept = final_rows(_board(searched, replayed), searched, replayed, _ctx(0.01, final_fit=20_000,
                                                                            final_rate_boost=4))
    assert kept.remarks == ["the judged model's boosters were fitted at 4 times the validated learning rate "
                            "(lightgbm 0.12) and 1/4 of the trees, as training.final_rate_boost: 4 sets"]
    assert kept.scope.refit_params(runner_up, result)["learning_rate"] == 0.05
    assert "at 4 times the validated learning rate (lightgbm 0.12) and 1/4 of the trees, where the validated rate " \
           "afforded no more than the 8,000 searched rows" in said.remarks[0]


def test_a_set_rate_boost_on_a_fit_the_budget_did_not_confine_is_said(table):
    """training.final_rate_boost: 2 applies to a final fit on every row too (as documented), and the note says what
    it did; auto on the same fit says nothing."""
    scope = _scope(table, final_rate_boost=2)
    searched = _defaults_searched(scope)
    rows = final_rows(_board(searched, scope), searched, scope, _ctx(60.0, final_rate_boost=2))
    assert rows.scope.rate_boost == 2 and not rows.scope.fit_searched_rows
    assert rows.remarks == ["the judged model's boosters were fitted at 2 times the validated learning rate "
                            "(lightgbm 0.06) and 1/2 of the trees, as training.final_rate_boost: 2 sets"]
    plain = _scope(table)
    assert final_rows(_board(searched, plain), searched, plain, _ctx(60.0)).remarks == []

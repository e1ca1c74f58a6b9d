"""The whole training budget spent where it pays (issue 16): trial caps grow while searches still improve, a run
that stops early says why, a plan grown that way still replays the same model; the blend draws on every family
that did well."""

from __future__ import annotations

import numpy as np
import pytest

from cairn.config.schema import Tuning
from cairn.stages.training.ensemble import blended_result, did_well, greedy_weights
from cairn.stages.training.rounds import growth_steps
from cairn.stages.training.tuning import still_improving
from tests.stages.test_training import _result, _toy_data, ames, train


@pytest.fixture(scope="module")
def house():
    return ames(400)


def test_a_search_improves_while_its_last_third_beats_the_rest():
    assert still_improving([0.20, 0.19, 0.18, 0.17, 0.16, 0.15], "mape")  # every trial better
    assert not still_improving([0.20, 0.15, 0.16, 0.17, 0.18, 0.151], "mape")  # the best came early
    assert not still_improving([0.80, 0.85, 0.86, 0.84, 0.85, 0.8501], "roc_auc")  # no better than 0.86
    assert not still_improving([0.80, 0.85, 0.86, 0.84, 0.85, 0.8602], "roc_auc")  # 0.14% of the error: flat
    assert still_improving([0.80, 0.85, 0.86, 0.84, 0.85, 0.87], "roc_auc")  # 7% of the error
    assert still_improving([0.20, 0.25], "mape")  # too few complete trials to call it flat


def test_a_gain_inside_the_folds_noise_is_not_improving():
    """0.006 AUC is 4% of the error, but a tenth of the standard error of a mean over 5 folds with sd 0.15 is
    0.0068: the search is fitting the folds' noise. With steady folds (sd 0.008) it still improves."""
    history = [0.80, 0.83, 0.84, 0.83, 0.84, 0.846]
    noisy = [0.65, 0.70, 0.85, 0.95, 1.0]
    assert np.std(noisy, ddof=1) / np.sqrt(5) * 0.1 == pytest.approx(0.0068, abs=1e-4)
    assert still_improving(history, "roc_auc")  # no folds given: the error's share alone decides
    assert not still_improving(history, "roc_auc", fold_scores=noisy)
    assert still_improving(history, "roc_auc", fold_scores=[0.84, 0.85, 0.85, 0.84, 0.86])
    assert still_improving(history, "roc_auc", fold_scores=[0.846])  # one fold: no spread to read


def test_the_trial_total_the_project_sets_is_named_when_the_run_stops_early(house):
    table, case, plan = house
    result = train(table, case, plan, ["linear", "knn"], budget_minutes=0.5, tuning=Tuning(trials=3))
    assert sum(result.plan.values()) == 3
    finished = [line for line in result.remarks if line.startswith("finished early")]
    assert finished == [finished[0]] and "the 3 trials training.tuning.trials allows have run" in finished[0]
    assert "of the 30 s budget left unused" in finished[0]


def test_caps_grow_until_the_budget_is_spent_or_every_search_is_flat_and_the_plan_replays(house):
    table, case, plan = house
    budget_s = 0.15 * 60
    grown = train(table, case, plan, ["linear", "knn"], budget_minutes=0.15)
    assert grown.duration_s <= 1.1 * budget_s, grown.notes("mape")
    finished_early = any(line.startswith(("finished early: every candidate reached its trial cap",
                                          "tuning stopped with")) for line in grown.remarks)
    assert grown.duration_s >= 0.9 * budget_s or finished_early, grown.notes("mape")
    assert grown.plan["knn"] > 8, grown.notes("mape")  # knn's cap at this budget is 8: it grew
    assert any(line.startswith("every candidate reached its trial cap with time left; caps raised")
               for line in grown.remarks), grown.remarks
    replay = train(table, case, plan, ["linear", "knn"], tuning=Tuning(plan=grown.plan))
    assert replay.plan == grown.plan
    assert [(r.model, r.cv) for r in replay.leaderboard] == [(r.model, r.cv) for r in grown.leaderboard]


def test_a_cap_opened_from_the_defaults_grows_by_its_opened_cap_not_one_trial_a_round():
    base = {"linear": 16, "extra_trees": 1, "knn": 1}
    opened = growth_steps(base, {"linear": 32, "extra_trees": 16, "knn": 1})  # linear raised; extra trees opened
    assert opened == {"linear": 16, "extra_trees": 16, "knn": 1}  # knn, still at its defaults, is left as it was
    assert growth_steps(opened, {"linear": 48, "extra_trees": 32, "knn": 1}) == opened  # steps, once set, stay


def test_every_family_that_did_well_may_join_the_blend_not_only_five():
    """Seven families with independent errors of one size: the best blend weighs them all, the old pool of the best
    five could not; a family far behind does not even compete for a place."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=2000)
    data = _toy_data(y)
    results = {name: _result(y + rng.normal(scale=1.0, size=2000), data) for name in "abcdefg"}
    results["far_behind"] = _result(y + rng.normal(scale=2.0, size=2000), data)
    assert set(did_well(results, "rmse")) == set("abcdefg")
    weights = greedy_weights(results, data)
    assert len(weights) >= 6 and "far_behind" not in weights, weights
    assert sum(weights.values()) == pytest.approx(1)
    blended = blended_result(results, weights, data).cv["rmse"][0]
    best_alone = min(r.cv["rmse"][0] for r in results.values())
    assert blended < 0.5 * best_alone  # seven independent errors averaged: about 1/sqrt(7) of one


def test_a_candidate_estimated_trivial_keeps_its_defaults_after_an_expensive_one_was_cut(house):
    """Past the safety stop an expensive candidate's defaults are cut and it is dropped; one estimated under
    TRIVIAL_S still runs them, as sparse_linear on insteval should have after extra trees' cut."""
    import time

    from cairn.config.schema import Models, Training
    from cairn.stages.selection import choose_candidates
    from cairn.stages.training.budget import TRIVIAL_S, Budget
    from cairn.stages.training.context import Context
    from cairn.stages.training.pool import Pool
    from cairn.stages.training.rounds import run_defaults
    from cairn.stages.training.scope import search_scope

    table, case, plan = house
    spec = Training(validation="cv")
    scope = search_scope(table, case=case, plan=plan, spec=spec, seed=0)
    candidates = choose_candidates(Models(candidates=["linear", "extra_trees", "knn"]))
    estimates = {"linear": (0.1, 0.1), "extra_trees": (TRIVIAL_S * 5, 1.0), "knn": (TRIVIAL_S / 10, 0.1)}
    ctx = Context(case, spec, 0, Budget(60, "test"), time.perf_counter(), lambda message: None)
    defaults = run_defaults(Pool(candidates, estimates, scope, {}), ctx, deadline=time.perf_counter() - 1)
    assert list(defaults.searches) == ["linear", "knn"]  # the first always runs; knn is trivial
    assert defaults.dropped == {"extra_trees": "its cross-validation did not finish within the budget (safety stop)"}
    assert defaults.safety_stop is not None and defaults.safety_stop.startswith("extra_trees cut at")
    assert defaults.searches["knn"].best is not None and np.isfinite(defaults.searches["knn"].best.primary_mean)

"""Candidates the budget dropped before the search are tried with the time a search that converged early left:
they join when they finish, and stay dropped, saying why, when they do not (`cairn.stages.training.late`)."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training
from cairn.stages.business import BusinessCase
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training import late as late_module
from cairn.stages.training.budget import Budget
from cairn.stages.training.context import Context
from cairn.stages.training.late import try_dropped
from cairn.stages.training.pool import Pool
from cairn.stages.training.rounds import search_candidates, top_up
from cairn.stages.training.scope import SearchScope, search_scope
from cairn.stages.training.tuning import CandidateSearch

CASE = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))


@pytest.fixture(scope="module")
def scope() -> SearchScope:
    """y = sin(3x) + noise: a linear model stays far from it, trees get close."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.uniform(-2, 2, size=2_000), "z": rng.normal(size=2_000)})
    table["y"] = np.sin(3 * table["x"]) + 0.1 * rng.normal(size=2_000)
    plan = plan_features(table, case=CASE, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    return search_scope(table, case=CASE, plan=plan, spec=Training(validation="cv"), seed=0)


def _candidate(name: str):
    return choose_candidates(Models(candidates=[name]))[0]


def _converged_linear(scope: SearchScope) -> dict[str, CandidateSearch]:
    search = CandidateSearch(_candidate("linear"), scope.data, seed=0)
    search.run_defaults()
    return {"linear": search}


def _ctx(budget_s: float) -> Context:
    return Context(CASE, Training(), 0, Budget(budget_s, "test"), time.perf_counter(), lambda message: None)


def _pool(scope: SearchScope, estimate: tuple[float, float], **more: object) -> Pool:
    """Linear competes; LightGBM was dropped by the budget on `estimate` (its CV, its final fit)."""
    return Pool([_candidate("linear")], {"linear": (0.1, 0.02), "lightgbm": estimate}, scope,
                {"lightgbm": "estimated beyond the budget"}, late=[_candidate("lightgbm")],
                order=["linear", "lightgbm"], **more)  # type: ignore[arg-type]


def test_a_candidate_dropped_on_a_high_estimate_joins_when_the_time_left_fits_it(scope):
    """Estimated at 40 s (as CatBoost was on penguins, from an unfinished timed fit), with 58 s to the safety stop
    LightGBM is tried, finishes in a second or so, and scores far better than the linear model."""
    searches, cv_seconds = _converged_linear(scope), {"linear": 0.1}
    late = try_dropped(_pool(scope, (40.0, 5.0)), searches=searches, cv_seconds=cv_seconds, ctx=_ctx(60.0))
    assert late.joined == ["lightgbm"] and late.dropped == {}
    assert searches["lightgbm"].best is not None
    assert searches["lightgbm"].best.primary_mean < searches["linear"].best.primary_mean / 2
    assert 0 < cv_seconds["lightgbm"] < 40
    assert len(late.remarks) == 1
    assert re.fullmatch(r"lightgbm competes after all: estimated at 40 s for 5-fold CV, it was tried with the "
                        r"5\d s the search left and took [\d.]+ s", late.remarks[0]), late.remarks


def test_too_little_time_is_not_tried_and_a_cut_try_stays_dropped(scope, monkeypatch):
    """Under a third of the estimate to the deadline: not tried at all. With a deadline 2 ms off and an estimate
    that says it would fit, the try is cut (five LightGBM folds take far longer) and it stays dropped, saying so."""
    searches = _converged_linear(scope)
    late = try_dropped(_pool(scope, (200.0, 5.0)), searches=searches, cv_seconds={"linear": 0.1}, ctx=_ctx(60.0))
    assert (late.joined, late.dropped, late.remarks) == ([], {}, [])
    assert list(searches) == ["linear"]

    monkeypatch.setattr(late_module, "safety_deadline", lambda *args, **kwargs: time.perf_counter() + 0.002)
    late = try_dropped(_pool(scope, (0.0, 0.0)), searches=searches, cv_seconds={"linear": 0.1}, ctx=_ctx(60.0))
    assert late.joined == [] and list(searches) == ["linear"]
    assert late.dropped["lightgbm"].startswith("estimated at 0.0 s for 5-fold CV, it was tried with the ")
    assert late.dropped["lightgbm"].endswith("the search left, and did not finish in it")


def test_a_late_candidate_that_joins_says_how_to_replay_its_encoding(scope):
    """A family switched to target means before it was dropped (`pool.target_means_instead`) joins with the
    remark that says how to replay it."""
    searches = _converged_linear(scope)
    remark = "lightgbm reads the many-level categories as out-of-fold target means ...: also set ..."
    late = try_dropped(_pool(scope, (40.0, 5.0), late_remarks={"lightgbm": remark}), searches=searches,
                       cv_seconds={"linear": 0.1}, ctx=_ctx(60.0))
    assert late.joined == ["lightgbm"] and late.remarks[1:] == [remark]


def test_top_up_tries_the_dropped_once_the_searches_converge_and_tunes_one_that_joins(scope):
    """A linear model with nothing to tune converges at once; the top-up rounds then try LightGBM, which joins
    and, being close to the best (it is the best), gets tuning trials of its own."""
    searches, cv_seconds = _converged_linear(scope), {"linear": 0.1}
    topped = top_up(searches, cv_seconds, {"linear": 0.0}, caps={"linear": 1}, pool=_pool(scope, (10.0, 1.0)),
                    ctx=_ctx(10.0))
    assert "lightgbm" in searches and searches["lightgbm"].trials_run > 1
    assert topped.dropped == {}
    assert any(line.startswith("lightgbm competes after all") for line in topped.remarks)


def test_a_late_joiner_takes_its_place_in_the_projects_order_as_a_replay_would(scope):
    """The search lists its candidates in the project's order, a late joiner included, as a replayed plan runs
    them: ties in the ranking and the blend then resolve the same way."""
    pool = _pool(scope, (10.0, 1.0))
    tuned = search_candidates(replace(pool, order=["lightgbm", "linear"]), _ctx(10.0))
    assert list(tuned.searched) == ["lightgbm", "linear"]
    assert "lightgbm" not in tuned.dropped

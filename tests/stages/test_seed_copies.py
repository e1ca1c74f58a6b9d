"""Seed copies of the chosen model's boosters: fitted with the seeds after the run's, averaged as a blend, as many
as training.refit_seeds says or (auto) the time left and the latency bound afford, none on a replay or a confined
fit; a clone (deployment's refit) fits them again with the same seeds."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.base import clone

from cairn.config.schema import Constraints, Data, Features, Models, Preprocessing, Training
from cairn.estimators.blends import EnsembleClassifier, EnsembleRegressor
from cairn.stages.business import BusinessCase
from cairn.stages.features import plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training.budget import TRIVIAL_S, Budget
from cairn.stages.training.context import Context
from cairn.stages.training.crossval import CVResult
from cairn.stages.training.final_fit import final_fit
from cairn.stages.training.leaderboard import ENSEMBLE, CandidateScore, Leaderboard
from cairn.stages.training.rounds import Searched
from cairn.stages.training.scope import SearchScope, search_scope
from cairn.stages.training.seed_copies import SeedCopies, with_seed_copies

REGRESSION = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1))
BINARY = BusinessCase("binary", "y", "", "roc_auc", [], Constraints(train_budget_minutes=1))


def _table(problem: str) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=2_000), "b": rng.normal(size=2_000),
                          "c": rng.choice(["p", "q", "r"], size=2_000)})
    signal = frame["a"] * 2 + np.sin(frame["b"] * 3) + (frame["c"] == "q") + rng.normal(size=2_000)
    frame["y"] = signal if problem == "regression" else np.where(signal > 0.5, "yes", "no")
    return frame


def _scope(case: BusinessCase, spec: Training) -> SearchScope:
    table = _table(case.problem)
    plan = plan_features(table, case=case, spec=Features(), data_spec=Data(source="x.csv"), cleaning=Preprocessing(),
                         column_types={})
    return search_scope(table, case=case, plan=plan, spec=spec, seed=0)


def _searched(*names: str) -> dict[str, Searched]:
    """Each candidate with its defaults as its best trial: a fold fitted in 0.05 s, 60 trees by early stopping."""
    searched = {}
    for candidate in choose_candidates(Models(candidates=list(names))):
        best = CVResult({}, {"rmse": (1.0, 0.1), "roc_auc": (0.9, 0.01)}, [1.0] * 5, 0.9, fit_time_s=0.05,
                        predict_ms_per_row=0.01, best_iteration=60 if candidate.name == "lightgbm" else 0)
        searched[candidate.name] = Searched(candidate, best, trials=1, pruned=0, cv_s=0.25)
    return searched


def _board(searched: dict[str, Searched], scope: SearchScope, *, blend: dict[str, float] | None = None
           ) -> Leaderboard:
    scores = [CandidateScore(name, s.best.cv, s.best.train, s.best.fit_time_s,
                             params=scope.refit_params(s.candidate, s.best)) for name, s in searched.items()]
    if blend:
        scores.insert(0, CandidateScore(ENSEMBLE, scores[0].cv, scores[0].train, 0.1))
    return Leaderboard(scores, blend or {})


def _fitted(case: BusinessCase, names: tuple[str, ...], seconds_left: float = 60.0, blend: dict[str, float] | None
            = None, **training: object):
    spec = Training(validation="cv", **training)
    scope = _scope(case, spec)
    searched = _searched(*names)
    board = _board(searched, scope, blend=blend)
    ctx = Context(case, spec, 0, Budget(seconds_left / 0.97, "test"), time.perf_counter(), lambda message: None)
    pipeline = final_fit(board, searched, scope, ctx)
    return pipeline, board, searched, scope, ctx


def _seed(member) -> int:
    """The random_state of a member pipeline's booster."""
    return member.regressor.steps[-1][1].random_state if hasattr(member, "regressor") else \
        member.steps[-1][1].random_state


def test_copies_are_fitted_with_the_seeds_after_the_runs_and_their_predictions_averaged():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm",), refit_seeds=3)
    copies = with_seed_copies(pipeline, board, searched, scope, ctx)
    blend = copies.pipeline
    assert copies.count == 3 and isinstance(blend, EnsembleRegressor)
    assert [name for name, _ in blend.estimators] == ["lightgbm", "lightgbm.2", "lightgbm.3"]
    assert [_seed(recipe) for _, recipe in blend.estimators] == [0, 1, 2]
    assert [_seed(member) for member in blend.estimators_] == [0, 1, 2]
    assert blend.estimators_[0] is pipeline  # the final fit is kept, not fitted again
    X = scope.data.X.iloc[:50]
    each = np.array([member.predict(X) for member in blend.estimators_])
    assert not np.allclose(each[0], each[1])  # another seed, another model
    np.testing.assert_allclose(blend.predict(X), each.mean(axis=0), rtol=1e-12)
    [remark] = copies.remarks
    assert remark.startswith("each booster of the chosen model (lightgbm) was fitted with 3 seeds (0-2) and its "
                             "predictions averaged, (training.refit_seeds); one-row prediction ")
    assert remark.endswith("; to replay this run with training.tuning.plan, also set training.refit_seeds: 3")


def test_a_clone_refits_every_copy_with_its_own_seed_as_deployment_does():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm",), refit_seeds=2)
    blend = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    X, y = scope.data.X, scope.data.y
    refit = clone(blend).fit(X, y)
    assert [_seed(member) for member in refit.estimators_] == [0, 1]
    np.testing.assert_allclose(refit.predict(X.iloc[:20]), blend.predict(X.iloc[:20]), rtol=1e-9)


@pytest.mark.parametrize("name", ["catboost", "xgboost"])
def test_every_booster_family_is_copied_on_the_serving_path(name):
    """CatBoost's fitted regressor has an empty `classes_`: the problem, not the model, says it answers values."""
    pytest.importorskip(name)
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, (name,), refit_seeds=2)
    copies = with_seed_copies(pipeline, board, searched, scope, ctx)
    blend = copies.pipeline
    assert copies.count == 2 and [label for label, _ in blend.estimators] == [name, f"{name}.2"]
    X = scope.data.X.iloc[:25]
    first, second = (member.predict(X) for member in blend.estimators_)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(blend.predict(X), (first + second) / 2, rtol=1e-6)


def test_in_a_blend_only_the_boosters_are_copied_and_each_keeps_its_members_weight():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"), refit_seeds=2,
                                                    blend={"lightgbm": 0.7, "linear": 0.3})
    blend = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    assert [name for name, _ in blend.estimators] == ["lightgbm", "lightgbm.2", "linear"]
    np.testing.assert_allclose(blend.weights_, [0.35, 0.35, 0.3])
    X = scope.data.X.iloc[:30]
    members = [member.predict(X) for member in blend.estimators_]
    np.testing.assert_allclose(blend.predict(X), 0.35 * members[0] + 0.35 * members[1] + 0.3 * members[2],
                               rtol=1e-12)


def test_a_classifiers_copies_average_their_probabilities():
    pipeline, board, searched, scope, ctx = _fitted(BINARY, ("lightgbm",), refit_seeds=2)
    blend = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    assert isinstance(blend, EnsembleClassifier) and blend.classes_.tolist() == ["no", "yes"]
    X = scope.data.X.iloc[:40]
    each = [member.predict_proba(X) for member in blend.estimators_]
    np.testing.assert_allclose(blend.predict_proba(X), (each[0] + each[1]) / 2, rtol=1e-12)


def test_auto_fits_copies_with_the_time_left_and_none_on_a_replay_or_a_fit_the_budget_confined():
    """A quick fit, a minute left and a latency bound no copy reaches (half of a 1 s predict_p99_ms; the default,
    3x a 0.05 ms prediction, stopped a copy at 0.21 ms under the test suite's load): auto's most, 5 fits."""
    loose = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1, predict_p99_ms=1000))
    pipeline, board, searched, scope, ctx = _fitted(loose, ("lightgbm",))
    copies = with_seed_copies(pipeline, board, searched, scope, ctx)
    assert copies.count == 5
    assert f"training.refit_seeds: {copies.count}" in copies.remarks[0]
    assert "the search left unused" in copies.remarks[0]
    replayed = replace(ctx, spec=ctx.spec.model_copy(update={"tuning": ctx.spec.tuning.model_copy(
        update={"plan": {"lightgbm": 1}})}))
    kept = with_seed_copies(pipeline, board, searched, scope, replayed)
    assert kept.count == 1 and kept.pipeline is pipeline and kept.remarks == []
    confined = with_seed_copies(pipeline, board, searched, replace(scope, fit_searched_rows=True), ctx)
    assert confined.count == 1 and confined.pipeline is pipeline


def test_auto_stops_where_the_time_or_the_latency_bound_ends():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm",), seconds_left=0.01)
    late = with_seed_copies(pipeline, board, searched, scope, ctx)
    assert late.count == 1 and late.pipeline is pipeline
    assert late.remarks == ["no seed copies of lightgbm: the search used the time"]
    slow = {"lightgbm": replace(searched["lightgbm"], best=replace(searched["lightgbm"].best, fit_time_s=500.0))}
    short = replace(ctx, budget=Budget(100.0, "test"))  # 97 s to the safety stop, a round priced at minutes
    priced = with_seed_copies(pipeline, board, slow, scope, short)
    assert priced.count == 1 and priced.pipeline is pipeline
    assert re.fullmatch(r"no seed copies of lightgbm: another would have taken about \d+\.\d s of the 9\d\.\d s left",
                        priced.remarks[0]), priced.remarks
    tight = BusinessCase("regression", "y", "", "rmse", [], Constraints(predict_p99_ms=0.001))
    pipeline, board, searched, scope, ctx = _fitted(tight, ("lightgbm",))
    bounded = with_seed_copies(pipeline, board, searched, scope, ctx)
    assert bounded.count == 1 and bounded.pipeline is pipeline
    assert "past 0.00 ms (half of business.constraints.predict_p99_ms: 0.001)" in bounded.remarks[0]


def test_a_model_without_a_booster_has_nothing_to_copy():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("linear",), refit_seeds=3)
    copies = with_seed_copies(pipeline, board, searched, scope, ctx)
    assert copies.count == 1 and copies.pipeline is pipeline
    assert copies.remarks == ["training.refit_seeds: 3 had nothing to copy: the chosen model has no booster whose "
                              "fit varies with its seed (LightGBM, XGBoost, CatBoost)"]
    auto = with_seed_copies(pipeline, board, searched, scope, replace(ctx, spec=Training()))
    assert auto.count == 1 and auto.remarks == []


def test_a_booster_that_samples_nothing_gets_no_copies():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm",), refit_seeds=3)
    plain = {"lightgbm": replace(searched["lightgbm"], best=replace(searched["lightgbm"].best, params={
        "subsample": 1.0, "colsample_bytree": 1.0}))}
    board = _board(plain, scope)
    pipeline = final_fit(board, plain, scope, ctx)
    copies = with_seed_copies(pipeline, board, plain, scope, ctx)
    assert copies.count == 1 and copies.pipeline is pipeline
    assert copies.remarks == ["no seed copies: lightgbm fitted with seed 1 predicted what seed 0 did (nothing it "
                              "samples as it fits), so copies would add time and nothing else"]


@pytest.mark.parametrize("count", [0, 11, "some", True, 2.5])
def test_refit_seeds_outside_one_to_ten_or_auto_is_one_error(count):
    expected = "auto or a whole number from 1 to 10, or a mapping of blend members to such numbers, not "
    with pytest.raises(ValidationError, match=expected) as refused:
        Training(refit_seeds=count)
    assert len(refused.value.errors()) == 1 and refused.value.errors()[0]["loc"] == ("refit_seeds",)
    assert Training(refit_seeds=10).refit_seeds == 10 and Training().refit_seeds == "auto"


def test_a_model_with_copies_is_served_explained_and_exported_as_any_blend():
    """The blend of copies answers through the serving path, its contributions add up to its probabilities, and its
    ONNX graph gives the same probabilities."""
    from cairn.explain import explain
    from cairn.model.trained import TrainedModel

    pipeline, board, searched, scope, ctx = _fitted(BINARY, ("lightgbm",), refit_seeds=2)
    blend = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    model = TrainedModel(name="m", version=1, problem="binary", target="y", features=scope.plan.features,
                         pipeline=blend, classes=["no", "yes"])
    frame = scope.data.X.iloc[:30]
    proba = model.predict_proba(frame)
    np.testing.assert_allclose(proba, blend.predict_proba(frame), rtol=1e-9)
    explained = explain(model, frame)
    np.testing.assert_allclose(explained.values[:, 0], proba[:, ["no", "yes"].index(explained.outputs[0])],
                               rtol=1e-6, atol=1e-12)
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra (make test installs it)")
    from cairn.model.onnx import TOLERANCE_RTOL, onnx_inputs, to_onnx

    session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
    _, probabilities = session.run(["prediction", "probabilities"], onnx_inputs(model, frame))
    np.testing.assert_allclose(probabilities, proba, rtol=TOLERANCE_RTOL, atol=1e-9)


def test_a_runner_up_too_long_to_refit_is_not_refit_and_the_copies_leave_it_no_time():
    """A refit estimated past RUNNER_UP_MAX_S, or past the time to the safety stop, is skipped (the copies then
    reserve nothing for it); a quick one is reserved its estimate, and one under TRIVIAL_S is done even
    past the safety stop."""
    from cairn.stages.training.runner_up import RUNNER_UP_MAX_S, fit_runner_up, refit_estimate_s

    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"))
    assert 0 < refit_estimate_s(board, searched, scope, ctx) < 1
    slow = {**searched, "linear": replace(searched["linear"], best=replace(searched["linear"].best,
                                                                           fit_time_s=10_000.0))}
    assert refit_estimate_s(board, slow, scope, ctx) == 0.0
    spent = replace(ctx, budget=Budget(1e-3, "test"))  # past the safety stop: a refit under a second still runs
    quick = refit_estimate_s(board, searched, scope, spent)
    assert 0 < quick == refit_estimate_s(board, searched, scope, ctx) < TRIVIAL_S
    assert fit_runner_up(board, searched, scope, spent).pipeline is not None
    slower = {**searched, "linear": replace(searched["linear"], best=replace(searched["linear"].best,
                                                                             fit_time_s=quick_fold_s(searched) * 50))}
    assert refit_estimate_s(board, slower, scope, replace(ctx, budget=Budget(1e6, "test"))) > TRIVIAL_S
    assert refit_estimate_s(board, slower, scope, spent) == 0.0  # ... but no longer one
    assert fit_runner_up(board, slower, scope, spent).pipeline is None
    skipped = fit_runner_up(board, slow, scope, replace(ctx, budget=Budget(1e6, "test")))
    assert skipped.pipeline is None and skipped.note.startswith("linear was not refit for the holdout: about ")
    assert skipped.note.endswith(f"{RUNNER_UP_MAX_S:.0f} s allowed")


def quick_fold_s(searched):
    """linear's measured fit time per fold, floored where a fast machine measured next to nothing."""
    return max(searched["linear"].best.fit_time_s, 0.02)


def test_what_the_copies_change_is_said_where_the_runs_seed_alone_was_read():
    from cairn.model.calibration import Calibration
    from cairn.stages.training.runner_up import RunnerUp
    from cairn.stages.training.threshold import ClassDecision, DecisionThreshold
    from cairn.stages.training.train import _copies_caveats

    tuned = ClassDecision("yes", Calibration("sigmoid"), DecisionThreshold(0.3, "recall", "..."))
    refit = RunnerUp("linear", object(), "linear refit", 0.25)
    three = SeedCopies(object(), {"lightgbm": 3})
    assert _copies_caveats(three, tuned, refit) == [
        "the decision threshold and calibration came from the out-of-fold probabilities of the run's seed; the model "
        "serves the mean of the probabilities of 3 seeds with them",
        "the holdout compares the chosen model as it is served, the mean of 3 seeds, with linear fitted with one"]
    uneven = SeedCopies(object(), {"lightgbm": 3, "xgboost": 2})
    assert "the mean of up to 3 seeds, with linear" in _copies_caveats(uneven, tuned, refit)[1]
    plain = ClassDecision("yes", None, DecisionThreshold(0.5, "default", "..."))
    assert _copies_caveats(three, plain, RunnerUp("linear", None, "not refit", 0.25)) == []
    assert _copies_caveats(SeedCopies(object()), tuned, refit) == []


def test_the_runs_seed_alone_is_the_blend_without_its_copies():
    """What evaluation's importance and SHAP measure: the members fitted with the run's seed at their weights, or
    the single model itself; a model without copies is left as it is."""
    from cairn.stages.training.seed_copies import copies_in, runs_seed_only

    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm",), refit_seeds=3)
    single = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    assert copies_in(single) == 2 and runs_seed_only(single) is pipeline
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"), refit_seeds=3,
                                                    blend={"lightgbm": 0.7, "linear": 0.3})
    blend = with_seed_copies(pipeline, board, searched, scope, ctx).pipeline
    alone = runs_seed_only(blend)
    assert [name for name, _ in alone.estimators] == ["lightgbm", "linear"] and copies_in(alone) == 0
    np.testing.assert_allclose(alone.weights_, [0.7, 0.3])
    X = scope.data.X.iloc[:20]
    np.testing.assert_allclose(alone.predict(X), pipeline.predict(X), rtol=1e-12)
    assert runs_seed_only(pipeline) is pipeline and copies_in(pipeline) == 0


def test_the_steps_before_the_copies_leave_them_the_time_a_number_asks_for():
    """What the learning curves and the widened final fit must leave is the chosen model's final fit and the
    copies training.refit_seeds asks of its boosters: a blend of LightGBM and a linear model keeps LightGBM's
    copies, not the linear's; auto keeps none (it fits copies with what the search leaves)."""
    from cairn.stages.training.copy_reserve import final_fit_s, fit_and_copies_s

    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"), refit_seeds=4,
                                                    blend={"lightgbm": 0.5, "linear": 0.5})
    booster_s, linear_s = final_fit_s(["lightgbm"], searched, scope), final_fit_s(["linear"], searched, scope)
    assert booster_s > 0 and linear_s > 0
    assert fit_and_copies_s(board.members(), searched, scope, ctx) == pytest.approx(booster_s * 4 + linear_s)
    auto = replace(ctx, spec=ctx.spec.model_copy(update={"refit_seeds": "auto"}))
    assert fit_and_copies_s(board.members(), searched, scope, auto) == pytest.approx(booster_s + linear_s)


def test_auto_copies_the_boosters_the_time_left_affords_when_it_does_not_afford_them_all():
    """The heavier member's fit priced at minutes, a minute left: the lighter booster alone gets its copies (up to
    auto's 5, the latency bound loose), the other keeps its one fit, and the remark names both and the mapping that
    replays it."""
    pytest.importorskip("xgboost")
    loose = BusinessCase("regression", "y", "", "rmse", [], Constraints(train_budget_minutes=1, predict_p99_ms=1000))
    pipeline, board, searched, scope, ctx = _fitted(loose, ("lightgbm", "xgboost"),
                                                    blend={"lightgbm": 0.4, "xgboost": 0.6})
    slow = {**searched, "xgboost": replace(searched["xgboost"], best=replace(
        searched["xgboost"].best, fit_time_s=500.0, best_iteration=60))}
    copies = with_seed_copies(pipeline, board, slow, scope, ctx)
    names = [name for name, _ in copies.pipeline.estimators]
    assert names == ["lightgbm", "lightgbm.2", "lightgbm.3", "lightgbm.4", "lightgbm.5", "xgboost"]
    np.testing.assert_allclose(copies.pipeline.weights_, [0.08] * 5 + [0.6])
    assert [_seed(recipe) for _, recipe in copies.pipeline.estimators] == [0, 1, 2, 3, 4, 0]
    assert copies.fits == {"lightgbm": 5, "xgboost": 1} and copies.count == 5 and copies.seeds_said == "up to 5 seeds"
    [remark] = copies.remarks
    assert remark.startswith("the chosen model's boosters were fitted again, lightgbm with 5 seeds (0-4), and the "
                             "predictions averaged, in "), remark
    assert re.search(r"; xgboost \(about \d+\.\d s a fit, \d+\.\d s left\) copied no further;", remark), remark
    assert remark.endswith("also set training.refit_seeds: {lightgbm: 5}")


def test_a_round_that_affords_some_boosters_takes_the_heaviest_in_the_blend_first():
    from cairn.stages.training.seed_copies import _affordable, _Members

    members = _Members(["lightgbm", "xgboost", "linear"], [None] * 3, [None] * 3, [0.3, 0.5, 0.2])
    cost = {"lightgbm": 1.0, "xgboost": 3.0}
    assert _affordable(["lightgbm", "xgboost"], cost, 0.0, 3.5, members) == ["xgboost"]
    assert _affordable(["lightgbm", "xgboost"], cost, 0.0, 4.5, members) == ["lightgbm", "xgboost"]  # blend order
    assert _affordable(["lightgbm", "xgboost"], cost, 0.0, 2.0, members) == ["lightgbm"]  # a lighter one still fits
    assert _affordable(["lightgbm", "xgboost"], cost, 1.5, 2.0, members) == []  # the blend's timing counts too


def test_refit_seeds_as_a_mapping_copies_the_members_it_names_and_says_which_it_cannot():
    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"),
                                                    refit_seeds={"lightgbm": 3, "xgboost": 2},
                                                    blend={"lightgbm": 0.6, "linear": 0.4})
    copies = with_seed_copies(pipeline, board, searched, scope, ctx)
    assert [name for name, _ in copies.pipeline.estimators] == ["lightgbm", "lightgbm.2", "lightgbm.3", "linear"]
    assert copies.fits == {"lightgbm": 3} and copies.seeds_said == "3 seeds"
    held, fitted = copies.remarks
    assert held == ("training.refit_seeds names xgboost, which is no booster of the chosen model whose fit varies "
                    "with its seed (its boosters: lightgbm): nothing was copied for it")
    ones = with_seed_copies(pipeline, board, searched, scope, replace(ctx, spec=ctx.spec.model_copy(
        update={"refit_seeds": {"lightgbm": 1}})))
    assert ones.pipeline is pipeline and ones.remarks == [] and ones.count == 1
    assert fitted.startswith("each booster of the chosen model (lightgbm) was fitted with 3 seeds (0-2)")
    assert fitted.endswith("also set training.refit_seeds: 3")


def test_the_time_kept_for_copies_follows_a_mapping():
    from cairn.stages.training.copy_reserve import final_fit_s, fit_and_copies_s

    pipeline, board, searched, scope, ctx = _fitted(REGRESSION, ("lightgbm", "linear"), refit_seeds={"lightgbm": 3},
                                                    blend={"lightgbm": 0.5, "linear": 0.5})
    booster_s, linear_s = final_fit_s(["lightgbm"], searched, scope), final_fit_s(["linear"], searched, scope)
    assert fit_and_copies_s(board.members(), searched, scope, ctx) == pytest.approx(booster_s * 3 + linear_s)
    # a family's trial the search cannot name yet (lightgbm#2) is priced as its family's fit
    trial = replace(ctx, spec=ctx.spec.model_copy(update={"refit_seeds": {"lightgbm": 2, "lightgbm#2": 3}}))
    assert fit_and_copies_s(board.members(), searched, scope, trial) == pytest.approx(booster_s * 4 + linear_s)


@pytest.mark.parametrize(("mapping", "where", "expected"), [
    ({"boosted": 3}, ("refit_seeds", "boosted"), "boosters whose fit varies with their seed, as a run's notes"),
    ({"linear": 3}, ("refit_seeds", "linear"), "(lightgbm, xgboost, catboost, or a family's trial such as"),
    ({"lightgbm#0": 2}, ("refit_seeds", "lightgbm#0"), "not 'lightgbm#0'"),
    ({"lightgbm": 11}, ("refit_seeds", "lightgbm"), "a whole number of fits from 1 to 10, not 11 for lightgbm"),
    ({"xgboost": 2, "linear": 3, "knn": 0}, ("refit_seeds", "linear"), "a family's trial such as lightgbm#2), not "
                                                                      "'linear' or 'knn'"),
    ({"catboost": 0, "xgboost": 2, "lightgbm#2": 12}, ("refit_seeds", "catboost"),
     "from 1 to 10, not 0 for catboost, 12 for lightgbm#2"),
    ({"lightgbm#x": 2}, ("refit_seeds", "lightgbm#x"), "boosters whose fit varies with their seed"),
    ({"lightgbm": 11, "linear": 3}, ("refit_seeds", "linear"), "not 'linear'; and a whole number of fits from 1 to "
                                                               "10, not 11 for lightgbm"),  # both kinds at once
    ({}, ("refit_seeds",), "or a mapping of blend members to such numbers, not {}"),
])
def test_a_refit_seeds_mapping_names_every_bad_member(mapping, where, expected):
    from cairn.config.schema import RULE_AT

    with pytest.raises(ValidationError, match=re.escape(expected)) as refused:
        Training(refit_seeds=mapping)
    message = str(refused.value.errors()[0]["msg"])
    placed = tuple(message.rsplit(RULE_AT, 1)[1].split("/")) if RULE_AT in message else ()
    assert ("refit_seeds", *placed) == where
    assert Training(refit_seeds={"catboost#2": 2, "xgboost": 4}).refit_seeds == {"catboost#2": 2, "xgboost": 4}

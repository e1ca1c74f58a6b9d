"""Many-level categories: CatBoost's ordered target statistics and LightGBM's categorical splits compete with the
out-of-fold target means the other families get (models.native_categories: auto)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cairn.config.schema import Business, Data, Features, Models, Preprocessing, Training
from cairn.estimators.encoder import TabularEncoder
from cairn.stages.business import business_case
from cairn.stages.features import FeaturePlan, plan_features
from cairn.stages.selection import choose_candidates
from cairn.stages.training import train_models


def _table(levels: int, rows: int = 3_000) -> tuple[pd.DataFrame, FeaturePlan]:
    """A price driven by a shop id of `levels` levels (each level its own effect) and one number."""
    rng = np.random.default_rng(0)
    shop = rng.integers(0, levels, rows)
    effect = rng.normal(0, 10, levels)
    table = pd.DataFrame({"shop": [f"s{i}" for i in shop], "size": rng.uniform(1, 10, rows)})
    table["price"] = 50 + effect[shop] + 3 * table["size"] + rng.normal(0, 1, rows)
    case = business_case(Business(problem="regression", target="price"))
    plan = plan_features(table, case=case, spec=Features(), data_spec=Data(source="x.csv"),
                         cleaning=Preprocessing(), column_types={})
    return table, plan


def test_auto_gives_catboost_and_lightgbm_native_categories_when_a_category_has_many_levels():
    _, many = _table(levels=80)
    _, few = _table(levels=10)
    assert len(many.features[0].levels) == 80 > many.max_onehot_levels
    native = {c.name: c.native_categories for c in choose_candidates(Models(), many)}
    assert native["catboost"] and native["lightgbm"] and not native["extra_trees"] and not native["linear"]
    assert {c.name: c.target_means for c in choose_candidates(Models(), many)} == {
        name: name not in ("catboost", "lightgbm", "sparse_linear") for name in native}
    assert not any(c.native_categories for c in choose_candidates(Models(), few))  # few levels: as before
    # a ridge on every level joins the default list with a many-level category only: else it is linear again
    assert "sparse_linear" in native and "sparse_linear" not in {c.name for c in choose_candidates(Models(), few)}
    assert [c.name for c in choose_candidates(Models(candidates=["sparse_linear"]), few)] == ["sparse_linear"]
    assert not any(c.native_categories for c in choose_candidates(Models(native_categories=False), many))
    forced = {c.name: (c.native_categories, c.target_means, c.native_by_default)
              for c in choose_candidates(Models(native_categories=True), few)}
    assert forced["lightgbm"] == (True, False, False) and forced["catboost"] == (True, False, False)
    assert [c.name for c in choose_candidates(Models(), many) if c.native_by_default] == ["lightgbm", "catboost"]
    listed = {c.name: (c.native_categories, c.target_means, c.native_by_default)
              for c in choose_candidates(Models(native_categories=["lightgbm"]), many)}
    assert listed["lightgbm"] == (True, False, False) and listed["catboost"] == (False, True, False)


def test_a_list_of_native_families_names_only_families_that_can():
    with pytest.raises(ValidationError) as caught:
        Models(native_categories=["lightgbm", "linear"])
    assert len(caught.value.errors()) == 1 and "native_categories" in str(caught.value)
    assert "a list of lightgbm and catboost" in str(caught.value) and "not 'linear'" in str(caught.value)
    # the same families are the same setting in any order, and so the same cache key
    assert Models(native_categories=["catboost", "lightgbm", "catboost"]).native_categories == ["lightgbm", "catboost"]


def test_without_target_means_every_level_keeps_its_code():
    table, plan = _table(levels=80)
    X, y = table[["shop", "size"]], table["price"].to_numpy()
    means = TabularEncoder(numeric=("size",), categorical=("shop",)).fit(X, y)
    codes = TabularEncoder(numeric=("size",), categorical=("shop",), target_means=False).fit(X, y)
    assert list(means.target_means_) == [0] and codes.target_means_ == {}
    encoded = codes.transform(X.iloc[:5])
    column = codes.code_columns_[0]
    assert sorted(set(codes.transform(X)[:, column].astype(int))) == list(range(80))  # one code per level
    assert encoded[:, column].tolist() == [codes.codes_[0][level] for level in X["shop"].iloc[:5]]

    state = codes.__getstate__()
    del state["target_means"]  # an encoder pickled before the option existed encodes with target means
    old = TabularEncoder.__new__(TabularEncoder)
    old.__setstate__(state)
    assert old.target_means is True
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(codes)).transform(X), codes.transform(X))


def test_catboost_and_lightgbm_learn_many_levels_with_their_own_statistics_end_to_end():
    """Both encodings are cross-validated side by side; the CatBoost and LightGBM pipelines read the shop as a
    category (no target means), extra trees' as out-of-fold target means; an unseen shop at predict time is never
    an error."""
    from cairn.stages.training import build_pipeline

    table, plan = _table(levels=80)
    case = business_case(Business(problem="regression", target="price"))
    candidates = choose_candidates(Models(candidates=["lightgbm", "catboost", "extra_trees"]), plan)
    plan_of_trials = {"lightgbm": 1, "catboost": 1, "extra_trees": 1}
    result = train_models(table, case=case, plan=plan, candidates=candidates,
                          spec=Training(budget_minutes=0.5, tuning={"plan": plan_of_trials}), seed=3)
    scores = {row.model: row.cv["rmse"][0] for row in result.leaderboard}
    assert set(plan_of_trials) <= set(scores) and all(score < 4 for score in scores.values())  # noise sd 1
    unseen = pd.DataFrame({"shop": ["never-seen"], "size": [5.0]})
    assert np.isfinite(result.pipeline.predict(unseen)).all()

    X, y = table[["shop", "size"]], table["price"].to_numpy()
    for candidate in candidates:
        pipeline = build_pipeline(candidate, plan, case=case, seed=3, n_jobs=1, n_rows=len(y)).fit(X, y)
        encoder = pipeline.named_steps["encode"]
        if candidate.name == "catboost":
            assert encoder.target_means_ == {} and len(encoder.code_columns_) == 1
            assert list(pipeline.named_steps["model"].get_cat_feature_indices()) == encoder.code_columns_
        elif candidate.name == "lightgbm":
            assert encoder.target_means_ == {} and len(encoder.code_columns_) == 1
            infos = pipeline.named_steps["model"].booster_.dump_model()["feature_infos"]
            levels = infos[f"Column_{encoder.code_columns_[0]}"]["values"]  # a categorical feature: its levels
            assert len(levels) >= 70
        else:
            assert list(encoder.target_means_) == [0] and encoder.code_columns_ == []
        assert np.isfinite(pipeline.predict(unseen)).all()


def test_catboost_the_budget_cannot_afford_with_its_own_statistics_competes_on_target_means():
    """Timed again with the other families' encoding, it competes instead of being dropped, and the note says how
    to replay that; a family the project set native (models.native_categories: true) is left as it was."""
    from dataclasses import replace

    from cairn.stages.training.budget import CostEstimate
    from cairn.stages.training.pool import target_means_instead

    _, plan = _table(levels=80)
    pool = choose_candidates(Models(candidates=["lightgbm", "catboost"]), plan)
    slow = [CostEstimate("lightgbm", 5.0, 1.0, 1_000, 0.1), CostEstimate("catboost", 228.0, 59.0, 1_000, 3.0)]
    timed = []

    def timing(candidate):
        timed.append((candidate.name, candidate.native_categories, candidate.target_means))
        return CostEstimate(candidate.name, 20.0, 4.0, 1_000, 0.3)

    kept, estimates, remarks = target_means_instead(pool, slow, {"catboost": "too slow"}, timed=timing, folds=5)
    assert timed == [("catboost", False, True)]  # timed once more, on target means
    assert [(c.name, c.native_categories) for c in kept] == [("lightgbm", True), ("catboost", False)]  # affordable
    assert [(e.name, e.cv_s) for e in estimates] == [("lightgbm", 5.0), ("catboost", 20.0)]
    assert remarks == {"catboost": "catboost reads the many-level categories as out-of-fold target means, as the other "
                       "families do: learning them as categories itself was estimated at 3.8 min for "
                       "5-fold CV, beyond the budget; to replay this run with training.tuning.plan, also set "
                       "models.native_categories: [lightgbm]"}  # LightGBM stays native: a replay keeps it so
    assert target_means_instead(pool, slow, {}, timed=timing, folds=5) == (pool, slow, {})  # affordable: kept
    forced = [replace(c, native_by_default=False) for c in pool]
    assert target_means_instead(forced, slow, {"catboost": "too slow"}, timed=timing, folds=5) == (forced, slow, {})

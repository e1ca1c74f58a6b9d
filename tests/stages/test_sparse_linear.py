"""sparse_linear: one weight per level of every category, however many, fitted together. It must learn crossed
many-level effects that target means confound, reach the model as a sparse matrix in training and as dense rows
at serving time, and answer the same either way."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import sparse

from cairn.estimators.encoder import LEVEL_SLOPES, TabularEncoder
from cairn.explain.sources import encoded_sources, source_matrix
from cairn.project import Project

NOISE = 0.4  # the ratings' own noise: no model's RMSE goes below it


def _ratings(rows: int = 6_000, seed: int = 0) -> pd.DataFrame:
    """Students rate lecturers; harsh students mostly meet weak lecturers, so a lecturer's plain mean rating
    carries its students' harshness: only effects fitted together tell the two apart."""
    rng = np.random.default_rng(seed)
    students, lecturers = 400, 150
    student_effect = np.sort(rng.normal(0.0, 0.8, students))
    lecturer_effect = np.sort(rng.normal(0.0, 0.8, lecturers))
    student = rng.integers(0, students, rows)
    near = student / students * lecturers + rng.normal(0.0, 5.0, rows)  # weak students meet weak lecturers
    lecturer = np.clip(np.round(near), 0, lecturers - 1).astype(int)
    hours = rng.uniform(0, 10, rows)
    rating = 3.0 + student_effect[student] + lecturer_effect[lecturer] + 0.1 * hours + rng.normal(0.0, NOISE, rows)
    return pd.DataFrame({"student": [f"s{i}" for i in student], "lecturer": [f"d{i}" for i in lecturer],
                         "hours": hours, "rating": rating})


def test_every_level_comes_out_sparse_for_many_rows_and_dense_for_a_request():
    table = _ratings(2_000)
    X, y = table.drop(columns="rating"), table["rating"].to_numpy()
    encoder = TabularEncoder(("hours",), ("student", "lecturer"), one_hot=True, scale=True, target_means=False,
                             max_levels=30)
    encoded = encoder.fit_transform(X, y)
    assert sparse.isspmatrix_csr(encoded) or sparse.issparse(encoded)
    names = list(encoder.get_feature_names_out())
    assert encoded.shape == (2_000, len(names))
    levels = sum(1 for name in names if name.startswith("student="))
    # every student seen 5 times or more has its own column, far beyond max_levels (30); the rest share one
    assert levels == (X["student"].value_counts() >= 5).sum() + 1 > 200
    assert encoded[:, names.index("hours")].toarray().std() == pytest.approx(1.0, rel=1e-6)  # scaled like dense
    np.testing.assert_array_equal(np.asarray(encoded[:, 1:].sum(axis=1)).ravel(), 2.0)  # a student, a lecturer
    chunks = np.vstack([encoder.transform(X.iloc[i:i + 200]) for i in range(0, 2_000, 200)])  # requests: dense
    assert isinstance(encoder.transform(X.head(200)), np.ndarray)
    np.testing.assert_array_equal(encoder.transform(X).toarray(), chunks)
    with_means = TabularEncoder(("hours",), ("student", "lecturer"), one_hot=True, scale=True, max_levels=30)
    assert isinstance(with_means.fit_transform(X, y), np.ndarray)
    assert len(with_means.get_feature_names_out()) == 3  # linear's encoder: one target mean per category


def _sloped_ratings(rows: int, seed: int) -> pd.DataFrame:
    """Each lecturer's ratings rise or fall with the hours taught by its own slope, over a plain level effect."""
    rng = np.random.default_rng(seed)
    lecturers = 60
    level, slope = rng.normal(0.0, 0.8, lecturers), rng.normal(0.0, 0.5, lecturers)
    lecturer = rng.integers(0, lecturers, rows)
    hours, noise = rng.normal(0.0, 1.0, rows), rng.normal(0.0, 1.0, rows)  # noise: a pure-noise number
    rating = 3.0 + level[lecturer] + slope[lecturer] * hours + rng.normal(0.0, NOISE, rows)
    return pd.DataFrame({"lecturer": [f"d{i}" for i in lecturer], "hours": hours, "noise": noise,
                         "flat": 0.1, "rating": rating})  # flat: constant, though 0.1's float mean is not exact


def test_each_level_gets_a_slope_on_the_numbers_related_to_the_target_sparse_or_dense_alike():
    table = _sloped_ratings(1_000, seed=0)
    X, y = table.drop(columns="rating"), table["rating"].to_numpy()
    encoder = TabularEncoder(("hours", "noise", "flat"), ("lecturer",), one_hot=True, scale=True,
                             target_means=False, max_levels=30, slopes=LEVEL_SLOPES)
    encoded = encoder.fit_transform(X, y)
    assert encoder.slopes_ == [(0, 0), (0, 1)]  # a constant number gives no slope, and scales to 0, not to noise
    assert np.abs(encoded[:, 2].toarray()).max() < 1e-12
    names = list(encoder.get_feature_names_out())
    levels = encoder.level_counts_[0]
    assert encoded.shape == (1_000, len(names)) == (1_000, 3 + 3 * levels)
    first = names.index("lecturer=d7*hours")
    row = int(np.flatnonzero(X["lecturer"] == "d7")[0])
    hours = encoded[row, names.index("hours")]
    assert encoded[row, first] == pytest.approx(LEVEL_SLOPES * hours) and hours != 0
    assert encoded[row, first:first + levels].nnz == 1  # only the row's own level carries its number
    # a request is sparse too, its slopes' columns many times its levels' (never a dense row of all of them)
    one = encoder.transform({name: X[name].to_numpy()[[row]] for name in X})
    assert sparse.issparse(one)
    np.testing.assert_allclose(one.toarray()[0], encoded[row].toarray()[0], rtol=1e-12)
    unseen = encoder.transform({"lecturer": np.array(["nobody"]), "hours": np.array([2.0]),
                                "noise": np.array([0.0]), "flat": np.array([0.1])}).toarray()
    assert not unseen[0, 3:].any()  # an unseen level has no level and no slope: the numbers' common effect only
    sources = encoded_sources(encoder)  # explanations split a slope's contribution between its two inputs
    assert sources[first] == ("lecturer", "hours") and len(sources) == len(names)
    np.testing.assert_array_equal(source_matrix(sources, list(X.columns), {})[first], [0.5, 0.5, 0.0, 0.0])
    few = TabularEncoder(("hours",), ("lecturer",), one_hot=True, scale=True, target_means=False, max_levels=100,
                         slopes=LEVEL_SLOPES).fit(X, y)
    assert few.slopes_ == []  # no category has more levels than max_levels: no slopes


def test_slopes_learn_what_each_level_does_with_a_number():
    from sklearn.linear_model import Ridge

    train, test = _sloped_ratings(6_000, seed=1), _sloped_ratings(2_000, seed=1).sample(frac=1.0, random_state=2)
    errors = {}
    for slopes in (0.0, LEVEL_SLOPES):
        encoder = TabularEncoder(("hours", "noise"), ("lecturer",), one_hot=True, scale=True, target_means=False,
                                 max_levels=30, slopes=slopes)
        model = Ridge(alpha=3.0).fit(encoder.fit_transform(train.drop(columns="rating"), train["rating"]),
                                     train["rating"])
        truth = test["rating"].to_numpy()
        errors[slopes] = np.sqrt(np.mean((model.predict(encoder.transform(test.drop(columns="rating"))) - truth) ** 2))
    # slopes of spread 0.5 on hours of spread 1 add 0.5 of error beyond the noise (0.4) without them
    assert errors[LEVEL_SLOPES] < 0.5 < errors[0.0], errors


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ratings")
    (folder / "data").mkdir()
    table = _ratings()
    table.to_csv(folder / "data" / "ratings.csv", index=False)
    config = {"project": "ratings", "seed": 7, "data": {"source": "data/ratings.csv"},
              "business": {"problem": "regression", "target": "rating",
                           "success": [{"metric": "rmse", "below": 2.0}],
                           "constraints": {"train_budget_minutes": 0.4}},
              "models": {"candidates": ["linear", "sparse_linear", "lightgbm"]},
              "training": {"tuning": {"trials": 6}}}  # a fixed search, not one sized by this machine's speed
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    project = Project.load(folder / "cairn.yaml", workdir=folder)
    return project, project.run(), table


def _validation(notes: list[str], name: str) -> float:
    line = next(note for note in notes if note.startswith(f"{name}: CV rmse"))
    return float(re.search(r"CV rmse ([0-9.]+)", line).group(1))


def test_crossed_effects_are_learned_where_target_means_confound_them(ratings):
    _, run, _ = ratings
    notes = run.stage("training").notes
    sparse_error, linear_error = _validation(notes, "sparse_linear"), _validation(notes, "linear")
    beyond_noise = [error ** 2 - NOISE ** 2 for error in (sparse_error, linear_error)]  # the effects' error
    assert sparse_error < linear_error and beyond_noise[0] < 0.6 * beyond_noise[1], notes


def test_the_served_model_answers_a_request_as_it_answers_a_batch(ratings):
    project, _, table = ratings
    model = project.load_model()
    rows = table.drop(columns="rating").sample(600, random_state=1)
    batch = model.predict(rows)  # 600 rows: encoded sparse on the way to sparse_linear
    one_by_one = np.concatenate([model.predict(rows.iloc[[i]]) for i in range(0, 600, 60)])
    np.testing.assert_allclose(batch[::60], one_by_one, rtol=1e-9)
    explained = model.explain(rows.head(300))  # 300 rows: sparse, densified 256 at a time for the contributions
    np.testing.assert_allclose(np.asarray(explained.values).ravel(), batch[:300], rtol=1e-6)
    pipelines = getattr(model.pipeline, "estimators_", [model.pipeline])
    slopes = [step.slopes_ for pipeline in pipelines for _, step in pipeline.steps if hasattr(step, "slopes_")]
    # each student's and lecturer's slope on hours served and explained: its contribution split between the two
    assert [(0, 0), (1, 0)] in slopes, slopes
    assert "slope on a number split equally" in explained.note and "lecturer x hours" in explained.note, explained.note

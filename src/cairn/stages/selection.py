"""Stage 6, model selection: which algorithms compete, and what each of them needs from the project.

The facts about each family (defaults, factory, search space, early stopping) live in `cairn.algorithms`; this
stage picks the families named in models.candidates, checks their pinned parameters and records the choice.
Every estimator gets its thread count and seed from the project, never from library defaults: on two shared
cores OpenMP oversubscription turns a half-second boosting fit into minutes. XGBoost is optional
(`pip install 'cairn[boosters]'`); naming it when it is not installed is a configuration error, not a crash.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.algorithms import ALGORITHMS, DEFAULT_NAMES, FIXED_TREES, MAX_TREES, Algorithm, leaves_for
from cairn.algorithms.knn import MAX_ROWS_BY_DEFAULT as KNN_MAX_ROWS
from cairn.algorithms.trees import MAX_LEAVES, MIN_LEAVES
from cairn.config.schema import Models
from cairn.errors import ConfigError
from cairn.estimators.labels import EncodedLabels
from cairn.stages.business import BusinessCase

if TYPE_CHECKING:
    from cairn.stages.features import FeaturePlan

BOOSTERS_EXTRA = "pip install 'cairn[boosters]'"
DEFAULT_CANDIDATES = DEFAULT_NAMES
# Parameters the project sets: threads from training.n_jobs, randomness from seed. Pinning them per model would
# break "one seed feeds every random_state" and the thread limit that keeps shared cores usable.
RESERVED_PARAMS = {
    "n_jobs": "training.n_jobs", "num_threads": "training.n_jobs", "nthread": "training.n_jobs",
    "thread_count": "training.n_jobs", "random_state": "seed", "random_seed": "seed", "seed": "seed",
}
__all__ = ["BOOSTERS_EXTRA", "CATALOGUE", "DEFAULT_CANDIDATES", "FIXED_TREES", "KNN_MAX_ROWS", "MAX_LEAVES",
           "MAX_TREES", "MIN_LEAVES", "NATIVE_CATEGORIES", "RESERVED_PARAMS", "TREES_PARAM", "Candidate",
           "EncodedLabels", "candidate_names", "choose_candidates", "default_params", "installed", "leaves_for",
           "make_estimator", "require_installed"]


@dataclass(frozen=True)
class Candidate:
    """A family as it competes in this project: its algorithm's facts, with the project's pinned parameters."""

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
    # ... because models.native_categories is auto: the budget may switch it off (training's `pool`)
    native_by_default: bool = False

    @property
    def algorithm(self) -> Algorithm:
        return ALGORITHMS[self.name]

    @property
    def target_means(self) -> bool:
        """Whether the encoder target-encodes its many-level categories (out of fold): not for a family that
        learns categories with its own target statistics, nor for one that weighs every level."""
        return not (self.native_categories and self.algorithm.target_statistics) and not self.algorithm.every_level

    @property
    def trees_param(self) -> str | None:
        """The parameter early stopping decides, or None for models without boosting rounds."""
        return self.algorithm.trees_param


def _candidate(algorithm: Algorithm, params: dict[str, Any] | None = None, *, max_rows: int | None = None,
               native_categories: bool = False, native_by_default: bool = False) -> Candidate:
    return Candidate(algorithm.name, algorithm.description, algorithm.complexity, algorithm.needs_scaling,
                     algorithm.one_hot, dict(params or {}), algorithm.boosted, max_rows, algorithm.package,
                     native_categories, native_by_default)


NATIVE_CATEGORIES = {name for name, a in ALGORITHMS.items() if a.native_categories}  # told which codes are categories
TREES_PARAM = {name: a.trees_param for name, a in ALGORITHMS.items() if a.trees_param}
CATALOGUE: dict[str, Candidate] = {name: _candidate(a) for name, a in ALGORITHMS.items()}


def candidate_names(spec: Models) -> tuple[list[str], bool]:
    """The names that compete, and whether they are cairn's default list (None in models.candidates)."""
    named = getattr(spec, "candidates", None)
    if named is None:
        return list(DEFAULT_CANDIDATES), True
    return list(dict.fromkeys(named)), False


def choose_candidates(spec: Models, plan: FeaturePlan | None = None, *, problem: str | None = None
                      ) -> list[Candidate]:
    """The catalogue entries named in models.candidates, with their pinned parameters checked, and which learn
    categories natively (`native_categories`: models.native_categories, read against the `plan`). With the
    `problem`, pinned parameters are checked against that problem's estimator (Ridge has alpha, not C).

    The default list (linear, lightgbm, catboost, extra_trees, knn, sparse_linear) spans a linear baseline, two
    kinds of boosting and averaging; knn in it is dropped above KNN_MAX_ROWS training rows, and the budget drops what
    cannot finish. sparse_linear joins it when some category has more levels than features.max_onehot_levels
    (`many_levels`); without one it would be linear again. The others compete only when named.
    """
    names, default = candidate_names(spec)
    if default:  # an optional package that is not installed is simply not in the default list
        names = [name for name in names if installed(CATALOGUE[name])]
    if default and not many_levels(plan):
        names = [name for name in names if not CATALOGUE[name].algorithm.every_level]
    chosen = []
    for name in names:
        base = CATALOGUE[name]
        require_installed(base)
        params = dict(spec.params.get(name, {}))  # type: ignore[call-overload]
        _check_params(base, params, problem)
        algorithm = base.algorithm
        native = native_categories(algorithm, spec, plan)
        chosen.append(_candidate(algorithm, params, max_rows=algorithm.default_list_max_rows if default else None,
                                 native_categories=native,
                                 native_by_default=native and spec.native_categories == "auto"))
    unused = sorted(set(spec.params) - set(names))
    if unused:
        raise ConfigError.single(
            "models.params pins parameters of a model that does not compete.", where=f"models.params.{unused[0]}",
            expected=f"one of the candidates ({', '.join(names)})", got=unused[0],
            fix=f"add {unused[0]} to models.candidates or remove its params" + (
                f" ({unused[0]} joins the default list only when a category has more than "
                f"features.max_onehot_levels levels)" if unused[0] in CATALOGUE and default
                and CATALOGUE[unused[0]].algorithm.every_level else ""),
        )
    return chosen


def native_categories(algorithm: Algorithm, spec: Models, plan: FeaturePlan | None) -> bool:
    """Whether `algorithm` learns category codes as categories. models.native_categories true or false decides;
    auto turns it on for a family with its own target statistics (CatBoost, LightGBM) when some category has more
    levels than features.max_onehot_levels (the plan's most frequent 200 read): those columns would otherwise
    reach it as out-of-fold target means, as they reach the other families, and its own statistics then compete
    with them instead of copying them. At one minute LightGBM's categorical splits took txhousing's RMSE from
    10,250 to 9,991 and hotel_rates' from 13.21 to 12.89; chem97, insteval, loans, mplsstops and mlc_churn moved
    within their run-to-run noise (bench/automl.py, side by side)."""
    if isinstance(spec.native_categories, list):  # the schema admits only families that can
        return algorithm.name in spec.native_categories
    if spec.native_categories != "auto":
        return spec.native_categories and algorithm.native_categories
    if not algorithm.target_statistics:
        return False
    return many_levels(plan)


def many_levels(plan: FeaturePlan | None) -> bool:
    """Whether some category has more levels than features.max_onehot_levels (of the plan's most frequent 200
    read): those reach one-hot families as target means. Without a plan, no."""
    if plan is None:
        return False
    return any(len(f.levels) > plan.max_onehot_levels for f in plan.features if f.name in set(plan.categorical))


def installed(candidate: Candidate) -> bool:
    return candidate.algorithm.installed()


def require_installed(candidate: Candidate) -> None:
    if not installed(candidate):
        raise ConfigError.single(
            f"The candidate {candidate.name} needs the optional package {candidate.package}.",
            where="models.candidates", expected=f"{candidate.package} installed", got="not installed",
            fix=f"{BOOSTERS_EXTRA}, or remove {candidate.name} from models.candidates",
        )


def _check_params(candidate: Candidate, params: dict[str, Any], problem: str | None = None) -> None:
    for name in params:
        if name in RESERVED_PARAMS:
            raise ConfigError.single(
                f"models.params.{candidate.name} sets {name}, which the project controls.",
                where=f"models.params.{candidate.name}.{name}", expected="a model parameter",
                got=name, fix=f"remove it and set {RESERVED_PARAMS[name]} instead",
            )
    known = candidate.algorithm.known_params() if params else None
    if known is None:
        return  # nothing pinned, or a library that validates its many aliases itself at fit time
    unknown = [name for name in params if name not in known]
    mine = (candidate.algorithm.known_params(problem) or known) if problem and not unknown else known
    elsewhere = [name for name in params if name in known and name not in mine]
    if elsewhere:
        others = sorted(mine - set(RESERVED_PARAMS))
        raise ConfigError.single(
            f"models.params.{candidate.name} sets {elsewhere[0]}, which {candidate.name} has only for another "
            f"kind of problem than this {problem} one.", where=f"models.params.{candidate.name}.{elsewhere[0]}",
            expected=f"a parameter of {candidate.name} for {problem}", got=elsewhere[0],
            fix=f"remove it; for {problem}, {candidate.name} takes {', '.join(others[:8])}",
        )
    if unknown:
        guess = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        raise ConfigError.single(
            f"models.params.{candidate.name} names a parameter the model does not have.",
            where=f"models.params.{candidate.name}.{unknown[0]}", expected=f"a parameter of {candidate.name}",
            got=unknown[0], fix=f"did you mean '{guess[0]}'?" if guess else "check the model's documentation",
        )


def default_params(candidate: Candidate, *, case: BusinessCase, early_stopping: bool, rows: int | None = None
                   ) -> dict[str, Any]:
    """The family's defaults for the case's problem (see `Algorithm.default_params`); pinned parameters are
    applied by `make_estimator`."""
    return candidate.algorithm.default_params(case.problem, early_stopping=early_stopping, rows=rows)


def make_estimator(candidate: Candidate, *, case: BusinessCase, seed: int, n_jobs: int, n_rows: int,
                   params: dict[str, Any] | None = None) -> Any:
    """An unfitted estimator: defaults, then `params` (tuned values, or None for the defaults), then the
    candidate's pinned parameters; threads and seed always from the project."""
    return candidate.algorithm.estimator(case.problem, seed=seed, n_jobs=n_jobs, n_rows=n_rows, params=params,
                                         pinned=candidate.params, native_categories=candidate.native_categories)

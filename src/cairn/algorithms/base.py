"""The record of one model family: everything cairn knows about it, in one place.

A family module fills in one `Algorithm`; selection, tuning, cross-validation and the budget read it instead of
keeping tables of their own, so adding a family is one new module and one line in the registry. Nothing here
imports a modelling library: the factories import theirs when called, so the config (which takes the names
from the registry) stays light.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cairn.algorithms.space import Dimension
from cairn.algorithms.trees import leaves_for, trees_for

PROBLEMS = frozenset({"regression", "binary", "multiclass"})
CLASSIFICATION = frozenset({"binary", "multiclass"})
# How fit-and-predict time may grow with rows, as n**g (see cairn.stages.training.budget): fixed costs flatten
# small samples and noise on a busy machine can fake any curve, so the measured growth is held to what the
# algorithm can do. Most grow about linearly; a family that grows faster says so in its record.
LINEAR_GROWTH = (0.8, 1.1)


class Defaults(Protocol):
    def __call__(self, problem: str, *, trees: int, leaves: int) -> dict[str, Any]: ...


class Build(Protocol):
    """An unfitted estimator from the final parameters; threads and seed from the arguments, never defaults."""

    def __call__(self, problem: str, params: dict[str, Any], *, seed: int, n_jobs: int, n_rows: int,
                 native_categories: bool) -> Any: ...


class TreeSeconds(Protocol):
    """At least how many seconds one tree takes on an encoded sample `X`, read from its shape alone."""

    def __call__(self, X: Any, params: Mapping[str, Any]) -> float: ...


class FitStopping(Protocol):
    """Fit, stopping when `rounds` rounds bring no improvement on the stop rows, or at `deadline` (a
    `time.perf_counter()` instant; boosters check it after each tree); returns the trees kept."""

    def __call__(self, estimator: Any, X: Any, y: Any, X_stop: Any, y_stop: Any, *,
                 categories: dict[str, Any], rounds: int, share: float,
                 deadline: float | None = None) -> tuple[Any, int]: ...


@dataclass(frozen=True, eq=False)
class Algorithm:
    name: str
    description: str
    complexity: str
    needs_scaling: bool
    one_hot: bool
    defaults: Defaults  # sound defaults for tabular data, by problem, trees and leaves
    build: Build
    # Searched when tuning, in this order (the sampler suggests in it). Ranges kept near the defaults' cost: a
    # trial that fits 10x longer than the measured default breaks the budget's plan.
    space: Mapping[str, Dimension] = field(default_factory=dict)
    tuned_for: frozenset[str] = PROBLEMS  # problems whose space is searched; otherwise the defaults alone
    # Parameters only some problems have (Ridge's alpha, LogisticRegression's C): neither searched nor pinnable in
    # models.params for the others
    only_for: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # A parameter searched over another range for some problems, by problem (kNN's neighbours for classes)
    space_for: Mapping[str, Mapping[str, Dimension]] = field(default_factory=dict)
    enough_trials: int = 8  # most trials worth running at budgets up to 30 s (see cairn.stages.training.tuning)
    trees_param: str | None = None  # the parameter early stopping decides
    leaves_param: str | None = None  # leaf-wise boosters: the leaves per tree their defaults set by rows
    # Boosters: the step each tree takes; a final fit the budget confines may take it larger with as many times
    # fewer trees, to afford more rows (cairn.stages.training.final_rows)
    rate_param: str | None = None
    fit_stopping: FitStopping | None = None  # boosters: adds trees until a validation slice stops improving
    cost_growth: tuple[float, float] = LINEAR_GROWTH
    # A family whose first tree may outlast the timed fit's deadline on a wide table (no callback reaches the
    # work before it) prices a tree from the shape first: see cairn.stages.training.budget.estimate_cost.
    tree_seconds: TreeSeconds | None = None
    package: str | None = None  # the optional package it needs
    native_categories: bool = False  # can learn codes as categories (models.native_categories)
    # ... and, learning them natively, encodes many-level categories itself from target statistics (CatBoost's
    # ordered target statistics; LightGBM's categorical splits, which order the levels by their gradient statistics
    # at each split): the encoder then hands it every level's code instead of its own out-of-fold target means
    target_statistics: bool = False
    # Samples rows or columns as it fits (subsample, colsample, bootstrap, random strength), so a refit with another
    # seed is another model as good: the final fit may average such copies (cairn.stages.training.seed_copies)
    varies_with_seed: bool = False
    checks_own_params: bool = False  # takes many aliases as keyword arguments and validates them at fit time
    extra_params: frozenset[str] = frozenset()  # accepted in models.params beyond the estimator's get_params
    default_list: bool = False  # competes when models.candidates is not set
    default_list_max_rows: int | None = None  # ... but only up to this many training rows
    # One-hot every level of every category, however many, in a sparse matrix, instead of target means beyond
    # features.max_onehot_levels; in the default list only when some category has more levels than that
    every_level: bool = False

    @property
    def boosted(self) -> bool:
        return self.fit_stopping is not None

    def installed(self) -> bool:
        return not self.package or importlib.util.find_spec(self.package) is not None

    def default_params(self, problem: str, *, early_stopping: bool, rows: int | None = None) -> dict[str, Any]:
        """Boosters get MAX_TREES when early stopping will pick the number, FIXED_TREES otherwise; leaf-wise
        boosters get leaves by the fit's rows."""
        return self.defaults(problem, trees=trees_for(early_stopping=early_stopping, boosted=self.boosted),
                             leaves=leaves_for(rows))

    def estimator(self, problem: str, *, seed: int, n_jobs: int, n_rows: int, params: dict[str, Any] | None = None,
                  pinned: dict[str, Any] | None = None, native_categories: bool = False) -> Any:
        """An unfitted estimator: defaults, then `params` (tuned values, or None for the defaults), then the
        `pinned` ones of models.params."""
        chosen = {**self.default_params(problem, early_stopping=False, rows=n_rows), **(params or {}),
                  **(pinned or {})}
        return self.build(problem, chosen, seed=seed, n_jobs=n_jobs, n_rows=n_rows,
                          native_categories=native_categories)

    def search_space(self, problem: str, *, pinned: Mapping[str, Any] = {}) -> dict[str, Dimension]:
        """The parameters tuned for `problem`: the space minus what models.params pins."""
        if problem not in self.tuned_for:
            return {}
        space = {**self.space, **self.space_for.get(problem, {})}
        return {name: dim for name, dim in space.items()
                if name not in pinned and problem in self.only_for.get(name, PROBLEMS)}

    def known_params(self, problem: str | None = None) -> frozenset[str] | None:
        """The names models.params may pin (for `problem`, or for any), or None when the library checks them
        itself."""
        if self.checks_own_params:
            return None
        from cairn.estimators.labels import EncodedLabels

        kinds = (problem,) if problem else ("regression", "binary")
        known = {name for name in self.extra_params if any(k in self.only_for.get(name, PROBLEMS) for k in kinds)}
        for kind in kinds:
            estimator = self.estimator(kind, seed=0, n_jobs=1, n_rows=1000)
            inner = estimator.estimator if isinstance(estimator, EncodedLabels) else estimator
            known |= set(inner.get_params(deep=False))
        return frozenset(known)

"""The rows the search sees and the rows the judged model is fitted on.

A `SearchScope` never changes: selecting inputs or searching fewer rows gives a new one, so a step always works on
the rows it was handed, and the result reports the scope the search really had.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from cairn.algorithms import leaves_for
from cairn.config.schema import Training
from cairn.execution.engine import FoldEngine
from cairn.metrics.scoring import positive_last
from cairn.model.inputs import model_frame_for_fit
from cairn.stages.business import BusinessCase
from cairn.stages.features import FeaturePlan
from cairn.stages.selection import Candidate, default_params
from cairn.stages.training.crossval import STOPPING_SHARE, CVResult, TrainingData, refit_trees, uses_early_stopping
from cairn.stages.training.importance import Selection
from cairn.stages.training.positive import positive_class
from cairn.stages.training.splits import Split, search_sample, split_rows


@dataclass(frozen=True)
class SearchScope:
    full_split: Split  # the holdout cut and folds over every training row: smaller searches are drawn from it
    data: TrainingData  # every training row, with the folds (data.split) the search cross-validates
    fit_searched_rows: bool  # the judged model is fitted on the searched rows only, not every training row
    # ... and on this many training rows in all when set: the searched ones, then more drawn at random (see
    # `fit_rows`); the budget sets it from the time left (`final_rows`), training.final_fit replays it
    fit_rows_count: int | None = None
    # The boosters' final fit takes this many times the validated learning rate and as many times fewer trees:
    # the budget raises it to afford more rows (`final_rows`), training.final_rate_boost sets or replays it
    rate_boost: int = 1
    # ... for these candidates only (the judged model's families, `final_rows`), or every booster (None, before the
    # judged model is known): a runner-up refit for the holdout keeps the rate it was validated at
    boost_only: frozenset[str] | None = None

    @property
    def split(self) -> Split:
        return self.data.split

    @property
    def plan(self) -> FeaturePlan:
        return self.data.plan

    def fit_rows(self) -> np.ndarray:
        """Positions of the training rows the judged model is fitted on (see training.final_fit)."""
        if not self.fit_searched_rows:
            return np.arange(len(self.data.y))
        searched = self.split.searched()
        if self.fit_rows_count is None or self.fit_rows_count <= len(searched):
            return searched
        rest = np.setdiff1d(np.arange(len(self.data.y)), searched, assume_unique=True)
        more = np.random.default_rng(self.data.seed).permutation(rest)[: self.fit_rows_count - len(searched)]
        return np.sort(np.concatenate([searched, more]))

    def fit_row_count(self) -> int:
        """How many rows `fit_rows` gives, without drawing them: what pricing a final fit needs."""
        if not self.fit_searched_rows:
            return len(self.data.y)
        searched = self.split.rows_searched()
        if self.fit_rows_count is None:
            return searched
        return min(max(self.fit_rows_count, searched), len(self.data.y))

    def on_every_row(self) -> SearchScope:
        """This scope with the judged model fitted on every training row, as when the budget never confined it."""
        return replace(self, fit_searched_rows=False, fit_rows_count=None)

    def confined_by_budget(self, spec: Training) -> bool:
        """The budget, not the project, confined the final fit to the searched rows: the time left then widens it
        (`final_rows`), and tuning leaves it the time a fit on every row would take."""
        return self.fit_searched_rows and spec.final_fit == "all_rows"

    def tree_growth(self) -> float:
        """Rows of the final fit against the rows a fold's booster fitted on (the fold less its stopping slice)."""
        return self.fit_row_count() / (self.data.fold_rows * (1 - STOPPING_SHARE))

    def refit_params(self, candidate: Candidate, result: CVResult) -> dict[str, Any]:
        """The parameters of the final fit: the trees early stopping chose in the folds, grown to its rows, and
        when the defaults' trial is refit, the leaves they set by the folds' rows set again by its rows
        (`leaves_for`): on 209,500 flights at one minute, LightGBM searched on 6,250 rows kept 15 leaves on
        138,000 (holdout RMSE 6.57). A tuned trial keeps the leaves it was validated with."""
        params = dict(result.params)
        if result.best_iteration is not None and uses_early_stopping(candidate, self.data):
            trees = refit_trees(result.best_iteration, growth=self.tree_growth())
            if self.boosts(candidate, params):
                rate = candidate.algorithm.rate_param or ""
                params[rate] = params[rate] * self.rate_boost
                trees = max(1, round(trees / self.rate_boost))
            params[candidate.trees_param or ""] = trees
        leaves = candidate.algorithm.leaves_param
        if leaves and leaves not in candidate.params and self._defaults_trial(candidate, result.params):
            params[leaves] = leaves_for(self.fit_row_count())
        return params

    def boosts(self, candidate: Candidate, params: dict[str, Any]) -> bool:
        """Whether the final fit raises this candidate's learning rate: a booster whose trees early stopping chose
        and whose rate models.params leaves free."""
        rate = candidate.algorithm.rate_param
        return (self.rate_boost > 1 and rate is not None and rate in params and rate not in candidate.params
                and (self.boost_only is None or candidate.name in self.boost_only)
                and uses_early_stopping(candidate, self.data))

    def _defaults_trial(self, candidate: Candidate, params: dict[str, Any]) -> bool:
        """Every searched parameter at the default the folds' rows gave it (`tuning.start_params`)."""
        defaults = default_params(candidate, case=self.data.case, early_stopping=False, rows=self.data.fold_rows)
        return all(params.get(name) == defaults.get(name) for name in candidate.algorithm.space
                   if name not in candidate.params)


def search_scope(table: pd.DataFrame, *, case: BusinessCase, plan: FeaturePlan, spec: Training, seed: int,
                 engine: FoldEngine | None = None) -> SearchScope:
    """The holdout cut, the training.search_rows sample, and the training frame the folds index; its folds run on
    `engine` (None: in this process)."""
    full_split = split_rows(table, case=case, spec=spec, seed=seed)
    split = search_sample(full_split, rows=spec.search_rows, seed=seed)
    # the training rows first, then their model frame: never the whole table's frame beside its training part
    X = model_frame_for_fit(table.iloc[split.train_index], plan.features).reset_index(drop=True)
    y = table[case.target].to_numpy()[split.train_index]
    classes = np.array(sorted(pd.unique(y).tolist())) if case.problem != "regression" else None
    if classes is not None and len(classes) == 2:  # binary metrics and codes read the positive class last
        classes = positive_last(classes, positive_class(y, configured=case.positive_class)[0])
    data = TrainingData(X, y, split, plan, case, classes, case.reported_metrics, seed, spec.n_jobs,
                        spec.early_stopping, spec.parallel_folds, engine)
    boost = spec.final_rate_boost if isinstance(spec.final_rate_boost, int) else 1
    if isinstance(spec.final_fit, int):  # a number of rows, as a budgeted run recorded it
        return SearchScope(full_split, data, True, spec.final_fit, boost)  # as the budget did: deployment keeps it
    return SearchScope(full_split, data, spec.final_fit == "searched_rows", rate_boost=boost)


def narrowed(scope: SearchScope, chosen: Selection) -> SearchScope:
    """Only the inputs feature selection kept, in the plan and the frame: every later step, the refit pipeline
    included, then sees only those."""
    if not chosen.dropped:
        return scope
    plan = replace(scope.plan, features=[f for f in scope.plan.features if f.name in chosen.kept],
                   dropped={**scope.plan.dropped, **chosen.dropped})
    return replace(scope, data=replace(scope.data, X=scope.data.X[chosen.kept], plan=plan, _encoded={}))


def resampled(scope: SearchScope, *, rows: int, seed: int) -> SearchScope:
    """A smaller search sample, drawn from every training row the way training.search_rows draws it."""
    split = search_sample(scope.full_split, rows=rows, seed=seed, why="to fit the budget")
    return replace(scope, data=replace(scope.data, split=split, _encoded={}))

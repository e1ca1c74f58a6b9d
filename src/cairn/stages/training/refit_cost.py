"""What a final fit costs, priced from a trial's measured seconds per fold: the reserve tuning leaves, the rows a
budget-confined fit affords (`final_rows`), whether the learning curves and the runner-up's refit still fit.

A booster's price is its seconds per tree in the folds, times the trees the final fit grows, times (the final
fit's rows / a fold's fitting rows) ** g. Per-tree seconds grow slower than the rows, since part of a tree's work
(candidate splits over histograms or borders) does not depend on them: from 6,200 to 34,000 diamonds (5.5x) a
500-tree fit took 3.1x as long for CatBoost and 2.8x for LightGBM (g 0.66 and 0.61), and on flights 44,000 rows
priced linearly from 12,500-row folds at 19 s took 9.6 s. So g is the family's slowest growth
(`Algorithm.cost_growth`, 0.8 for the boosters): still long, by less. Other models scale their seconds per fold
with the rows. A leaf-wise booster refit with more leaves (`SearchScope.refit_params`) costs more per tree, by
less than the leaves: on 138,000 flights LightGBM took 7.6 ms a tree at 15 leaves, 11.8 at 63 (4.2x the leaves,
1.55x the time: LEAVES_COST_GROWTH).
"""

from __future__ import annotations

from cairn.stages.selection import Candidate
from cairn.stages.training.crossval import STOPPING_ROUNDS, CVResult, uses_early_stopping
from cairn.stages.training.scope import SearchScope

LEAVES_COST_GROWTH = 0.3  # seconds per tree grow as leaves ** this


def refit_s(candidate: Candidate, best: CVResult, scope: SearchScope) -> float:
    """Estimated seconds of fitting `candidate` with `best`'s parameters on the scope's fit rows."""
    rows = scope.fit_row_count()
    refit = scope.refit_params(candidate, best)
    leaves = candidate.algorithm.leaves_param
    finer = (refit[leaves] / best.params[leaves]) ** LEAVES_COST_GROWTH if leaves and leaves in best.params else 1.0
    if best.best_iteration is None or not uses_early_stopping(candidate, scope.data):
        return best.fit_time_s * rows / max(scope.data.fold_rows, 1) * finer
    trees = refit[candidate.trees_param or ""]
    per_tree_s = best.fit_time_s / (best.best_iteration + STOPPING_ROUNDS)
    return float(per_tree_s * scope.tree_growth() ** candidate.algorithm.cost_growth[0] * trees * finer)

"""The compute budget: which candidates can finish cross-validation in time, and how many trials each gets.

The budget is turned into a plan before tuning starts: a short timed fit per candidate decides who can afford
cross-validation at all, the defaults' real cross-validation time decides how many trials fit. The search then
runs exactly the plan, so two runs with one plan agree whatever the machine's speed that day; only a hard safety
stop, reported when it fires, looks at the clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from cairn.algorithms import MAX_TREES
from cairn.config.schema import Training
from cairn.errors import ConfigError
from cairn.metrics.scoring import error_of, shown
from cairn.stages.business import BusinessCase
from cairn.stages.selection import Candidate, default_params, make_estimator
from cairn.stages.training.crossval import (
    STOPPING_ROUNDS,
    TrainingData,
    fit_model,
    model_outputs,
    preprocessor,
    uses_early_stopping,
)

DEFAULT_BUDGET_MINUTES = 5.0
PLAN_SHARE = 0.85  # of the budget the plan may fill; the rest absorbs estimation error
STOP_SHARE = 0.97  # the safety stop, less the time the final fit still needs
TUNED_COST = 1.2  # a tuned trial against the defaults' measured time: searched ranges cost more, pruning less
# A step estimated to take less than this runs even past the safety stop: a second at most, against a whole model
# lost. insteval's sparse_linear (0.05 s a fold) lost its defaults to extra trees' cut at 25 s of 60, and its
# runner-up refit to "about 0 s, 0 s allowed".
TRIVIAL_S = 1.0
LEARNING_CURVE_COST = 0.5  # of one cross-validation: 25% and 50% of the rows on 3 folds (100% is the CV itself)
SAMPLE_SHARE = 0.2  # of a fold's training rows, for the timed fit
# A booster's timed fit stops at this share of the budget (two per candidate), but not before TIMED_FIT_AT_LEAST_S:
# a fit cut there is priced as unfinished (see estimate_cost). On the example (10 min) no fit comes near it.
TIMED_FIT_SHARE = 0.05
TIMED_FIT_AT_LEAST_S = 2.0
# ... but at least this many rows (or the whole fold): on a few hundred rows fixed costs per tree dominate and
# the growth rules below then overstate larger fits. On 2,560-row churn folds, samples of 256 and 512 rows
# priced CatBoost's cross-validation at 52 s; it took 7.9 s, and the minute's budget had dropped it.
SAMPLE_ROWS_AT_LEAST = 4_000
# How fit-and-predict time may grow with rows, as n**g, is each family's `Algorithm.cost_growth`: fixed costs
# flatten small samples and noise on a busy machine can fake any curve, so the measured growth is held to what the
# algorithm can do (kNN up to quadratic, the rest about linear).
# Trees early stopping keeps grow with rows too, but on a few hundred sample rows they double from 10% to 20% by
# noise alone; held to a square root, the estimate matched real CV on Ames (447 trees) and on flights (2,000).
TREE_GROWTH_AT_MOST = 0.5
# The budget may shrink the searched sample down to this, never below. At 10,000 on 262,000 flights at one minute,
# the cost estimates (25 s of the minute on these libraries) left too little for LightGBM even at 12,500 rows and
# linear alone competed (RMSE 15.2); a boosted model chosen on fewer rows still beats a linear one on them all.
MIN_SEARCH_ROWS = 5_000
# Screening: a candidate whose defaults' CV would take over SCREEN_COST_SHARE of the budget stops after
# SCREEN_FOLDS folds when its error is more than SCREEN_MARGIN above the leader's (deliveries at 60 s: extra
# trees spent 18 s of the minute to finish 15% behind CatBoost). Cheap candidates always finish: a weak but
# different model can still earn ensemble weight.
SCREEN_COST_SHARE = 0.15
SCREEN_FOLDS = 2
SCREEN_MARGIN = 0.10
# When no candidate's estimate fits, the cheapest still runs (its defaults, no tuning) if the stage would end
# within OVERRUN_AT_MOST budgets: on a few hundred rows, estimates from timed samples err by up to about 2x on two
# busy cores (fixed costs dominate them), so such a budget may well suffice, and a model a little late, said so,
# beats a refusal. Beyond, the run would take several budgets (one second for a million rows): refused, naming the
# minutes it needs.
OVERRUN_AT_MOST = 2.0
SMALL_SAMPLE_MARGIN = 2.0  # the smaller timed sample alone drops a candidate only beyond twice what is left


@dataclass(frozen=True)
class Budget:
    seconds: float
    source: str  # where it was set

    @property
    def minutes(self) -> float:
        return self.seconds / 60


def training_budget(case: BusinessCase, spec: Training) -> Budget:
    """The business constraint wins over training.budget_minutes; without either, five minutes."""
    constraints = case.constraints
    if constraints is not None and constraints.train_budget_minutes:
        return Budget(constraints.train_budget_minutes * 60, "business.constraints.train_budget_minutes")
    if spec.budget_minutes:
        return Budget(spec.budget_minutes * 60, "training.budget_minutes")
    return Budget(DEFAULT_BUDGET_MINUTES * 60, "default")


@dataclass(frozen=True)
class CostEstimate:
    """Seconds one k-fold cross-validation with default parameters should take, from two timed sample fits, and
    the growth model behind it, so the cost at another number of rows needs no new fit."""

    name: str
    cv_s: float
    refit_s: float  # one fit on all training rows
    sample_rows: int
    sample_s: float
    per_tree_s: float = 0.0  # the larger sample's seconds per tree (per fit for models without trees)
    trees: float = 1.0  # trees the larger sample kept, with the rounds early stopping waited
    growth: float = 1.0  # seconds per tree grow as rows ** growth
    tree_growth: float = 0.0  # trees kept grow as rows ** tree_growth
    cut_at_s: float | None = None  # the timed fit was stopped at this many seconds, before it converged
    priced_tree_s: float | None = None  # not timed: a tree priced from the encoded shape (Algorithm.tree_seconds)

    def fit_s(self, rows: float) -> float:
        """Seconds to fit and predict one model on `rows` rows."""
        scale = rows / self.sample_rows
        kept = min(self.trees * scale**self.tree_growth, MAX_TREES + STOPPING_ROUNDS)
        return self.per_tree_s * scale**self.growth * kept


def estimate_cost(candidate: Candidate, data: TrainingData, *, limit_s: float | None = None,
                  afford_s: float | None = None) -> CostEstimate:
    """Fit and predict the way a fold does, on 10% and 20% of a fold's rows (SAMPLE_ROWS_AT_LEAST at least), and
    extrapolate the growth.

    A booster's timed fit stops at `limit_s` seconds (its own callback, after the tree that passes it): on a very
    wide table one CatBoost sample fit ran past 5 minutes of an 18 s budget. A fit cut there has not converged, so
    it is priced at its seconds per tree times every tree it may grow, and the larger sample is not fitted at all:
    such a candidate is dropped with its estimate, unless the budget really affords it. A family whose work
    before the first tree no callback reaches (CatBoost's borders: 4.5 s for one tree on 240 rows x 5,000
    columns) is priced from the encoded sample's shape first (`Algorithm.tree_seconds`, a floor), and not fitted
    at all when the trees early stopping must wait for would outlast `limit_s` anyway, or on every fold
    `afford_s` (what the budget has left). When the smaller sample alone, grown as slowly as the family may,
    prices the cross-validation beyond `afford_s`, the larger one is not fitted either: on 160 rows x 500 columns
    extra trees' two timed fits took 3.5 s of a 10 s budget, to be dropped anyway.

    Boosters stop early on the samples as they will in the folds, and the number of trees they keep is
    extrapolated too: more rows keep more trees. Timing a fixed 600 trees instead underestimated 40,000-row
    flight folds several times over (LightGBM kept all 2,000), and the safety stop then cut it.
    """
    fit_rows, valid_rows = data.split.folds[0]
    folds = len(data.split.folds)
    # validation rows per fitting row, as a fold has them: one validation fold (training.validation) keeps its own
    valid_share = len(valid_rows) / max(len(fit_rows), 1) if folds == 1 else 1 / max(folds - 1, 1)
    rng = np.random.default_rng(data.seed)
    large = min(len(fit_rows), max(int(len(fit_rows) * SAMPLE_SHARE), SAMPLE_ROWS_AT_LEAST))
    small = max(large // 2, 20)
    stopping = uses_early_stopping(candidate, data)
    params = {name: value for name, value in default_params(candidate, case=data.case, early_stopping=stopping,
                                                            rows=data.fold_rows).items()
              if name not in candidate.params}
    # Its package is loaded before the clock starts: a cold `import catboost` (0.1-1.1 s here, by the machine's load)
    # was timed as part of the first sample fit, whose limit is 3 s. In fresh processes CatBoost on penguins' 220
    # rows was priced at 35-44 s for 5-fold CV in four runs of four before this (dropped in three), and competed
    # (0.95 s a fold) in the one run after it; a warm process under load still priced it at 42 s once, so the
    # import is not the whole story.
    make_estimator(candidate, case=data.case, seed=data.seed, n_jobs=1, n_rows=small)
    timings, trees = [], []
    tree_seconds = candidate.algorithm.tree_seconds if stopping and limit_s is not None else None
    for size in (small, large):
        rows = np.sort(rng.choice(fit_rows, size=size, replace=False))
        valid = valid_rows[: max(10, int(size * valid_share))]
        began = time.perf_counter()
        deadline = None if limit_s is None or not stopping else began + limit_s
        encode = preprocessor(data.plan, scale=candidate.needs_scaling, one_hot=candidate.one_hot,
                              target_means=candidate.target_means)
        X = encode.fit_transform(data.X.iloc[rows], data.target_for_fit(data.y[rows]))
        if tree_seconds is not None and limit_s is not None:
            floor_s = tree_seconds(X, {**params, **candidate.params}) * (STOPPING_ROUNDS + 1)
            if floor_s > limit_s or (afford_s is not None and floor_s * folds > afford_s):  # cut, or unaffordable
                return _unfinished(candidate, data, rows=size, seconds=time.perf_counter() - began,
                                   per_tree_s=floor_s / (STOPPING_ROUNDS + 1), priced=True)
        model, kept = fit_model(candidate, params, X, data.y[rows], rows=rows, data=data,
                                code_columns=tuple(encode.named_steps["encode"].code_columns_), deadline=deadline)
        cut = deadline is not None and time.perf_counter() >= deadline
        model_outputs(model, encode.transform(data.X.iloc[valid]), data=data)
        model_outputs(model, X, data=data)
        timings.append(time.perf_counter() - began)
        trees.append(kept + STOPPING_ROUNDS if kept is not None else 1)  # the rounds it waited count too
        if afford_s is not None and size < large and not cut:
            floor = CostEstimate(candidate.name, 0.0, 0.0, size, timings[-1], timings[-1] / max(trees[-1], 1),
                                 trees[-1], candidate.algorithm.cost_growth[0], 0.0)
            # unaffordable twice over even at its slowest growth: a small sample's time is mostly fixed costs, so
            # a closer call is left to the larger sample (extra trees on 3,000 rows priced 8.3 s from it, of 10 s)
            if floor.fit_s(data.fold_rows) * folds > SMALL_SAMPLE_MARGIN * afford_s:
                return replace(floor, cv_s=floor.fit_s(data.fold_rows) * folds, refit_s=floor.fit_s(len(data.y)))
        if cut:  # not converged: every tree it may grow, at the seconds per tree it took, on the sample it had
            return replace(_unfinished(candidate, data, rows=size, seconds=timings[-1],
                                       per_tree_s=timings[-1] / max(trees[-1], 1)), cut_at_s=limit_s)
    per_tree = [seconds / count for seconds, count in zip(timings, trees, strict=True)]
    low, high = candidate.algorithm.cost_growth
    growth = min(max(_exponent(per_tree[1] / max(per_tree[0], 1e-9), large / small), low), high)
    tree_growth = min(max(_exponent(trees[1] / trees[0], large / small), 0.0), TREE_GROWTH_AT_MOST)
    estimate = CostEstimate(candidate.name, 0.0, 0.0, large, timings[1], per_tree[1], trees[1], growth,
                            tree_growth)
    return replace(estimate, cv_s=estimate.fit_s(data.fold_rows) * folds, refit_s=estimate.fit_s(len(data.y)))


def _unfinished(candidate: Candidate, data: TrainingData, *, rows: int, seconds: float, per_tree_s: float,
                priced: bool = False) -> CostEstimate:
    """A booster whose sample fit did not (or would not) converge: every tree it may grow at `per_tree_s`,
    growing with rows as fast as the family may."""
    estimate = CostEstimate(candidate.name, 0.0, 0.0, rows, seconds, per_tree_s, float(MAX_TREES + STOPPING_ROUNDS),
                            candidate.algorithm.cost_growth[1], 0.0,
                            priced_tree_s=per_tree_s if priced else None)
    return replace(estimate, cv_s=estimate.fit_s(data.fold_rows) * len(data.split.folds),
                   refit_s=estimate.fit_s(len(data.y)))


def search_of(folds: int) -> str:
    """What one scoring of a candidate is, in words: '5-fold CV', or one fold (training.validation)."""
    return "its validation fold" if folds == 1 else f"{folds}-fold CV"


def _exponent(ratio: float, rows_ratio: float) -> float:
    """g in ratio = rows_ratio ** g."""
    return math.log(max(ratio, 1e-9)) / math.log(rows_ratio)


def affordable(estimates: list[CostEstimate], *, budget: Budget, seconds_left: float, folds: int,
               keep_cheapest: bool = False) -> tuple[list[str], dict[str, str]]:
    """Candidates whose cross-validation and final fit fit in what is left, cheapest first; the rest dropped
    with their estimate. None fits: with `keep_cheapest`, the cheapest alone when the stage would still end
    within OVERRUN_AT_MOST budgets (see `over_budget`); otherwise a ConfigError with the cheapest estimate and
    what to change."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    total = 0.0
    for estimate in sorted(estimates, key=lambda e: e.cv_s + e.refit_s):
        cost = estimate.cv_s + estimate.refit_s
        if total + cost <= seconds_left:
            kept.append(estimate.name)
            total += cost
            continue
        left = f" ({duration(max(seconds_left - total, 0))} left after cheaper candidates)" if kept else ""
        cut = ("" if estimate.cut_at_s is None else
               f" (its timed sample fit was stopped at {duration(estimate.cut_at_s)}, unfinished)")
        if estimate.priced_tree_s is not None:
            cut = (f" (not timed: priced at {estimate.priced_tree_s:.2g} s a tree at least from the encoded "
                   f"table's shape, so its timed sample fit could not have finished)")
        dropped[estimate.name] = (f"estimated {duration(estimate.cv_s)} for {search_of(folds)} and "
                                  f"{duration(estimate.refit_s)} for the final fit{cut}, budget "
                                  f"{budget.minutes:g} min{left}")
    if not kept:
        cheapest = min(estimates, key=lambda e: e.cv_s + e.refit_s)
        elapsed = budget.seconds * PLAN_SHARE - seconds_left
        if keep_cheapest and elapsed + cheapest.cv_s + cheapest.refit_s <= OVERRUN_AT_MOST * budget.seconds:
            del dropped[cheapest.name]
            return [cheapest.name], dropped
        needed = (cheapest.cv_s + cheapest.refit_s) / PLAN_SHARE + elapsed
        where = "training.budget_minutes" if budget.source == "default" else budget.source
        raise ConfigError.single(
            "The training budget is too small for any candidate.", where=where,
            expected=f"at least {math.ceil(needed / 60 * 10) / 10:g} minutes (the cheapest candidate, "
                     f"{cheapest.name}, needs an estimated {duration(cheapest.cv_s)} for {search_of(folds)} and "
                     f"{duration(cheapest.refit_s)} for the final fit)",
            got=f"{budget.minutes:g} minute{'' if budget.minutes == 1 else 's'}",
            fix=f"raise {where}, lower training.cv, or train on fewer rows (data.sample_rows)",
        )
    return kept, dropped


@dataclass(frozen=True)
class SearchSize:
    """How much data the search and the judged fit take, and who competes at that size."""

    rows: int  # training rows cross-validated
    fit_searched: bool  # the judged model is fitted on the searched rows, not every training row
    estimates: list[CostEstimate]
    kept: list[str]
    dropped: dict[str, str]


def missed(dropped: dict[str, str], kept: list[str], boosted: frozenset[str]) -> tuple[int, int]:
    """What a search size's dropped candidates cost it, boosters first: the others count only when no booster
    competes, for a booster that does learns most of what they would add to the blend, and they may still join
    late. Rows, by contrast, help every family: on diamonds at one minute, a half sample with the judged model
    fitted on it alone, so that extra trees competed as well, scored holdout RMSE 517; every row without them 491."""
    boosters = sum(name in boosted for name in dropped)
    others = 0 if any(name in boosted for name in kept) else len(dropped)
    return boosters, others


def cheaper_search(estimates: list[CostEstimate], *, searched: int, fold_rows: float, training_rows: int,
                   folds: int, budget: Budget, seconds_left: float, fit_searched: bool,
                   boosted: frozenset[str]) -> SearchSize:
    """Spend less on what the budget cannot pay for: the searched rows halved (down to MIN_SEARCH_ROWS) and, if
    need be, the judged model fitted on the searched rows rather than on every training row. The option that
    misses least (`missed`: the `boosted` candidates first) wins; ties keep the fit on every row, then more rows.
    On 262,000 flights at one minute, LightGBM could neither cross-validate 50,000 rows nor fit all rows in time,
    and linear alone won (RMSE 15.2, against 8.3 for LightGBM at two minutes)."""
    sizes = [searched]
    while sizes[-1] // 2 >= MIN_SEARCH_ROWS:
        sizes.append(sizes[-1] // 2)
    options = []
    for size in sizes:
        choices = (True,) if fit_searched else (False, True) if size < training_rows else (False,)
        for on_searched in choices:
            scaled = [replace(e, cv_s=e.fit_s(fold_rows * size / searched) * folds,
                              refit_s=e.fit_s(size if on_searched else training_rows)) for e in estimates]
            kept, dropped = affordable(scaled, budget=budget, seconds_left=seconds_left, folds=folds,
                                       keep_cheapest=True)
            late = over_budget(scaled, kept, budget=budget, seconds_left=seconds_left) is not None
            options.append(((late, *missed(dropped, kept, boosted), on_searched and not fit_searched, -size),
                            SearchSize(size, on_searched, scaled, kept, dropped)))
    return min(options, key=lambda option: option[0])[1]


def over_budget(estimates: list[CostEstimate], kept: list[str], *, budget: Budget, seconds_left: float
                ) -> str | None:
    """What to say when `affordable` kept the cheapest candidate though its estimate does not fit; None when
    the kept ones fit."""
    chosen = [e for e in estimates if e.name in kept]
    cost = sum(e.cv_s + e.refit_s for e in chosen)
    if cost <= seconds_left or len(chosen) != 1:
        return None
    [cheapest] = chosen
    needed = budget.seconds + (cost - seconds_left) / PLAN_SHARE
    where = "training.budget_minutes" if budget.source == "default" else budget.source
    return (f"no candidate's estimate fits the {budget.minutes:g} min budget: the run goes on with the cheapest, "
            f"{cheapest.name} (estimated {duration(cheapest.cv_s)} for CV and {duration(cheapest.refit_s)} for "
            f"the final fit, {duration(max(seconds_left, 0.0))} left to plan), with its defaults only, and may end "
            f"late; {where} of about {math.ceil(needed / 60 * 10) / 10:g} min would fit it on time")


def plan_trials(trial_seconds: dict[str, float], *, caps: dict[str, int], seconds: float, total: int | None,
                ran: dict[str, int] | None = None) -> dict[str, int]:
    """Trials per candidate, the defaults' trial included: equal time for each, one trial at a time to the
    candidate that has had the least, while a trial (`trial_seconds`) fits in `seconds` and under its cap and
    the total. `ran` continues a plan: the trials each candidate has already had."""
    trials = dict(ran) if ran is not None else dict.fromkeys(trial_seconds, 1)
    spent = {name: (trials[name] - 1) * trial_seconds[name] for name in trial_seconds}
    left = seconds
    more = math.inf if total is None else total - sum(trials.values())
    order = list(trial_seconds)
    while more > 0:
        open_ = [n for n in order if trials[n] < caps[n] and trial_seconds[n] <= left]
        if not open_:
            break
        name = min(open_, key=lambda n: (spent[n], order.index(n)))
        trials[name] += 1
        spent[name] += trial_seconds[name]
        left -= trial_seconds[name]
        more -= 1
    return trials


def worth_screening(estimate_s: float, budget: Budget) -> bool:
    return estimate_s > SCREEN_COST_SHARE * budget.seconds


def screen_behind(leader_scores: list[float], primary: str) -> Callable[[int, float], bool]:
    """A fold report that says stop after SCREEN_FOLDS folds when the running error is SCREEN_MARGIN above the
    leader's on the same folds. Scores decide, not the clock, so a replayed plan (which lists only the
    candidates that finished) agrees."""
    reference = error_of(primary, float(np.mean(leader_scores[:SCREEN_FOLDS])))

    def behind(fold: int, running: float) -> bool:
        return fold + 1 == SCREEN_FOLDS and error_of(primary, running) > reference * (1 + SCREEN_MARGIN)

    return behind


def screened_reason(primary: str, *, folds: int, running: float, leader: str, leader_scores: list[float],
                    estimate_s: float) -> str:
    reference = float(np.mean(leader_scores[:folds]))
    return (f"its defaults scored {primary} {shown(primary, running)} on the first {folds} folds against "
            f"{leader}'s {shown(primary, reference)}, over {SCREEN_MARGIN:.0%} behind; the rest of its "
            f"estimated {duration(estimate_s)} went to the leaders")


def duration(seconds: float) -> str:
    """Tenths under ten seconds, seconds under two minutes, minutes above: '0.4 s', '45 s', '9.5 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

"""Hyperparameter search: Optuna TPE, seeded, pruning trials whose early folds score worse than the median.

Trial 0 is always the defaults (with pinned parameters), so tuning never ends worse than no tuning out of fold.
How many trials each candidate gets is decided before the search starts (see `cairn.stages.budget`); the search
then runs exactly that many, so a recorded plan replays the same trials and the same model on any machine.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cairn.algorithms import ALGORITHMS, MAX_TREES, Dimension
from cairn.metrics.scoring import error_of, lower_is_better
from cairn.stages.selection import Candidate, default_params
from cairn.stages.training.crossval import CVResult, TrainingData, cross_validate, uses_early_stopping

log = logging.getLogger(__name__)


# Each family's most trials worth running (`Algorithm.enough_trials`) hold at budgets up to 30 s: a run should
# take the time it needs, not all the time it is given. A larger budget says the user will wait, so the caps grow
# with it, up to four times (from 120 s); beyond that TPE gains little. Growing from 120 s instead left small data
# with most of a minute unused (hmda trained 13 s of 60); from 30 s, at 60 s: hmda's holdout AUC 0.867 -> 0.874,
# deliveries' RMSE 1.952 -> 1.935, wage 32.68 -> 32.66, the others within noise (bench/automl.py, 60 s, cairn
# alone).
CAPS_GROW_FROM_S = 30.0
CAPS_GROW_AT_MOST = 4.0
# A booster whose defaults grew most of the trees early stopping allows had a step too small for them: it was
# still improving near the cap (LightGBM at 0.03 on 12,500 flights kept all 2,000), and each of its trials costs
# the most trees. Its first tuned trial is then the defaults with a step UNCONVERGED_STEP times larger (about a
# third of the trees and of the time), rather than a random one. From 95% of the cap to 70%, at one minute on the
# eighteen bench sets: two searches started this way, and both improved (hotel_rates' LightGBM had kept 1,546
# trees: holdout RMSE 13.37 -> 13.35, training 51 s -> 55 s of 60; computers' CatBoost 1,404: 138.9 -> 138.4); on
# the other sixteen no booster's defaults kept over 770 trees and nothing changed.
UNCONVERGED_AT = 0.7  # of MAX_TREES, the folds' mean
UNCONVERGED_STEP = 3.0
# Random trials before TPE models the results, the defaults' trial among them. Fixed, never taken from the plan's
# length, so a search continued in rounds asks for the same trials as one run of the same total.
STARTUP_TRIALS = 3


def search_space(candidate: Candidate, *, problem: str) -> dict[str, Dimension]:
    """The parameters tuned for this candidate: its space minus what models.params pins."""
    return candidate.algorithm.search_space(problem, pinned=candidate.params)


def enough_trials(candidate: Candidate, *, problem: str, budget_s: float = 0.0) -> int:
    """Trials worth running within a budget, the defaults' trial included: one when nothing is left to tune."""
    if not search_space(candidate, problem=problem):
        return 1
    grow = min(max(budget_s / CAPS_GROW_FROM_S, 1.0), CAPS_GROW_AT_MOST)
    return int(candidate.algorithm.enough_trials * grow)


# A search "still improves" when the best of its last third of complete trials (at least FLAT_TAIL) beat the best
# before them by more than FLAT_GAIN of the error; with fewer than 2 * FLAT_TAIL complete trials nobody can tell,
# and it counts as improving. The top-up rounds give such searches more trials instead of idling. At 0.1%, hmda's
# LightGBM "improved" through 256 trials by gains of 0.0002 AUC, well inside the folds' noise.
FLAT_TAIL = 3
FLAT_GAIN = 0.002
# ... and by more than this share of the standard error of the best trial's mean over the folds (sd / sqrt(folds)),
# when there are several folds: a gain far inside it is the search fitting the folds' noise, not the data. On hmda
# (1,520 rows, fold sd 0.042 AUC) gains of 0.001 kept LightGBM's caps growing to 192 trials.
NOISE_SHARE = 0.1


def still_improving(history: list[float], metric: str, *, fold_scores: list[float] | None = None) -> bool:
    """Whether more trials of a search are likely to pay, from its complete trials' scores in order and the best
    trial's score per fold."""
    if len(history) < 2 * FLAT_TAIL:
        return True
    tail = max(len(history) // 3, FLAT_TAIL)
    before = min(error_of(metric, value) for value in history[:-tail])
    after = min(error_of(metric, value) for value in history[-tail:])
    noise = (NOISE_SHARE * float(np.std(fold_scores, ddof=1)) / math.sqrt(len(fold_scores))
             if fold_scores is not None and len(fold_scores) > 1 else 0.0)
    return before - after > max(FLAT_GAIN * abs(before), noise)


def sampler_seed(seed: int, name: str) -> int:
    """One seed per candidate's sampler, derived from the project seed."""
    return seed + list(ALGORITHMS).index(name)


class OutOfTime(Exception):
    """The hard safety stop: the stage is about to overrun its budget."""


class Screened(Exception):
    """An expensive candidate's defaults fell far behind the leader on the first folds."""


# report(fold, running mean) -> True when the defaults are too far behind to be worth the remaining folds
Screen = Callable[[int, float], bool]


@dataclass
class CandidateSearch:
    """The trials of one candidate: the defaults first, then TPE suggestions, keeping the best complete trial."""

    candidate: Candidate
    data: TrainingData
    seed: int
    deadline: float | None = None  # perf_counter time of the safety stop; None: never stop
    best: CVResult | None = None
    trials_run: int = 0
    pruned: int = 0
    stopped: bool = False  # the safety stop cut this search short
    screened: tuple[int, float] | None = None  # (folds run, running mean) when screening stopped the defaults
    history: list[float] = field(default_factory=list)  # primary CV mean per complete trial
    keep_others: int = 0  # complete trials kept besides the best, for the blend (training.blend_trials - 1)
    others: tuple[CVResult, ...] = ()  # those trials, best first
    _study: Any = field(default=None, repr=False)
    _first_folds: dict[int, float] = field(default_factory=dict, repr=False)

    @property
    def space(self) -> dict[str, Dimension]:
        return search_space(self.candidate, problem=self.data.case.problem)

    @property
    def start_params(self) -> dict[str, Any]:
        """Defaults for the data's problem, with early stopping's upper bound on trees when it applies."""
        params = default_params(self.candidate, case=self.data.case, rows=self.data.fold_rows,
                                early_stopping=uses_early_stopping(self.candidate, self.data))
        return {k: v for k, v in params.items() if k not in self.candidate.params}

    def run_defaults(self, screen: Screen | None = None) -> CVResult | None:
        """Trial 0; None when the safety stop cut it, or `screen` found it too far behind to finish."""
        folds: dict[int, float] = {}

        def report(fold: int, running: float) -> None:
            folds[fold] = running
            self._check_time()
            if screen is not None and screen(fold, running):
                self.screened = (fold + 1, running)
                raise Screened()

        try:
            result = cross_validate(self.candidate, self.start_params, self.data, report=report)
        except OutOfTime:
            self.stopped = True
            return None
        except Screened:
            return None
        self._first_folds = folds
        self._record(result)
        return result

    def run(self, trials: int) -> None:
        """Trials up to `trials` in all (trial 0 is `run_defaults`), stopping early only for the safety stop.
        A later call with a larger number continues the same study."""
        more = trials - self.trials_run
        if more <= 0 or not self.space or self.best is None or self.stopped:
            return
        import optuna

        study = self._study or self._new_study()
        for _ in range(more):
            if self._past_deadline():
                self.stopped = True
                return
            trial = study.ask()
            params = {**self.start_params, **_suggest(trial, self.space)}
            self.trials_run += 1

            def report(fold: int, running: float, trial: Any = trial) -> None:
                trial.report(running, fold)
                self._check_time()
                # never after the last fold: the trial has cost all it will, and its score is complete (on one
                # validation fold, the first fold is the last, so every trial below the median was lost)
                if fold + 1 < len(self.data.split.folds) and trial.should_prune():
                    raise optuna.TrialPruned()

            try:
                # a fold cut at the deadline is never scored: the report after it raises OutOfTime
                result = cross_validate(self.candidate, params, self.data, report=report, deadline=self.deadline)
            except optuna.TrialPruned:
                self.pruned += 1
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                continue
            except OutOfTime:
                self.trials_run -= 1  # a cut trial is not part of the replayable plan
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                self.stopped = True
                return
            study.tell(trial, result.primary_mean)
            self._record(result)

    def _new_study(self) -> Any:
        import optuna

        lower = lower_is_better(self.data.primary)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature notices
            sampler = optuna.samplers.TPESampler(seed=sampler_seed(self.seed, self.candidate.name),
                                                 n_startup_trials=STARTUP_TRIALS)
            pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
            study = optuna.create_study(direction="minimize" if lower else "maximize", sampler=sampler,
                                        pruner=pruner)
        assert self.best is not None
        distributions = {name: _distribution(dim) for name, dim in self.space.items()}
        study.add_trial(optuna.trial.create_trial(
            params={name: self.start_params[name] for name in self.space}, distributions=distributions,
            value=self.history[0], intermediate_values=self._first_folds))
        faster = faster_step(self.best.best_iteration, self.start_params, self.space)  # best: the defaults' trial
        if faster is not None:
            study.enqueue_trial(faster)
        self._study = study
        return study

    def _record(self, result: CVResult) -> None:
        if self.trials_run == 0:
            self.trials_run = 1
        self.history.append(result.primary_mean)
        if self.best is None or _better(result.primary_mean, self.best.primary_mean, self.data.primary):
            result, self.best = self.best, result  # the former best, if any, may still join the blend
        if result is not None:
            self._keep_other(result)

    def _keep_other(self, result: CVResult) -> None:
        """Keep `result` among the best `keep_others` complete trials after the best, when it has out-of-fold
        outputs for the blend to weigh."""
        if self.keep_others <= 0 or result.oof is None:
            return
        kept = [*self.others, result]
        kept.sort(key=lambda r: r.primary_mean, reverse=not lower_is_better(self.data.primary))  # stable
        self.others = tuple(kept[: self.keep_others])

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def _check_time(self) -> None:
        if self._past_deadline():
            raise OutOfTime()


def faster_step(trees: int | None, start: dict[str, Any], space: dict[str, Dimension]) -> dict[str, Any] | None:
    """The defaults with a larger learning rate, when the defaults' trial kept most of the trees it could
    (`UNCONVERGED_AT`); None otherwise, or when the rate is pinned or not searched."""
    if trees is None or trees < UNCONVERGED_AT * MAX_TREES or "learning_rate" not in space:
        return None
    params = {name: start[name] for name in space}
    params["learning_rate"] = min(float(start["learning_rate"]) * UNCONVERGED_STEP, space["learning_rate"].high)
    return params


def _better(value: float, than: float, metric: str) -> bool:
    return value < than if lower_is_better(metric) else value > than


def _suggest(trial: Any, space: dict[str, Dimension]) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.kind == "float":
            chosen[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif dim.kind == "int":
            chosen[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
        else:
            chosen[name] = trial.suggest_categorical(name, list(dim.choices))
    return chosen


def _distribution(dim: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dim.kind == "float":
        return FloatDistribution(dim.low, dim.high, log=dim.log)
    if dim.kind == "int":
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log)
    return CategoricalDistribution(list(dim.choices))


def quiet_optuna() -> Any:
    """Optuna logs every trial to its own stderr handler; cairn logs through `logging` instead. Returns a
    function that restores the previous verbosity."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return lambda: optuna.logging.set_verbosity(previous)


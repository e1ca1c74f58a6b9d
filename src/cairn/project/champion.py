"""Does a new run's model earn production? Only if it ships and beats the champion on the same holdout rows.

Meeting the objective is not enough: a model that meets it but is worse than the one already serving would replace
a better model. So the run's model is scored beside the champion on the run's holdout rows, on the objective's first
metric, by a paired bootstrap of the difference (cairn.metrics.paired): it becomes champion only when the interval
of that difference excludes zero in its favour. Otherwise it is registered as the challenger, and the reason says
by how much and why. A forced promotion (`cairn run --force-promote REASON`) overrides, its reason logged.

Which champion predictions: when the champion's run cleaned the same table and held out the same rows, its recipe
as that run fitted it without those rows (both judged on rows neither saw). Otherwise (another seed, holdout share
or data) the champion's registered recipe is fitted again on the new run's training rows, so that again neither
model saw the rows it is judged on: the registered champion was refit on every row of its run, and scoring it on
rows it learned gave it an unbeatable score (ROC AUC 1.000 for a forest). Only when that refit cannot run (the
champion reads a column the new data lacks) does the registered model score the rows as it is, and the reason
says it may have been trained on some of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from cairn.config.schema import Business
from cairn.errors import NotFoundError
from cairn.metrics.paired import HoldoutComparison, paired_bootstrap
from cairn.metrics.scoring import lower_is_better, positive_last, shown
from cairn.model.inputs import model_frame_for_fit
from cairn.model.trained import as_model_frame
from cairn.project.diff import plan_problem
from cairn.registry import ModelVersion, Registry
from cairn.stages.comparison import row_score
from cairn.stages.training.train import predictions
from cairn.store import RunRecord, Store

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0


@dataclass(frozen=True)
class ChampionDecision:
    """Whether the run's shipped model goes to production, in words, with the figures the audit log keeps."""

    promote: bool
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def decide_champion(store: Store, *, project: str, run_id: int, model_name: str, business: Business,
                    force_reason: str | None = None, judge_rows: pd.DataFrame | None = None,
                    new_version: int | None = None, n_jobs: int = 1) -> ChampionDecision:
    """Judge run `run_id`'s model (which shipped) against the current champion of `model_name`: on the run's
    holdout, or with `judge_rows` (raw labelled rows neither model was trained on: a retrain's newest ones) on
    those, both registered models answering as served (`new_version` is the run's registered version). `n_jobs`:
    the threads of a refit of the champion's recipe (training.n_jobs)."""
    registry = Registry(store)
    try:
        champion = registry.production(model_name)
    except NotFoundError:
        return ChampionDecision(True, "the first champion: no version was in production")
    metric = business.primary_metric
    figures: dict[str, Any] = {"champion_version": champion.version, "metric": metric}
    rows_kind = "holdout rows"
    try:
        if judge_rows is not None and new_version is not None:
            rows_kind = "newest labelled rows"
            measured = _compare_on_rows(registry, champion=champion, new_version=new_version, rows=judge_rows,
                                        metric=metric, target=business.target)
        else:
            measured = _compare(store, project=project, run_id=run_id, champion=champion, metric=metric,
                                target=business.target, n_jobs=n_jobs)
    except Exception as error:
        # a feature the champion needs, a metric undefined on these rows, the champion's files gone, a booster's
        # own error: the run's work is not lost, its model waits as the challenger and the reason says why
        measured = None, f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200] if str(error) else ''}"
    comparison, how = measured
    if comparison is None:
        reason = f"not compared with champion v{champion.version}: {how}"
        return _forced(force_reason, reason, figures)
    new_value, champion_value, rows, result = comparison
    figures |= {"new": new_value, "champion": champion_value, "rows": rows, "difference": result.difference,
                "ci_low": result.ci_low, "ci_high": result.ci_high, "confidence": result.confidence,
                "new_better_share": result.first_better_share, "resamples": result.resamples, "how": how}
    favours = result.difference < 0 if lower_is_better(metric) else result.difference > 0
    better = favours and result.excludes_zero
    label = metric.upper()
    text = (f"{label} {shown(metric, new_value)} against champion v{champion.version}'s "
            f"{shown(metric, champion_value)} on the same {rows:,} {rows_kind}, difference "
            f"{_signed(metric, result.difference)} ({result.confidence:.0%} CI {_signed(metric, result.ci_low)} to "
            f"{_signed(metric, result.ci_high)}, paired bootstrap; better in {result.first_better_share:.0%} of "
            f"resamples); {how}")
    if better:
        return ChampionDecision(True, "beats the champion: " + text, figures)
    verdict = "not clearly better than the champion (the difference may be noise)" if favours else \
        "not better than the champion"
    return _forced(force_reason, f"{verdict}: {text}", figures)


def _forced(force_reason: str | None, reason: str, figures: dict[str, Any]) -> ChampionDecision:
    if force_reason:
        return ChampionDecision(True, f"forced ({force_reason}); else kept as challenger: {reason}",
                                figures | {"forced": force_reason})
    return ChampionDecision(False, reason, figures)


def _signed(metric: str, value: float) -> str:
    return ("-" if value < 0 else "+") + shown(metric, abs(value))


Compared = tuple[float, float, int, HoldoutComparison]


def _compare(store: Store, *, project: str, run_id: int, champion: ModelVersion, metric: str, target: str,
             n_jobs: int = 1) -> tuple[Compared | None, str]:
    """(new, champion, rows, paired bootstrap of new - champion) on the new run's holdout, and how it was done."""
    new_run = store.run(project, run_id)
    outputs = _outputs(new_run)
    if any(name not in outputs for name in ("clean_table", "training_result", "feature_plan")):
        return None, "the run kept no holdout"
    table = store.load_artifact(outputs["clean_table"])
    training = store.load_artifact(outputs["training_result"])
    holdout = table.iloc[training.holdout_index]
    y = holdout[target].to_numpy()
    positive = getattr(training, "positive_class", None)
    classes = positive_last(np.array(training.classes), positive) if training.classes else None
    new_predicted = _run_predictions(training, store.load_artifact(outputs["feature_plan"]), holdout, positive)
    champion_predicted, how = _champion_predictions(store, project=project, champion=champion, outputs=outputs,
                                                    training=training, holdout=holdout, positive=positive,
                                                    learn=table.iloc[training.train_index], n_jobs=n_jobs)
    new_scores = row_score(metric, y, *new_predicted, classes)
    champion_scores = row_score(metric, y, *champion_predicted, classes)
    result = paired_bootstrap(new_scores, champion_scores, rows=len(y), resamples=RESAMPLES, confidence=CONFIDENCE,
                              seed=SEED, lower_is_better=lower_is_better(metric))
    everything = np.arange(len(y))[None, :]
    return (float(new_scores(everything)[0]), float(champion_scores(everything)[0]), len(y), result), how


def _compare_on_rows(registry: Registry, *, champion: ModelVersion, new_version: int, rows: pd.DataFrame,
                     metric: str, target: str) -> tuple[Compared | None, str]:
    """Both registered models on the same raw labelled rows, each answering exactly as it is served."""
    new = registry.load(champion.name, new_version)
    old = registry.load(champion.name, champion.version)
    y = rows[target].to_numpy()
    classes = positive_last(np.array(new.classes), new.positive_class) if new.classes else None
    new_scores = row_score(metric, y, *_served(new, rows), classes)
    champion_scores = row_score(metric, y, *_served(old, rows), classes)
    result = paired_bootstrap(new_scores, champion_scores, rows=len(y), resamples=RESAMPLES, confidence=CONFIDENCE,
                              seed=SEED, lower_is_better=lower_is_better(metric))
    everything = np.arange(len(y))[None, :]
    how = (f"neither model was trained on them (v{new_version} was trained without them, champion "
           f"v{champion.version} before they arrived)")
    return (float(new_scores(everything)[0]), float(champion_scores(everything)[0]), len(y), result), how


def _served(model: Any, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels or values as the service answers, and for a binary model the positive class's probability."""
    predicted, probabilities = model.answer(model.inputs(rows))
    if probabilities is not None and model.problem == "binary":
        return predicted, probabilities[:, model.positive_column]
    return predicted, probabilities


def _champion_predictions(store: Store, *, project: str, champion: ModelVersion, outputs: dict[str, str],
                          training: Any, holdout: pd.DataFrame, positive: Any, learn: pd.DataFrame, n_jobs: int
                          ) -> tuple[tuple[Any, Any], str]:
    """The champion's answers on `holdout` from a recipe that never saw those rows: its run's own fit when it held
    out the same rows, else its recipe fitted on `learn` (the new run's training rows)."""
    champion_run = _run_or_none(store, project, champion.run_id)
    theirs = _outputs(champion_run) if champion_run is not None else {}
    if theirs.get("clean_table") == outputs["clean_table"] and "training_result" in theirs and \
            "feature_plan" in theirs and store.artifacts.exists(theirs["training_result"]):
        their_training = store.load_artifact(theirs["training_result"])
        if np.array_equal(their_training.holdout_index, training.holdout_index):
            predicted = _run_predictions(their_training, store.load_artifact(theirs["feature_plan"]), holdout,
                                         positive)
            return predicted, (f"both recipes fitted without these rows (the champion's run {champion.run_id} "
                               f"held out the same ones)")
    model = Registry(store).load(champion.name, champion.version)

    def answers(pipeline: Any) -> tuple[Any, Any]:
        return predictions(pipeline, model.frame(holdout), problem=model.problem, positive=model.positive_class,
                           threshold=model.threshold, calibration=model.calibration)

    began = time.perf_counter()
    try:
        absent = [feature.name for feature in model.features if feature.name not in learn.columns]
        if absent:  # fitted with them imputed everywhere, the recipe would not be the champion's
            raise KeyError(f"this run's data lacks {', '.join(absent[:5])}{' ...' if len(absent) > 5 else ''}")
        with threadpool_limits(limits=n_jobs):
            refit = clone(model.pipeline).fit(model_frame_for_fit(learn, model.features),
                                              learn[model.target].to_numpy())
            predicted = answers(refit)
        return predicted, (f"both recipes fitted without these rows (the champion's recipe fitted again on this "
                           f"run's {len(learn):,} training rows in {time.perf_counter() - began:.1f} s)")
    except Exception as error:  # a column gone from the new data, a booster's own error: the registered
        # model is still judged, and the reason says how
        failed = f"{type(error).__name__}: {str(error).strip()[:120]}"
    return answers(model.pipeline), (f"the champion's registered model scored these rows, as its recipe could not "
                                     f"be fitted on this run's rows ({failed}); it may have been trained on some "
                                     "of them, which favours it")


def _run_predictions(training: Any, plan: Any, holdout: pd.DataFrame, positive: Any) -> tuple[Any, Any]:
    """A run's chosen recipe, as fitted without its holdout, on `holdout` (as cairn.project.diff does)."""
    kept = training.features
    features = plan.features if kept is None else [f for f in plan.features if f.name in set(kept)]
    threshold = getattr(training, "threshold", None)
    return predictions(training.pipeline, as_model_frame(holdout, features), problem=plan_problem(training),
                       positive=positive, threshold=getattr(threshold, "value", None),
                       calibration=getattr(training, "calibration", None))


def _run_or_none(store: Store, project: str, run_id: int | None) -> RunRecord | None:
    if run_id is None:
        return None
    try:
        return store.run(project, run_id)
    except NotFoundError:
        return None


def _outputs(record: RunRecord) -> dict[str, str]:
    return {name: sha for stage in record.stages for name, sha in stage.outputs.items()}

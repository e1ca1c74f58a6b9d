"""`cairn diff RUN_A RUN_B`: what changed between two runs, and whether the second model is really different.

Changes are read from the two manifests (project file key by key, data fingerprint and rows, package and code
versions) and the runs' notes (the chosen model). The holdout metrics sit side by side; when both runs scored the
same holdout rows (same data snapshot, same split) the two fitted models are compared on them with a paired
bootstrap, as the leaderboard compares its best two. Otherwise the reason is said. Only reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cairn.config import ProjectConfig
from cairn.metrics.paired import HoldoutComparison
from cairn.metrics.scoring import lower_is_better, positive_last
from cairn.model.trained import as_model_frame
from cairn.project.reproduce import chosen_model
from cairn.stages.comparison import row_score
from cairn.store import RunRecord, Store

BOOTSTRAP = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Change:
    key: str
    a: Any
    b: Any


@dataclass(frozen=True)
class RunDiff:
    a: int
    b: int
    config: list[Change]
    config_note: str  # set when a run did not record its project file
    data: list[Change]
    packages: list[Change]
    code: list[Change]
    chosen: Change
    metrics: list[Change]
    comparison: HoldoutComparison | None = None
    comparison_metric: str = ""
    comparison_note: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def rows(changes: list[Change]) -> list[dict[str, Any]]:
            return [{"key": c.key, "a": c.a, "b": c.b} for c in changes]

        return {"a": self.a, "b": self.b, "config": rows(self.config), "config_note": self.config_note,
                "data": rows(self.data), "packages": rows(self.packages), "code": rows(self.code),
                "chosen": {"a": self.chosen.a, "b": self.chosen.b}, "metrics": rows(self.metrics),
                "comparison": None if self.comparison is None else
                {"metric": self.comparison_metric, **vars(self.comparison)},
                "comparison_note": self.comparison_note}

    def lines(self) -> list[str]:
        lines = [f"run {self.a} -> run {self.b}", "project file:"]
        lines += [f"  {c.key}: {c.a!r} -> {c.b!r}" for c in self.config] or [f"  {self.config_note or 'no change'}"]
        for title, changes in (("data", self.data), ("packages", self.packages), ("code", self.code)):
            lines.append(f"{title}: " + ("; ".join(f"{c.key} {c.a} -> {c.b}" for c in changes) or "no change"))
        lines.append(f"chosen model: {self.chosen.a} -> {self.chosen.b}")
        lines.append("holdout metrics:")
        lines += [f"  {c.key}: {_number(c.a)} -> {_number(c.b)}" for c in self.metrics]
        if self.comparison is not None:
            c = self.comparison
            lines.append(f"paired bootstrap on the same {self.comparison_metric} holdout rows: run {self.b} minus run "
                         f"{self.a} = {c.difference:.4g}, {c.confidence:.0%} CI {c.ci_low:.4g} to {c.ci_high:.4g} "
                         f"({'a real difference' if c.excludes_zero else 'no clear difference'})")
        else:
            lines.append(f"no paired comparison: {self.comparison_note}")
        return lines


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}"


def flattened(document: Any, prefix: str = "") -> dict[str, Any]:
    """A nested document as dotted keys: business.success, training.tuning.trials."""
    if isinstance(document, dict) and document:
        out: dict[str, Any] = {}
        for key, value in document.items():
            out |= flattened(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): document}


def changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [Change(key, a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def diff_runs(a: RunRecord, b: RunRecord, store: Store, *, current: ProjectConfig) -> RunDiff:
    config_a, config_b = a.manifest.get("config"), b.manifest.get("config")
    if config_a is not None and config_b is not None:
        config, note = changes(flattened(config_a), flattened(config_b)), ""
    else:
        missing = " and ".join(str(r.id) for r, c in ((a, config_a), (b, config_b)) if c is None)
        same = "the same" if a.config_hash == b.config_hash else "different"
        config, note = [], f"run {missing} did not record its project file; the config hashes are {same}"
    data = changes({k: (a.manifest.get("data") or {}).get(k) for k in ("fingerprint", "rows", "source")},
                   {k: (b.manifest.get("data") or {}).get(k) for k in ("fingerprint", "rows", "source")})
    packages = changes({"cairn": a.manifest.get("cairn_version"), "python": a.manifest.get("python"),
                        **(a.manifest.get("packages") or {})},
                       {"cairn": b.manifest.get("cairn_version"), "python": b.manifest.get("python"),
                        **(b.manifest.get("packages") or {})})
    code = changes({"git commit": a.manifest.get("git_commit"),
                    **{f"stage {k}": v for k, v in (a.manifest.get("code_versions") or {}).items()}},
                   {"git commit": b.manifest.get("git_commit"),
                    **{f"stage {k}": v for k, v in (b.manifest.get("code_versions") or {}).items()}})
    metrics = [Change(name, a.metrics.get(name), b.metrics.get(name)) for name in
               list(dict.fromkeys([*a.metrics, *b.metrics]))]
    business = (ProjectConfig.model_validate(config_b) if config_b is not None else current).business
    comparison, why = _paired(a, b, store, metric=business.primary_metric, target=business.target)
    metric = business.primary_metric
    return RunDiff(a.id, b.id, config, note, data, packages, code, Change("chosen", chosen_model(a), chosen_model(b)),
                   metrics, comparison, metric, why)


def _outputs(record: RunRecord) -> dict[str, str]:
    return {name: sha for stage in record.stages for name, sha in stage.outputs.items()}


def _paired(a: RunRecord, b: RunRecord, store: Store, *, metric: str, target: str
            ) -> tuple[HoldoutComparison | None, str]:
    """Both models on the holdout rows both runs held out: b minus a. Needs the same cleaned table and split."""
    from cairn.metrics.paired import paired_bootstrap
    from cairn.stages.training.train import predictions

    out_a, out_b = _outputs(a), _outputs(b)
    needed = ("clean_table", "training_result", "feature_plan")
    if any(name not in out_a or name not in out_b for name in needed):
        return None, "a run stopped before training; it has no holdout predictions"
    if out_a["clean_table"] != out_b["clean_table"]:
        return None, "the runs trained on different data (their cleaned tables differ), so they have no common holdout"
    if not all(store.artifacts.exists(out[name]) for out in (out_a, out_b) for name in needed):
        return None, "an artifact of a run is missing from the store"
    table = store.load_artifact(out_a["clean_table"])
    training_a = store.load_artifact(out_a["training_result"])
    training_b = store.load_artifact(out_b["training_result"])
    if not np.array_equal(training_a.holdout_index, training_b.holdout_index):
        return None, "the runs held out different rows (the split changed)"
    holdout = table.iloc[training_a.holdout_index]
    plan_a, plan_b = store.load_artifact(out_a["feature_plan"]), store.load_artifact(out_b["feature_plan"])
    problem = plan_problem(training_a)
    y = holdout[target].to_numpy()
    positive = getattr(training_b, "positive_class", None)
    classes = positive_last(np.array(training_b.classes), positive) if training_b.classes else None
    scored = []
    for training, plan in ((training_a, plan_a), (training_b, plan_b)):
        kept = training.features
        features = plan.features if kept is None else [f for f in plan.features if f.name in set(kept)]
        threshold = getattr(training, "threshold", None)
        predicted, proba = predictions(training.pipeline, as_model_frame(holdout, features), problem=problem,
                                       positive=positive, threshold=getattr(threshold, "value", None),
                                       calibration=getattr(training, "calibration", None))
        scored.append(row_score(metric, y, predicted, proba, classes))
    try:
        result = paired_bootstrap(scored[1], scored[0], rows=len(y), resamples=BOOTSTRAP, confidence=CONFIDENCE,
                                  seed=0, lower_is_better=lower_is_better(metric))
    except ValueError as error:
        return None, str(error)
    return result, ""


def plan_problem(training: Any) -> str:
    if not training.classes:
        return "regression"
    return "binary" if len(training.classes) == 2 else "multiclass"

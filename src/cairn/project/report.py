"""Gather a run's stage outputs into the report's context, render it and keep it with the run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.report import (
    ClassRow,
    HoldoutMetric,
    LeaderboardRow,
    QualityFinding,
    ReportContext,
    StageSummary,
    VerdictLine,
    write_report,
)
from cairn.report.diagnostics import diagnostics_section
from cairn.stages.card import restaged, stage_label
from cairn.store.repository import Store, now

if TYPE_CHECKING:
    from cairn.config.schema import ProjectConfig
    from cairn.runner.execute import Execution


def write_run_report(config: ProjectConfig, store: Store, execution: Execution, *, folder: Path,
                     manifest: dict[str, Any], verdict_text: str, model_version: str | None,
                     deployment: Any = None) -> Path:
    """The run's HTML report in `folder` (as run-N.html), kept in the store as an artifact too; `deployment` is the
    run's version as the champion check left it (its card then names that stage), else the stage's own record."""
    values = execution.values
    assert values is not None

    case, evaluation, training = values.get("business_case"), values.get("evaluation"), values.get("training_result")
    profile = values.get("data_profile")
    primary = case.primary_metric if case else config.business.primary_metric
    verdict = [VerdictLine(c.name, c.met, c.text) for c in evaluation.checks] if evaluation else [
        VerdictLine("verdict", None, verdict_text)]
    leaderboard = [
        LeaderboardRow(s.model, dict(s.cv), s.train, s.fit_time_s, s.model == training.chosen, s.predict_ms_per_row)
        for s in training.leaderboard
    ] if training else []
    context = ReportContext(
        project=config.project,
        run_id=execution.run_id,
        created_at=now().isoformat(timespec="seconds"),
        objective=config.business.objective,
        problem=config.business.problem,
        target=config.business.target,
        shipped=bool(evaluation and evaluation.shipped),
        verdict=verdict,
        stages=[StageSummary(o.name, o.title, o.cached, o.duration_s, o.notes) for o in execution.outcomes],
        quality=[QualityFinding(f.severity, f.check, f.columns, f.count, f.detail, f.example) for f in profile.findings]
        if profile else [],
        exploration=values.get("exploration"),
        leaderboard=leaderboard,
        one_fold=bool(training and training.one_fold),
        primary_metric=primary,
        holdout=[HoldoutMetric(m.name, m.value, m.ci_low, m.ci_high) for m in evaluation.holdout]
        if evaluation else [],
        feature_importance=list(evaluation.importance) if evaluation else [],
        model_version=model_version,
        manifest=manifest,
        model_figures=_model_figures(training, primary),
        diagnostics=diagnostics_section(evaluation),
        explanations=_explanations(evaluation),
        comparison=_comparison_text(evaluation),
        model_card=_written_card(deployment or values.get("deployment"), folder / f"run-{execution.run_id}-card.md"),
        per_class=_per_class(evaluation),
    )
    path = folder / f"run-{execution.run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_report(context, path)
    store.store_artifact(path.read_text(encoding="utf-8"))
    return path


def _per_class(evaluation: Any) -> list[ClassRow]:
    """Each class's precision, recall and F1 on the holdout (none for a result stored before they existed)."""
    rows = []
    for each in getattr(evaluation, "per_class", ()) if evaluation is not None else ():
        figures = [(m.value, m.ci_low, m.ci_high) for m in (each.precision, each.recall, each.f1)]
        rows.append(ClassRow(str(each.label), each.support, *figures))
    return rows


def _model_figures(training: Any, metric: str) -> list[Any]:
    from cairn.report.curves import learning_curve_figure

    curves = getattr(training, "learning_curves", None) if training else None
    figure = learning_curve_figure(list(curves or []), metric=metric)
    return [figure] if figure else []


def _comparison_text(evaluation: Any) -> str:
    comparison = getattr(evaluation, "comparison", None) if evaluation else None
    return comparison.sentence() if comparison is not None else ""


def _written_card(deployment: Any, path: Path) -> str:
    """The model card of the run's version, written next to the report (run-N-card.md); empty before deployment."""
    card = getattr(deployment, "model_card", "") if deployment is not None else ""
    if card:  # the stage the champion check left, as the registry will name it with its alias
        stage = {"production": stage_label("production", ("champion",)),
                 "challenger": stage_label("candidate", ("challenger",))}.get(deployment.stage, deployment.stage)
        card = restaged(card, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(card, encoding="utf-8")
    return str(card or "")


def _explanations(evaluation: Any) -> Any:
    """Mean |SHAP| beside permutation importance, with the summary and dependence plots (cairn.report.explanations)."""
    from cairn.report.explanations import explanations_section

    if evaluation is None:
        return None
    return explanations_section(getattr(evaluation, "shap_summary", None), list(evaluation.importance))

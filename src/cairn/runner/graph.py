"""The ten stages in order: what each reads, what it produces, and the call that does the work.

Each `compute` adapts the project file and upstream outputs to a plain stage function in `cairn.stages`; the
functions themselves know nothing of caching or the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.config.schema import ProjectConfig
from cairn.errors import ConfigError
from cairn.model import FeatureSpec, TrainedModel
from cairn.registry import Registry
from cairn.stages.business import business_case
from cairn.stages.data import Protected, SourceRead, profile_table, stop_on_quality, whole_source_notes
from cairn.stages.deployment import deploy_model, refit_on_all_rows
from cairn.stages.evaluation import evaluate
from cairn.stages.features import plan_features
from cairn.stages.monitoring import monitoring_baseline
from cairn.stages.preprocessing import clean_table
from cairn.stages.selection import choose_candidates
from cairn.stages.training import train_models

Outputs = tuple[dict[str, Any], list[str]]


@dataclass
class StageContext:
    config: ProjectConfig
    base_dir: Path
    source: SourceRead
    privacy: Protected
    inputs: Mapping[str, Any]
    registry: Registry
    run_id: int
    step: Callable[[str], None]

    def __getitem__(self, name: str) -> Any:
        return self.inputs[name]


@dataclass(frozen=True)
class StageDef:
    name: str
    title: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    compute: Callable[[StageContext], Outputs]


def _business(ctx: StageContext) -> Outputs:
    case = business_case(ctx.config.business)
    return {"business_case": case}, case.describe()


def _data(ctx: StageContext) -> Outputs:
    spec, source = ctx.config.data, ctx.source
    ctx.step("checking quality")
    profile = profile_table(source.table, target=ctx.config.business.target, problem=ctx.config.business.problem,
                            source=source.description, fingerprint=source.fingerprint, spec=spec.quality,
                            types=spec.types, cv_folds=ctx.config.training.cv, drop_columns=spec.drop_columns,
                            seed=ctx.config.seed, mask=ctx.privacy.mask)
    stop_on_quality(profile, fail_on=spec.quality.fail_on)
    outputs: dict[str, Any] = {"raw_table": source.table, "data_profile": profile}
    notes = ctx.privacy.notes()
    if source.profile is not None:  # larger than memory: the whole source was profiled by DuckDB
        outputs["source_profile"] = source.profile
        notes += whole_source_notes(source)
    return outputs, notes + profile.notes()


def _preprocessing(ctx: StageContext) -> Outputs:
    clean, report = clean_table(ctx["raw_table"], target=ctx.config.business.target, spec=ctx.config.preprocessing)
    return {"clean_table": clean, "cleaning_report": report}, report.notes()


def _exploration(ctx: StageContext) -> Outputs:
    if not ctx.config.explore.enabled:
        return {"exploration": None}, ["skipped (explore.enabled is false)"]
    from cairn.stages.exploration import explore_table

    case = ctx["business_case"]
    exploration = explore_table(ctx["clean_table"], target=case.target, problem=case.problem,
                                max_rows=ctx.config.explore.sample_rows, seed=ctx.config.seed)
    return {"exploration": exploration}, [f"{len(exploration.figures)} figures"] + exploration.insights[:5]


def _features(ctx: StageContext) -> Outputs:
    plan = plan_features(ctx["clean_table"], case=ctx["business_case"], spec=ctx.config.features,
                         data_spec=ctx.config.data, cleaning=ctx.config.preprocessing,
                         column_types=ctx["data_profile"].column_types)
    return {"feature_plan": plan}, plan.notes


def _selection(ctx: StageContext) -> Outputs:
    candidates = choose_candidates(ctx.config.models)
    return {"candidates": candidates}, [f"{c.name}: {c.description}; complexity {c.complexity}" for c in candidates]


def _training(ctx: StageContext) -> Outputs:
    case = ctx["business_case"]
    result = train_models(ctx["clean_table"], case=case, plan=ctx["feature_plan"], candidates=ctx["candidates"],
                          spec=ctx.config.training, seed=ctx.config.seed, on_progress=ctx.step,
                          selection=ctx.config.features.select)
    return {"training_result": result}, result.notes(case.primary_metric)


def model_features(ctx: StageContext) -> list[FeatureSpec]:
    """The inputs the trained pipeline reads: the plan's, less any features.select dropped in training."""
    features, kept = ctx["feature_plan"].features, ctx["training_result"].features
    return features if kept is None else [f for f in features if f.name in set(kept)]


def trained_model(ctx: StageContext) -> TrainedModel:
    case, result = ctx["business_case"], ctx["training_result"]
    features = model_features(ctx)
    privacy = ctx.config.data.privacy
    personal = [p for p in ctx.privacy.found if p.column in {f.name for f in features}]
    return TrainedModel(name=ctx.config.model_name, version=0, problem=case.problem, target=case.target,
                        features=features, pipeline=result.pipeline, classes=result.classes,
                        personal_columns=personal, privacy=privacy)


def _evaluation(ctx: StageContext) -> Outputs:
    case, result = ctx["business_case"], ctx["training_result"]
    holdout = ctx["clean_table"].iloc[result.holdout_index]
    ctx.step(f"scoring {len(holdout):,} holdout rows")
    evaluation = evaluate(trained_model(ctx), holdout, case=case, training=result, spec=ctx.config.evaluation,
                          seed=ctx.config.seed)
    notes = [f"{check.name}: {check.text}" for check in evaluation.checks]
    notes.append(f"one-row predict p50 {evaluation.predict_p50_ms:.1f} ms, p99 {evaluation.predict_p99_ms:.1f} ms")
    return {"evaluation": evaluation}, notes


def _deployment(ctx: StageContext) -> Outputs:
    spec = ctx.config.deployment
    model, refit_note = trained_model(ctx), None
    if spec.refit == "all_rows":
        table = ctx["clean_table"]
        ctx.step(f"refitting the chosen recipe on all {len(table):,} rows")
        model, refit_note = refit_on_all_rows(model, table, n_jobs=ctx.config.training.n_jobs,
                                              training_rows=len(ctx["training_result"].train_index))
    record = deploy_model(model, evaluation=ctx["evaluation"], registry=ctx.registry,
                          run_id=ctx.run_id, objective=ctx["business_case"].objective,
                          api_key_env=spec.api_key_env, port=spec.port, refit_note=refit_note)
    return {"deployment": record}, [note for note in (refit_note, record.summary()) if note]


def _monitoring(ctx: StageContext) -> Outputs:
    rows = ctx["clean_table"].iloc[ctx["training_result"].train_index]
    baseline = monitoring_baseline(rows, features=model_features(ctx), spec=ctx.config.monitoring,
                                   seed=ctx.config.seed)
    return {"monitoring_baseline": baseline}, baseline.notes()


STAGES: tuple[StageDef, ...] = (
    StageDef("business", "1 Business understanding", (), ("business_case",), _business),
    StageDef("data", "2 Data collection", (), ("raw_table", "data_profile", "source_profile"), _data),
    StageDef("preprocessing", "3 Preprocessing", ("raw_table",), ("clean_table", "cleaning_report"), _preprocessing),
    StageDef("exploration", "4 Exploratory analysis", ("clean_table", "business_case"), ("exploration",),
             _exploration),
    StageDef("features", "5 Feature engineering", ("clean_table", "business_case", "data_profile"),
             ("feature_plan",), _features),
    StageDef("selection", "6 Model selection", ("feature_plan",), ("candidates",), _selection),
    StageDef("training", "7 Training", ("clean_table", "business_case", "feature_plan", "candidates"),
             ("training_result",), _training),
    StageDef("evaluation", "8 Evaluation", ("clean_table", "business_case", "feature_plan", "training_result"),
             ("evaluation",), _evaluation),
    StageDef("deployment", "9 Deployment", ("clean_table", "business_case", "feature_plan", "training_result",
                                            "evaluation"),
             ("deployment",), _deployment),
    StageDef("monitoring", "10 Monitoring", ("clean_table", "feature_plan", "training_result"),
             ("monitoring_baseline",), _monitoring),
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def stage_position(name: str | None, *, option: str) -> int | None:
    if name is None:
        return None
    if name not in STAGE_NAMES:
        import difflib

        guess = difflib.get_close_matches(name, STAGE_NAMES, n=1)
        raise ConfigError.single(
            f"There is no stage '{name}'.", where=option, expected=f"one of {', '.join(STAGE_NAMES)}",
            got=f"'{name}'", fix=f"did you mean '{guess[0]}'?" if guess else "use a stage name from the list",
        )
    return STAGE_NAMES.index(name)

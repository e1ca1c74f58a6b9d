"""The ten stages in order: what each reads, what it produces, the code it runs, and the call that does the work.

Each `compute` adapts the project file and upstream outputs to a plain stage function in `cairn.stages`; the
functions themselves know nothing of caching or the store. A stage sees only the inputs it declares and may
return only the outputs it declares (as a Kedro node): anything else is a bug in cairn, caught by the tests.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import logging
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cairn.config.schema import ProjectConfig
from cairn.config.sections import RENAMED, STAGE_NAMES, STAGE_TITLES, deprecation
from cairn.errors import ConfigError
from cairn.execution.engine import FoldEngine
from cairn.model.ranges import with_training_ranges
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.registry import Registry
from cairn.runner.code_version import source_digest, stage_code_version
from cairn.stages.business import business_case
from cairn.stages.card import DataFacts, data_facts
from cairn.stages.data import Protected, SourceRead, profile_table, stop_on_quality, whole_source_notes
from cairn.stages.deployment import deploy_model, refit_on_all_rows
from cairn.stages.evaluation import evaluate
from cairn.stages.features import plan_features
from cairn.stages.monitoring import monitoring_baseline
from cairn.stages.preprocessing import clean_table
from cairn.stages.selection import choose_candidates
from cairn.stages.training.train import train_models

Outputs = tuple[dict[str, Any], list[str]]
log = logging.getLogger(__name__)


class StageContractError(RuntimeError):
    """A stage read an input it does not declare, or returned an output it does not declare: a bug in cairn."""


class DeclaredInputs(Mapping[str, Any]):
    """Upstream outputs as one stage may see them: only the names it declares."""

    def __init__(self, values: Mapping[str, Any], *, stage: str, declared: tuple[str, ...]) -> None:
        self._values, self._stage, self._declared = values, stage, declared

    def __getitem__(self, name: str) -> Any:
        if name not in self._declared:
            raise StageContractError(f"stage {self._stage} read '{name}', which it does not declare as an input "
                                     f"(it declares {', '.join(self._declared) or 'none'}): add it to its inputs "
                                     "in cairn.runner.graph.STAGES")
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._declared if name in self._values)

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
    engine: FoldEngine | None = None  # where training's folds run (execution.engine); None: in this process

    def __getitem__(self, name: str) -> Any:
        return self.inputs[name]


@dataclass(frozen=True)
class StageDef:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    compute: Callable[[StageContext], Outputs]
    code: tuple[str, ...]  # the modules the stage runs (their imports are followed); hashed into its cache key
    optional: tuple[str, ...] = field(default=())  # outputs it may leave out

    @property
    def title(self) -> str:
        return STAGE_TITLES[self.name]

    @cached_property
    def code_version(self) -> str:
        """The modules the stage runs, and its adapter below with the helpers it calls here, as one version
        (docstrings and comments left out)."""
        adapters = "".join(_source_digest(function) for function in _helpers_of(self.compute))
        return f"{stage_code_version(self.code)}/{hashlib.sha256(adapters.encode()).hexdigest()[:12]}"

    def checked_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The outputs, once they are known to be exactly what the stage declares."""
        unknown = sorted(set(outputs) - set(self.outputs))
        missing = sorted(set(self.outputs) - set(self.optional) - set(outputs))
        if unknown or missing:
            raise StageContractError(f"stage {self.name} returned {sorted(outputs)}; it declares {list(self.outputs)}"
                                     f" (unknown: {unknown or 'none'}, missing: {missing or 'none'})")
        return outputs


def _helpers_of(function: Callable[..., Any]) -> list[Callable[..., Any]]:
    """`function` and every function of this module it calls, directly or through another: an edit to
    `trained_model` must rerun the stages whose adapters call it."""
    found: dict[str, Callable[..., Any]] = {}
    todo = [function]
    while todo:
        current = todo.pop()
        if current.__name__ in found:
            continue
        found[current.__name__] = current
        names = {node.id for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(current))))
                 if isinstance(node, ast.Name)}
        todo += [value for name in names if inspect.isfunction(value := globals().get(name))
                 and value.__module__ == __name__]
    return [found[name] for name in sorted(found)]


def _source_digest(function: Callable[..., Any]) -> str:
    return source_digest(textwrap.dedent(inspect.getsource(function)))


def _business(ctx: StageContext) -> Outputs:
    case = business_case(ctx.config.business)
    return {"business_case": case}, case.describe()


def _data(ctx: StageContext) -> Outputs:
    spec, source = ctx.config.data, ctx.source
    ctx.step("checking quality")
    profile = profile_table(source.table, target=ctx.config.business.target, problem=ctx.config.business.problem,
                            source=source.description, fingerprint=source.fingerprint, spec=spec.quality,
                            types=dict(spec.types), cv_folds=ctx.config.training.cv, drop_columns=spec.drop_columns,
                            seed=ctx.config.seed, mask=ctx.privacy.mask,
                            rare_classes=ctx.config.training.rare_classes)
    stop_on_quality(profile, fail_on=list(spec.quality.fail_on))
    outputs: dict[str, Any] = {"raw_table": source.table, "data_profile": profile}
    notes = ctx.privacy.notes()
    if source.profile is not None:  # larger than memory: the whole source was profiled by DuckDB
        outputs["source_profile"] = source.profile
        notes += whole_source_notes(source)
    return outputs, notes + profile.notes()


def _preprocessing(ctx: StageContext) -> Outputs:
    clean, report = clean_table(ctx["raw_table"], target=ctx.config.business.target, spec=ctx.config.preprocessing,
                                problem=ctx.config.business.problem, cv=ctx.config.training.cv,
                                rare_classes=ctx.config.training.rare_classes)
    return {"clean_table": clean, "cleaning_report": report}, report.notes()


def _exploration(ctx: StageContext) -> Outputs:
    if not ctx.config.exploration.enabled:
        return {"exploration": None}, ["skipped (exploration.enabled is false)"]
    from cairn.stages.exploration import explore_table

    case = ctx["business_case"]
    exploration = explore_table(ctx["clean_table"], target=case.target, problem=case.problem,
                                max_rows=ctx.config.exploration.sample_rows, seed=ctx.config.seed,
                                column_types=ctx["data_profile"].column_types,
                                left_out=ctx.config.data.drop_columns)
    return {"exploration": exploration}, [f"{len(exploration.figures)} figures"] + exploration.insights[:5]


def _features(ctx: StageContext) -> Outputs:
    plan = plan_features(ctx["clean_table"], case=ctx["business_case"], spec=ctx.config.features,
                         data_spec=ctx.config.data, cleaning=ctx.config.preprocessing,
                         column_types=ctx["data_profile"].column_types)
    return {"feature_plan": plan}, plan.notes


def _models(ctx: StageContext) -> Outputs:
    candidates = choose_candidates(ctx.config.models, ctx["feature_plan"], problem=ctx["business_case"].problem)
    return {"candidates": candidates}, [f"{c.name}: {c.description}; complexity {c.complexity}" for c in candidates]


def _training(ctx: StageContext) -> Outputs:
    case = ctx["business_case"]
    result = train_models(ctx["clean_table"], case=case, plan=ctx["feature_plan"], candidates=ctx["candidates"],
                          spec=ctx.config.training, seed=ctx.config.seed, on_progress=ctx.step,
                          selection=ctx.config.features.select, engine=ctx.engine)
    return {"training_result": result}, result.notes(case.primary_metric)


def model_features(ctx: StageContext) -> list[FeatureSpec]:
    """The inputs the trained pipeline reads: the plan's, less any features.select dropped in training."""
    features, kept = ctx["feature_plan"].features, ctx["training_result"].features
    return features if kept is None else [f for f in features if f.name in set(kept)]


def trained_model(ctx: StageContext) -> TrainedModel:
    case, result = ctx["business_case"], ctx["training_result"]
    # each number's range over the rows the pipeline was fitted on: predictions clip to it (cairn.model.ranges)
    features = with_training_ranges(model_features(ctx), ctx["clean_table"].iloc[result.train_index])
    privacy = ctx.config.data.privacy
    personal = [p for p in ctx.privacy.found if p.column in {f.name for f in features}]
    return TrainedModel(name=ctx.config.model_name, version=0, problem=case.problem, target=case.target,
                        features=features, pipeline=result.pipeline, classes=result.classes,
                        personal_columns=personal, privacy=privacy,
                        threshold=result.threshold.value if result.threshold is not None else None,
                        positive_class=result.positive_class, calibration=result.calibration)


def _evaluation(ctx: StageContext) -> Outputs:
    case, result = ctx["business_case"], ctx["training_result"]
    holdout = ctx["clean_table"].iloc[result.holdout_index]
    ctx.step(f"scoring {len(holdout):,} holdout rows")
    evaluation = evaluate(trained_model(ctx), holdout, case=case, training=result, spec=ctx.config.evaluation,
                          seed=ctx.config.seed)
    notes = [f"{check.name}: {check.text}" for check in evaluation.checks]
    notes.append(f"one-row predict p50 {evaluation.predict_p50_ms:.1f} ms, p99 {evaluation.predict_p99_ms:.1f} ms")
    notes += [*evaluation.notes, *[segment.sentence for segment in evaluation.segments]]
    notes += list(evaluation.bounded)  # what was sampled to fit the time
    if evaluation.comparison is not None:
        notes.append(evaluation.comparison.sentence())
    return {"evaluation": evaluation}, notes


def _deployment(ctx: StageContext) -> Outputs:
    spec = ctx.config.deployment
    model, refit_note = trained_model(ctx), None
    searched_only = getattr(ctx["training_result"], "fitted_searched_rows", False)
    if spec.refit == "all_rows" and searched_only:
        refit_note = ("registered model not refit on all rows: the judged model was fitted on part of the training "
                      "rows (training.final_fit, set in the project or chosen by the budget because a fit on every "
                      "row would not finish in time); the registered model is the one the holdout judged")
    elif spec.refit == "all_rows":
        table = ctx["clean_table"]
        ctx.step(f"refitting the chosen recipe on all {len(table):,} rows")
        model, refit_note = refit_on_all_rows(model, table, n_jobs=ctx.config.training.n_jobs,
                                              training_rows=len(ctx["training_result"].train_index))
    record = deploy_model(model, evaluation=ctx["evaluation"], registry=ctx.registry,
                          run_id=ctx.run_id, objective=ctx["business_case"].objective,
                          api_key_env=spec.api_key_env, port=spec.port, refit_note=refit_note,
                          case=ctx["business_case"], data=card_data(ctx))
    return {"deployment": record}, [note for note in (refit_note, record.summary()) if note]


def card_data(ctx: StageContext) -> DataFacts:
    """The data the model card names: the source's fingerprint and rows, the period of its time column."""
    dates = tuple(f.name for f in ctx["feature_plan"].features if f.parse == "date")
    return data_facts(ctx["clean_table"], source=ctx.source.description, fingerprint=ctx.source.fingerprint,
                      rows=ctx.source.total_rows, time_column=ctx.config.training.time_column, date_columns=dates)


def _monitoring(ctx: StageContext) -> Outputs:
    result = ctx["training_result"]
    rows = ctx["clean_table"].iloc[result.train_index]
    holdout = ctx["clean_table"].iloc[result.holdout_index]
    baseline = monitoring_baseline(rows, features=model_features(ctx), spec=ctx.config.monitoring,
                                   seed=ctx.config.seed, normalize=ctx.config.preprocessing.normalize_categories,
                                   judged=(trained_model(ctx), holdout))
    return {"monitoring_baseline": baseline}, baseline.notes()


STAGES: tuple[StageDef, ...] = (
    StageDef("business", (), ("business_case",), _business, ("cairn.stages.business",)),
    StageDef("data", (), ("raw_table", "data_profile", "source_profile"), _data, ("cairn.stages.data",),
             optional=("source_profile",)),
    StageDef("preprocessing", ("raw_table",), ("clean_table", "cleaning_report"), _preprocessing,
             ("cairn.stages.preprocessing",)),
    StageDef("exploration", ("clean_table", "business_case", "data_profile"), ("exploration",), _exploration,
             ("cairn.stages.exploration",)),
    StageDef("features", ("clean_table", "business_case", "data_profile"), ("feature_plan",), _features,
             ("cairn.stages.features",)),
    StageDef("models", ("feature_plan", "business_case"), ("candidates",), _models, ("cairn.stages.selection",)),
    StageDef("training", ("clean_table", "business_case", "feature_plan", "candidates"), ("training_result",),
             _training, ("cairn.stages.training",)),
    StageDef("evaluation", ("clean_table", "business_case", "feature_plan", "training_result"), ("evaluation",),
             _evaluation, ("cairn.stages.evaluation", "cairn.model")),
    StageDef("deployment", ("clean_table", "business_case", "feature_plan", "training_result", "evaluation"),
             ("deployment",), _deployment, ("cairn.stages.deployment", "cairn.model")),
    StageDef("monitoring", ("clean_table", "business_case", "feature_plan", "training_result"),
             ("monitoring_baseline",), _monitoring,
             ("cairn.stages.monitoring", "cairn.monitoring.drift", "cairn.model")),
)
assert tuple(stage.name for stage in STAGES) == STAGE_NAMES, "cairn.config.sections lists the ten in order"


def stage_position(name: str | None, *, option: str) -> int | None:
    stage = canonical_stage(name, option=option)
    return None if stage is None else STAGE_NAMES.index(stage)


def canonical_stage(name: str | None, *, option: str) -> str | None:
    """A stage named by the user, as the one name it has now: an old name with a deprecation message, an unknown
    one as a ConfigError with a suggestion."""
    if name is None or name in STAGE_NAMES:
        return name
    if name in RENAMED:
        log.warning(deprecation(name, where=option))
        return RENAMED[name]
    import difflib

    guess = difflib.get_close_matches(name, STAGE_NAMES, n=1)
    raise ConfigError.single(
        f"There is no stage '{name}'.", where=option, expected=f"one of {', '.join(STAGE_NAMES)}",
        got=f"'{name}'", fix=f"did you mean '{guess[0]}'?" if guess else "use a stage name from the list",
    )

"""Stage 9, deployment: the fitted pipeline becomes a registered model version, with its deployment docs.

The verdict gates production: a model that meets every criterion is promoted, one that misses is registered as a
candidate so it can be inspected, compared or promoted by hand, never served by accident.

Promotion waits for the run to commit. The stage registers every version as a candidate (its bundle stored, its
number known); the record names the stage it is given when the run ends well, and the run's finish
(cairn.project.api) promotes it as its last step, in the transaction that marks the run succeeded. A run that dies
before that leaves no production version, only a candidate whose note says it waited for that run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from cairn.errors import NotFoundError
from cairn.model.inputs import model_frame_for_fit
from cairn.model.ranges import with_training_ranges
from cairn.model.trained import TrainedModel
from cairn.registry import NOT_PROMOTED, ModelVersion, Registry
from cairn.stages.business import BusinessCase
from cairn.stages.card import CardFacts, DataFacts, model_card_markdown
from cairn.stages.evaluation import EvaluationResult, verdict_line


@dataclass(frozen=True)
class DeploymentRecord:
    name: str
    version: int
    stage: str  # what the version is once the run commits: production (the run's finish promotes it) | candidate
    model_card: str  # markdown: what the model is, how good, how to serve it
    # the version in production when this one was registered: a shipped model replaces it only if it beats it
    # (cairn.project.champion, at the run's end), so until then its stage is a hope, said as one
    champion: int | None = None

    def summary(self) -> str:
        if self.stage == "production" and self.champion is not None:
            return (f"model {self.name} v{self.version} registered (production if it beats champion "
                    f"v{self.champion}, else the challenger)")
        return f"model {self.name} v{self.version} registered ({self.stage})"


def refit_on_all_rows(model: TrainedModel, table: pd.DataFrame, *, n_jobs: int, training_rows: int
                      ) -> tuple[TrainedModel, str]:
    """The recipe the holdout judged (model, parameters, number of trees, blend weights), fitted again on every
    row. The holdout's figures stay those of the recipe trained without it: an honest, slightly pessimistic
    estimate for a model that has seen more data."""
    began = time.perf_counter()
    X = model_frame_for_fit(table, model.features)
    with threadpool_limits(limits=n_jobs):
        pipeline = clone(model.pipeline).fit(X, table[model.target].to_numpy())
    fits = len(getattr(model.pipeline, "estimators", None) or [model.pipeline])  # a blend's members and seed copies
    note = (f"registered model refit on all {len(table):,} rows (training {training_rows:,} + holdout "
            f"{len(table) - training_rows:,}) with the chosen recipe in {time.perf_counter() - began:.1f} s"
            f"{f' ({fits} fits)' if fits > 1 else ''}; "
            f"the holdout metrics are of the same recipe fitted without the holdout rows")
    return replace(model, pipeline=pipeline, features=with_training_ranges(model.features, table)), note


def deploy_model(model: TrainedModel, *, evaluation: EvaluationResult, registry: Registry, run_id: int,
                 objective: str, api_key_env: str | None, port: int, refit_note: str | None = None,
                 case: BusinessCase | None = None, data: DataFacts | None = None) -> DeploymentRecord:
    note = pending_note(run_id) if evaluation.shipped else NOT_PROMOTED + verdict_line(evaluation)
    model.metrics = {m.name: m.value for m in evaluation.holdout}
    model.verdict = verdict_line(evaluation)
    champion = _production_version(registry, model.name)
    version = registry.register(model, run_id=run_id, production=False, note=note)
    version = replace(version, stage="production" if evaluation.shipped else "candidate")
    card = model_card(model, version=version, evaluation=evaluation, objective=objective,
                      api_key_env=api_key_env, port=port, refit_note=refit_note, run_id=run_id, case=case, data=data)
    registry.attach_card(version.name, version.version, card)
    return DeploymentRecord(version.name, version.version, version.stage, card, champion)


def _production_version(registry: Registry, name: str) -> int | None:
    try:
        return registry.production(name).version
    except NotFoundError:
        return None


def pending_note(run_id: int) -> str:
    """The note of a version that goes to production when its run commits; left only if the run died first."""
    return f"pending: production once run {run_id} finishes"


def model_card(model: TrainedModel, *, version: ModelVersion, evaluation: EvaluationResult, objective: str,
               api_key_env: str | None, port: int, refit_note: str | None = None, run_id: int | None = None,
               case: BusinessCase | None = None, data: DataFacts | None = None) -> str:
    """The model card (cairn.stages.card): a person on call can serve, call and check the model from it alone."""
    facts = CardFacts(version.name, version.version, version.stage, run_id if run_id is not None else
                      version.run_id or 0, port, api_key_env, refit_note, version.size_bytes)
    return model_card_markdown(model, facts=facts, evaluation=evaluation, case=case, data=data, objective=objective)

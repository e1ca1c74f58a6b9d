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

from cairn.model.trained import TrainedModel, as_model_frame
from cairn.registry import ModelVersion, Registry
from cairn.stages.evaluation import EvaluationResult, verdict_line


@dataclass(frozen=True)
class DeploymentRecord:
    name: str
    version: int
    stage: str  # what the version is once the run commits: production (the run's finish promotes it) | candidate
    model_card: str  # markdown: what the model is, how good, how to serve it

    def summary(self) -> str:
        return f"model {self.name} v{self.version} registered ({self.stage})"


def refit_on_all_rows(model: TrainedModel, table: pd.DataFrame, *, n_jobs: int, training_rows: int
                      ) -> tuple[TrainedModel, str]:
    """The recipe the holdout judged (model, parameters, number of trees, blend weights), fitted again on every
    row. The holdout's figures stay those of the recipe trained without it: an honest, slightly pessimistic
    estimate for a model that has seen more data."""
    began = time.perf_counter()
    X = as_model_frame(table, model.features)
    with threadpool_limits(limits=n_jobs):
        pipeline = clone(model.pipeline).fit(X, table[model.target].to_numpy())
    note = (f"registered model refit on all {len(table):,} rows (training {training_rows:,} + holdout "
            f"{len(table) - training_rows:,}) with the chosen recipe in {time.perf_counter() - began:.1f} s; "
            f"the holdout metrics are of the same recipe fitted without the holdout rows")
    return replace(model, pipeline=pipeline), note


def deploy_model(model: TrainedModel, *, evaluation: EvaluationResult, registry: Registry, run_id: int,
                 objective: str, api_key_env: str | None, port: int, refit_note: str | None = None
                 ) -> DeploymentRecord:
    note = pending_note(run_id) if evaluation.shipped else "not promoted: " + verdict_line(evaluation)
    model.metrics = {m.name: m.value for m in evaluation.holdout}
    model.verdict = verdict_line(evaluation)
    version = registry.register(model, run_id=run_id, production=False, note=note)
    version = replace(version, stage="production" if evaluation.shipped else "candidate")
    card = model_card(model, version=version, evaluation=evaluation, objective=objective,
                      api_key_env=api_key_env, port=port, refit_note=refit_note)
    return DeploymentRecord(version.name, version.version, version.stage, card)


def pending_note(run_id: int) -> str:
    """The note of a version that goes to production when its run commits; left only if the run died first."""
    return f"pending: production once run {run_id} finishes"


def model_card(model: TrainedModel, *, version: ModelVersion, evaluation: EvaluationResult, objective: str,
               api_key_env: str | None, port: int, refit_note: str | None = None) -> str:
    """Generated deployment docs: a person on call can serve, call and check the model from this page alone."""
    example = {f.name: f.example for f in model.features[:4]}
    header = f'-H "X-API-Key: ${api_key_env}" ' if api_key_env else ""
    lines = [
        f"# {model.name} v{version.version} ({version.stage})",
        "",
        f"Objective: {objective or '(none stated)'}",
        "",
        f"Verdict: {verdict_line(evaluation)}",
        "",
        "## Holdout metrics",
        "",
        "| metric | value | CI |",
        "|---|---|---|",
    ]
    for m in evaluation.holdout:
        interval = f"{m.ci_low:.4g} - {m.ci_high:.4g}" if m.ci_low is not None else ""
        lines.append(f"| {m.name} | {m.value:.4g} | {interval} |")
    lines += [
        "",
        f"One-row prediction latency in process: p50 {evaluation.predict_p50_ms:.1f} ms, "
        f"p99 {evaluation.predict_p99_ms:.1f} ms.",
        "",
        f"Training: {refit_note or 'the model the holdout scored, fitted without the holdout rows'}.",
        "",
        "## Inputs",
        "",
        f"{len(model.features)} features; any may be left out (it is imputed). Target: `{model.target}`.",
        "",
        "| feature | kind | example |",
        "|---|---|---|",
        *[f"| {f.name} | {f.kind} | {f.example} |" for f in model.features],
        "",
        "## Serve and call",
        "",
        "```",
        f"cairn serve --port {port}" + (f"   # requires {api_key_env} in the environment" if api_key_env else ""),
        f"curl -s {header}-H 'Content-Type: application/json' \\",
        f"     -d '{_json(example)}' http://127.0.0.1:{port}/predict",
        "```",
        "",
        "`GET /health` answers when the server is up; `GET /metadata` describes the model.",
        "Monitor drift with `cairn monitor --data NEW_DATA.csv`; roll back with `cairn rollback`.",
    ]
    return "\n".join(lines) + "\n"


def _json(value: object) -> str:
    import json

    return json.dumps(value, default=str)

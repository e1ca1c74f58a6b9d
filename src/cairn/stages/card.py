"""The model card: one Markdown page that says what a model version is for, what it learned from, how good it is,
where it should not be trusted, and how to call and rebuild it (Mitchell et al. 2019, "Model Cards for Model
Reporting", cut to what a run knows).

Written with every run next to its report, shown inside the report, and stored with the model version, so a person
on call can serve, call and question the model from this page alone. Fields other stages add over time (the
decision threshold, error by segment, training ranges) are read with defaults: a card never fails a run.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cairn.metrics.scoring import shown
from cairn.model.trained import TrainedModel
from cairn.stages.business import BusinessCase
from cairn.stages.evaluation import EvaluationResult, verdict_line
from cairn.words import byte_size


@dataclass(frozen=True)
class DataFacts:
    """What the model learned from, as the card names it."""

    source: str
    fingerprint: str
    rows: int  # read from the source
    period: str | None = None  # "2006-01-01 to 2010-07-31 (Sold_Date)" when a date column exists
    kept: int | None = None  # after cleaning (missing targets, duplicates, rare classes): what training saw


def data_facts(table: pd.DataFrame, *, source: str, fingerprint: str, rows: int, time_column: str | None,
               date_columns: tuple[str, ...] = ()) -> DataFacts:
    """The period comes from training.time_column, else the first column held or parsed as dates."""
    dated = [*date_columns, *(str(name) for name in table.columns
                              if pd.api.types.is_datetime64_any_dtype(table[name]))]
    columns = [c for c in ([time_column] if time_column else dated) if c in table.columns]
    period = None
    for name in columns[:1]:
        with warnings.catch_warnings():  # text dates: pandas warns when it guesses their format per element
            warnings.simplefilter("ignore", UserWarning)
            values = pd.to_datetime(table[name], errors="coerce").dropna()
        if len(values):
            period = f"{values.min():%Y-%m-%d} to {values.max():%Y-%m-%d} ({name})"
    return DataFacts(source, fingerprint, rows, period, kept=len(table))


@dataclass(frozen=True)
class CardFacts:
    """Where the model lives: its version, how it is served, which run made it."""

    name: str
    version: int
    stage: str
    run_id: int
    port: int
    api_key_env: str | None
    refit_note: str | None = None
    size_bytes: int | None = None  # the registered bundle, compressed: what serving loads


def _title(name: str, version: int, stage: str) -> str:
    return f"# Model card: {name} v{version} ({stage})"


def stage_label(stage: str, aliases: tuple[str, ...] | list[str] = ()) -> str:
    """A version's stage as a card's title names it, with its aliases ('production, champion', 'candidate,
    challenger'): the registry's stage and the word the run's verdict used, together."""
    return ", ".join([stage, *aliases])


def restaged(markdown: str, stage: str) -> str:
    """The card with the stage its version has now in its title: a card is written when its version is registered,
    and the champion check, a promotion or a rollback move the version afterwards."""
    return re.sub(r"\A(# Model card: .+ v\d+) \([^)\n]*\)", lambda found: f"{found.group(1)} ({stage})", markdown,
                  count=1)


def model_card_markdown(model: TrainedModel, *, facts: CardFacts, evaluation: EvaluationResult,
                        case: BusinessCase | None, data: DataFacts | None, objective: str) -> str:
    sections = [
        [_title(facts.name, facts.version, facts.stage), "",
         f"Made by run {facts.run_id}. Verdict: {verdict_line(evaluation)}"],
        _intended_use(case, objective),
        _data(data, model),
        _features(model),
        _metrics(evaluation),
        _decision(evaluation, model),
        _limitations(evaluation, model),
        _serving(model, facts),
        _reproduce(facts, data),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def _intended_use(case: BusinessCase | None, objective: str) -> list[str]:
    lines = ["## Intended use", "", objective or "(no objective stated in business.objective)"]
    if case is not None:
        lines += ["", *[f"- {line}" for line in case.describe()]]
    lines += ["", "Not for: decisions outside this objective, or inputs unlike the training data (see Limitations)."]
    return lines


def _data(data: DataFacts | None, model: TrainedModel) -> list[str]:
    if data is None:
        return []
    lines = ["## Data", "", f"- source: {data.source}", f"- fingerprint (sha256): `{data.fingerprint}`",
             f"- rows: {data.rows:,}" + (f" in the source; {data.kept:,} trained and judged on (after sampling "
                                         "and cleaning: see the run's data and preprocessing stages)"
                                         if data.kept is not None and data.kept != data.rows else ""),
             f"- target: `{model.target}` ({model.problem})"]
    if data.period:
        lines.append(f"- period: {data.period}")
    return lines


def _features(model: TrainedModel) -> list[str]:
    lines = ["## Features", "", f"{len(model.features)} inputs; any may be left out (it is imputed).", "",
             "| feature | kind | example | training range |", "|---|---|---|---|"]
    for feature in model.features:
        lines.append(f"| {feature.name} | {feature.kind} | {_cell(feature.example)} | {_range(feature)} |")
    return lines


def _range(feature: Any) -> str:
    low, high = getattr(feature, "low", None), getattr(feature, "high", None)
    if low is None or high is None:
        return ""
    return f"{low:.6g} to {high:.6g}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _metrics(evaluation: EvaluationResult) -> list[str]:
    percent = f"{evaluation.confidence:.0%}"
    lines = ["## Metrics", "", f"On the holdout (rows no choice saw), with {percent} bootstrap intervals.", "",
             "| metric | value | CI |", "|---|---|---|"]
    for m in evaluation.holdout:
        interval = f"{shown(m.name, m.ci_low)} - {shown(m.name, m.ci_high)}" if m.ci_low is not None and \
            m.ci_high is not None else ""
        lines.append(f"| {m.name} | {shown(m.name, m.value)} | {interval} |")
    lines += ["", f"One-row prediction latency in process: p50 {evaluation.predict_p50_ms:.1f} ms, "
              f"p99 {evaluation.predict_p99_ms:.1f} ms."]
    comparison = getattr(evaluation, "comparison", None)
    if comparison is not None:
        lines += ["", f"Against the next model: {comparison.sentence()}."]
    return lines


def _decision(evaluation: EvaluationResult, model: TrainedModel) -> list[str]:
    lines = ["## Verdict and decision threshold", ""]
    lines += [f"- {'✓' if check.met else '✗'} {check.name}: {check.text}" for check in evaluation.checks]
    threshold = getattr(evaluation, "threshold", None) or getattr(model, "threshold", None)
    if threshold is not None:
        text = getattr(threshold, "text", None)
        value = getattr(threshold, "value", threshold)
        lines.append(f"- {text}" if text else f"- decision threshold: {value}")
    elif model.problem == "binary":
        lines.append("- decision threshold: the most probable class (0.5)")
    return lines


def _limitations(evaluation: EvaluationResult, model: TrainedModel) -> list[str]:
    lines = ["## Limitations", ""]
    for segment in list(getattr(evaluation, "segments", None) or [])[:5]:
        sentence = getattr(segment, "sentence", None)
        if sentence:
            lines.append(f"- {sentence() if callable(sentence) else sentence}")
    ranged = [f for f in model.features if _range(f)]
    if ranged:
        lines.append(f"- beyond the training ranges of its {len(ranged)} numeric inputs (see Features) the model saw "
                     "no data: such inputs are clipped to the range, so the answer is the one at its edge; treat it "
                     "with care")
    lines.append("- the holdout figures describe data like the training data; check drift with `cairn monitor`")
    return lines


def _serving(model: TrainedModel, facts: CardFacts) -> list[str]:
    example = {f.name: f.example for f in model.features[:4]}
    header = f'-H "X-API-Key: ${facts.api_key_env}" ' if facts.api_key_env else ""
    requirement = f"   # requires {facts.api_key_env} in the environment" if facts.api_key_env else ""
    base = f"http://127.0.0.1:{facts.port}"
    body = json.dumps(example, default=str)
    lines = ["## Serve and call", "", "```", f"cairn serve --port {facts.port}{requirement}",
             f"curl -s {header}-H 'Content-Type: application/json' \\",
             f"     -d '{body}' {base}/predict", "```", "",
             "`GET /health` answers when the server is up; `GET /metadata` describes the model."
             + ("" if facts.size_bytes is None else
                f" The bundle the server loads takes {byte_size(facts.size_bytes)} on disk, compressed."),
             "Monitor drift with `cairn monitor --data NEW_DATA.csv`; roll back with `cairn rollback`.", "",
             "| route | what it answers |", "|---|---|",
             "| `POST /predict` | one record (an object) or a batch (an array): the prediction(s), a `prediction_id` "
             "each, the model and version |",
             "| `POST /explain` | the same body: each input's contribution, summing with the base value to the "
             "prediction |",
             "| `POST /feedback` | `[{\"id\": PREDICTION_ID, \"actual\": TRUE_VALUE}]`: the ground truth, for "
             "performance over time |",
             "| `GET /health`, `GET /ready` | liveness, and readiness once the model predicted its warm-up record |",
             "| `GET /metadata` | the model, its inputs and version |",
             "| `GET /metrics` | Prometheus: requests, latency, predictions, errors, the model served |",
             "| `GET /docs`, `GET /openapi.json` | the request and answer schemas |", "",
             "```",
             f"curl -s {header}-H 'Content-Type: application/json' -d '[{body}, {body}]' {base}/predict",
             f"curl -s {header}-H 'Content-Type: application/json' -d '{body}' {base}/explain",
             f"curl -s {header}-H 'Content-Type: application/json' \\",
             f"     -d '[{{\"id\": \"PREDICTION_ID\", \"actual\": ACTUAL_VALUE}}]' {base}/feedback",
             "```", "",
             "A running `cairn serve` switches to each new champion (`cairn promote`, `cairn rollback`, a retrain that "
             "wins) without a restart. To run it elsewhere: `cairn export " + f"v{model.version}" + " --to DIR` writes "
             "a folder that serves alone (`cairn serve --model DIR`, or its Dockerfile); `--format mlflow` and "
             "`--format onnx` write the model for MLflow or onnxruntime. Score files in bulk with "
             "`cairn predict INPUT -o OUTPUT` (CSV or Parquet, any length)."]
    if facts.refit_note:
        lines += ["", f"Training: {facts.refit_note}."]
    return lines


def _reproduce(facts: CardFacts, data: DataFacts | None) -> list[str]:
    lines = ["## Reproduce", "", "```", f"cairn reproduce {facts.run_id}", "```", "",
             f"Rebuilds run {facts.run_id} from its manifest and data snapshot in a scratch store and checks every "
             "holdout metric matches; `cairn show " + str(facts.run_id) + "` prints the manifest."]
    if data is not None:
        lines.append(f"The data it needs has fingerprint `{data.fingerprint[:12]}`.")
    return lines

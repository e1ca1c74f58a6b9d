"""The Python API: a project file on disk, its store, and everything a user does with them.

The CLI is a thin layer over this class; a notebook uses it directly:
`cairn.Project.load("cairn.yaml").run()` returns the run with its metrics and verdict.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from cairn.config import ProjectConfig, load_config
from cairn.config.schema import SqlSource
from cairn.errors import CairnError, NotFoundError
from cairn.model.ranges import out_of_range
from cairn.model.trained import TrainedModel
from cairn.privacy import redact_text
from cairn.registry import ModelVersion, Registry
from cairn.runner.cache import config_hash
from cairn.runner.execute import Execution, ProgressCallback, StageOutcome, execute
from cairn.runner.manifest import base_manifest, recorded_config
from cairn.stages.data import SourceRead, check_fits_problem, read_protected, read_source
from cairn.stages.evaluation import Check, EvaluationResult, verdict_line
from cairn.store import RunRecord, Store
from cairn.urls import redacted

log = logging.getLogger(__name__)
STATE_FOLDER = ".cairn"


@dataclass(frozen=True)
class Run:
    """What `Project.run` returns: the verdict first, then the numbers behind it."""

    id: int
    status: str
    shipped: bool | None  # None when the run stopped before evaluation
    verdict: str
    checks: list[Check]
    metrics: dict[str, float]
    stages: list[StageOutcome]
    model_version: str | None
    report_path: Path | None
    manifest: dict[str, Any] = field(default_factory=dict)
    champion_decision: Any = None  # cairn.project.champion.ChampionDecision when the run's model shipped

    def stage(self, name: str) -> StageOutcome:
        for outcome in self.stages:
            if outcome.name == name:
                return outcome
        raise KeyError(f"stage {name} did not run in run {self.id}")


class Project:
    def __init__(self, config: ProjectConfig, *, path: Path, workdir: Path | None = None) -> None:
        self.config = config
        self.path = path.resolve()
        self.base_dir = self.path.parent
        self.state_dir = (workdir.resolve() if workdir else self.base_dir) / STATE_FOLDER

    @classmethod
    def load(cls, path: str | Path = "cairn.yaml", *, workdir: str | Path | None = None) -> Project:
        """Read and validate the project file; nothing is written."""
        path = Path(path)
        if path.is_dir():
            path = path / "cairn.yaml"
        return cls(load_config(path), path=path, workdir=Path(workdir) if workdir else None)

    # the store ------------------------------------------------------------------------------------------------
    @property
    def store_url(self) -> str:
        return self.config.store or f"sqlite:///{self.state_dir / 'cairn.db'}"

    @property
    def artifacts_root(self) -> Path:
        return Path(self.config.artifacts) if self.config.artifacts else self.state_dir / "artifacts"

    def open_store(self, *, create: bool = True) -> Store:
        if self.config.store is None and not create and not (self.state_dir / "cairn.db").exists():
            raise NotFoundError.single(
                f"Project {self.config.project} has no runs yet.", where=str(self.state_dir),
                expected="a store made by `cairn run`", got="none", fix="run `cairn run` first",
            )
        if self.config.store is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        return Store.open(self.store_url, self.artifacts_root)

    @contextmanager
    def _existing_store(self) -> Iterator[Store]:
        """The store of a project that has run; reading commands never create one."""
        store = self.open_store(create=False)
        try:
            yield store
        finally:
            store.close()

    # running --------------------------------------------------------------------------------------------------
    def run(self, *, until: str | None = None, from_stage: str | None = None,
            progress: ProgressCallback | None = None, force_promote: str | None = None) -> Run:
        """Check the data, then walk the stages. User errors surface before anything is written. A model that
        ships becomes champion only if it beats the current one (cairn.project.champion), unless `force_promote`
        gives a reason to promote it anyway (logged in the audit log)."""
        from cairn.runner.graph import canonical_stage

        until, from_stage = canonical_stage(until, option="--until"), canonical_stage(from_stage, option="--from")
        config = self.config
        source, privacy = read_protected(config, base_dir=self.base_dir)
        check_fits_problem(source.table, target=config.business.target, problem=config.business.problem,
                           mask=privacy.mask, normalize=config.preprocessing.normalize_categories)
        store = self.open_store()
        try:
            digest = config_hash(config)
            manifest = base_manifest(project_file=self.path, config_hash=digest, seed=config.seed,
                                     n_jobs=config.training.n_jobs)
            manifest["config"] = recorded_config(config)
            run_id = store.start_run(project=config.project, config_hash=digest, manifest=manifest)
            try:
                execution = execute(config, store=store, run_id=run_id, base_dir=self.base_dir, source=source,
                                    privacy=privacy, until=until, from_stage=from_stage, progress=progress)
                return self._finish(store, execution, manifest=manifest, source=source,
                                    force_promote=force_promote)
            except BaseException as error:
                reason = str(error) if isinstance(error, CairnError) else f"{type(error).__name__}: {error}"
                reason = redact_text(reason)
                store.finish_run(run_id, status="failed", manifest=manifest, verdict=None,
                                 data_fingerprint=source.fingerprint, error=reason[:2000])
                raise
        finally:
            store.close()

    def _finish(self, store: Store, execution: Execution, *, manifest: dict[str, Any], source: SourceRead,
                force_promote: str | None = None) -> Run:
        fingerprint = source.fingerprint
        from cairn.project.report import write_run_report

        values = execution.values
        assert values is not None
        outcomes = {o.name: o for o in execution.outcomes}
        manifest = {
            **manifest,
            "data": {"source": self._source_text(), "fingerprint": fingerprint, "rows": source.total_rows,
                     "rows_used": len(source.table),
                     "snapshot": outcomes["data"].outputs.get("raw_table") if "data" in outcomes else None},
            "privacy": {"policy": self.config.data.privacy.pii,
                        "columns": [{"column": p.column, "kind": p.kind, "evidence": p.evidence}
                                    for p in execution.privacy.found]} if execution.privacy else None,
            "seeds": {"split": self.config.seed, "cv": self.config.seed, "models": self.config.seed,
                      "bootstrap": self.config.seed},
            "training": self._training_plan(values),
            "timings_s": {o.name: round(o.duration_s, 3) for o in execution.outcomes},
            "cached": [o.name for o in execution.outcomes if o.cached],
            "cache_keys": {},
        }
        evaluation: EvaluationResult | None = values.get("evaluation")
        deployment = self._as_it_stands(store, values.get("deployment"))
        deployment, decision = self._judged(store, execution.run_id, deployment, force_promote=force_promote)
        model_version = f"{deployment.name} v{deployment.version} ({deployment.stage})" if deployment else None
        metrics: dict[str, float] = {}
        if evaluation is not None:
            metrics = {m.name: m.value for m in evaluation.holdout}
            metrics |= {"predict_p50_ms": evaluation.predict_p50_ms, "predict_p99_ms": evaluation.predict_p99_ms}
            store.add_metrics(execution.run_id, self._metric_rows(values, evaluation))
        line = self._verdict_text(evaluation, deployment, execution)
        if decision is not None and decision.figures:  # there was a champion to beat: say how it went
            line += f"; {decision.reason}"
        verdict = None if evaluation is None else {
            "shipped": evaluation.shipped, "line": line, "model": model_version,
            "checks": [{"name": c.name, "met": c.met, "text": c.text} for c in evaluation.checks],
        }
        if verdict is not None and decision is not None:
            verdict["champion"] = {"promoted": decision.promote, "reason": decision.reason,
                                   "figures": decision.figures}
        report_path = write_run_report(self.config, store, execution, folder=self.state_dir / "reports",
                                       manifest=manifest, verdict_text=line, model_version=model_version)
        manifest["report"] = str(report_path)
        card_path = report_path.with_name(f"run-{execution.run_id}-card.md")
        if card_path.exists():
            manifest["card"] = str(card_path)
        self._commit(store, execution.run_id, deployment, manifest=manifest, verdict=verdict,
                     fingerprint=fingerprint, decision=decision)
        return Run(execution.run_id, "succeeded", evaluation.shipped if evaluation else None, line,
                   evaluation.checks if evaluation else [], metrics, execution.outcomes, model_version,
                   report_path, manifest, decision)

    def _judged(self, store: Store, run_id: int, deployment: Any, *, force_promote: str | None
                ) -> tuple[Any, Any]:
        """A shipped model about to be promoted (a candidate the record says goes to production) is judged against
        the champion first; one that does not beat it is the run's challenger instead."""
        from cairn.project.champion import decide_champion

        if deployment is None or deployment.stage != "production":
            return deployment, None
        if Registry(store).get(deployment.name, deployment.version).stage != "candidate":
            return deployment, None
        decision = decide_champion(store, project=self.config.project, run_id=run_id, model_name=deployment.name,
                                   business=self.config.business, force_reason=force_promote)
        return (deployment if decision.promote else replace(deployment, stage="challenger")), decision

    @staticmethod
    def _commit(store: Store, run_id: int, deployment: Any, *, manifest: dict[str, Any],
                verdict: dict[str, Any] | None, fingerprint: str | None, decision: Any = None) -> None:
        """The run's very last step, after its report is written: the run is marked succeeded and, when its model
        met the objective, that version (registered as a candidate by the deployment stage) goes to production, in
        one transaction, so a run killed before this leaves no production version. A version reused from the
        cache that is no longer a candidate (promoted by its own run, or archived by a rollback since) stays where
        it is; one a killed run registered and never promoted is promoted now and belongs to this run."""

        def finish(session: Session | None = None) -> None:
            store.finish_run(run_id, status="succeeded", manifest=manifest, verdict=verdict,
                             data_fingerprint=fingerprint, session=session)

        registry = Registry(store)
        if deployment is not None and deployment.stage == "challenger" and decision is not None:
            # shipped but did not beat the champion: the challenger alias, the run's finish and the audit line
            # in one transaction, like a promote
            registry.set_alias(deployment.name, deployment.version, "challenger", run_id=run_id,
                               reason=decision.reason, figures=decision.figures, alongside=finish,
                               note=f"challenger: {decision.reason}"[:2000])
            return
        if deployment is None or deployment.stage != "production":
            finish()
            return
        if registry.get(deployment.name, deployment.version).stage != "candidate":
            finish()
            return
        registry.promote(deployment.name, deployment.version, run_id=run_id, alongside=finish,
                         reason=decision.reason if decision is not None else None,
                         figures=decision.figures if decision is not None else None)

    @staticmethod
    def _training_plan(values: Any) -> dict[str, Any] | None:
        """The trials the budget was turned into: copy `plan` to training.tuning.plan to replay this search."""
        training = values.get("training_result")
        if training is None:
            return None
        return {"plan": training.plan, "planned": training.planned, "seeds": training.seeds,
                "search_rows": training.search_rows, "dropped": training.dropped, "safety_stop": training.safety_stop,
                "budget_s": _finite(training.budget_s), "ensemble_weights": training.ensemble_weights,
                "peak_memory_mb": _finite(training.peak_memory_mb)}

    def _source_text(self) -> str:
        """The source as the manifest records it: paths and queries, never a URL's credentials."""
        source = self.config.data.source
        if isinstance(source, str):
            return source
        if isinstance(source, list):
            return ", ".join(source)
        if isinstance(source, SqlSource):
            return f"{source.sql} on {redacted(source.url) if source.url else '$' + str(source.url_env)}"
        return source.duckdb

    @staticmethod
    def _metric_rows(values: Any, evaluation: EvaluationResult) -> list[tuple[str, str, str, float]]:
        training = values["training_result"]
        rows = [("holdout", training.chosen, m.name, m.value) for m in evaluation.holdout]
        rows += [("latency", training.chosen, "predict_p50_ms", evaluation.predict_p50_ms),
                 ("latency", training.chosen, "predict_p99_ms", evaluation.predict_p99_ms)]
        for candidate in training.leaderboard:
            rows += [("cv", candidate.model, name, mean) for name, (mean, _sd) in candidate.cv.items()]
        return rows

    @staticmethod
    def _as_it_stands(store: Store, deployment: Any) -> Any:
        """The deployment record with its version's stage as the registry has it now: a record reused from the
        cache may name a version promoted away or rolled back since. A candidate the run is about to promote
        (`_commit`) keeps its 'production'."""
        if deployment is None:
            return None
        now = Registry(store).get(deployment.name, deployment.version).stage
        if now == deployment.stage or (now == "candidate" and deployment.stage == "production"):
            return deployment
        return replace(deployment, stage=now)

    @staticmethod
    def _verdict_text(evaluation: EvaluationResult | None, deployment: Any, execution: Execution) -> str:
        if evaluation is None:
            return f"stopped after {execution.outcomes[-1].name}: no verdict yet (run through evaluation)"
        line = verdict_line(evaluation)
        if deployment is not None:
            line += f"; {deployment.summary()}"
        return line

    # history and registry -------------------------------------------------------------------------------------
    def runs(self, *, limit: int = 50) -> list[RunRecord]:
        with self._existing_store() as store:
            return store.runs(self.config.project, limit=limit)

    def show(self, run_id: int | str = "latest") -> RunRecord:
        with self._existing_store() as store:
            return store.run(self.config.project, run_id)

    def reproduce(self, run_id: int | str = "latest", *, progress: ProgressCallback | None = None) -> Any:
        """Run `run_id` again from its manifest and data snapshot in a scratch store; the project's store is only
        read. Returns a cairn.project.reproduce.Reproduction (`.matches`, metric by metric)."""
        from cairn.project.reproduce import reproduce_run

        with self._existing_store() as store:
            record = store.run(self.config.project, run_id)
            return reproduce_run(record, store, current=self.config, base_dir=self.base_dir, progress=progress)

    def diff(self, run_a: int | str, run_b: int | str = "latest") -> Any:
        """What changed from `run_a` to `run_b` (cairn.project.diff.RunDiff)."""
        from cairn.project.diff import diff_runs

        with self._existing_store() as store:
            a, b = store.run(self.config.project, run_a), store.run(self.config.project, run_b)
            return diff_runs(a, b, store, current=self.config)

    def card(self, version: int | str | None = None) -> tuple[ModelVersion, str]:
        """A model version's card (production by default): stored with the version, or for a version registered
        before cards were, the one its run's deployment stage wrote."""
        with self._existing_store() as store:
            chosen, card = Registry(store).card(self.config.model_name, version)
            if card is None and chosen.run_id is not None:
                record = store.run(self.config.project, chosen.run_id)
                stage = next((s for s in record.stages if s.stage == "deployment"), None)
                sha = stage.outputs.get("deployment") if stage is not None else None
                if sha and store.artifacts.exists(sha):
                    deployment = store.load_artifact(sha)
                    if deployment.version == chosen.version:
                        card = deployment.model_card
            if not card:
                raise NotFoundError.single(
                    f"Model {chosen.name} v{chosen.version} has no model card.", where="VERSION",
                    expected="a version registered by a run", got="none stored", fix="run `cairn run` again",
                )
            return chosen, card

    def report_path(self, run_id: int | str = "latest") -> Path:
        record = self.show(run_id)
        path = record.manifest.get("report")
        if not path or not Path(path).exists():
            raise NotFoundError.single(
                f"Run {record.id} has no report.", where="RUN", expected="a run that finished",
                got=record.status, fix="run `cairn run` again",
            )
        return Path(path)

    def models(self) -> list[ModelVersion]:
        with self._existing_store() as store:
            return Registry(store).versions(self.config.model_name)

    def load_model(self, version: int | str | None = None) -> TrainedModel:
        """The production model (or a given version), ready to predict."""
        with self._existing_store() as store:
            return Registry(store).load(self.config.model_name, version)

    def promote(self, version: int | str, *, reason: str | None = None) -> ModelVersion:
        """Make `version` (2, "v2" or an alias such as "challenger") the champion; `reason` goes to the audit log."""
        with self._existing_store() as store:
            registry = Registry(store)
            return registry.promote(self.config.model_name, registry.resolve(self.config.model_name, version),
                                    reason=reason)

    def rollback(self) -> ModelVersion:
        with self._existing_store() as store:
            return Registry(store).rollback(self.config.model_name)

    def set_alias(self, version: int | str, alias: str, *, reason: str | None = None) -> ModelVersion:
        """Point `alias` at `version` (2, "v2" or another alias); `champion` promotes."""
        with self._existing_store() as store:
            registry = Registry(store)
            return registry.set_alias(self.config.model_name, registry.resolve(self.config.model_name, version),
                                      alias, reason=reason)

    def audit(self, *, limit: int = 1000) -> list[Any]:
        """The registry's audit log for the project's model, newest first (cairn.registry.AuditEntry)."""
        with self._existing_store() as store:
            return Registry(store).audit(self.config.model_name, limit=limit)

    def monitoring_baseline(self, version: int | str | None = None) -> Any:
        """The drift reference saved by the run that produced the model version."""
        with self._existing_store() as store:
            chosen = Registry(store).get(self.config.model_name, version)
            record = store.run(self.config.project, chosen.run_id) if chosen.run_id else None
            stage = next((s for s in record.stages if s.stage == "monitoring"), None) if record else None
            if stage is None:
                raise NotFoundError.single(
                    f"Model {chosen.name} v{chosen.version} has no monitoring reference.", where="monitoring",
                    expected="a run that went through the monitoring stage", got="none",
                    fix="run `cairn run` to the end",
                )
            return store.load_artifact(stage.outputs["monitoring_baseline"])

    def read_table(self, path: str | Path) -> pd.DataFrame:
        """A file given on the command line, read with the same readers and errors as data.source."""
        from cairn.config.schema import Data

        return read_source(Data(source=str(Path(path).resolve())), base_dir=Path.cwd(), sample=False).table

    def predict_file(self, path: str | Path, *, version: int | str | None = None) -> pd.DataFrame:
        """The input rows with a `prediction` column (and class probabilities for classifiers). Numbers outside
        their training range are clipped to it; `attrs["out_of_range"]` lists them (cairn.model.ranges)."""
        model = self.load_model(version)
        table = self.read_table(path)
        scored = table.copy()
        labels, probabilities = model.answer(model.inputs(table))  # one pass for labels and probabilities
        scored["prediction"] = labels
        found = out_of_range(model.frame(table), model.features)  # clipped by `inputs`: said, not silent
        if found:
            scored.attrs["out_of_range"] = found
        if probabilities is not None and model.classes:
            for index, label in enumerate(model.classes):
                scored[f"probability_{label}"] = probabilities[:, index]
        return scored

    def explain(self, *, row: int | None = None, data: str | Path | None = None, record: str | Path | None = None,
                version: int | str | None = None) -> Any:
        """Each input's contribution to one answer of the production model (or `version`): row `row` (from 0) of
        `data`, or of the holdout of the run that trained the model; or the record(s) in the JSON file `record`.
        Returns cairn.explain.Explanations."""
        from cairn.errors import DataError

        model = self.load_model(version)
        if record is not None:
            return model.explain(self._json_records(Path(record)))
        if row is None:
            raise DataError.single("Nothing to explain.", where="RECORD or --row", expected="a record file or a row",
                                   got="neither", fix="cairn explain RECORD.json, or cairn explain --row 0")
        table, where = (self.read_table(data), str(data)) if data is not None else (self._holdout(model), "holdout")
        if not 0 <= row < len(table):
            raise DataError.single(f"There is no row {row} in the {where}: it has {len(table):,} rows.",
                                   where="--row", expected=f"a row number from 0 to {len(table) - 1}", got=str(row),
                                   fix=f"pick a row between 0 and {len(table) - 1}")
        return model.explain(table.iloc[[row]])

    @staticmethod
    def _json_records(path: Path) -> list[dict[str, Any]]:
        from cairn.errors import DataError

        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError.single(f"Cannot read the record file {path}.", where="RECORD",
                                   expected="a JSON object of the model's inputs", got=str(error)[:200],
                                   fix="write one JSON object, like the body of POST /predict") from None
        records = [loaded] if isinstance(loaded, dict) else loaded
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise DataError.single(f"The record file {path} holds no record.", where="RECORD",
                                   expected="a JSON object (or an array of objects) of the model's inputs",
                                   got=type(loaded).__name__,
                                   fix="write one JSON object, like the body of POST /predict")
        return records

    def _holdout(self, model: TrainedModel) -> pd.DataFrame:
        """The holdout rows of the run that trained `model`, as that run cleaned them."""
        with self._existing_store() as store:
            record = store.run(self.config.project, model.run_id) if model.run_id else None
            outputs = {stage.stage: stage.outputs for stage in record.stages} if record else {}
            if "clean_table" not in outputs.get("preprocessing", {}) or "training_result" not in outputs.get(
                    "training", {}):
                raise NotFoundError.single(
                    f"The run behind {model.name} v{model.version} kept no holdout.", where="--row",
                    expected="a model trained by `cairn run`", got="none", fix="pass --data FILE to pick the row from")
            table = store.load_artifact(outputs["preprocessing"]["clean_table"])
            training = store.load_artifact(outputs["training"]["training_result"])
        holdout: pd.DataFrame = table.iloc[training.holdout_index].reset_index(drop=True)
        return holdout

    def monitor(self, data: str | Path | None = None, *, version: int | str | None = None) -> Any:
        """Drift of new data (or of the logged requests) against the model's training reference.

        Logged requests are judged on what was sent: a feature most requests left out (the model imputed it) is
        reported as not sent and left out of the verdict, never an error."""
        from cairn.monitoring.watch import monitor_requests, monitor_table

        model = self.load_model(version)
        baseline = self.monitoring_baseline(model.version)
        if data is not None:
            return monitor_table(self.read_table(data), model=model, baseline=baseline, config=self.config)
        return monitor_requests(self.logged_records(model), model=model, baseline=baseline, config=self.config)

    # prediction log: what the API served, for monitoring ----------------------------------------------------
    def prediction_log_path(self, model: TrainedModel) -> Path:
        return self.state_dir / "predictions" / f"{model.name}-v{model.version}.jsonl"

    def prediction_logger(self, model: TrainedModel) -> Any:
        """A callback for the API that appends served records and predictions, one JSON line each: only what
        `TrainedModel.loggable` keeps (the model's inputs, personal data protected or redacted)."""
        path = self.prediction_log_path(model)
        path.parent.mkdir(parents=True, exist_ok=True)

        def log_predictions(records: list[dict[str, Any]], predictions: list[Any]) -> None:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            lines = [json.dumps({"at": stamp, "record": r, "prediction": p}, default=str)
                     for r, p in zip(model.loggable(records), predictions, strict=True)]
            with path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")

        return log_predictions

    def logged_requests(self, model: TrainedModel) -> pd.DataFrame:
        """The logged records as a table: a column per key any request sent, missing where a request did not."""
        return pd.DataFrame.from_records(self.logged_records(model))

    def logged_records(self, model: TrainedModel) -> list[dict[str, Any]]:
        """The records ``/predict`` served for this version, as sent (a line cut short by a crash is skipped)."""
        path = self.prediction_log_path(model)
        if not path.exists() or path.stat().st_size == 0:
            raise NotFoundError.single(
                f"No requests have been logged for {model.name} v{model.version}.", where="--data",
                expected="a file of new data, or requests served by `cairn serve`", got="neither",
                fix="pass --data NEW.csv",
            )
        records: list[dict[str, Any]] = []
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)["record"] if line.strip() else None
                except (ValueError, KeyError, TypeError):
                    continue
                if isinstance(record, dict):  # a value that is no scalar was not written by the service
                    records.append({key: value for key, value in record.items()
                                    if value is None or isinstance(value, str | int | float | bool)})
        return records


def _finite(value: float) -> float | None:
    """JSON (and PostgreSQL's json type) has no NaN: an unmeasured number is null."""
    return None if value is None or value != value else round(float(value), 3)

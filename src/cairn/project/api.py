"""The Python API: a project file on disk, its store, and everything a user does with them.

The CLI is a thin layer over this class; a notebook uses it directly:
`cairn.Project.load("cairn.yaml").run()` returns the run with its metrics and verdict.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from cairn.config import ProjectConfig, load_config
from cairn.config.schema import SqlSource
from cairn.config.settings import Setting, resolve_setting, shown_overrides
from cairn.errors import CairnError, NotFoundError
from cairn.execution import DaskFolds, connected, execution_record
from cairn.model.trained import TrainedModel
from cairn.privacy import redact_text
from cairn.registry import ModelVersion, Registry
from cairn.runner.cache import config_hash
from cairn.runner.execute import Execution, ProgressCallback, StageOutcome, execute
from cairn.runner.manifest import base_manifest, recorded_config
from cairn.stages.card import restaged, stage_label
from cairn.stages.data import SourceRead, check_fits_problem, read_protected, read_source
from cairn.stages.evaluation import Check, EvaluationResult, verdict_line
from cairn.stages.preprocessing import check_missing_target
from cairn.store import RunRecord, Store
from cairn.store.migrate import SchemaState, Upgrade
from cairn.store.repository import store_schema, upgrade_store
from cairn.urls import redacted

if TYPE_CHECKING:
    from cairn.monitoring.unseen import TrainingLevels

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
    def __init__(self, config: ProjectConfig, *, path: Path, workdir: Path | None = None,
                 overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.path = path.resolve()
        self.base_dir = self.path.parent
        self.state_dir = (workdir.resolve() if workdir else self.base_dir) / STATE_FOLDER
        self.overrides = dict(overrides or {})  # dotted key -> value, as given by --set (already in config)
        self.environ = os.environ if environ is None else environ

    @classmethod
    def load(cls, path: str | Path = "cairn.yaml", *, workdir: str | Path | None = None,
             overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Project:
        """Read and validate the project file, with `overrides` ({"training.holdout": 0.3}, what `--set` gives)
        applied; nothing is written. The store and artifacts come from `--set`, then the environment (`environ`,
        default os.environ: CAIRN_STORE, CAIRN_ARTIFACTS, the variables named by store_env / artifacts_env), then
        the file, then the defaults in .cairn/ (cairn.config.settings)."""
        path = Path(path)
        if path.is_dir():
            path = path / "cairn.yaml"
        return cls(load_config(path, overrides=overrides), path=path, workdir=Path(workdir) if workdir else None,
                   overrides=overrides, environ=environ)

    # the store ------------------------------------------------------------------------------------------------
    def setting(self, name: Literal["store", "artifacts"]) -> Setting:
        """Where the store or the artifacts are, and which of --set, environment, file or default said so."""
        return resolve_setting(self.config, name, overridden=set(self.overrides), environ=self.environ)

    @property
    def store_url(self) -> str:
        return self.setting("store").value or f"sqlite:///{self.state_dir / 'cairn.db'}"

    @property
    def artifacts_root(self) -> Path | str:
        """A local folder, or an fsspec URL (s3://bucket/prefix) kept as text."""
        chosen = self.setting("artifacts").value
        if chosen and "://" in chosen and not chosen.startswith("file://"):
            return chosen
        return Path(chosen.removeprefix("file://")) if chosen else self.state_dir / "artifacts"

    def settings_record(self) -> dict[str, Any]:
        """Where the store and artifacts were and who said so, and the --set overrides: passwords hidden."""
        return {"store": self.setting("store").shown(self.store_url),
                "artifacts": self.setting("artifacts").shown(str(self.artifacts_root)),
                "set": shown_overrides(self.overrides),
                "execution": execution_record(self.config, environ=self.environ)}

    def open_store(self, *, create: bool = True) -> Store:
        default = self.setting("store").value is None
        if not create and self._never_ran():
            raise NotFoundError.single(
                f"Project {self.config.project} has no runs yet.", where=str(self.state_dir),
                expected="a store made by `cairn run`", got="none", fix="run `cairn run` first",
            )
        if default:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        return Store.open(self.store_url, self.artifacts_root)

    def store_schema(self) -> SchemaState:
        """Where the store's schema stands against this cairn's (`cairn db current`); reads only."""
        self._refuse_missing_default_store()
        return store_schema(self.store_url)

    def upgrade_store(self) -> Upgrade:
        """Bring the store's schema to this cairn's (`cairn db upgrade`); SQLite is copied beside it first."""
        if self.setting("store").value is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        return upgrade_store(self.store_url)

    def collect_garbage(self, *, keep_last: int | None = None, dry_run: bool = False) -> Any:
        """Delete the artifacts that no kept run or registered model version refers to (`cairn gc`); with
        `keep_last`, only the project's `keep_last` latest runs keep theirs. Returns cairn.store.gc.Collection."""
        from cairn.store.gc import collect_garbage

        with self._existing_store() as store:
            return collect_garbage(store, project=self.config.project, keep_last=keep_last, dry_run=dry_run)

    def _never_ran(self) -> bool:
        """The default store is not there yet: nothing has run (a configured store is always asked)."""
        return self.setting("store").value is None and not (self.state_dir / "cairn.db").exists()

    def _refuse_missing_default_store(self) -> None:
        if self._never_ran():
            raise NotFoundError.single(
                f"Project {self.config.project} has no store yet.", where=str(self.state_dir),
                expected="a store made by `cairn run` or `cairn db upgrade`", got="none",
                fix="run `cairn run` (or `cairn db upgrade` to create an empty one)",
            )

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
            progress: ProgressCallback | None = None, force_promote: str | None = None,
            data: tuple[SourceRead, Any] | None = None, judge_rows: pd.DataFrame | None = None) -> Run:
        """Check the data, then walk the stages. User errors surface before anything is written. A model that
        ships becomes champion only if it beats the current one (cairn.project.champion), unless `force_promote`
        gives a reason to promote it anyway (logged in the audit log).

        `cairn retrain` passes `data` (the table to train on, already read and protected, instead of data.source)
        and `judge_rows` (the newest labelled rows, kept out of training: the champion is judged on them)."""
        from cairn.runner.graph import canonical_stage

        until, from_stage = canonical_stage(until, option="--until"), canonical_stage(from_stage, option="--from")
        config = self.config
        source, privacy = data if data is not None else read_protected(config, base_dir=self.base_dir)
        check_fits_problem(source.table, target=config.business.target, problem=config.business.problem,
                           mask=privacy.mask, normalize=config.preprocessing.normalize_categories)
        check_missing_target(source.table, target=config.business.target, spec=config.preprocessing)
        with connected(config, base_dir=self.base_dir, store_url=self.store_url, artifacts_url=self.artifacts_root,
                       environ=self.environ) as client:  # a cluster that cannot work stops here: nothing written
            engine = None if client is None else DaskFolds(client, threads=config.training.n_jobs)
            store = self.open_store()
            try:
                digest = config_hash(config)
                manifest = base_manifest(project_file=self.path, config_hash=digest, seed=config.seed,
                                         n_jobs=config.training.n_jobs)
                manifest["config"] = recorded_config(config)
                manifest["settings"] = self.settings_record()
                if data is not None:  # a retrain: what it trained on instead of data.source, and what judged it
                    manifest["retrain"] = {"data": source.description,
                                           "judge_rows": None if judge_rows is None else len(judge_rows)}
                run_id = store.start_run(project=config.project, config_hash=digest, manifest=manifest)
                try:
                    execution = execute(config, store=store, run_id=run_id, base_dir=self.base_dir, source=source,
                                        privacy=privacy, until=until, from_stage=from_stage, progress=progress,
                                        engine=engine)
                    return self._finish(store, execution, manifest=manifest, source=source,
                                        force_promote=force_promote, judge_rows=judge_rows)
                except BaseException as error:
                    reason = str(error) if isinstance(error, CairnError) else f"{type(error).__name__}: {error}"
                    reason = redact_text(reason)
                    store.finish_run(run_id, status="failed", manifest=manifest, verdict=None,
                                     data_fingerprint=source.fingerprint, error=reason[:2000])
                    raise
            finally:
                store.close()

    def _finish(self, store: Store, execution: Execution, *, manifest: dict[str, Any], source: SourceRead,
                force_promote: str | None = None, judge_rows: pd.DataFrame | None = None) -> Run:
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
        deployment = self._as_it_stands(store, values.get("deployment"), self.config.project,
                                        forced=force_promote is not None)
        deployment, decision = self._judged(store, execution.run_id, deployment, force_promote=force_promote,
                                            judge_rows=judge_rows)
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
            "per_class": [each.to_dict() for each in evaluation.per_class],  # classification, on the holdout
        }
        if verdict is not None and decision is not None:
            verdict["champion"] = {"promoted": decision.promote, "reason": decision.reason,
                                   "figures": decision.figures}
        report_path = write_run_report(self.config, store, execution, folder=self.state_dir / "reports",
                                       manifest=manifest, verdict_text=line, model_version=model_version,
                                       deployment=deployment)
        manifest["report"] = str(report_path)
        card_path = report_path.with_name(f"run-{execution.run_id}-card.md")
        if card_path.exists():
            manifest["card"] = str(card_path)
        self._commit(store, execution.run_id, deployment, manifest=manifest, verdict=verdict,
                     fingerprint=fingerprint, decision=decision)
        return Run(execution.run_id, "succeeded", evaluation.shipped if evaluation else None, line,
                   evaluation.checks if evaluation else [], metrics, execution.outcomes, model_version,
                   report_path, manifest, decision)

    def _judged(self, store: Store, run_id: int, deployment: Any, *, force_promote: str | None,
                judge_rows: pd.DataFrame | None = None) -> tuple[Any, Any]:
        """A shipped model about to be promoted (a candidate the record says goes to production) is judged against
        the champion first; one that does not beat it is the run's challenger instead."""
        from cairn.project.champion import decide_champion

        if deployment is None or deployment.stage != "production":
            return deployment, None
        if Registry(store).get(deployment.name, deployment.version).stage != "candidate":
            return deployment, None
        decision = decide_champion(store, project=self.config.project, run_id=run_id, model_name=deployment.name,
                                   business=self.config.business, force_reason=force_promote,
                                   judge_rows=judge_rows, new_version=deployment.version,
                                   n_jobs=self.config.training.n_jobs)
        return replace(deployment, champion=None) if decision.promote else replace(deployment, stage="challenger"), \
            decision

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
    def _as_it_stands(store: Store, deployment: Any, project: str, *, forced: bool = False) -> Any:
        """The deployment record with its version's stage as the registry has it now: a record reused from the
        cache may name a version promoted away or rolled back since, or one its own run judged already (left the
        challenger: `forced` promotes it still). A candidate the run is about to judge and promote (`_commit`)
        keeps its 'production'."""
        if deployment is None:
            return None
        version = Registry(store).get(deployment.name, deployment.version)
        if version.stage == "candidate" and deployment.stage == "production" and (
                forced or not _judged_by_its_run(store, project, version)):
            return deployment  # to be judged, or promoted as --force-promote asks, by this run
        # judged already: no champion left to beat; a candidate its run left the challenger is said as such
        stage = "challenger" if version.stage == "candidate" and "challenger" in version.aliases else version.stage
        return replace(deployment, stage=stage, champion=None)

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
        """The project's runs, newest first: none before its first run (no store is made to say so)."""
        if self._never_ran():
            return []
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
            return chosen, restaged(card, stage_label(chosen.stage, chosen.aliases))

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
        """Every registered version, newest first, with the size of its bundle; none before the first run."""
        if self._never_ran():
            return []
        with self._existing_store() as store:
            registry = Registry(store)
            return registry.sized(registry.versions(self.config.model_name))

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

    def rollback(self, *, reason: str | None = None) -> ModelVersion:
        """The previous champion back in production; `reason` goes to the audit log."""
        with self._existing_store() as store:
            return Registry(store).rollback(self.config.model_name, reason=reason)

    def set_alias(self, version: int | str, alias: str, *, reason: str | None = None) -> ModelVersion:
        """Point `alias` at `version` (2, "v2" or another alias); `champion` promotes."""
        with self._existing_store() as store:
            registry = Registry(store)
            return registry.set_alias(self.config.model_name, registry.resolve(self.config.model_name, version),
                                      alias, reason=reason)

    def audit(self, *, limit: int = 1000) -> list[Any]:
        """The registry's audit log for the project's model, newest first (cairn.registry.AuditEntry); none before
        the first run."""
        if self._never_ran():
            return []
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

    def served_model(self, version: int | str | None = None) -> TrainedModel:
        """`load_model`, with the levels its training had (`known_levels`), so the API names a level a request
        sends that training never had, as `cairn predict` does; a version without a baseline serves without."""
        model = self.load_model(version)
        model.known_levels = self._training_levels(model)
        return model

    def _training_levels(self, model: TrainedModel) -> TrainingLevels | None:
        """The category levels `model` was trained on, from its monitoring baseline, for a scoring to name the
        levels it never had (cairn.monitoring.unseen); None when the version has no baseline (older stores, runs
        that stopped before monitoring): the check is skipped, the scoring goes on."""
        from cairn.monitoring.unseen import training_levels

        try:
            baseline = self.monitoring_baseline(model.version)
        except (CairnError, KeyError) as error:
            log.debug("no check of unseen levels: %s", error)
            return None
        return training_levels(baseline, model)

    def read_table(self, path: str | Path, *, option: str = "--data") -> pd.DataFrame:
        """A file given on the command line, read with the same readers as data.source; its errors name `option`
        (the argument that named the file), not data.source."""
        from cairn.config.schema import Data

        with _errors_name(option):
            return read_source(Data(source=str(Path(path).resolve())), base_dir=Path.cwd(), sample=False).table

    def predict_file(self, path: str | Path, *, version: int | str | None = None) -> pd.DataFrame:
        """The input rows with a `prediction` column (and class probabilities for classifiers). Numbers outside
        their training range are clipped to it, and `attrs` says what the model read otherwise than written:
        `attrs["out_of_range"]` the values clipped (cairn.model.ranges.OutOfRange), `attrs["unread"]` the number
        inputs whose text did not read (imputed: cairn.model.inputs.Unread), `attrs["unseen"]` the category inputs
        with levels the training split never had (cairn.monitoring.unseen.Unseen). Each finding is a plain dict of
        its fields and its `warning`, as `cairn predict` prints it, so the frame still writes to Parquet (which
        keeps `attrs` as JSON). `attrs["replaced"]` names the input's own columns the answers' columns replaced
        (a `prediction` column, say, of an earlier scoring)."""
        from cairn.project.batch import replaced_columns, score_chunk_read

        model = self.load_model(version)
        table = self.read_table(path, option="INPUT")
        replaced = replaced_columns(model, table.columns)
        scored, found, unread, unseen = score_chunk_read(model, table, levels=self._training_levels(model))
        for key, said in (("out_of_range", found), ("unread", unread), ("unseen", unseen)):
            if said:
                scored.attrs[key] = [{**asdict(item), "warning": item.sentence()} for item in said]
        if replaced:
            scored.attrs["replaced"] = replaced
        return scored

    def score_file(self, path: str | Path | Sequence[str | Path], output: str | Path | None, *,
                   version: int | str | None = None, progress: Any = None) -> Any:
        """`predict_file` for files of any length: scored a chunk at a time into `output` (CSV on stdout when
        None), never holding the whole file (cairn.project.batch). `path` may be a folder or a glob of files.
        An `output` folder (a name with no extension) gets one Parquet part per partition (a file, or some row
        groups of one), scored on the Dask workers under execution.engine dask (cairn.project.partitions).
        Returns the rows written and what the model read otherwise than written (cairn.project.batch.Scored)."""
        from cairn.project.batch import input_files, score_files
        from cairn.project.partitions import is_folder_output, score_partitions

        model = self.load_model(version)
        levels = self._training_levels(model)
        target = None if output is None else Path(output)
        with _errors_name("INPUT"):
            files = input_files(path)
            if target is not None and is_folder_output(target):
                with self._cluster() as client:
                    return score_partitions(model, files, target, client=client, progress=progress, levels=levels)
            if self.config.execution.engine != "local":
                log.warning("one output file is written by this process, not the Dask workers: name an output "
                            "folder (-o scored/) to score on the cluster")
            shown = str(path) if isinstance(path, str | Path) else ", ".join(map(str, path))
            return score_files(model, files, target, progress=progress, shown=shown, levels=levels)

    @contextmanager
    def _cluster(self) -> Iterator[Any]:
        """The checked Dask client of execution.engine dask (cairn.execution), None for the local engine. Its
        workers score and count data files; they never open the store or the artifacts."""
        with connected(self.config, base_dir=self.base_dir, store_url=self.store_url,
                       artifacts_url=self.artifacts_root, environ=self.environ, workers_use_store=False) as client:
            yield client

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

    def monitor(self, data: str | Path | None = None, *, version: int | str | None = None,
                estimate: bool = True) -> Any:
        """Drift of new data (or of the logged requests) against the model's training reference, the success
        metrics per time window where ground truth came back (`cairn feedback`, `POST /feedback`), an estimate
        beside them (unless `estimate` is False), and the advice by the rules of `monitoring.retrain_when`; the
        windows are stored, and the webhook called on a retrain advice (cairn.project.performance).

        Logged requests are judged on what was sent: a feature most requests left out (the model imputed it) is
        reported as not sent and left out of the verdict, never an error."""
        from cairn.monitoring.watch import judge_window, monitor_requests
        from cairn.project.monitoring_report import logged_span, record_drift_check
        from cairn.project.performance import feedback_records, monitored_windows, notify

        model = self.load_model(version)
        baseline = self.monitoring_baseline(model.version)
        windows = monitored_windows(self, model, estimate=estimate)
        span: tuple[Any, Any] = (None, None)  # the first and last request the check covers, when known
        if data is not None:  # read a batch at a time: a file of any length, memory bounded (monitoring.streamed)
            window = self._streamed_window(data, model=model, baseline=baseline)
            report = judge_window(window.drift, window.labelled, model=model, config=self.config, windows=windows,
                                  columns=window.columns)
            span = (window.first_at, window.last_at)
        else:
            logged = self.prediction_log_path(model)
            served = logged.exists() and bool(logged.stat().st_size)
            records = self.logged_records(model) if served else feedback_records(self, model)
            report = monitor_requests(records, model=model, baseline=baseline, config=self.config, windows=windows)
            span = logged_span(logged) if served else span
        record_drift_check(self, report, first_at=span[0], last_at=span[1])  # drift over time (cairn_drift_history)
        return notify(self, report)

    def _streamed_window(self, data: str | Path, *, model: TrainedModel, baseline: Any) -> Any:
        """`data` (a file, a folder or a glob of files) read a batch at a time: its drift, a sample of its
        labelled rows and its time span. Under execution.engine dask, partition by partition on the workers and
        merged here (cairn.project.partitions): the same report."""
        from cairn.monitoring.streamed import STREAMED_CHUNK_ROWS, streamed_window
        from cairn.project.batch import input_files, rows_in
        from cairn.project.partitions import partitioned_window
        from cairn.stages.data.sources import file_chunks

        target, time_column, seed = self.config.business.target, self.config.monitoring.time_column, self.config.seed
        with _errors_name("--data"):
            files = input_files(data, where="--data")
            if self.config.execution.engine != "local":
                with self._cluster() as client:
                    return partitioned_window(files, model=model, baseline=baseline, target=target,
                                              time_column=time_column, seed=seed, where=str(data), client=client)
            batches = (batch for file in files for batch in file_chunks(file, chunk_rows=STREAMED_CHUNK_ROWS))
            return streamed_window(batches, baseline=baseline, model=model, target=target, time_column=time_column,
                                   total_rows=rows_in(data), seed=seed, where=str(data))

    def write_monitoring_report(self, report: Any, path: str | Path) -> Path:
        """The monitoring report (HTML, aggregates only) of a check `monitor` returned, with the version's drift
        history, performance windows and retrain decisions (cairn.project.monitoring_report)."""
        from cairn.project.monitoring_report import write_monitoring_report

        return write_monitoring_report(self, report, path)

    def champion_follower(self, *, interval_s: float = 2.0) -> Any:
        """What `cairn serve` needs to switch to each new champion while it runs (cairn.serving.reload): the
        champion's version, read from the store every `interval_s`, and a version loaded with its prediction log."""
        from cairn.serving.reload import ChampionFollower

        name = self.config.model_name  # the name alone: the model itself was loaded by the caller
        opened: list[Store] = []

        def champion_version() -> int | None:
            if not opened:
                opened.append(self.open_store(create=False))
            try:
                return Registry(opened[0]).production(name).version
            except NotFoundError:  # no champion (all rolled back?): keep serving what is served
                return None

        def load(version: int) -> tuple[TrainedModel, Any]:
            model = self.served_model(version)
            return model, self.prediction_logger(model)

        return ChampionFollower(champion_version, load, interval_s)

    # prediction log: what the API served, for monitoring ----------------------------------------------------
    def prediction_log_path(self, model: TrainedModel) -> Path:
        return self.state_dir / "predictions" / f"{model.name}-v{model.version}.jsonl"

    def prediction_logger(self, model: TrainedModel) -> Any:
        """A callback for the API that appends served records and predictions, one JSON line each: only what
        `TrainedModel.loggable` keeps (the model's inputs, personal data protected or redacted), with the
        prediction id `POST /feedback` quotes.

        Each request's lines are one `os.write` to a file opened with O_APPEND, which the kernel appends whole:
        several worker processes share the file without interleaving. Past `deployment.prediction_log_mb` the file
        is renamed to a part stamped with the time (`NAME-vN.jsonl.20261203T101500123456`) and a new one begun;
        every reader takes the parts in order (cairn.monitoring.feedback.log_parts)."""
        path = self.prediction_log_path(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        rotate_bytes = int(self.config.deployment.prediction_log_mb * 1024 * 1024)

        def log_predictions(records: list[dict[str, Any]], predictions: list[Any],
                            ids: list[Any] | None = None) -> None:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            lines = [json.dumps({"at": stamp, "id": i, "record": r, "prediction": p}, default=str)
                     for r, p, i in zip(model.loggable(records), predictions, ids or [None] * len(records),
                                        strict=True)]
            data = ("\n".join(lines) + "\n").encode("utf-8")
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, data)
                size = os.fstat(descriptor).st_size
            finally:
                os.close(descriptor)
            if size > rotate_bytes:
                part = path.with_name(f"{path.name}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
                with contextlib.suppress(FileNotFoundError):  # another worker rotated it first
                    os.rename(path, part)

        return log_predictions

    def feedback_writer(self, model: TrainedModel) -> Any:
        """A callback for the API's `POST /feedback`: checked items matched to the predictions logged for any
        version of the model, stored in the project's store (one transaction per request; several workers may
        write at once). Returns the `FeedbackAnswer` body."""
        from cairn.monitoring.feedback import ServedIndex, store_feedback

        index = ServedIndex(self.state_dir / "predictions", model.name)
        store = self.open_store()  # kept open for the life of the service
        labelled = partial(store.labelled_ids, self.config.project, model.name)

        def take_feedback(items: list[dict[str, Any]]) -> dict[str, Any]:
            result = store_feedback(items, model=model, index=index, project=self.config.project,
                                    write=store.add_feedback, labelled=labelled)
            return {"accepted": result.accepted, "unknown_ids": result.unknown_ids, "unknown": result.unknown,
                    "model": result.model, "version": result.version, "relabelled": result.relabelled}

        return take_feedback

    def feedback(self, path: str | Path) -> Any:
        """Store the true values in a file (CSV, Parquet, JSON lines): an `id` column (the prediction ids the
        service answered) plus the target, or the model's input columns plus the target, which the champion
        predicts now. Returns cairn.monitoring.feedback.FeedbackResult."""
        from cairn.monitoring.feedback import FeedbackResult, ServedIndex, feedback_rows_from_table, store_feedback

        model = self.load_model()
        table = self.read_table(path, option="FILE")
        items, times, skipped, mode = feedback_rows_from_table(
            table, model=model, project=self.config.project, where=str(path),
            time_column=self.config.monitoring.time_column)
        with self._existing_store() as store:
            if mode == "inputs":
                store.add_feedback(items)
                return FeedbackResult(len(items), 0, [], skipped=skipped, model=model.name, version=model.version,
                                      source="inputs")
            index = ServedIndex(self.state_dir / "predictions", model.name)
            result = store_feedback(items, model=model, index=index, project=self.config.project,
                                    write=store.add_feedback, source="file", event_at=times,
                                    labelled=partial(store.labelled_ids, self.config.project, model.name))
            return replace(result, skipped=skipped)

    def logged_requests(self, model: TrainedModel) -> pd.DataFrame:
        """The logged records as a table: a column per key any request sent, missing where a request did not."""
        return pd.DataFrame.from_records(self.logged_records(model))

    def logged_records(self, model: TrainedModel) -> list[dict[str, Any]]:
        """The records ``/predict`` served for this version, as sent (a line cut short by a crash is skipped)."""
        from cairn.monitoring.feedback import read_log

        lines = read_log(self.prediction_log_path(model))  # the rotated parts too, oldest first
        if not lines:
            raise NotFoundError.single(
                f"No requests have been logged for {model.name} v{model.version}.", where="--data",
                expected="a file of new data, or requests served by `cairn serve`", got="neither",
                fix="pass --data NEW.csv",
            )
        # a value that is no scalar was not written by the service
        return [{key: value for key, value in line["record"].items()
                 if value is None or isinstance(value, str | int | float | bool)} for line in lines]


def _judged_by_its_run(store: Store, project: str, version: Any) -> bool:
    """Whether the run that registered a candidate finished, and so judged it (left it the challenger, or below the
    objective): a fully cached rerun reuses that version and must not judge it again as its own. A candidate whose
    run died before its end was never judged, and is."""
    if version.run_id is None:
        return False
    try:
        return store.run(project, version.run_id).status == "succeeded"
    except NotFoundError:
        return False


@contextmanager
def _errors_name(option: str) -> Iterator[None]:
    """A file named on the command line is read by data.source's readers: their errors then name `option`."""
    try:
        yield
    except CairnError as error:
        for problem in error.problems:
            if problem.where == "data.source":
                problem.where = option
                problem.fix = problem.fix and problem.fix.replace("point data.source at", "pass").replace(
                    "relative to cairn.yaml", "relative to the current folder")  # read as the shell reads it
        raise


def _finite(value: float) -> float | None:
    """JSON (and PostgreSQL's json type) has no NaN: an unmeasured number is null."""
    return None if value is None or value != value else round(float(value), 3)

"""`cairn reproduce RUN`: run a past run again from its manifest and data snapshot, and check the numbers match.

The project's store is only read: the reproduction runs in a scratch store in a temporary folder, removed after.
It replays what the clock decided the first time (the trials per candidate: `training.tuning.plan`), so on the
same packages and threads every holdout metric comes out identical. The tolerance is stated with the result: exact
(to 1e-9, relative) with one thread per fit; 1e-6 with more, where boosters sum histograms in a thread-dependent
order. Latency is measured, not computed, and is never compared.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cairn._version import __version__
from cairn.config import ProjectConfig
from cairn.errors import ConfigError, NotFoundError
from cairn.privacy import PiiColumn, Protected
from cairn.runner.cache import config_hash
from cairn.runner.execute import ProgressCallback, execute
from cairn.runner.manifest import package_versions
from cairn.stages.data import SourceRead
from cairn.store import RunRecord, Store

EXACT = 1e-9
THREADED = 1e-6


@dataclass(frozen=True)
class MetricMatch:
    name: str
    original: float
    reproduced: float | None

    def matches(self, tolerance: float) -> bool:
        return self.reproduced is not None and math.isclose(self.original, self.reproduced, rel_tol=tolerance,
                                                            abs_tol=1e-12)


@dataclass(frozen=True)
class Reproduction:
    run_id: int
    metrics: list[MetricMatch]
    tolerance: float
    tolerance_why: str
    chosen: tuple[str | None, str | None]  # the chosen model: originally, reproduced
    shipped: tuple[bool | None, bool | None]
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return bool(self.metrics) and all(m.matches(self.tolerance) for m in self.metrics) and \
            self.chosen[0] == self.chosen[1]

    def lines(self) -> list[str]:
        lines = [f"run {self.run_id}: {m.name} {m.original:.10g} -> "
                 f"{'(not computed)' if m.reproduced is None else f'{m.reproduced:.10g}'}: "
                 f"{_agreement(m, self.tolerance)}" for m in self.metrics]
        lines.append(f"chosen model: {self.chosen[0]} -> {self.chosen[1]}")
        lines.append(f"tolerance: relative {self.tolerance:g} ({self.tolerance_why}); latency is measured, not "
                     "compared")
        lines += self.notes
        lines.append(f"run {self.run_id} {'is reproduced' if self.matches else 'is NOT reproduced'}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "matches": self.matches, "tolerance": self.tolerance,
                "tolerance_why": self.tolerance_why,
                "metrics": [{"name": m.name, "original": m.original, "reproduced": m.reproduced,
                             "matches": m.matches(self.tolerance)} for m in self.metrics],
                "chosen": {"original": self.chosen[0], "reproduced": self.chosen[1]},
                "shipped": {"original": self.shipped[0], "reproduced": self.shipped[1]}, "notes": self.notes}


def _agreement(metric: MetricMatch, tolerance: float) -> str:
    if metric.reproduced == metric.original:
        return "identical"
    return "matches within the tolerance" if metric.matches(tolerance) else "DIFFERS"


def run_config(record: RunRecord, current: ProjectConfig) -> ProjectConfig:
    """The project file the run ran with: recorded in its manifest, or the current one when its hash matches (a run
    made before manifests recorded it)."""
    recorded = record.manifest.get("config")
    if recorded is not None:
        return ProjectConfig.model_validate(recorded)
    if config_hash(current) == record.config_hash:
        return current
    raise ConfigError.single(
        f"Run {record.id} did not record its project file, and cairn.yaml has changed since.", where="RUN",
        expected="a run whose manifest holds its configuration, or the project file it ran with",
        got=f"config hash {config_hash(current)[:12]} now, {record.config_hash[:12]} then",
        fix=f"restore the project file run {record.id} used, then run `cairn reproduce {record.id}` again",
    )


def snapshot_of(record: RunRecord, store: Store) -> str:
    """The sha256 of the run's data snapshot, once it is known to be in the store. Reads only."""
    data = record.manifest.get("data") or {}
    sha = data.get("snapshot")
    if record.status != "succeeded" or not sha:
        raise NotFoundError.single(
            f"Run {record.id} cannot be reproduced: it {record.status} and recorded no data snapshot.", where="RUN",
            expected="a run that finished (`cairn runs` lists them)", got=record.status,
            fix="pick a succeeded run from `cairn runs`",
        )
    if not record.metrics:
        raise NotFoundError.single(
            f"Run {record.id} cannot be reproduced: it stopped before evaluation, so it has no metrics to compare.",
            where="RUN", expected="a run that went through evaluation", got="no holdout metrics",
            fix="pick a run from `cairn runs` that shows metrics",
        )
    if not store.artifacts.exists(str(sha)):
        raise NotFoundError.single(
            f"Run {record.id}'s data snapshot {str(sha)[:12]} is missing from the artifact folder; nothing was "
            "changed in the store.", where=str(store.artifacts.root),
            expected=f"the artifact {sha}", got="no such file (deleted, or removed by `cairn gc`)",
            fix=f"restore the artifact folder from a backup, or rerun the project with `cairn run` (the data "
                f"source must still hold fingerprint {str(data.get('fingerprint'))[:12]})",
        )
    return str(sha)


def reproduce_run(record: RunRecord, store: Store, *, current: ProjectConfig, base_dir: Path,
                  progress: ProgressCallback | None = None) -> Reproduction:
    config = run_config(record, current)
    snapshot_sha = snapshot_of(record, store)
    table = store.load_artifact(snapshot_sha)
    manifest = record.manifest
    data = manifest.get("data") or {}
    config, notes = with_plan_replayed(config, record)
    config = config.model_copy(update={"store": None, "artifacts": None})
    privacy_record = manifest.get("privacy") or {}
    found = [PiiColumn(p["column"], p["kind"], p["evidence"], 0.0) for p in privacy_record.get("columns") or []]
    source = SourceRead(table=table, fingerprint=str(data.get("fingerprint") or snapshot_sha),
                        description=str(data.get("source") or "the run's snapshot"),
                        total_rows=int(data.get("rows") or len(table)))
    protected = Protected(table, found, str(privacy_record.get("policy") or config.data.privacy.pii))
    with tempfile.TemporaryDirectory(prefix="cairn-reproduce-") as scratch:
        scratch_store = Store.open(f"sqlite:///{Path(scratch) / 'cairn.db'}", Path(scratch) / "artifacts")
        try:
            run_id = scratch_store.start_run(project=config.project, config_hash=config_hash(config),
                                             manifest={"reproducing": record.id})
            execution = execute(config, store=scratch_store, run_id=run_id, base_dir=base_dir, source=source,
                                privacy=protected, progress=progress)
            assert execution.values is not None
            evaluation = execution.values.get("evaluation")
            result = execution.values.get("training_result")
            reproduced = {m.name: m.value for m in evaluation.holdout} if evaluation is not None else {}
            chosen = result.chosen if result is not None else None
            shipped = evaluation.shipped if evaluation is not None else None
        finally:
            scratch_store.close()
    original = {name: value for name, value in record.metrics.items()}
    metrics = [MetricMatch(name, value, reproduced.get(name)) for name, value in original.items()]
    threads = config.training.n_jobs
    tolerance, why = (EXACT, "one thread per fit: the same numbers") if threads == 1 else (
        THREADED, f"{threads} threads per fit: boosters may sum in another order")
    notes += environment_changes(manifest)
    verdict = record.verdict or {}
    return Reproduction(record.id, metrics, tolerance, why, (chosen_model(record), chosen),
                        (verdict.get("shipped"), shipped), notes)


def chosen_model(record: RunRecord) -> str | None:
    """The chosen model, from the run's training notes ("chose lightgbm: ...")."""
    for stage in record.stages:
        if stage.stage == "training":
            for note in stage.notes:
                if note.startswith("chose "):
                    return note.removeprefix("chose ").split(":")[0].split(" ")[0]
    return None


def environment_changes(manifest: dict[str, Any]) -> list[str]:
    """What differs between the run's environment and this one: the likely reason when numbers do not match."""
    then = {"cairn": manifest.get("cairn_version"), **(manifest.get("packages") or {})}
    now = {"cairn": __version__, **package_versions()}
    changed = [f"{name} {then.get(name)} -> {now.get(name)}" for name in sorted(set(then) | set(now))
               if then.get(name) != now.get(name)]
    return [f"versions changed since the run: {', '.join(changed)}"] if changed else []


SEARCH_ROWS = re.compile(r"training\.search_rows: (\d+)")
FINAL_FIT = re.compile(r"training\.final_fit: (searched_rows|\d+)")
FINAL_MODEL = re.compile(r"training\.final_model: (\w+)")
REFIT_SEEDS = re.compile(r"training\.refit_seeds: (\d+|\{[^}]*\})")  # a number, or members: {lightgbm: 3}
FINAL_RATE_BOOST = re.compile(r"training\.final_rate_boost: (\d+)")
BLEND_TRIALS = re.compile(r"training\.blend_trials: (\d+)")
NATIVE = re.compile(r"models\.native_categories: (false|\[[\w, ]*\])")
REPLAY = "to replay this run with training.tuning.plan"


def with_plan_replayed(config: ProjectConfig, record: RunRecord) -> tuple[ProjectConfig, list[str]]:
    """The run's recorded trials per candidate (training.tuning.plan, unless the project sets one) and the
    settings its notes name (`with_search_replayed`): the same search again, and the notes that say so."""
    notes = []
    plan = (record.manifest.get("training") or {}).get("plan")
    if plan and config.training.tuning.plan is None:
        tuning = config.training.tuning.model_copy(update={"plan": dict(plan)})
        config = config.model_copy(update={"training": config.training.model_copy(update={"tuning": tuning})})
        notes.append("replayed the recorded trials per candidate (training.tuning.plan): "
                     + ", ".join(f"{name} {count}" for name, count in plan.items()))
    config, replayed = with_search_replayed(config, record)
    return config, [*notes, *replayed]


def with_search_replayed(config: ProjectConfig, record: RunRecord) -> tuple[ProjectConfig, list[str]]:
    """A search the clock made smaller (fewer rows searched, the judged model fitted on part of the rows, a cheaper
    model judged for the rows it affords, a larger learning rate for them, CatBoost on target means instead of its
    own statistics while LightGBM keeps its own, a blend drawing on fewer trials of a family) or spent the time it
    left on seed copies, made the same way again: the training stage's remarks name the settings that replay it."""
    remarks = " ".join(note for stage in record.stages if stage.stage == "training" for note in stage.notes
                       if REPLAY in note)
    update: dict[str, Any] = {}
    if found := SEARCH_ROWS.search(remarks):
        update["search_rows"] = int(found.group(1))
    if found := FINAL_FIT.search(remarks):
        update["final_fit"] = found.group(1) if found.group(1) == "searched_rows" else int(found.group(1))
    if found := [*FINAL_MODEL.finditer(remarks)]:  # the last step to judge another model (`in_time`) says last
        update["final_model"] = found[-1].group(1)
    if found := BLEND_TRIALS.search(remarks):
        update["blend_trials"] = int(found.group(1))
    if found := REFIT_SEEDS.search(remarks):
        update["refit_seeds"] = yaml.safe_load(found.group(1))  # as the project file would write it
    if found := FINAL_RATE_BOOST.search(remarks):
        update["final_rate_boost"] = int(found.group(1))
    said = [f"training.{k}: {yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in update.items()]  # as the project file writes them: {lightgbm: 3}
    native = None  # the families that learned categories natively, when not as auto decides today
    if found := NATIVE.search(remarks):
        native = yaml.safe_load(found.group(1))  # false, or the list, as the project file would write it
        said.append(f"models.native_categories: {found.group(1)}")
    if validated := validated_as(config, record):  # pinned without a word: it is what the run did
        update["validation"] = validated
    if not update and native is None:
        return config, []
    changes = {"training": config.training.model_copy(update=update)}
    if native is not None:
        changes["models"] = config.models.model_copy(update={"native_categories": native})
    return config.model_copy(update=changes), [
        "replayed what the budget chose: " + ", ".join(said)] if said else []


def validated_as(config: ProjectConfig, record: Any) -> str | None:
    """training.validation as the run had it, when the project leaves it to auto: its split note says whether the
    search scored on one fold or on all of them, so a replay does the same whatever auto's rule has become."""
    if config.training.validation != "auto":
        return None
    for stage in record.stages:
        if stage.stage == "training":
            split = next((note for note in stage.notes if "-fold" in note or "one validation fold" in note), None)
            if split is not None:
                return "one_fold" if "one validation fold" in split else "cv"
    return None

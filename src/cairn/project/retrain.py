"""`cairn retrain`: a challenger trained on newer labelled rows must beat the champion on the newest ones.

The new labelled rows (a file with the target, and the ground truth fed back to the service) are put in time order
(by `monitoring.time_column` or `training.time_column` when the rows carry it, else as given: the later the newer).
The newest `monitoring.retrain.judge_share` of them are kept out of training: champion and challenger are both
scored on them, each answering exactly as it is served, by the paired bootstrap `cairn run` uses
(cairn.project.champion). The rest trains the challenger with the same project file, alone
(`monitoring.retrain.data: recent`) or added to the training source (`all`, the default). The challenger becomes
champion only if it ships and beats the champion on those rows; the decision, both scores and the test go to the
audit log, and `cairn rollback` undoes a promotion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cairn.errors import DataError
from cairn.hashing import sha256_bytes
from cairn.registry import Registry
from cairn.stages.data import SourceRead, protect_read, read_source

__all__ = ["Retrained", "labelled_from_feedback", "newest_last", "retrain"]


@dataclass(frozen=True)
class Retrained:
    """What a retrain did: the run, whether its model became champion, and on how many rows."""

    run: Any  # cairn.project.api.Run
    new_rows: int
    trained_on_new: int
    judge_rows: int
    data: str  # "all" | "recent"
    promoted: bool

    def to_dict(self) -> dict[str, Any]:
        decision = self.run.champion_decision
        return {"run": self.run.id, "model": self.run.model_version, "shipped": self.run.shipped,
                "promoted": self.promoted, "new_rows": self.new_rows, "trained_on_new": self.trained_on_new,
                "judge_rows": self.judge_rows, "data": self.data, "verdict": self.run.verdict,
                "decision": None if decision is None else {"reason": decision.reason, "figures": decision.figures}}


def retrain(project: Any, *, labelled: pd.DataFrame, described: str, force_promote: str | None = None,
            progress: Any = None) -> Retrained:
    """Train a challenger on `labelled` (new rows with the target; `described` says where they came from) and
    judge it against the champion on the newest of them."""
    config = project.config
    spec = config.monitoring.retrain
    target = config.business.target
    labelled, model_name = _usable(labelled, project=project, target=target, minimum=spec.min_new_rows)
    ordered = newest_last(labelled, time_columns=(config.monitoring.time_column, config.training.time_column))
    judged = max(1, math.ceil(len(ordered) * spec.judge_share))
    fresh, judge_rows = ordered.iloc[:-judged], ordered.iloc[-judged:].reset_index(drop=True)
    if spec.data == "all":
        source = read_source(config.data, base_dir=project.base_dir, seed=config.seed)
        table = pd.concat([source.table, fresh.reindex(columns=source.table.columns)], ignore_index=True)
        description = f"{source.description} + {len(fresh):,} new labelled rows ({described})"
        fingerprint = sha256_bytes((source.fingerprint + _rows_digest(fresh)).encode())
    else:
        table = fresh.reset_index(drop=True)
        description = f"{len(fresh):,} new labelled rows ({described})"
        fingerprint = _rows_digest(fresh)
    read = SourceRead(table=table, fingerprint=fingerprint, description=description, total_rows=len(table))
    run = project.run(data=protect_read(read, config), judge_rows=judge_rows, force_promote=force_promote,
                      progress=progress)
    decision = run.champion_decision
    promoted = bool(run.shipped) and decision is not None and decision.promote
    outcome = Retrained(run, len(labelled), len(fresh), len(judge_rows), spec.data, promoted)
    version = _version_number(run.model_version)
    reason = ("promoted: " + decision.reason if promoted and decision is not None else
              "kept as challenger: " + decision.reason if decision is not None else
              "the challenger does not ship: " + run.verdict)
    store = project.open_store()
    try:
        Registry(store).record("retrain", model_name, version=version, run_id=run.id, reason=reason[:2000],
                               figures={"promoted": promoted, "new_rows": len(labelled), "trained_on_new": len(fresh),
                                        "judge_rows": len(judge_rows), "data": spec.data,
                                        **(decision.figures if decision is not None else {})})
    finally:
        store.close()
    return outcome


def newest_last(rows: pd.DataFrame, *, time_columns: tuple[str | None, ...]) -> pd.DataFrame:
    """The rows oldest first, by the first time column they carry that parses as dates; else as given."""
    for column in time_columns:
        if column and column in rows.columns:
            times = pd.to_datetime(rows[column], errors="coerce", utc=True)
            if times.notna().any():
                order = times.reset_index(drop=True).sort_values(kind="stable", na_position="first").index
                return rows.reset_index(drop=True).iloc[order].reset_index(drop=True)
    return rows.reset_index(drop=True)


def _usable(labelled: pd.DataFrame, *, project: Any, target: str, minimum: int) -> tuple[pd.DataFrame, str]:
    """The rows with their target (and the champion's name), refusing too few rows or rows without the champion's
    inputs."""
    if target not in labelled.columns:
        raise DataError.single("The new rows have no target column.", where=target,
                               expected=f"a column {target!r} with the true values", got=_columns(labelled),
                               fix=f"add the column {target!r}, or feed the truth back with `cairn feedback`")
    known = labelled[labelled[target].notna()]
    if len(known) < minimum:
        raise DataError.single(
            f"Too few new labelled rows to retrain: {len(known):,}, at least {minimum:,} are needed.",
            where="monitoring.retrain.min_new_rows", expected=f"at least {minimum:,} rows with {target!r} known",
            got=f"{len(known):,} of {len(labelled):,}",
            fix="wait for more ground truth, or lower monitoring.retrain.min_new_rows in cairn.yaml")
    model = project.load_model()
    absent = [name for name in model.feature_names if name not in known.columns]
    if absent:
        raise DataError.single(
            f"The new rows lack {len(absent)} of the champion's {len(model.feature_names)} inputs.",
            where=", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else ""),
            expected="every input column the model was trained on", got=_columns(known),
            fix="send rows with the same columns as the training data")
    return known, str(model.name)


def _columns(table: pd.DataFrame) -> str:
    names = [str(name) for name in table.columns]
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") if names else "none"


def _rows_digest(rows: pd.DataFrame) -> str:
    return sha256_bytes(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())


def _version_number(model_version: str | None) -> int | None:
    """The version in a run's 'house-prices v3 (challenger)'."""
    if not model_version:
        return None
    for word in model_version.split():
        if word.startswith("v") and word[1:].isdigit():
            return int(word[1:])
    return None


def labelled_from_feedback(project: Any) -> pd.DataFrame:
    """Every served prediction of the model (all versions) whose truth came back, and every input row fed back
    with its target, oldest first: the model's inputs and the target. The records were stored as the model logs
    them, personal columns already hashed or masked: they cannot be protected again, so a model with personal
    columns retrains from a file of raw rows instead."""
    from cairn.monitoring.feedback import read_log
    from cairn.monitoring.windows import served_table

    champion = project.load_model()
    if champion.personal_columns:
        raise DataError.single(
            "Feedback cannot retrain a model with personal columns.", where="--data",
            expected="a file of the new rows as the source holds them (raw), with the target",
            got=f"the stored records of {champion.name}, whose {', '.join(champion.personal_columns)} are already "
                "protected", fix="pass --data FILE")
    store = project.open_store(create=False)
    try:
        versions = [v.version for v in Registry(store).versions(champion.name)]
        feedback = store.feedback(project.config.project, champion.name)
    finally:
        store.close()
    tables = []
    for version in versions:
        log = project.state_dir / "predictions" / f"{champion.name}-v{version}.jsonl"
        table = served_table(read_log(log), feedback, version=version, feature_names=champion.feature_names)
        tables.append(table[table["actual"].notna()])
    labelled = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if labelled.empty:
        raise DataError.single(
            f"No ground truth has come back for {champion.name}.", where="--data",
            expected="feedback (POST /feedback, `cairn feedback FILE`) or a file of new labelled rows",
            got="no labelled prediction", fix="feed the true values back, or pass --data FILE")
    labelled = labelled.sort_values("at", kind="stable").reset_index(drop=True)
    labelled[champion.target] = pd.to_numeric(labelled.pop("actual"), errors="coerce") \
        if champion.problem == "regression" else labelled.pop("actual")
    return labelled.drop(columns=["at", "served"])

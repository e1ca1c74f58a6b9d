"""Ground truth come back: checked against the model, matched to the predictions the service logged, stored.

Two ways in. ``POST /feedback`` sends ``[{"id": ..., "actual": ...}]``: each id is looked up in the prediction
logs (every version of the model: a prediction served before a promote still gets its truth), the version that
served it is stored with it, and an id no log holds is counted and named, never stored. ``cairn feedback FILE``
sends either ids and the target, or whole input rows and the target: those the champion predicts now, and they
are stored as labelled rows with their (protected) record and prediction.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.errors import DataError
from cairn.model.trained import TrainedModel

__all__ = ["FeedbackResult", "ServedIndex", "actual_problem", "feedback_rows_from_table", "log_parts",
           "normalised_actual", "read_log", "store_feedback"]

log = logging.getLogger(__name__)

UNKNOWN_SHOWN = 10
"""Unknown ids named in an answer; the rest are counted."""


@dataclass(frozen=True)
class FeedbackResult:
    """What became of the feedback sent."""

    accepted: int
    unknown_ids: int
    unknown: list[Any] = field(default_factory=list)  # the first few
    skipped: int = 0  # file rows without a target value
    model: str = ""
    version: int | None = None  # the version that served the matched predictions, when only one did
    source: str = "api"  # api | ids | inputs
    relabelled: int = 0  # stored items whose id had a true value already: the newest now counts

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "unknown_ids": self.unknown_ids, "unknown": self.unknown,
                "skipped": self.skipped, "model": self.model, "version": self.version, "source": self.source,
                "relabelled": self.relabelled}


# the actual value ------------------------------------------------------------------------------------------------
def _class_lookup(model: TrainedModel) -> dict[str, Any]:
    return {str(label): label for label in (model.classes or [])} | {
        str(label).lower(): label for label in (model.classes or []) if isinstance(label, bool)}


def normalised_actual(value: Any, model: TrainedModel) -> Any:
    """The actual as stored: a float for regression, the model's own class label for classification (``"1"``
    for the class 1, ``"true"`` for True). Call ``actual_problem`` first."""
    if model.problem == "regression":
        return float(value)
    return _class_lookup(model).get(_key(value), value)


def _key(value: Any) -> str:
    """A class label as text, the way a JSON body or a CSV spells it: true, 1 (for 1.0), 'yes'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def actual_problem(value: Any, model: TrainedModel) -> str | None:
    """Why ``value`` cannot be the true target of ``model``, in a sentence (None when it can)."""
    if (mismatch := actual_mismatch(value, model)) is None:
        return None
    return f"The actual value of {model.target} should be {mismatch[0]}; got {mismatch[1]}"


def actual_mismatch(value: Any, model: TrainedModel) -> tuple[str, str] | None:
    """``(what a true value must be, what came)`` when ``value`` cannot be the true target of ``model``: a
    regression target is a finite number; a class must be one the model was trained on."""
    if model.problem == "regression":
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            return "a finite number (a regression target)", _shown(value)
        return None
    classes = model.classes or []
    if value is None or isinstance(value, dict | list):
        return f"one of the classes {_classes(classes)}", _shown(value)
    lookup = _class_lookup(model)
    if value in classes or _key(value) in lookup:
        return None
    return (f"one of the classes the model was trained on, {_classes(classes)}",
            f"{_shown(value)}, a class the model never saw")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def _classes(classes: Iterable[Any]) -> str:
    listed = [json.dumps(c) if not isinstance(c, str) else repr(c) for c in classes]
    return ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")


def _shown(value: Any) -> str:
    text = "null" if value is None else repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# the prediction logs -----------------------------------------------------------------------------------------------
ROTATED = re.compile(r"\.jsonl(\.\d{8}T\d{12})?$")
"""A prediction log, current (`NAME-vN.jsonl`) or rotated by size (`NAME-vN.jsonl.20261203T101500123456`)."""


def log_parts(path: Path) -> list[Path]:
    """A version's prediction log as written: its rotated parts, oldest first, then the current file."""
    rotated = sorted(p for p in path.parent.glob(f"{glob.escape(path.name)}.*") if ROTATED.search(p.name))
    return [*rotated, *([path] if path.exists() else [])]


def read_log(path: Path) -> list[dict[str, Any]]:
    """The lines of a prediction log (``{"at", "id", "record", "prediction"}``), its rotated parts included,
    oldest first; a line cut short is skipped."""
    lines: list[dict[str, Any]] = []
    for part in log_parts(path):
        with part.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line) if line.strip() else None
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("record"), dict):
                    lines.append(entry)
    return lines


class ServedIndex:
    """Which version of a model served each prediction id, and when: read from the prediction logs of every
    version (``{name}-v{N}.jsonl`` in ``folder``), incrementally, so a service answering feedback reads each new
    log line once, including those other workers wrote. Thread-safe."""

    def __init__(self, folder: Path, model_name: str) -> None:
        self.folder = folder
        self.model_name = model_name
        self._served: dict[str, tuple[int, str]] = {}  # id -> (version, at)
        self._offsets: dict[Path, int] = {}
        self._lock = threading.Lock()

    def _version_of(self, path: Path) -> int | None:
        if not path.name.startswith(f"{self.model_name}-v") or not ROTATED.search(path.name):
            return None
        stem = ROTATED.sub("", path.name)[len(self.model_name) + 2:]
        return int(stem) if stem.isdigit() else None

    def refresh(self) -> None:
        with self._lock:
            for path in sorted(self.folder.glob(f"{glob.escape(self.model_name)}-v*.jsonl*")):
                version = self._version_of(path)
                if version is None:
                    continue
                offset = self._offsets.get(path, 0)
                size = path.stat().st_size
                if size < offset:  # rotated: a new current file (the old lines are read under the part's name)
                    offset = 0
                if size <= offset:
                    continue
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
                for line in chunk[:end].splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict) and entry.get("id") is not None:
                        self._served[str(entry["id"])] = (version, str(entry.get("at", "")))
                self._offsets[path] = offset + end

    def lookup(self, prediction_id: Any) -> tuple[int, str] | None:
        return self._served.get(str(prediction_id))


# storing -----------------------------------------------------------------------------------------------------------
def store_feedback(items: list[dict[str, Any]], *, model: TrainedModel, index: ServedIndex, project: str,
                   write: Callable[[list[dict[str, Any]]], int],
                   labelled: Callable[[list[str]], set[str]] | None = None, source: str = "api",
                   event_at: list[datetime | None] | None = None) -> FeedbackResult:
    """Store ``[{"id", "actual"}]`` items whose id a log holds (actuals already checked); count the others, and
    the ids that had a true value already (``labelled`` says which: a correction replaces it, and is said)."""
    index.refresh()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    unknown: list[Any] = []
    versions: set[int] = set()
    for position, item in enumerate(items):
        served = index.lookup(item["id"])
        if served is None:
            unknown.append(item["id"])
            continue
        versions.add(served[0])
        rows.append({"project": project, "model": model.name, "version": served[0],
                     "prediction_id": str(item["id"]), "actual": normalised_actual(item["actual"], model),
                     "received_at": now, "event_at": event_at[position] if event_at else None, "source": source,
                     "record": None, "prediction": None})
    ids = [row["prediction_id"] for row in rows]
    before = labelled(ids) if labelled is not None and ids else set()
    relabelled = len(ids) - len(set(ids) - before)  # repeats within this batch count as well
    write(rows)
    return FeedbackResult(len(rows), len(unknown), unknown[:UNKNOWN_SHOWN], model=model.name,
                          version=versions.pop() if len(versions) == 1 else None,
                          source="api" if source == "api" else "ids", relabelled=relabelled)


def _times(table: pd.DataFrame, column: str | None) -> list[datetime | None] | None:
    """The rows' dates from ``monitoring.time_column`` when the file has it (a date that does not parse: an error
    naming the column)."""
    if column is None or column not in table.columns:
        return None
    parsed = pd.to_datetime(table[column], errors="coerce", utc=True)
    bad = parsed.isna() & table[column].notna()
    if bad.any():
        first = table[column][bad].iloc[0]
        raise DataError.single(f"The feedback file's {column} holds values that are not dates.",
                               where=f"column {column}", expected="dates such as 2009-06-30",
                               got=f"{int(bad.sum())} rows, e.g. {_shown(first)}",
                               fix="fix those rows, or set monitoring.time_column to a date column")
    return [None if pd.isna(t) else t.to_pydatetime() for t in parsed]


def feedback_rows_from_table(table: pd.DataFrame, *, model: TrainedModel, project: str, where: str,
                             time_column: str | None) -> tuple[list[dict[str, Any]], list[datetime | None] | None,
                                                               int, str]:
    """The labelled rows of a feedback file: ``(items, times, skipped, mode)``. Mode ``ids``: items are
    ``{"id", "actual"}`` to match against the logs. Mode ``inputs``: items are finished store rows, predicted now
    by ``model``. Raises ``DataError`` naming what is missing or wrong."""
    target = model.target
    if table.empty:
        raise DataError.single(f"The feedback file {where} holds no rows.", where="FILE",
                               expected=f"rows with {target} and either an id column or the model's inputs",
                               got="0 rows", fix="pass a file with at least one labelled row")
    if target not in table.columns:
        raise DataError.single(f"The feedback file {where} has no {target} column.", where="FILE",
                               expected=f"the target column {target} (the true values)",
                               got=", ".join(map(str, table.columns[:8])) + (" ..." if len(table.columns) > 8 else ""),
                               fix=f"add a {target} column with the true values")
    id_column = "id" in table.columns and "id" not in model.feature_names
    missing = [name for name in model.feature_names if name not in table.columns]
    if not id_column and missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise DataError.single(
            f"The feedback file {where} has neither an id column nor the model's inputs.", where="FILE",
            expected="an 'id' column (the prediction_id /predict answered), or every input column of the model",
            got=f"no id column, and {len(missing)} of {len(model.feature_names)} inputs missing: {shown}",
            fix="add the id column, or the missing input columns")
    labelled = table[table[target].notna()].reset_index(drop=True)
    skipped = len(table) - len(labelled)
    if labelled.empty:
        raise DataError.single(f"The feedback file {where} has no value in {target}.", where=f"column {target}",
                               expected="true values", got=f"{len(table):,} rows, all empty",
                               fix=f"fill {target} with the true values")
    actuals = labelled[target].tolist()
    bad = [(position, problem) for position, value in enumerate(actuals)
           if (problem := actual_mismatch(_python(value), model)) is not None]
    if bad:
        position, (expected, got) = bad[0]
        raise DataError.single(f"The feedback file {where} has {len(bad):,} unusable values in {target}.",
                               where=f"column {target}, row {position + 1}", expected=expected, got=got,
                               fix=f"correct the {target} values")
    times = _times(labelled, time_column)
    if id_column:
        items = [{"id": _python(i), "actual": _python(a)} for i, a in zip(labelled["id"], actuals, strict=True)]
        return items, times, skipped, "ids"
    predicted, _ = model.answer(model.inputs(labelled))
    records = json.loads(labelled[model.feature_names].to_json(orient="records"))
    kept = model.loggable(records)
    now = datetime.now(UTC)
    from uuid import uuid4

    rows = [{"project": project, "model": model.name, "version": model.version, "prediction_id": uuid4().hex,
             "actual": normalised_actual(_python(actual), model), "received_at": now,
             "event_at": times[position] if times else None, "source": "file", "record": record,
             "prediction": _python(prediction)}
            for position, (actual, record, prediction) in enumerate(zip(actuals, kept, predicted.tolist(),
                                                                        strict=True))]
    return rows, times, skipped, "inputs"


def _python(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value."""
    return value.item() if isinstance(value, np.generic) else value

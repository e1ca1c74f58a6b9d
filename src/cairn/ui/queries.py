"""The store queries behind the UI's pages, read-only and sized for ten thousand runs.

A page of runs is two queries whatever its filters: one for the runs (their total counted in the same query by a
window function, so pagination needs no second count) and one for those runs' holdout metrics. Neither reads a
manifest: a manifest is tens of kilobytes, and fifty of them would be most of the page's time. The run page and
the comparison read whole runs through the store's own `Store.run`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, Text, and_, cast, func, inspect, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from cairn.store.repository import Store, as_utc
from cairn.store.tables import ArtifactRow, MetricRow, RunRow

log = logging.getLogger(__name__)

PAGE_SIZE = 50
STATUSES = ("running", "succeeded", "failed")
VERDICTS = ("shipped", "missed", "none")
SORTS = ("id", "started", "status", "verdict", "duration", "fingerprint")

# Indexes the UI's queries lean on, created by `ensure_indexes` when the UI starts (IF NOT EXISTS, so a second start
# or another UI does nothing). The holdout metric of each run by name serves the metric filter and sort; the
# project's runs by start time serve the date filter and sort.
UI_INDEXES = {
    "ix_cairn_ui_metrics_scope_name_run": "cairn_metrics (scope, name, run_id, value)",
    "ix_cairn_ui_runs_project_started": "cairn_runs (project, started_at)",
}


@dataclass(frozen=True)
class RunFilter:
    """What the runs page shows: filters, order and page, as the query string gives them."""

    status: str | None = None  # running | succeeded | failed
    verdict: str | None = None  # shipped | missed | none
    since: date | None = None  # started on or after this day (UTC)
    until: date | None = None  # started on or before this day (UTC)
    metric: str | None = None  # a holdout metric the range below applies to, and a sort key
    metric_min: float | None = None
    metric_max: float | None = None
    config_key: str | None = None  # a dotted project-file key (training.cv) whose recorded value must be...
    config_value: str | None = None  # ...this, as JSON text ('5', '"log"', 'true')
    sort: str = "id"  # one of SORTS, or "metric:<name>"
    order: Literal["asc", "desc"] = "desc"
    page: int = 1


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table."""

    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    data_fingerprint: str | None
    host: str | None
    shipped: bool | None
    verdict_line: str | None
    error: str | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunSummary]
    total: int
    page: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def ensure_indexes(engine: Engine) -> list[str]:
    """Create the UI's indexes that are missing; returns those created. A store the UI may not change (read-only
    role) keeps working without them, only slower: a warning, not an error."""
    made = []
    for name, target in UI_INDEXES.items():
        try:
            with engine.begin() as connection:
                exists = name in {index["name"] for index in
                                  inspect(connection).get_indexes(target.split(" ", 1)[0])}
                if not exists:
                    connection.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {target}"))
                    made.append(name)
        except DBAPIError as error:
            log.warning("The UI could not add index %s to the store (%s); pages stay correct, only slower.",
                        name, str(error.orig).strip().splitlines()[0] if error.orig else error)
    return made


def refresh_statistics(engine: Engine) -> bool:
    """ANALYZE the runs and metrics tables, so the planner knows their sizes: without statistics (a store filled
    in bulk, before autovacuum came by) PostgreSQL planned the metric filter as a nested loop over every run and
    took seconds instead of milliseconds. A sample, cheap at a million rows; a role that may not do it is only
    warned about. Returns whether it ran."""
    if engine.dialect.name not in ("postgresql", "sqlite"):
        return False
    try:
        with engine.begin() as connection:
            for table in (RunRow.__tablename__, MetricRow.__tablename__):
                connection.execute(text(f"ANALYZE {table}"))
    except DBAPIError as error:
        log.warning("The UI could not refresh the store's statistics (%s); pages stay correct, perhaps slower.",
                    str(error.orig).strip().splitlines()[0] if error.orig else error)
        return False
    return True


def _shipped(dialect: str) -> ColumnElement[Any]:
    """The verdict's `shipped` (true, false, or null when the run has no verdict)."""
    if dialect == "postgresql":
        shipped: ColumnElement[Any] = RunRow.verdict["shipped"].as_boolean()
        return shipped
    return func.json_extract(RunRow.verdict, "$.shipped")


def _recorded(key: str, dialect: str) -> ColumnElement[Any]:
    """The project file's `key` (dotted, checked by the caller) as the run's manifest recorded it, as JSON text.
    Reads every manifest the other filters leave: the one filter that is not served by an index."""
    parts = ["config", *key.split(".")]
    if dialect == "postgresql":
        return cast(func.json_extract_path(RunRow.manifest, *parts), Text)
    return RunRow.manifest.op("->")("$." + ".".join(f'"{part}"' for part in parts))


def _duration(dialect: str) -> ColumnElement[Any]:
    """Seconds from start to finish, in the database (to sort by it); null while running."""
    if dialect == "sqlite":
        return (func.julianday(RunRow.finished_at) - func.julianday(RunRow.started_at)) * 86400.0
    if dialect == "postgresql":
        return func.extract("epoch", RunRow.finished_at - RunRow.started_at)
    return literal(None)


def runs_page(store: Store, project: str, chosen: RunFilter) -> RunsPage:
    """The page of runs `chosen` asks for, with their holdout metrics: two queries."""
    dialect = store.engine.dialect.name
    shipped = _shipped(dialect)
    metric = aliased(MetricRow)
    # The page's keys first (id, total, position), then the shown columns of those fifty rows only, in the same
    # statement: a SQLite row keeps its columns in order, and the verdict sits after the manifest (kilobytes, in
    # overflow pages), so reading it for every run the window counts cost 50 ms at 10,000 runs against 4.
    query = select(RunRow.id, func.count().over().label("total"))
    query = query.where(RunRow.project == project)
    if chosen.metric:
        query = query.outerjoin(metric, and_(metric.run_id == RunRow.id, metric.scope == "holdout",
                                             metric.name == chosen.metric))
        if chosen.metric_min is not None:
            query = query.where(metric.value >= chosen.metric_min)
        if chosen.metric_max is not None:
            query = query.where(metric.value <= chosen.metric_max)
    if chosen.status:
        query = query.where(RunRow.status == chosen.status)
    if chosen.verdict == "shipped":
        query = query.where(shipped == True)  # noqa: E712  (SQL, not Python: `is` would not build a comparison)
    elif chosen.verdict == "missed":
        query = query.where(shipped == False)  # noqa: E712
    elif chosen.verdict == "none":
        query = query.where(shipped.is_(None))
    if chosen.config_key and chosen.config_value is not None:
        query = query.where(_recorded(chosen.config_key, dialect) == chosen.config_value)
    if chosen.since is not None:
        query = query.where(RunRow.started_at >= _day_start(chosen.since, dialect))
    if chosen.until is not None:
        query = query.where(RunRow.started_at < _day_start(chosen.until + timedelta(days=1), dialect))
    key: Any = {"id": RunRow.id, "started": RunRow.started_at, "status": RunRow.status, "verdict": shipped,
                "duration": _duration(dialect), "fingerprint": RunRow.data_fingerprint}.get(chosen.sort)
    if key is None and chosen.sort.startswith("metric:") and chosen.metric == chosen.sort.removeprefix("metric:"):
        key = metric.value
    key = RunRow.id if key is None else key
    ordered = key.desc() if chosen.order == "desc" else key.asc()
    tie = RunRow.id.desc() if chosen.order == "desc" else RunRow.id.asc()
    order = (ordered.nulls_last(), tie)
    keys = (query.add_columns(func.row_number().over(order_by=order).label("position"))
            .order_by(*order).limit(PAGE_SIZE).offset((chosen.page - 1) * PAGE_SIZE).subquery("page_keys"))
    shown = (select(RunRow.id, RunRow.status, RunRow.started_at, RunRow.finished_at, RunRow.data_fingerprint,
                    RunRow.host, RunRow.verdict, RunRow.error, keys.c.total)
             .join(keys, keys.c.id == RunRow.id).order_by(keys.c.position))
    with store.session() as session:
        rows = session.execute(shown).all()
        ids = [row.id for row in rows]
        metrics: dict[int, dict[str, float]] = {}
        if ids:
            for run_id, name, value in session.execute(
                    select(MetricRow.run_id, MetricRow.name, MetricRow.value)
                    .where(MetricRow.run_id.in_(ids), MetricRow.scope == "holdout")):
                metrics.setdefault(run_id, {})[name] = value
    total = rows[0].total if rows else 0
    if not rows and chosen.page > 1:  # past the last page: say how many there are all the same
        total = runs_page(store, project, replace(chosen, page=1)).total
    runs = [RunSummary(row.id, row.status, as_utc(row.started_at), as_utc(row.finished_at), row.data_fingerprint,
                       row.host, _verdict_shipped(row.verdict), _verdict_text(row.verdict), row.error,
                       metrics.get(row.id, {})) for row in rows]
    return RunsPage(runs, int(total), chosen.page)


def _day_start(day: date, dialect: str) -> datetime:
    """Midnight UTC of `day` as the store compares it: SQLite keeps naive UTC text, PostgreSQL a timestamptz."""
    moment = datetime.combine(day, time.min)
    return moment if dialect == "sqlite" else moment.replace(tzinfo=UTC)


def _verdict_shipped(verdict: Any) -> bool | None:
    if not isinstance(verdict, dict):
        return None
    shipped = verdict.get("shipped")
    return None if shipped is None else bool(shipped)


def _verdict_text(verdict: Any) -> str | None:
    return str(verdict.get("line")) if isinstance(verdict, dict) and verdict.get("line") else None


def metric_names(store: Store, project: str) -> list[str]:
    """The holdout metrics of the project's latest run that has any, for the metric filter's choices."""
    with store.session() as session:
        latest = session.scalar(select(func.max(MetricRow.run_id)).join(RunRow, RunRow.id == MetricRow.run_id)
                                .where(RunRow.project == project, MetricRow.scope == "holdout"))
        if latest is None:
            return []
        return list(session.scalars(select(MetricRow.name).where(MetricRow.run_id == latest,
                                                                 MetricRow.scope == "holdout")
                                    .order_by(MetricRow.id)))


def run_verdicts(store: Store, run_ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """The verdicts of these runs (a model version's run says whether it ships): one query."""
    if not run_ids:
        return {}
    with store.session() as session:
        return {run_id: verdict if isinstance(verdict, dict) else None for run_id, verdict in
                session.execute(select(RunRow.id, RunRow.verdict).where(RunRow.id.in_(run_ids)))}


def leaderboards(store: Store, run_ids: list[int]) -> dict[int, dict[str, dict[str, float]]]:
    """Each run's cross-validated scores: run -> candidate model -> metric -> mean. One query."""
    boards: dict[int, dict[str, dict[str, float]]] = {run_id: {} for run_id in run_ids}
    with store.session() as session:
        for run_id, model, name, value in session.execute(
                select(MetricRow.run_id, MetricRow.model, MetricRow.name, MetricRow.value)
                .where(MetricRow.run_id.in_(run_ids), MetricRow.scope == "cv").order_by(MetricRow.id)):
            boards[run_id].setdefault(model, {})[name] = value
    return boards


def artifact_facts(store: Store, shas: list[str]) -> dict[str, tuple[str, int]]:
    """Kind and size in bytes of these artifacts, as the store recorded them: one query."""
    if not shas:
        return {}
    with store.session() as session:
        return {sha: (kind, int(size)) for sha, kind, size in session.execute(
            select(ArtifactRow.sha256, ArtifactRow.kind, ArtifactRow.size_bytes)
            .where(ArtifactRow.sha256.in_(sorted(set(shas)))))}

"""`cairn gc`: delete the artifacts nothing kept refers to, and say how much space that freed.

What is kept, always:
- every artifact a kept run's stages output (the data snapshot among them); a run is kept unless `keep_last`
  leaves it out: with `keep_last=N` the N latest runs of the project are kept, and so is any run still running,
  any run of another project sharing the store, and the run behind a model version that is in production or
  holds an alias (serving, `cairn monitor` and `cairn explain --row` read its artifacts);
- every artifact a row of any other table names in a `sha256` / `*_sha256` column (every registered model
  version's bundle manifest and card, monitoring's fitted objects...), and every file a version's bundle lists.
  A version's bundle is never deleted, whatever `keep_last` says.

What goes: the artifacts of the runs `keep_last` leaves out (those rows are marked `artifacts_collected_at`, which
`cairn show` reports), and artifacts this store recorded that nothing refers to any more, once they are older than
`ORPHAN_GRACE_S` (a younger one may be a card or a monitoring object whose row is written a moment later).
Temporary files of writes that never finished go too (after the same hour). A run's cached stages that pointed at
collected artifacts are recomputed by the next run that needs them (the cache checks that its artifacts exist).

What is left alone and counted (`unknown_files`): files this store has no record of. Another store may share the
artifact folder or bucket (each checkout its own SQLite, one CAIRN_ARTIFACTS), and its files look unreferenced from
here; a run killed between writing a file and recording it leaves one too. Deleting them is the user's call.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, select, update

from cairn.store.repository import Store, now
from cairn.store.tables import ArtifactRow, Base, ModelAliasRow, ModelRow, ModelVersionRow, RunRow, StageRow

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 3600.0


@dataclass(frozen=True)
class Collection:
    """What `collect_garbage` deleted (or, with dry_run, would delete)."""

    dry_run: bool
    files: int
    bytes: int
    runs_collected: list[int] = field(default_factory=list)  # runs whose artifacts were let go, newest first
    runs_kept: int = 0
    kept_files: int = 0
    partials: int = 0  # temporary files of unfinished writes removed
    unknown_files: int = 0  # files this store has no record of: left alone (see the module docstring)
    unknown_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "files": self.files, "bytes": self.bytes,
                "runs_collected": self.runs_collected, "runs_kept": self.runs_kept, "kept_files": self.kept_files,
                "partials": self.partials, "unknown_files": self.unknown_files, "unknown_bytes": self.unknown_bytes}


def collect_garbage(store: Store, *, project: str, keep_last: int | None = None, dry_run: bool = False,
                    orphan_grace_s: float = ORPHAN_GRACE_S) -> Collection:
    """Delete what nothing kept refers to (the module docstring says what is kept)."""
    with store.session() as session:
        runs = session.execute(select(RunRow.id, RunRow.project, RunRow.status, RunRow.manifest,
                                      RunRow.artifacts_collected_at).order_by(RunRow.id.desc())).all()
        protected = _runs_behind_served_versions(session)
        ours = [run for run in runs if run.project == project]
        left_out = ours[keep_last:] if keep_last is not None else []
        collected = {run.id for run in left_out if run.id not in protected and run.status != "running"}
        outputs: dict[int, set[str]] = {}
        for run_id, stage_outputs in session.execute(select(StageRow.run_id, StageRow.outputs)):
            outputs.setdefault(run_id, set()).update(_shas(stage_outputs))
        keep: set[str] = set()
        for run in runs:
            if run.id not in collected:
                keep |= outputs.get(run.id, set())
                keep |= _shas([((run.manifest or {}).get("data") or {}).get("snapshot")])
        keep |= _named_by_other_tables(session)
        versions = list(session.scalars(select(ModelVersionRow.artifact_sha256)))
        recorded = set(session.scalars(select(ArtifactRow.sha256)))
    for manifest_sha in versions:
        keep |= _bundle_files(store, manifest_sha)
    let_go = set().union(*(outputs.get(run_id, set()) for run_id in collected)) - keep

    cutoff = time.time() - orphan_grace_s
    doomed, unknown = [], []
    for found in store.artifacts.listing():
        if found.sha256 in keep:
            continue
        if found.sha256 in let_go or (found.sha256 in recorded and found.modified < cutoff):
            doomed.append(found)
        elif found.sha256 not in recorded:
            unknown.append(found)
    files, size = len(doomed), sum(found.size_bytes for found in doomed)
    unknown_size = sum(found.size_bytes for found in unknown)
    newly_collected = sorted((run.id for run in runs if run.id in collected and run.artifacts_collected_at is None),
                             reverse=True)
    if dry_run:
        return Collection(True, files, size, newly_collected, len(runs) - len(collected), len(keep),
                          unknown_files=len(unknown), unknown_bytes=unknown_size)
    if newly_collected:
        with store.session() as session:
            session.execute(update(RunRow).where(RunRow.id.in_(newly_collected)).values(artifacts_collected_at=now()))
    for found in doomed:
        store.artifacts.delete(found.sha256)
    gone = [found.sha256 for found in doomed]
    with store.session() as session:
        for start in range(0, len(gone), 500):  # a bounded IN list
            session.execute(delete(ArtifactRow).where(ArtifactRow.sha256.in_(gone[start:start + 500])))
    partials = store.artifacts.remove_stale_partials(older_than_s=orphan_grace_s)
    log.info("cairn gc freed %d file(s), %d bytes", files, size)
    return Collection(False, files, size, newly_collected, len(runs) - len(collected), len(keep), partials,
                      len(unknown), unknown_size)


def _runs_behind_served_versions(session: Any) -> set[int]:
    """Runs that made a version now in production or named by an alias: what is served and compared reads them."""
    production = session.scalars(select(ModelVersionRow.run_id).where(ModelVersionRow.stage == "production"))
    aliased = session.scalars(
        select(ModelVersionRow.run_id).join(ModelAliasRow, (ModelAliasRow.model_id == ModelVersionRow.model_id)
                                            & (ModelAliasRow.version == ModelVersionRow.version))
        .join(ModelRow, ModelRow.id == ModelVersionRow.model_id))
    return {run_id for run_id in [*production, *aliased] if run_id is not None}


def _named_by_other_tables(session: Any) -> set[str]:
    """Every value of a `sha256` or `*_sha256` column outside the artifact table itself: a table added later
    (monitoring's fitted objects, feedback...) keeps what it names without gc knowing it."""
    found: set[str] = set()
    bind = session.connection()
    for table in Base.metadata.tables.values():
        if table.name == ArtifactRow.__tablename__ or not _exists(bind, table):
            continue
        for column in table.columns:
            if column.name == "sha256" or column.name.endswith("_sha256"):
                found |= _shas(session.scalars(select(column).where(column.is_not(None)).distinct()))
    return found


def _exists(bind: Any, table: Table) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(bind).has_table(table.name))


def _bundle_files(store: Store, manifest_sha: str) -> set[str]:
    """A version's manifest and every file it lists (a 0.1 version is one joblib file, no listing)."""
    files = {manifest_sha}
    try:
        listing = json.loads(store.artifacts.read(manifest_sha)).get("files", {})
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return files  # missing, or a legacy joblib: nothing more to keep
    return files | _shas(listing.values() if isinstance(listing, dict) else [])


def _shas(values: Any) -> set[str]:
    if isinstance(values, dict):
        values = values.values()
    return {value for value in values or () if isinstance(value, str) and len(value) == 64}

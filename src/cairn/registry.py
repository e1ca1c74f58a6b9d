"""Model versions: register, list, promote, roll back, alias. Exactly one version per model is in production.

Aliases name versions: `champion` is the production version (the two words mean the same; `cairn serve` serves
it), `challenger` a version that shipped but did not beat the champion, and any name a user gives. Every action
writes a line to the audit log (who, when, what, which run, why, the figures) in the transaction of the action.

That holds when processes change the registry at the same moment: every change runs in the store's write session
with the model's row locked (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) and decides from what
it reads there; a partial unique index (one production row per model) backs it in the database."""

from __future__ import annotations

import getpass
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cairn.errors import ConfigError, NotFoundError, StoreError
from cairn.model.bundle import bundle_artifacts, bundle_shas, load_bundle, verified_files
from cairn.model.trained import TrainedModel
from cairn.store.repository import Store, as_utc, now
from cairn.store.tables import ArtifactRow, AuditRow, ModelAliasRow, ModelRow, ModelVersionRow

CHAMPION = "champion"
CHALLENGER = "challenger"
# Names that mean the production version: `production` is what cairn called it before aliases.
CHAMPION_NAMES = frozenset({CHAMPION, "production"})
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")
NOT_PROMOTED = "not promoted: "  # a run's note on the version it did not promote, before its verdict
BY_HAND = "promoted by hand; its run's verdict: "  # that note once a person promoted the version anyway
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    stage: str  # production | candidate | archived
    run_id: int | None
    artifact_sha256: str
    metrics: dict[str, Any]
    created_at: datetime
    note: str | None
    aliases: tuple[str, ...] = ()  # champion first when it is the production version, then the others by name
    size_bytes: int | None = None  # the bundle on disk, compressed: set by `register` and `Registry.sized`

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "stage": self.stage, "run_id": self.run_id,
                "artifact": self.artifact_sha256, "metrics": self.metrics,
                "created_at": self.created_at.isoformat(), "note": self.note, "aliases": list(self.aliases),
                "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    model: str
    version: int | None
    run_id: int | None
    reason: str | None
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "action": self.action,
                "model": self.model, "version": self.version, "run_id": self.run_id, "reason": self.reason,
                "figures": self.figures}


def os_user() -> str:
    """Who acts: the OS user (the audit's `who`); a process without a login name gives its uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def version_number(reference: str | int) -> int | None:
    """`2`, `v2` and `V2` name version 2; anything else is no number (perhaps an alias)."""
    text = str(reference).strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    return int(text) if text.isdigit() else None


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, model: TrainedModel, *, run_id: int, production: bool, note: str | None) -> ModelVersion:
        """Store the bundle and add it as the next version; in production if it met the objective. The model's row
        is locked first (created if new), so two registrations never take the same number or both production.
        The bundle (it names its version) is serialised before the lock, for the number the store gives now, and
        again under it only if another registration took that number meanwhile."""
        model.run_id = run_id
        model.version = self._latest_version(model.name) + 1
        bundle = bundle_artifacts(model)
        with self.store.write_session() as session:
            model_id = self._lock_or_add_model(session, model.name)
            latest = session.scalar(select(func.max(ModelVersionRow.version))
                                    .where(ModelVersionRow.model_id == model_id)) or 0
            if latest + 1 != model.version:
                model.version = latest + 1
                bundle = bundle_artifacts(model)
            sha = self._write_bundle(session, bundle)
            if production:
                self._archive_production(session, model_id)
            version = ModelVersionRow(model_id=model_id, version=model.version, run_id=run_id,
                                      artifact_sha256=sha, stage="production" if production else "candidate",
                                      metrics=model.metrics, created_at=now(), note=note)
            session.add(version)
            session.flush()
            _audit(session, "register", model.name, version=model.version, run_id=run_id, reason=note,
                   figures={"metrics": model.metrics, "stage": version.stage})
            return replace(_version(model.name, version, _aliases_of(session, model_id, version)),
                           size_bytes=sum(len(data) for data in bundle[1].values()))

    def sized(self, versions: list[ModelVersion]) -> list[ModelVersion]:
        """The versions with the size of their bundles (what serving one loads, compressed), summed from the
        store's record of each file the manifest lists: one manifest read per version and two queries in all. None
        where the manifest is missing or unreadable (`cairn verify` says why); an artifact store that cannot be
        reached leaves every size blank rather than failing the listing."""
        with self.store.session() as session:  # versions registered by cairn 0.1 point at one joblib file
            kinds = dict(session.execute(select(ArtifactRow.sha256, ArtifactRow.kind).where(ArtifactRow.sha256.in_(
                {version.artifact_sha256 for version in versions}))).tuples().all()) if versions else {}
        listed: dict[int, list[str]] = {}
        for position, version in enumerate(versions):
            try:
                listed[position] = bundle_shas(version.artifact_sha256, self.store.artifacts.read,
                                               what=f"{version.name} v{version.version}",
                                               legacy=kinds.get(version.artifact_sha256) == "model")
            except (StoreError, OSError):  # this version's manifest: missing, damaged, not a file
                continue
            except Exception as error:  # the artifact store is unreachable: no size is worth a failed listing
                log.warning("model sizes left blank: the artifact store did not answer (%s)", type(error).__name__)
                return versions
        wanted = {sha for shas in listed.values() for sha in shas}
        with self.store.session() as session:
            recorded = dict(session.execute(select(ArtifactRow.sha256, ArtifactRow.size_bytes)
                                            .where(ArtifactRow.sha256.in_(wanted))).tuples().all()) if wanted else {}
        return [replace(version, size_bytes=sum(recorded[sha] for sha in listed[position]))
                if position in listed and all(sha in recorded for sha in listed[position]) else version
                for position, version in enumerate(versions)]

    def _latest_version(self, name: str) -> int:
        with self.store.session() as session:
            return session.scalar(select(func.max(ModelVersionRow.version)).join(ModelRow)
                                  .where(ModelRow.name == name)) or 0

    def versions(self, name: str) -> list[ModelVersion]:
        with self.store.session() as session:
            rows = session.execute(
                select(ModelVersionRow).join(ModelRow).where(ModelRow.name == name)
                .order_by(ModelVersionRow.version.desc())
            ).scalars().all()
            if not rows:
                return []
            named = _alias_map(session, rows[0].model_id)
            return [_version(name, row, named.get(row.version, ())) for row in rows]

    def resolve(self, name: str, reference: str | int) -> int:
        """The version number `reference` names: `2`, `v2`, `champion` (or `production`), `challenger` or a user's
        alias. A name no version carries is a NotFoundError that lists the names there are."""
        number = version_number(reference)
        if number is not None:
            return self.get(name, number).version
        alias = str(reference).strip().lower()
        if alias in CHAMPION_NAMES:
            return self.production(name).version
        versions = self.versions(name)
        for candidate in versions:
            if alias in candidate.aliases:
                return candidate.version
        known = sorted({a for v in versions for a in v.aliases})
        raise NotFoundError.single(
            f"Model {name} has no version called {reference!r}.", where="VERSION",
            expected="a version number (2 or v2) or an alias" + (f": {', '.join(known)}" if known else ""),
            got=str(reference), fix="run `cairn models` to see the versions and their aliases",
        )

    def audit(self, name: str | None = None, *, limit: int = 1000) -> list[AuditEntry]:
        """The audit log, newest first; of one model, or of every model in the store."""
        with self.store.session() as session:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if name is not None:
                query = query.where(AuditRow.model == name)
            return [AuditEntry(r.id, as_utc(r.at), r.actor, r.action, r.model, r.version, r.run_id, r.reason,
                               dict(r.figures or {})) for r in session.scalars(query)]

    def record(self, action: str, name: str, *, version: int | None = None, run_id: int | None = None,
               reason: str | None = None, figures: dict[str, Any] | None = None) -> None:
        """One audit line for a decision that moves no alias itself (a retrain's verdict, say)."""
        with self.store.write_session() as session:
            _audit(session, action, name, version=version, run_id=run_id, reason=reason, figures=figures or {})

    def production(self, name: str) -> ModelVersion:
        for version in self.versions(name):
            if version.stage == "production":
                return version
        raise _no_production(name)

    def get(self, name: str, version: int | str | None = None) -> ModelVersion:
        """A version by number (2, "2" or "v2") or alias; production when None."""
        if version is None:
            return self.production(name)
        if isinstance(version, str):
            number = version_number(version)
            version = self.resolve(name, version) if number is None else number
        for candidate in self.versions(name):
            if candidate.version == version:
                return candidate
        raise NotFoundError.single(
            f"Model {name} has no version {version}.", where="VERSION",
            expected="a version listed by `cairn models`", got=str(version), fix="run `cairn models`",
        )

    def load(self, name: str, version: int | str | None = None) -> TrainedModel:
        """The version's bundle, every file checked against its sha256 before anything is deserialised."""
        chosen = self.get(name, version)
        model = load_bundle(chosen.artifact_sha256, self.store.artifacts.read, what=f"{name} v{chosen.version}",
                            legacy=self._is_legacy(chosen))
        model.version = chosen.version
        return model

    def verify(self, version: ModelVersion) -> None:
        """Every file of the version's bundle is there and matches its sha256 (nothing is deserialised)."""
        verified_files(version.artifact_sha256, self.store.artifacts.read, what=f"{version.name} v{version.version}",
                       legacy=self._is_legacy(version))

    def _is_legacy(self, version: ModelVersion) -> bool:
        """A version registered by cairn 0.1 points at one joblib file the store recorded as kind 'model'."""
        with self.store.session() as session:
            return _is_legacy_row(session, version.artifact_sha256)

    def _write_bundle(self, session: Session, bundle: tuple[str, dict[str, bytes]]) -> str:
        """Each file of the bundle as an artifact, then its manifest, whose sha256 the version row records."""
        manifest_sha, artifacts = bundle
        for sha, data in artifacts.items():
            self.store.artifacts.write(data)
            if session.get(ArtifactRow, sha) is None:
                kind = "model-bundle" if sha == manifest_sha else "model-file"
                session.add(ArtifactRow(sha256=sha, kind=kind, size_bytes=len(data), created_at=now()))
        return manifest_sha

    def attach_card(self, name: str, version: int, markdown: str) -> str:
        """Store the version's model card as a text artifact and point the version at it; returns its sha256."""
        sha = self.store.store_artifact(markdown)
        with self.store.session() as session:
            session.execute(update(ModelVersionRow).where(
                ModelVersionRow.model_id == select(ModelRow.id).where(ModelRow.name == name).scalar_subquery(),
                ModelVersionRow.version == version).values(card_sha256=sha))
        return sha

    def card(self, name: str, version: int | str | None = None) -> tuple[ModelVersion, str | None]:
        """The version (production by default) and its model card; None for a version registered before cards
        were stored with versions."""
        chosen = self.get(name, version)
        with self.store.session() as session:
            sha = session.scalar(select(ModelVersionRow.card_sha256).join(ModelRow).where(
                ModelRow.name == name, ModelVersionRow.version == chosen.version))
        return chosen, None if sha is None else str(self.store.load_artifact(sha))

    def promote(self, name: str, version: int, *, run_id: int | None = None,
                alongside: Callable[[Session], None] | None = None, reason: str | None = None,
                figures: dict[str, Any] | None = None) -> ModelVersion:
        """Production moves to `version`, once its files are known to be intact: never promote what cannot serve.
        Under the model's lock: a promote, rollback or registration running at the same moment waits for this one
        (or this for it), so exactly one version is in production afterwards.

        A run commits its version with `run_id` (the version then belongs to that run, which holds its monitoring
        reference, and loses its 'pending' note) and `alongside` (the run's finish, written in the same
        transaction): the run is succeeded and its version in production together, or neither. The audit line
        (`reason`, `figures`, the version it replaced) is written in that transaction too."""
        self.verify(self.get(name, version))
        with self.store.write_session() as session:
            model_id = self._lock_model(session, name)
            if model_id is None:  # cannot happen once get() found the version: models are never deleted
                raise _no_production(name)
            before = _production_version(session, model_id)
            promoted = self._make_production(session, name, model_id, version, run_id=run_id)
            _audit(session, "promote", name, version=version, run_id=run_id, reason=reason,
                   figures={"from_version": before, **(figures or {})})
            if alongside is not None:
                alongside(session)
            return promoted

    def set_alias(self, name: str, version: int, alias: str, *, run_id: int | None = None,
                  reason: str | None = None, figures: dict[str, Any] | None = None,
                  alongside: Callable[[Session], None] | None = None, note: str | None = None) -> ModelVersion:
        """Point `alias` at `version` (moving it from the version that had it). `champion` or `production` is a
        promote. Under the model's lock, audited in the same transaction; `alongside` as in `promote`. A run that
        makes its version the challenger passes its `run_id` (the version then belongs to it) and a `note`."""
        alias = alias.strip().lower()
        if alias in CHAMPION_NAMES:
            return self.promote(name, version, run_id=run_id, reason=reason, figures=figures, alongside=alongside)
        if not ALIAS_PATTERN.fullmatch(alias) or version_number(alias) is not None:
            raise ConfigError.single(
                "An alias is a short lowercase name.", where="NAME",
                expected="a letter, then up to 39 letters, digits, '-' or '_' (not a version like v2)",
                got=repr(alias), fix="pick a name such as challenger, shadow or best-2024",
            )
        self.get(name, version)
        with self.store.write_session() as session:
            model_id = self._lock_model(session, name)
            if model_id is None:  # cannot happen once get() found the version
                raise _no_production(name)
            before = session.scalar(select(ModelAliasRow.version).where(ModelAliasRow.model_id == model_id,
                                                                       ModelAliasRow.alias == alias))
            session.execute(delete(ModelAliasRow).where(ModelAliasRow.model_id == model_id,
                                                        ModelAliasRow.alias == alias))
            session.add(ModelAliasRow(model_id=model_id, alias=alias, version=version, updated_at=now()))
            session.flush()
            _audit(session, "alias", name, version=version, run_id=run_id, reason=reason,
                   figures={"alias": alias, "from_version": before, **(figures or {})})
            if alongside is not None:
                alongside(session)
            row = session.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id,
                                                                ModelVersionRow.version == version)).one()
            if run_id is not None:
                row.run_id = run_id
            if note is not None:
                row.note = note
            session.flush()
            return _version(name, row, _aliases_of(session, model_id, row))

    def rollback(self, name: str, *, reason: str | None = None) -> ModelVersion:
        """Production goes back to the champion before it, in the order champions served (`_previous_champion`):
        the last promote or alias undone, whatever the version numbers, and each further rollback one champion
        further back. A store whose audit log does not tell goes back to the newest earlier version that was in
        production (archived now). Decided under the model's lock, from what the store holds then: two rollbacks
        at once go back two champions. `reason` goes to the audit log."""
        with self.store.write_session() as session:
            model_id = self._lock_model(session, name)
            rows = [] if model_id is None else list(session.scalars(
                select(ModelVersionRow).where(ModelVersionRow.model_id == model_id)
                .order_by(ModelVersionRow.version.desc())))
            current = next((row for row in rows if row.stage == "production"), None)
            if model_id is None or current is None:
                raise _no_production(name)
            previous = _previous_champion(session, name, current.version)
            if previous == -1:
                earlier = [row for row in rows if row.version < current.version and row.stage == "archived"]
            else:
                earlier = [row for row in rows if row.version == previous]
            if not earlier:
                raise NotFoundError.single(
                    f"Model {name} has no earlier production version (no previous champion) to roll back to.",
                    where="model registry",
                    expected="a champion before the production one",
                    got=f"v{current.version} is the first champion",
                    fix="promote a version with `cairn promote VERSION`",
                )
            target = _version(name, earlier[0])
            verified_files(target.artifact_sha256, self.store.artifacts.read, what=f"{name} v{target.version}",
                           legacy=_is_legacy_row(session, target.artifact_sha256))
            restored = self._make_production(session, name, model_id, target.version)
            _audit(session, "rollback", name, version=target.version, run_id=None, reason=reason,
                   figures={"from_version": current.version})
            return restored

    @staticmethod
    def _lock_model(session: Session, name: str) -> int | None:
        """The model's id, its row locked until the session ends (FOR UPDATE on PostgreSQL; on SQLite the write
        session already holds the database's write lock); None for a model the store does not hold."""
        return session.scalar(select(ModelRow.id).where(ModelRow.name == name).with_for_update())

    def _lock_or_add_model(self, session: Session, name: str) -> int:
        """As _lock_model, adding a model not yet in the store first, without failing when another process adds
        it at the same moment (that one's insert is waited for, then this one's does nothing)."""
        model_id = self._lock_model(session, name)
        if model_id is None:
            values = {"name": name, "created_at": now()}
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                session.execute(postgresql_insert(ModelRow).values(values).on_conflict_do_nothing(
                    index_elements=[ModelRow.name]))
            elif dialect == "sqlite":
                session.execute(sqlite_insert(ModelRow).values(values).on_conflict_do_nothing(
                    index_elements=[ModelRow.name]))
            else:
                session.add(ModelRow(**values))
                session.flush()
            model_id = self._lock_model(session, name)
        if model_id is None:
            raise StoreError.single(f"Model {name} could not be added to the registry.", where="model registry",
                                    expected="a row for the model", got="none after inserting it",
                                    fix="retry the command")
        return model_id

    def _make_production(self, session: Session, name: str, model_id: int, version: int, *,
                         run_id: int | None = None) -> ModelVersion:
        """Archive the production version, then promote `version`: in that order, so that the database's
        one-production index never sees two (the ORM would order both UPDATEs by primary key)."""
        self._archive_production(session, model_id, keep=version)
        row = session.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id,
                                                            ModelVersionRow.version == version)).one()
        row.stage = "production"
        if run_id is not None:
            row.run_id, row.note = run_id, None
        elif row.note and row.note.startswith(NOT_PROMOTED):  # the note says what happened since, and keeps why
            row.note = BY_HAND + row.note.removeprefix(NOT_PROMOTED)
        # the champion is no longer a challenger (a user's own aliases stay)
        session.execute(delete(ModelAliasRow).where(ModelAliasRow.model_id == model_id,
                                                    ModelAliasRow.alias == CHALLENGER,
                                                    ModelAliasRow.version == version))
        session.flush()
        return _version(name, row, _aliases_of(session, model_id, row))

    @staticmethod
    def _archive_production(session: Session, model_id: int, keep: int | None = None) -> None:
        """Every production version of the model becomes archived (all of them: this also repairs a store left
        with two by an earlier cairn), except `keep`."""
        archive = (update(ModelVersionRow)
                   .where(ModelVersionRow.model_id == model_id, ModelVersionRow.stage == "production")
                   .values(stage="archived").execution_options(synchronize_session="fetch"))
        if keep is not None:
            archive = archive.where(ModelVersionRow.version != keep)
        session.execute(archive)


def _no_production(name: str) -> NotFoundError:
    return NotFoundError.single(
        f"Model {name} has no version in production.", where="model registry",
        expected=f"a production version of {name}", got="none",
        fix="run `cairn run` until a model meets the objective, or `cairn promote VERSION`",
    )


def _is_legacy_row(session: Session, artifact_sha256: str) -> bool:
    """A version registered by cairn 0.1 points at one joblib file the store recorded as kind 'model'."""
    row = session.get(ArtifactRow, artifact_sha256)
    return row is not None and row.kind == "model"


def _version(name: str, row: ModelVersionRow, named: tuple[str, ...] = ()) -> ModelVersion:
    aliases = ((CHAMPION,) if row.stage == "production" else ()) + tuple(sorted(named))
    return ModelVersion(name, row.version, row.stage, row.run_id, row.artifact_sha256, dict(row.metrics or {}),
                        as_utc(row.created_at), row.note, aliases)


def _alias_map(session: Session, model_id: int) -> dict[int, tuple[str, ...]]:
    """Version -> the aliases stored for it (the champion's is derived from its stage, not stored)."""
    named: dict[int, list[str]] = {}
    for alias_row in session.scalars(select(ModelAliasRow).where(ModelAliasRow.model_id == model_id)):
        named.setdefault(alias_row.version, []).append(alias_row.alias)
    return {version: tuple(aliases) for version, aliases in named.items()}


def _aliases_of(session: Session, model_id: int, row: ModelVersionRow) -> tuple[str, ...]:
    return _alias_map(session, model_id).get(row.version, ())


def _production_version(session: Session, model_id: int) -> int | None:
    return session.scalar(select(func.max(ModelVersionRow.version)).where(
        ModelVersionRow.model_id == model_id, ModelVersionRow.stage == "production"))


def _previous_champion(session: Session, name: str, version: int) -> int | None:
    """The champion before `version` in the order champions served, rollbacks undone: the audit log replayed as a
    stack (a registration in production or a promote puts a version on top, a rollback takes the top off). None
    when `version` was the first; -1 when the log does not end on `version` (a store from before the log), for
    the caller to fall back on the version numbers."""
    served: list[int] = []
    for action, at, figures in session.execute(
            select(AuditRow.action, AuditRow.version, AuditRow.figures)
            .where(AuditRow.model == name, AuditRow.action.in_(("register", "promote", "rollback")))
            .order_by(AuditRow.id)):
        if action == "rollback":
            del served[-1:]
            if at is not None and (not served or served[-1] != at):
                served.append(at)  # a log that began mid-history: the version rolled back to is champion now
        elif at is not None and (action == "promote" or (figures or {}).get("stage") == "production") \
                and (not served or served[-1] != at):
            served.append(at)
    if not served or served[-1] != version:
        return -1
    return served[-2] if len(served) > 1 else None


def _audit(session: Session, action: str, model: str, *, version: int | None, run_id: int | None,
           reason: str | None, figures: dict[str, Any]) -> None:
    """One line in the audit log, in the caller's transaction: it commits or rolls back with the action."""
    session.add(AuditRow(at=now(), actor=os_user(), action=action, model=model, version=version, run_id=run_id,
                         reason=reason, figures=_json_safe(figures)))


def _json_safe(value: Any) -> Any:
    """JSON (and PostgreSQL's json type) has no NaN or infinity, nor numpy numbers: those become null or floats."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if number == number and abs(number) != float("inf") else None

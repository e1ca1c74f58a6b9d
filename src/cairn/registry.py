"""Model versions: register, list, promote, roll back. Exactly one version per model is in production."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from cairn.errors import NotFoundError
from cairn.model.bundle import bundle_artifacts, load_bundle, verified_files
from cairn.model.trained import TrainedModel
from cairn.store.repository import Store, as_utc, now
from cairn.store.tables import ArtifactRow, ModelRow, ModelVersionRow


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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "stage": self.stage, "run_id": self.run_id,
                "artifact": self.artifact_sha256, "metrics": self.metrics,
                "created_at": self.created_at.isoformat(), "note": self.note}


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, model: TrainedModel, *, run_id: int, production: bool, note: str | None) -> ModelVersion:
        """Store the bundle and add it as the next version; in production if it met the objective."""
        with self.store.session() as session:
            row = session.scalars(select(ModelRow).where(ModelRow.name == model.name)).first()
            if row is None:
                row = ModelRow(name=model.name, created_at=now())
                session.add(row)
                session.flush()
            latest = session.scalar(select(func.max(ModelVersionRow.version))
                                    .where(ModelVersionRow.model_id == row.id)) or 0
            model.version, model.run_id = latest + 1, run_id
            sha = self._write_bundle(session, model)
            if production:
                self._archive_production(session, row.id)
            version = ModelVersionRow(model_id=row.id, version=model.version, run_id=run_id,
                                      artifact_sha256=sha, stage="production" if production else "candidate",
                                      metrics=model.metrics, created_at=now(), note=note)
            session.add(version)
            session.flush()
            return _version(model.name, version)

    def versions(self, name: str) -> list[ModelVersion]:
        with self.store.session() as session:
            rows = session.execute(
                select(ModelVersionRow).join(ModelRow).where(ModelRow.name == name)
                .order_by(ModelVersionRow.version.desc())
            ).scalars().all()
            return [_version(name, row) for row in rows]

    def production(self, name: str) -> ModelVersion:
        for version in self.versions(name):
            if version.stage == "production":
                return version
        raise NotFoundError.single(
            f"Model {name} has no version in production.", where="model registry",
            expected=f"a production version of {name}", got="none",
            fix="run `cairn run` until a model meets the objective, or `cairn promote VERSION`",
        )

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        if version is None:
            return self.production(name)
        for candidate in self.versions(name):
            if candidate.version == version:
                return candidate
        raise NotFoundError.single(
            f"Model {name} has no version {version}.", where="VERSION",
            expected="a version listed by `cairn models`", got=str(version), fix="run `cairn models`",
        )

    def load(self, name: str, version: int | None = None) -> TrainedModel:
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
            row = session.get(ArtifactRow, version.artifact_sha256)
            return row is not None and row.kind == "model"

    def _write_bundle(self, session: Any, model: TrainedModel) -> str:
        """Each file of the bundle as an artifact, then its manifest, whose sha256 the version row records."""
        manifest_sha, artifacts = bundle_artifacts(model)
        for sha, data in artifacts.items():
            self.store.artifacts.write(data)
            if session.get(ArtifactRow, sha) is None:
                kind = "model-bundle" if sha == manifest_sha else "model-file"
                session.add(ArtifactRow(sha256=sha, kind=kind, size_bytes=len(data), created_at=now()))
        return manifest_sha

    def promote(self, name: str, version: int) -> ModelVersion:
        """Production moves to `version`, once its files are known to be intact: never promote what cannot serve."""
        self.verify(self.get(name, version))
        with self.store.session() as session:
            model_id = session.scalars(select(ModelRow.id).where(ModelRow.name == name)).one()
            self._archive_production(session, model_id)
            row = session.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id,
                                                                ModelVersionRow.version == version)).one()
            row.stage = "production"
            return _version(name, row)

    def rollback(self, name: str) -> ModelVersion:
        """Production goes back to the newest earlier version that was in production (archived now)."""
        current = self.production(name)
        earlier = [v for v in self.versions(name) if v.version < current.version and v.stage == "archived"]
        if not earlier:
            raise NotFoundError.single(
                f"Model {name} has no earlier production version to roll back to.", where="model registry",
                expected="an archived version older than the production one",
                got=f"v{current.version} is the first", fix="promote a version with `cairn promote VERSION`",
            )
        return self.promote(name, earlier[0].version)

    @staticmethod
    def _archive_production(session: Any, model_id: int) -> None:
        for row in session.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id,
                                                                 ModelVersionRow.stage == "production")):
            row.stage = "archived"


def _version(name: str, row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(name, row.version, row.stage, row.run_id, row.artifact_sha256, dict(row.metrics or {}),
                        as_utc(row.created_at), row.note)
